"""The audit log of exports: who exported what, when, where to, and whether the file is intact.

Every export, successful or failed, is one record in the table ``exports`` (see
:data:`mgstore.db.models.EXPORTS`), appended in the transaction that makes the export visible.
The log is append-only and tamper-evident:

* Records are numbered ``seq`` = 1, 2, 3... (unique), and chained: each stores ``prev_hash``,
  the previous record's hash (64 zeros for the first), and ``record_hash`` = SHA-256 of
  ``prev_hash`` followed by the canonical JSON of the record's other fields. ``audit_head``
  holds the last record's number and hash.
* Appending locks the head: SQLite's write lock (``BEGIN IMMEDIATE``) covers it, PostgreSQL takes
  ``SELECT ... FOR UPDATE`` on its row. Two appenders can therefore never both extend the same
  record; if they somehow did, the unique ``seq`` refuses the second (a ``ConflictError``, which
  :func:`mgstore.db.engine.retrying` retries).
* This package offers no way to change or remove a record, and the schema's triggers refuse
  UPDATE and DELETE. A change made around them (``DROP TRIGGER``, editing the file) is found by
  :func:`check_chain`: an edited field breaks the record's hash, a removed, inserted or
  reordered record breaks the links or the numbering, records cut from the end disagree with
  the head. (Someone who can rewrite the whole database can rewrite the whole chain too; keep
  the head hash that ``check_chain`` reports somewhere else and pass it as ``expect``, or
  sign the records with a key, to detect even that.)
* :func:`check_chain` also checks the store against the records: version rows and tags
  against their ingest and tag records, export rows against their digests, and that every
  record names what exists.

Every function takes a Connection inside a transaction the caller opened; recording needs a
write transaction (``mgstore.db.engine.transaction(engine, write=True)``).
"""

from __future__ import annotations

from mgstore.audit.canonical import canonical_json
from mgstore.audit.chain import check_chain, ensure_chain, register_kind
from mgstore.audit.entities import (
    AuditEvent,
    ChainProblem,
    ChainReport,
    ExportRecord,
    FileStatus,
    ProblemKind,
    Provenance,
    Role,
    Status,
    Verification,
)
from mgstore.audit.events import GENESIS, KEY_VARIABLE, append_event, events, head
from mgstore.audit.files import (
    check_reproducible,
    check_reproduction,
    file_digest,
    to_verify,
    verify,
    verify_files,
    which,
)
from mgstore.audit.history import check_versions, record_ingest, record_tag
from mgstore.audit.log import export, exports, record_export

__all__ = [
    "GENESIS",
    "KEY_VARIABLE",
    "AuditEvent",
    "ChainProblem",
    "ChainReport",
    "ExportRecord",
    "FileStatus",
    "ProblemKind",
    "Provenance",
    "Role",
    "Status",
    "Verification",
    "append_event",
    "canonical_json",
    "check_chain",
    "check_reproducible",
    "check_versions",
    "check_reproduction",
    "ensure_chain",
    "events",
    "export",
    "exports",
    "file_digest",
    "head",
    "record_export",
    "record_ingest",
    "record_tag",
    "register_kind",
    "to_verify",
    "verify",
    "verify_files",
    "which",
]

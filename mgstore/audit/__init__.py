"""The audit log of exports: who exported what, when, where to, and whether the file is intact.

Every export, successful or failed, is one record in the table ``exports`` (see
:class:`mgstore.db.models.Export`), appended in the transaction that makes the export visible.
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
  the head hash that ``check_chain`` reports somewhere else to detect even that.)

Every function takes a Connection inside a transaction the caller opened; recording needs a
write transaction (``mgstore.db.engine.transaction(engine, write=True)``).
"""

from __future__ import annotations

from mgstore.audit.chain import check_chain, ensure_chain
from mgstore.audit.entities import (
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
from mgstore.audit.files import (
    check_reproducible,
    check_reproduction,
    file_digest,
    verify,
    verify_files,
    which,
)
from mgstore.audit.log import GENESIS, canonical_json, export, exports, record_export

__all__ = [
    "GENESIS",
    "ChainProblem",
    "ChainReport",
    "ExportRecord",
    "FileStatus",
    "ProblemKind",
    "Provenance",
    "Role",
    "Status",
    "Verification",
    "canonical_json",
    "check_chain",
    "check_reproducible",
    "check_reproduction",
    "ensure_chain",
    "export",
    "exports",
    "file_digest",
    "record_export",
    "verify",
    "verify_files",
    "which",
]

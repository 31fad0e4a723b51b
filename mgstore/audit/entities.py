"""What the audit log hands to users: export records, file checks, provenance, chain reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from mgstore.entities import VersionInfo

Status = Literal["ok", "failed"]
FileStatus = Literal["ok", "missing", "modified", "unreadable", "superseded"]
Role = Literal["file", "debug"]
ProblemKind = Literal[
    "altered", "unlinked", "gap", "head", "unsigned", "expect", "reference", "mismatch",
    "unrecorded",
]  # fmt: skip


@dataclass(frozen=True)
class ExportRecord:
    """One export in the audit log: what was exported, where to, by whom, and its outcome.

    ``query`` and ``options`` are read-only views of what was recorded (mappings and tuples);
    ``to_dict()`` gives plain dicts and lists, e.g. to export again with the same arguments.
    A failed export (``status == "failed"``) has its ``error`` and no ``sha256`` or ``size``.
    """

    id: str
    seq: int
    status: Status
    graph: str | None
    version: int | None
    content_hash: str | None
    version_id: int | None
    query: Mapping[str, Any] | None
    options: Mapping[str, Any]
    path: str
    sha256: str | None
    size: int | None
    debug_path: str | None
    debug_sha256: str | None
    created_at: datetime
    user: str
    host: str
    mgstore_version: str
    protobuf_version: str
    duration: float
    error: str | None
    prev_hash: str
    record_hash: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ref(self) -> str | None:
        """The ref of the exported version (``name@number``), if the export got that far."""
        return None if self.graph is None else f"{self.graph}@{self.version}"

    @property
    def requested_ref(self) -> str | None:
        """The ref as the user wrote it (``resnet@production``, ``resnet~1``), if the export
        named its version by a ref; :attr:`ref` is the version it resolved to."""
        value = self.options.get("ref")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: thawed(getattr(self, f.name)) for f in fields(self)}
        data["created_at"] = self.created_at.isoformat()
        data["ref"] = self.ref
        data["requested_ref"] = self.requested_ref
        return data


@dataclass(frozen=True)
class Verification:
    """Whether a file an export wrote is still there with the bytes it had.

    ``status`` is ``ok``, ``missing`` (no file at the path), ``modified`` (other bytes: their
    hash is ``actual_sha256``), ``unreadable`` (it exists but cannot be read: ``error``) or
    ``superseded`` (a later recorded export, ``superseded_by``, wrote the same path: that one
    is checked instead; not a failure). ``role`` says which of the export's files this is: the
    graph (``file``) or its ``debug`` companion.
    """

    export_id: str
    path: str
    status: FileStatus
    expected_sha256: str
    actual_sha256: str | None
    role: Role = "file"
    error: str | None = None
    superseded_by: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "superseded")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Provenance:
    """Where a file came from: the file, the export that wrote it, the exported version and
    (in ``version.source_path`` / ``source_sha256``) the ingest source of that version.

    ``path`` is where the file is now; ``export.path`` (or ``export.debug_path`` when ``role``
    is ``debug``) is where it was written. ``version`` is None only for a record whose
    version is no longer in the store. ``problem`` says why the provenance cannot be trusted
    (the export has no record in the audit chain, differs from it, or names content its
    version does not hold), None when it can.
    """

    path: str
    sha256: str
    size: int
    role: Role
    export: ExportRecord
    version: VersionInfo | None
    problem: str | None = None

    @property
    def trusted(self) -> bool:
        return self.problem is None

    @property
    def exported_path(self) -> str:
        """The path the export wrote this file to."""
        path = self.export.debug_path if self.role == "debug" else self.export.path
        return path or self.export.path

    @property
    def moved(self) -> bool:
        """Whether the file is no longer where the export wrote it."""
        return self.path != self.exported_path

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "role": self.role,
            "exported_path": self.exported_path,
            "moved": self.moved,
            "export": self.export.to_dict(),
            "version": None if self.version is None else self.version.to_dict(),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class AuditEvent:
    """One record of the audit log's chain: a change to the store of some ``kind``
    (``ingest``, ``export``, ``tag``...) and what it was (``payload``, read-only).

    ``signed``: its link is an HMAC under the key of ``$MGSTORE_AUDIT_KEY``.
    """

    seq: int
    kind: str
    payload: Mapping[str, Any]
    created_at: datetime
    user: str
    host: str
    signed: bool
    prev_hash: str
    record_hash: str

    @property
    def ref(self) -> str | None:
        """The version the record names (``graph@number``), if it names one."""
        graph, number = self.payload.get("graph"), self.payload.get("number")
        return None if graph is None or number is None else f"{graph}@{number}"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: thawed(getattr(self, f.name)) for f in fields(self)}
        data["created_at"] = self.created_at.isoformat()
        data["ref"] = self.ref
        return data


@dataclass(frozen=True)
class ChainProblem:
    """One way the log, or the store it records, differs from what was appended.

    ``altered``: a record's fields no longer match its hash. ``unlinked``: a record does not
    follow the one before it (one was inserted, removed or moved). ``gap``: sequence numbers
    are missing (records were removed). ``head``: the log's end disagrees with the head row
    (records were removed from, or added directly at, the end). ``unsigned``: with a key, a
    record that is not signed where one must be. ``expect``: the head written down elsewhere
    is no longer in the log (it was rewritten). ``reference``: a record names a version or
    export that does not exist. ``mismatch``: a version row, its tags or an export row differ
    from their record. ``unrecorded``: a version or export that no record accounts for.
    """

    kind: ProblemKind
    seq: int | None
    export_id: str | None
    detail: str
    record_kind: str | None = None
    ref: str | None = None  # the version the problem concerns, if one

    def __str__(self) -> str:
        if self.seq is None:
            return self.detail
        what = self.record_kind or "export"
        label = f"{what} {self.export_id}" if self.export_id else what
        return f"record {self.seq} ({label}): {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the whole log: how many records, the chain's end, any problems.

    ``head_hash`` (with ``head_seq``) is the hash of the last record: kept somewhere else, it
    lets a later check (``expect=``) tell that the log up to there was not rewritten.
    ``unverified`` counts signed records checked without the key (links only).
    """

    records: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...]
    unverified: int = 0  # signed records whose links could not be checked (no key given)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "unverified": self.unverified,
            "problems": [p.to_dict() for p in self.problems],
        }


def thawed(value: Any) -> Any:
    """Read-only views (mappings, tuples) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return value

"""The small, frozen records mgstore hands to users (never ORM rows)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class GraphInfo:
    """A named graph: how many versions it has and when it last changed."""

    name: str
    versions: int
    latest: int
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(_fields(self))


@dataclass(frozen=True)
class VersionInfo:
    """One immutable, numbered version of a named graph."""

    name: str
    number: int
    content_hash: str
    created_at: datetime
    created_by: str
    message: str | None
    tags: Mapping[str, str]
    node_count: int
    size: int
    debug_hash: str | None = None
    source_path: str | None = None
    source_sha256: str | None = None
    source_format: str | None = None
    #: When the version was deleted (``mgstore rm``), None while it is live.
    deleted_at: datetime | None = None
    #: True once ``gc`` removed its content (it can no longer be restored or read).
    collected: bool = False
    #: The aliases that point at it (``resnet@production``), by name.
    aliases: tuple[str, ...] = ()
    #: Set on what ``ingest`` returns when the content equalled the latest version's, so that
    #: no version was added (``allow_unchanged=True`` adds one anyway).
    unchanged: bool = False
    #: The form it came from, which a checkout gives back byte for byte: ``meta``,
    #: ``meta-text``, ``graphdef``, ``graphdef-text``, ``saved-model`` or ``saved-model-text``.
    form: str = "meta"
    #: The SHA-256 and size of the bytes that went in; None when those are the canonical
    #: (deterministic) MetaGraphDef bytes, which the content hash covers (and for versions
    #: stored before mgstore recorded forms, which give back those bytes).
    original_sha256: str | None = None
    original_size: int | None = None
    #: For a SavedModel, the position of the stored MetaGraphDef among its ``meta_graphs``.
    meta_graph_index: int | None = None

    @property
    def ref(self) -> str:
        """The ref that names exactly this version: ``name@number``."""
        return f"{self.name}@{self.number}"

    def to_dict(self) -> dict[str, Any]:
        data = _fields(self)
        data["tags"] = dict(self.tags)
        data["aliases"] = list(self.aliases)
        data["ref"] = self.ref
        return _jsonable(data)


@dataclass(frozen=True)
class Summary:
    """What ``mgstore show`` prints: the shape of a version at a glance."""

    version: VersionInfo
    op_counts: Mapping[str, int]
    scopes: Mapping[str, int]
    devices: Mapping[str, int]
    collections: Mapping[str, int]
    signatures: tuple[str, ...]
    functions: int
    has_saver: bool
    has_debug_info: bool

    def to_dict(self) -> dict[str, Any]:
        data = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in _fields(self).items()}
        data["version"] = self.version.to_dict()
        data["signatures"] = list(self.signatures)
        return _jsonable(data)


@dataclass(frozen=True)
class AliasInfo:
    """An alias: a movable name for one version of a graph (``resnet@production``)."""

    graph: str
    alias: str
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def ref(self) -> str:
        """The version it points at: ``graph@number``."""
        return f"{self.graph}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        data = _fields(self)
        data["ref"] = self.ref
        return _jsonable(data)


@dataclass(frozen=True)
class AliasMove:
    """One change of an alias: set (``old`` None), moved, or removed (``new`` None)."""

    graph: str
    alias: str
    old: int | None
    new: int | None
    at: datetime
    by: str

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(_fields(self))


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` removed (or, with ``dry_run``, would remove): the versions it collected and
    the rows and bytes that only they used."""

    versions: tuple[str, ...]
    node_rows: int
    edges: int
    packs: int
    pack_bytes: int
    blobs: int
    blob_bytes: int
    import_forms: int
    order_bytes: int
    dry_run: bool

    @property
    def freed_bytes(self) -> int:
        """Stored bytes freed: node bytes (packs), other blobs, and the versions' node orders."""
        return self.pack_bytes + self.blob_bytes + self.order_bytes

    def to_dict(self) -> dict[str, Any]:
        data = _fields(self)
        data["versions"] = list(self.versions)
        data["freed_bytes"] = self.freed_bytes
        return data


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


@dataclass(frozen=True)
class Outline:
    """The shape of a version without its NodeDefs: what a picture of it needs.

    Nodes are columns of equal length, sorted by name (so a scope's nodes are one contiguous
    range): ``names``, ``ops``, ``devices``. ``edges`` are ``(producer, consumer, control)``
    with indexes into those columns, one per input that names a node of the version.
    ``collections`` maps each collection key to the op names it refers to.
    """

    version: VersionInfo
    names: tuple[str, ...]
    ops: tuple[str, ...]
    devices: tuple[str, ...]
    edges: tuple[tuple[int, int, bool], ...]
    collections: Mapping[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(),
            "nodes": [
                {"name": n, "op": o, "device": d}
                for n, o, d in zip(self.names, self.ops, self.devices, strict=True)
            ],
            "edges": [list(edge) for edge in self.edges],
            "collections": {k: list(v) for k, v in self.collections.items()},
        }


@dataclass(frozen=True)
class FsckProblem:
    """One thing ``fsck`` found wrong: in a version (``ref``), or in the audit log (``ref``
    None), of some ``kind`` (``content``, ``node``, ``index``, ``edges``, ``collection``,
    ``import_form``, ``audit``...), with what is wrong."""

    ref: str | None
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.ref or 'audit log'}: {self.kind}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return _fields(self)


@dataclass(frozen=True)
class FsckReport:
    """What ``fsck`` checked (``versions``: their refs) and every problem it found."""

    versions: tuple[str, ...]
    problems: tuple[FsckProblem, ...]
    deep: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "deep": self.deep,
            "versions": list(self.versions),
            "problems": [p.to_dict() for p in self.problems],
        }

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

    @property
    def ref(self) -> str:
        """The ref that names exactly this version: ``name@number``."""
        return f"{self.name}@{self.number}"

    def to_dict(self) -> dict[str, Any]:
        data = _fields(self)
        data["tags"] = dict(self.tags)
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


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in fields(record)}


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}

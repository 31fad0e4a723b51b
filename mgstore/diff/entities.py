"""What :meth:`mgstore.Store.diff` returns: small frozen records, stable for callers (the CLI,
the web view) and for JSON (``Diff.to_dict``).

Every value a change shows is text meant for people: attr values as TensorFlow's text format
(shapes as ``[-1,16]``, types as ``DT_FLOAT``, strings quoted), message fields as one-line
text format. ``None`` stands for "absent on that side". See docs/lifecycle.md.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from mgstore.entities import VersionInfo


@dataclass(frozen=True)
class ValueChange:
    """One value that differs: an attr (``key`` is its name), a node's op or device, or a
    field of a graph-level message (``key`` is the field's path, e.g. ``inputs[x]``)."""

    key: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class NodeInfo:
    """A node added or removed: its name, op and device."""

    name: str
    op: str
    device: str


@dataclass(frozen=True)
class NodeChange:
    """A node present on both sides whose content differs.

    ``inputs`` is ``(old, new)`` when the inputs differ (data and control, in order, as the
    NodeDef lists them: ``"x:1"``, ``"^init"``), else None; ``attrs`` lists the attrs that were
    added, removed or changed, by key; ``other`` names any other NodeDef field that differs
    (e.g. ``experimental_debug_info``).
    """

    name: str
    op: ValueChange | None
    device: ValueChange | None
    inputs: tuple[tuple[str, ...], tuple[str, ...]] | None
    attrs: tuple[ValueChange, ...]
    other: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScopeStat:
    """Counts of node changes under one top-level scope (``block_7/``; ``""`` for nodes at
    the top level); with ``scope=`` given, the level just below it."""

    scope: str
    added: int
    removed: int
    changed: int


@dataclass(frozen=True)
class ScopeRename:
    """A scope whose nodes all reappear, with the same content, under another prefix: its
    ``nodes`` are not listed as removed and added."""

    old: str
    new: str
    nodes: int


@dataclass(frozen=True)
class NamedChange:
    """A named graph-level item (a collection, signature, function, asset) that was
    ``added``, ``removed`` or ``changed``. For a collection, ``members_added`` and
    ``members_removed`` list its items (node names, or payloads as text format); for the
    other items, ``fields`` lists what changed."""

    name: str
    status: str
    fields: tuple[ValueChange, ...] = ()
    members_added: tuple[str, ...] = ()
    members_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diff:
    """The differences from version ``a`` to version ``b``.

    Node level: ``added``, ``removed`` and ``changed`` nodes, by name; ``renamed_scopes``;
    ``scopes`` counts them per scope. Graph level (empty when ``scope`` was given):
    ``collections``, ``saver_def``, ``signatures``, ``assets``, ``functions`` (the function
    library: functions and gradients), ``versions`` (GraphDef versions), ``meta_info_def``,
    ``other`` (names of any other MetaGraphDef field that differs, e.g. object_graph_def),
    ``debug_info`` (the stored debug info differs) and ``node_order`` (same nodes, another
    order). ``equal`` is True when there is nothing to report.
    """

    a: VersionInfo
    b: VersionInfo
    scope: str | None
    added: tuple[NodeInfo, ...] = ()
    removed: tuple[NodeInfo, ...] = ()
    changed: tuple[NodeChange, ...] = ()
    renamed_scopes: tuple[ScopeRename, ...] = ()
    scopes: tuple[ScopeStat, ...] = ()
    collections: tuple[NamedChange, ...] = ()
    saver_def: tuple[ValueChange, ...] = ()
    signatures: tuple[NamedChange, ...] = ()
    assets: tuple[NamedChange, ...] = ()
    functions: tuple[NamedChange, ...] = ()
    versions: tuple[ValueChange, ...] = ()
    meta_info_def: tuple[ValueChange, ...] = ()
    other: tuple[str, ...] = ()
    debug_info: bool = False
    node_order: bool = False

    @property
    def equal(self) -> bool:
        """Nothing differs (within ``scope``, if given)."""
        return not any(
            getattr(self, name)
            for name in (
                "added", "removed", "changed", "renamed_scopes", "collections", "saver_def",
                "signatures", "assets", "functions", "versions", "meta_info_def", "other",
                "debug_info", "node_order",
            )
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: versions as :meth:`VersionInfo.to_dict`, tuples as lists."""
        data = {f.name: _plain(getattr(self, f.name)) for f in fields(self)}
        data["a"], data["b"] = self.a.to_dict(), self.b.to_dict()
        data["equal"] = self.equal
        return data


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

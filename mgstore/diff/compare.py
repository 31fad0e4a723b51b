"""Assemble a :class:`~mgstore.diff.Diff` from what the store read: the nodes whose content
differs between two versions (decoded) and the two graphs' frames (MetaGraphDefs without
nodes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mgstore.diff import nodes as node_diff
from mgstore.diff.entities import Diff
from mgstore.diff.graph_level import graph_changes
from mgstore.entities import VersionInfo


def compare(
    a: VersionInfo,
    b: VersionInfo,
    scope: str | None,
    old_nodes: Mapping[str, Any],
    new_nodes: Mapping[str, Any],
    frames: tuple[Any, Any] | None,
) -> Diff:
    """The diff from ``a`` to ``b``.

    ``old_nodes`` and ``new_nodes`` are the NodeDefs, by name, of the nodes present only in
    ``a`` or only in ``b`` with that content (a name on both sides is a changed node);
    ``frames`` is the pair of MetaGraphDefs without nodes (None: graph level not compared).
    """
    removed = {n: node for n, node in old_nodes.items() if n not in new_nodes}
    added = {n: node for n, node in new_nodes.items() if n not in old_nodes}
    changed = [
        node_diff.node_change(old_nodes[n], new_nodes[n])
        for n in sorted(old_nodes)
        if n in new_nodes
    ]
    renames = node_diff.find_renames(removed, added, scope)
    for rename in renames:
        removed = {n: v for n, v in removed.items() if not n.startswith(rename.old)}
        added = {n: v for n, v in added.items() if not n.startswith(rename.new)}
    graph_level: dict[str, Any] = {}
    if frames is not None:
        graph_level = graph_changes(*frames)
        graph_level["debug_info"] = a.debug_hash != b.debug_hash
    result = Diff(
        a=a,
        b=b,
        scope=scope,
        added=tuple(node_diff.node_info(added[n]) for n in sorted(added)),
        removed=tuple(node_diff.node_info(removed[n]) for n in sorted(removed)),
        changed=tuple(changed),
        renamed_scopes=tuple(renames),
        scopes=node_diff.scope_stats(added, removed, (c.name for c in changed), scope),
        **graph_level,
    )
    if frames is not None and result.equal and a.content_hash != b.content_hash:
        # The same nodes and frame, other bytes: only the order of the nodes can differ.
        return Diff(**{**_fields(result), "node_order": True})
    return result


def _fields(diff: Diff) -> dict[str, Any]:
    return {name: getattr(diff, name) for name in diff.__dataclass_fields__}

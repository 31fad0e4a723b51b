"""The picture of a diff: both versions' nodes in one outline, coloured by what changed.

:meth:`Store.diff` says which nodes were added, removed and changed; the picture is the
usual picture of a scope (:mod:`mgstore.web.picture`) drawn over the union of the two
versions' outlines, each box coloured by its status (a scope by the statuses inside it).
Nodes of a renamed scope are neither added nor removed (``Diff.renamed_scopes`` says so);
they show under both names, unchanged.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from operator import itemgetter
from types import MappingProxyType
from typing import TYPE_CHECKING

from mgstore.diff import Diff
from mgstore.entities import Outline
from mgstore.web.picture import draw_scope

if TYPE_CHECKING:
    from mgstore.store import Store


def statuses(diff: Diff) -> dict[str, str]:
    """Node name -> ``added``, ``removed`` or ``changed`` (unchanged nodes are absent)."""
    status = {n.name: "added" for n in diff.added}
    status.update((n.name, "removed") for n in diff.removed)
    status.update((n.name, "changed") for n in diff.changed)
    return status


def merged(old: Outline, new: Outline) -> Outline:
    """One outline holding the nodes and edges of both (a node in both: ``new``'s op and
    device); its version is ``new``'s.

    With C-level maps over the columns: a Python loop per node and per edge of both
    versions would take longer than the rest of a diff page's first view.
    """
    if old.names == new.names:  # the usual case: the same nodes, some of them changed
        if old.edges == new.edges:  # sorted: each edge once, in order
            return replace(new, edges=tuple(dict.fromkeys(new.edges)))
        return replace(new, edges=tuple(sorted(set(old.edges).union(new.edges))))
    names = sorted(set(old.names).union(new.names))
    index = dict(zip(names, range(len(names)), strict=True))
    ops = dict(zip(old.names, old.ops, strict=True))
    ops.update(zip(new.names, new.ops, strict=True))  # new second: its op and device win
    devices = dict(zip(old.names, old.devices, strict=True))
    devices.update(zip(new.names, new.devices, strict=True))
    edges: set[tuple[int, int, bool]] = set()
    for side in (old, new):
        where = list(map(index.__getitem__, side.names))
        producers = map(where.__getitem__, map(itemgetter(0), side.edges))
        consumers = map(where.__getitem__, map(itemgetter(1), side.edges))
        edges.update(zip(producers, consumers, map(itemgetter(2), side.edges), strict=True))
    return Outline(
        version=new.version,
        names=tuple(names),
        ops=tuple(map(ops.__getitem__, names)),
        devices=tuple(map(devices.__getitem__, names)),
        edges=tuple(sorted(edges)),
        collections=MappingProxyType(dict(new.collections)),
    )


def diff_svg(
    store: Store, ref: str, other: str, *, scope: str = "", expanded: Collection[str] = ()
) -> str:
    """``mgstore draw REF --diff OTHER``: the changes from ``other`` to ``ref`` as SVG."""
    from mgstore.web.draw import check_scope
    from mgstore.web.svg import render

    old, new = store.outline(other), store.outline(ref)
    both = merged(old, new)
    scope = check_scope(both, scope)
    diff = store.diff(other, ref, scope=scope or None)
    picture = draw_scope(both, scope, expanded, status=statuses(diff))
    where = f" {scope}/" if scope else ""
    return render(picture, standalone=True, title=f"{old.version.ref} → {new.version.ref}{where}")

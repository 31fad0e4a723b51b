"""A version's new node content in packs that span its runs (docs/storage.md §3.2).

An ingest writes a version's nodes in runs (:mod:`mgstore.db.write`), and new content goes
into packs of at most a given size, cut at node boundaries. A run does not close its last
pack: the next run's new nodes go on filling it, so a version whose changes are scattered
over all its runs (a 1% edit of an 80,000-node graph touches each of its ten runs) fills one
pack, not one per run. Packs are never updated (a writer role may not, docs/postgres-roles.md),
so a pack's row is inserted once it is closed, and the node rows that point into it (and
their edge rows: foreign keys) are held back until then. What is held is at most one pack's
nodes. Only the ingest's worker thread uses a :class:`Packer`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, compress
from typing import Any

from mgstore import codec

__all__ = ["Columns", "Location", "Packer"]

Location = tuple[int, int, int]  # pack id, offset, length
Columns = dict[str, Sequence[Any]]  # rows column by column (mgstore.db.inserts.bulk_rows)


@dataclass
class _Open:
    """The pack new nodes go into: its id and its bytes so far."""

    id: int
    pieces: list[bytes] = field(default_factory=list)
    size: int = 0


class Packer:
    """Places a version's new nodes in packs of at most ``limit`` bytes, run after run, and
    hands out each run's rows once the packs they point into are complete."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: _Open | None = None
        self.closed: list[tuple[int, bytes]] = []  # since the last rows handed out
        self.held: tuple[Columns, Columns] | None = None  # node and edge rows of the open pack

    def place(
        self, framed: Sequence[bytes], new: Sequence[int], pack_ids: Sequence[int]
    ) -> dict[int, Location]:
        """Where each of the ``new`` nodes (positions in ``framed``) lies: in the open pack
        while it has room, then in packs numbered from ``pack_ids`` (at most
        ``2 * bytes // limit + 2`` are needed: two neighbouring packs hold more than
        ``limit``). A node larger than ``limit`` gets a pack of its own."""
        lengths = [len(framed[i]) for i in new]
        ends = list(accumulate(lengths, initial=0))  # ends[k]: where new node k starts
        placed: dict[int, Location] = {}
        fresh_ids = iter(pack_ids)
        first = 0
        while first < len(new):
            if self.open is None:
                self.open = _Open(next(fresh_ids))
            pack = self.open
            last = bisect_right(ends, ends[first] + self.limit - pack.size) - 1
            if last <= first:
                if pack.size:  # the next node does not fit: close the pack
                    self._close()
                    continue
                last = first + 1
            start = ends[first] - pack.size  # a node's offset is ends[k] - start
            placed.update(
                (new[k], (pack.id, ends[k] - start, lengths[k])) for k in range(first, last)
            )
            pack.pieces.extend(framed[i] for i in new[first:last])
            pack.size += ends[last] - ends[first]
            first = last
        return placed

    def rows(
        self,
        run_nodes: Mapping[str, Sequence[Any]],
        run_edges: Mapping[str, Sequence[Any]],
        *,
        last: bool,
    ) -> tuple[Columns, Columns, Columns]:
        """The pack, node and edge rows that can be inserted now, given a run's node and edge
        rows: the packs closed since the last call (compressed here, docs/storage.md §3.4)
        and the rows that point into them or into packs already stored. The rows of nodes in
        the open pack are held until it closes; ``last``: the version's last run, which
        closes it."""
        nodes, edge_rows = dict(run_nodes), dict(run_edges)
        if self.held is not None:
            nodes, edge_rows = _joined(self.held[0], nodes), _joined(self.held[1], edge_rows)
            self.held = None
        if last and self.open is not None:
            self._close()
        if self.open is not None:
            nodes, edge_rows = self._hold(nodes, edge_rows, self.open.id)
        closed, self.closed = self.closed, []
        packs: Columns = {
            "id": [pack_id for pack_id, _ in closed],
            "data": [codec.compress(data) for _, data in closed],
        }
        return packs, nodes, edge_rows

    def _close(self) -> None:
        assert self.open is not None
        self.closed.append((self.open.id, b"".join(self.open.pieces)))
        self.open = None

    def _hold(self, nodes: Columns, edge_rows: Columns, pack_id: int) -> tuple[Columns, Columns]:
        """Keep back the rows of nodes in pack ``pack_id``; the others, to insert now."""
        inside = [p == pack_id for p in nodes["pack_id"]]
        if not any(inside):
            return nodes, edge_rows
        outside = [not k for k in inside]
        held_ids = set(compress(nodes["id"], inside))
        in_edges = [n in held_ids for n in edge_rows.get("node_id", ())]
        out_edges = [not k for k in in_edges]
        self.held = (_picked(nodes, inside), _picked(edge_rows, in_edges))
        return _picked(nodes, outside), _picked(edge_rows, out_edges)


def _picked(columns: Mapping[str, Sequence[Any]], keep: Sequence[bool]) -> Columns:
    return {name: list(compress(column, keep)) for name, column in columns.items()}


def _joined(before: Columns, after: Columns) -> Columns:
    """Rows ``before`` then rows ``after`` (the same columns)."""
    if not before or not next(iter(before.values())):
        return after
    if not after:
        return before
    return {name: [*before[name], *after[name]] for name in after}

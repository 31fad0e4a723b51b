"""A version's node order as stored: whole, or as a delta against an earlier version's
(docs/storage.md §4), materialized on read base after base and kept for the next read.

The encodings are :mod:`mgstore.node_order`'s; this module reads them from the database, checks
each chain (a missing or damaged base is an IntegrityError naming the version) and keeps the
orders it materialized last.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, select

from mgstore import node_order as orders
from mgstore.db.refs import damaged
from mgstore.db.tables import VERSIONS as V

#: The most deltas between a new version's node order and a whole order: the ingest stores
#: a whole order rather than a longer chain. Skip-deltas (:func:`skip_base`) keep chains to
#: the number of set bits in ``number - 1`` (at most 16 below 65,537 versions), so this bounds
#: only chains whose skip bases were collected (bench/bench_order_deltas.py measures what a
#: chain costs a checkout). Older readers follow at most 64.
ORDER_CHAIN = 24
#: The most deltas a read follows: a longer chain is damage (a loop, say), not a stored order.
_CHAIN_LIMIT = 64


def skip_base(number: int) -> int | None:
    """The version whose node order version ``number``'s is stored as a delta against
    (docs/storage.md §4.1): with versions counted from 0 (``number - 1``), the one with the
    lowest set bit cleared, as Subversion's skip-deltas. A chain from any version to the first
    (the one whole order) is then at most ``log2(number)`` deltas long, and a delta spans
    ``2**k`` versions for one version in ``2**(k+1)``: half the deltas span one version, a
    quarter two, and so on. None for the first version."""
    if number <= 1:
        return None
    index = number - 1
    return (index & (index - 1)) + 1


@dataclass
class _Order:
    flat: Any  # array('q') of (pack, offset, length) triples
    depth: int  # how many deltas lie between it and a whole order
    index: dict[int, int] | None = None  # position by location, built when asked for
    runs: list[tuple[int, int, int]] | None = None  # back-to-back nodes merged, likewise


class _Orders:
    """The node orders materialized last, by their stored bytes: a whole order is its own
    key, and a delta carries the digest of the order it gives, so equal bytes mean an equal
    order. Thread-safe; bounded."""

    SIZE = 8

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[bytes, _Order] = OrderedDict()

    def get(self, data: bytes) -> _Order | None:
        with self.lock:
            found = self.entries.get(data)
            if found is not None:
                self.entries.move_to_end(data)
            return found

    def put(self, data: bytes, entry: _Order) -> None:
        with self.lock:
            self.entries[data] = entry
            self.entries.move_to_end(data)
            while len(self.entries) > self.SIZE:
                self.entries.popitem(last=False)


_ORDERS = _Orders()


def read_order(conn: Connection, row: Row[Any], *, cached: bool = True) -> Any:
    """A version's node order, materialized (a flat ``array('q')`` of (pack, offset, length)
    triples, :mod:`mgstore.node_order`): its stored order, or the delta applied to its base's
    order, base after base. IntegrityError naming the version if it cannot be read.
    ``cached=False`` reads every order of the chain again (fsck)."""
    return _materialized(conn, row, bytes(row.node_order), 0, cached=cached).flat


def order_depth(conn: Connection, row: Row[Any]) -> int:
    """How many deltas lie between a version's node order and a whole stored order."""
    return _materialized(conn, row, bytes(row.node_order), 0).depth


def order_index(conn: Connection, row: Row[Any]) -> dict[int, int]:
    """A version's node positions by location (:func:`mgstore.node_order.position_index`),
    kept with its materialized order: a query that keeps a few nodes of a large version then
    costs in proportion to those nodes once the version was read."""
    entry = _materialized(conn, row, bytes(row.node_order), 0)
    if entry.index is None:
        entry.index = orders.position_index(entry.flat)
    return entry.index


def forget_orders() -> None:
    """Drop every materialized order kept (for tests and benchmarks of cold reads)."""
    with _ORDERS.lock:
        _ORDERS.entries.clear()


def order_runs(conn: Connection, row: Row[Any]) -> list[tuple[int, int, int]]:
    """A version's nodes as (pack, offset, length) runs of nodes that lie back to back
    (:func:`mgstore.node_order.runs`), kept with its materialized order."""
    entry = _materialized(conn, row, bytes(row.node_order), 0)
    if entry.runs is None:
        entry.runs = orders.runs(entry.flat)
    return entry.runs


def remember_order(data: bytes, flat: Any, depth: int) -> None:
    """Keep an order just written (``data`` as stored), so that the next ingest of the graph
    finds its base's order without reading it."""
    _ORDERS.put(data, _Order(flat, depth))


def _materialized(
    conn: Connection,
    row: Row[Any],
    data: bytes,
    depth: int,
    whose: str = "its node order",
    *,
    cached: bool = True,
) -> _Order:
    """The order stored as ``data``: ``row``'s own or, ``depth`` deltas down, one of its
    bases' (``whose`` says which, for the error)."""
    found = _ORDERS.get(data) if cached else None
    if found is not None:
        return found
    try:
        base_id = orders.base_of(data)
        if base_id is None:
            entry = _Order(orders.decode(data), 0)
            _ORDERS.put(data, entry)
            return entry
    except ValueError as error:
        raise damaged(conn, row, f"{whose} cannot be read ({error})") from None
    if depth >= _CHAIN_LIMIT:
        raise damaged(conn, row, f"{whose} lies too many deltas from a whole order")
    base = conn.execute(
        select(V.c.graph_id, V.c.number, V.c.node_order).where(V.c.id == base_id)
    ).first()
    if base is None or base.graph_id != row.graph_id or not base.node_order:
        raise damaged(
            conn, row, f"{whose} is a delta of a node order that is missing (version id {base_id})"
        )
    below = _materialized(
        conn,
        row,
        bytes(base.node_order),
        depth + 1,
        f"the node order of version {base.number} (which its own builds on)",
        cached=cached,
    )
    try:
        entry = _Order(orders.apply_delta(below.flat, data), below.depth + 1)
    except ValueError as error:
        raise damaged(
            conn, row, f"{whose}, a delta against version {base.number}'s, is damaged ({error})"
        ) from None
    _ORDERS.put(data, entry)
    return entry

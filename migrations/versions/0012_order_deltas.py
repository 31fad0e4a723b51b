"""Node orders stored as deltas against an earlier version's order.

A version's node order (docs/storage.md §4) may now be stored as a delta: the byte 0x01, the
base version's id (8 bytes), the SHA-256 of the order's whole encoding, and zlib's stream of
the edit (see mgstore.node_order). A whole order is a zlib stream, which never begins with
0x01, so the schema does not change. The upgrade rewrites existing orders as the ingest
writes new ones: graph by graph, each version's order as a delta against the order of the
version before it that has one, where that is smaller, with a whole order at least every
16th; the downgrade writes every delta back as its whole order. The audit record of a version
keeps the SHA-256 of its whole order, which a delta carries, so records verify either way.

This revision keeps its own copy of the encoding, so that what it writes stays what it wrote
when mgstore's changes.

Revision ID: 0012_order_deltas
Revises: 0011_ingest_indexes
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

import hashlib
import operator
import zlib
from array import array
from collections.abc import Iterator, Sequence
from itertools import accumulate, chain, count

import sqlalchemy as sa
from alembic import op

revision: str = "0012_order_deltas"
down_revision: str | None = "0011_ingest_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELTA = b"\x01"
HEAD = 41  # flag, base id, digest
CHAIN = 16  # a whole order at least every CHAIN versions

_meta = sa.MetaData()
versions = sa.Table(
    "versions",
    _meta,
    sa.Column("id", sa.Integer),
    sa.Column("graph_id", sa.Integer),
    sa.Column("number", sa.Integer),
    sa.Column("node_order", sa.LargeBinary),
)


def upgrade() -> None:
    conn = op.get_bind()
    for graph_id in _graphs(conn):
        base: tuple[int, array[int]] | None = None
        depth = 0
        for version_id, data in _orders(conn, graph_id):
            if data[:1] == DELTA:  # converted already
                base, depth = None, CHAIN
                continue
            order = _decode(data)
            if base is not None and depth + 1 < CHAIN:
                coded = _delta(base[1], order, base[0], data)
                if coded is not None and len(coded) < len(data):
                    _store(conn, version_id, coded)
                    base, depth = (version_id, order), depth + 1
                    continue
            base, depth = (version_id, order), 0


def downgrade() -> None:
    conn = op.get_bind()
    for graph_id in _graphs(conn):
        known: dict[int, array[int]] = {}  # orders of the graph's latest versions, by id
        for version_id, data in _orders(conn, graph_id):
            if data[:1] == DELTA:
                base_id = int.from_bytes(data[1:9], "big")
                base = known.get(base_id)
                if base is None:  # written whole already: versions go by number
                    found = conn.execute(
                        sa.select(versions.c.node_order).where(versions.c.id == base_id)
                    ).scalar_one()
                    base = _decode(bytes(found))
                order = _apply(base, data)
                _store(conn, version_id, _encode(order))
            else:
                order = _decode(data)
            known[version_id] = order
            if len(known) > CHAIN:
                del known[next(iter(known))]


def _graphs(conn: sa.Connection) -> list[int]:
    return list(conn.execute(sa.select(versions.c.graph_id).distinct()).scalars())


def _orders(conn: sa.Connection, graph_id: int) -> Iterator[tuple[int, bytes]]:
    """The graph's versions that have an order, by number, with it: each order is read
    when its turn comes, so that one graph's history is never in memory at once."""
    ids = conn.execute(
        sa.select(versions.c.id)
        .where(versions.c.graph_id == graph_id, versions.c.node_order != b"")
        .order_by(versions.c.number)
    ).scalars()
    for version_id in list(ids):
        data = conn.execute(
            sa.select(versions.c.node_order).where(versions.c.id == version_id)
        ).scalar_one()
        yield int(version_id), bytes(data)


def _store(conn: sa.Connection, version_id: int, data: bytes) -> None:
    conn.execute(versions.update().where(versions.c.id == version_id).values(node_order=data))


def _decode(data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(zlib.decompress(data))
    lengths = values[2::3]
    ends = accumulate(map(operator.add, values[1::3], lengths))
    out = array("q", bytes(len(values) * 8))
    out[0::3] = array("q", accumulate(values[0::3]))
    out[1::3] = array("q", map(operator.sub, ends, lengths))
    out[2::3] = lengths
    return out


def _encode(order: array[int]) -> bytes:
    packs, offsets, lengths = order[0::3], order[1::3], order[2::3]
    out = array("q", bytes(len(order) * 8))
    out[0::3] = array("q", map(operator.sub, packs, chain((0,), packs)))
    ends = map(operator.add, offsets, lengths)
    out[1::3] = array("q", map(operator.sub, offsets, chain((0,), ends)))
    out[2::3] = lengths
    return zlib.compress(out.tobytes(), 6)


def _delta(base: array[int], order: array[int], base_id: int, whole: bytes) -> bytes | None:
    """``order`` as a delta against ``base`` (None if it cannot be one)."""
    index = dict(zip(zip(base[0::3], base[1::3], base[2::3], strict=True), count()))
    found = list(map(index.get, zip(order[0::3], order[1::3], order[2::3], strict=True)))
    out = array("q", (len(base) // 3, len(found)))
    expected = previous_pack = previous_end = 0
    i, n = 0, len(found)
    while i < n:
        start, j = found[i], i
        if start is None:
            start = expected
        else:
            j += 1
            while j < n and found[j] == start + j - i:
                j += 1
        k = j
        while k < n and found[k] is None:
            k += 1
        out.extend((start - expected, j - i, k - j))
        for p in range(j, k):
            pack, offset, length = order[3 * p : 3 * p + 3]
            out.extend((pack - previous_pack, offset - previous_end, length))
            previous_pack, previous_end = pack, offset + length
        expected, i = start + j - i, k
    head = DELTA + base_id.to_bytes(8, "big") + hashlib.sha256(whole).digest()
    data = head + zlib.compress(out.tobytes(), 9)
    return data if _apply(base, data) == order else None


def _apply(base: array[int], data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(zlib.decompress(data[HEAD:]))
    out = array("q")
    expected = previous_pack = previous_end = 0
    pos = 2
    while pos < len(values):
        skip, copied, inserted = values[pos : pos + 3]
        start = expected + skip
        out.extend(base[3 * start : 3 * (start + copied)])
        literals = values[pos + 3 : pos + 3 + 3 * inserted]
        for p in range(0, len(literals), 3):
            previous_pack += literals[p]
            offset = previous_end + literals[p + 1]
            out.extend((previous_pack, offset, literals[p + 2]))
            previous_end = offset + literals[p + 2]
        expected, pos = start + copied, pos + 3 + 3 * inserted
    if len(out) != 3 * values[1]:
        raise ValueError(f"a stored node order delta does not apply ({len(out) // 3} nodes)")
    return out

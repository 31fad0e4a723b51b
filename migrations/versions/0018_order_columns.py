"""Node order deltas column by column, against skip bases.

A node order stored as a delta (docs/storage.md §4.1) was the byte 0x01, the base version's
id, the SHA-256 of the whole order, and zlib's stream of 8-byte values: the counts, then each
step (skip, copy, insert) followed by its literal triples. It is now the byte 0x02, the same
head, and zlib's stream of the counts (with how many steps and literals follow), then six
columns (the steps' skips, copies and inserts, the literals' packs, gaps and lengths), each in
the narrowest of 1, 2, 4 or 8-byte integers that holds it, behind a byte giving that width:
about a third fewer bytes. New versions also choose their base differently (skip-deltas), which
needs no conversion: any version may be a base.

An mgstore before this revision would read a 0x02 delta as a damaged whole order, so the
revision is what tells it the store is newer. The upgrade rewrites every 0x01 delta as 0x02
(same base, same steps); the downgrade writes every 0x02 delta back as 0x01. A delta that
cannot be read is left as it is, for fsck to report. The digest, and
so every audit record, is unchanged either way. Node orders are the only change.

This revision keeps its own copy of the layout, so that what it writes stays what it wrote
when mgstore's changes.

Revision ID: 0018_order_columns
Revises: 0017_pg_reference_guards
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable, Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_order_columns"
down_revision: str | None = "0017_pg_reference_guards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = b"\x01", b"\x02"
HEAD = 41  # flag, base id, digest
WIDTHS = {1: "b", 2: "h", 4: "i", 8: "q"}
_CHUNK = 200

_meta = sa.MetaData()
versions = sa.Table(
    "versions", _meta, sa.Column("id", sa.Integer), sa.Column("node_order", sa.LargeBinary)
)


def upgrade() -> None:
    _rewrite(OLD, NEW, _columns_from_rows)


def downgrade() -> None:
    _rewrite(NEW, OLD, _rows_from_columns)


def _rewrite(flag: bytes, into: bytes, convert: Callable[[bytes], bytes]) -> None:
    conn = op.get_bind()
    for version_id, data in _orders(conn):
        if data[:1] == flag:
            try:
                body = convert(zlib.decompress(data[HEAD:]))
            except (zlib.error, IndexError, KeyError, ValueError):
                # A damaged order stays as it is (both revisions read 0x01 deltas):
                # fsck names its version, and one bad row does not stop the migration.
                continue
            coded = into + data[1:HEAD] + zlib.compress(body, 9)
            conn.execute(
                sa.update(versions).where(versions.c.id == version_id).values(node_order=coded)
            )


def _orders(conn: sa.Connection) -> Iterator[tuple[int, bytes]]:
    ids = sorted(conn.execute(sa.select(versions.c.id)).scalars())
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        rows = conn.execute(
            sa.select(versions.c.id, versions.c.node_order).where(versions.c.id.in_(chunk))
        ).all()
        yield from ((int(v), bytes(d)) for v, d in rows if d)


def _columns_from_rows(body: bytes) -> bytes:
    """0x01's values (counts, then each step and its literal triples) as 0x02's columns."""
    values = array("q")
    values.frombytes(body)
    columns: list[list[int]] = [[], [], [], [], [], []]
    pos = 2
    while pos < len(values):
        inserted = values[pos + 2]
        for k in range(3):
            columns[k].append(values[pos + k])
        pos += 3
        for k in range(3):
            columns[3 + k].extend(values[pos + k : pos + 3 * inserted : 3])
        pos += 3 * inserted
    counts = array("q", (values[0], values[1], len(columns[0]), len(columns[3])))
    return b"".join([counts.tobytes(), *map(_column, columns)])


def _column(values: list[int]) -> bytes:
    low, high = (min(values), max(values)) if values else (0, 0)
    for width, kind in WIDTHS.items():
        bound = 1 << (8 * width - 1)
        if -bound <= low and high < bound:
            return bytes((width,)) + array(kind, values).tobytes()
    raise ValueError("a delta's value does not fit in 8 bytes")


def _rows_from_columns(body: bytes) -> bytes:
    """0x02's columns as 0x01's values."""
    counts = array("q")
    counts.frombytes(body[:32])
    size, wanted, steps, literals = counts
    pos, columns = 32, []
    for length in (steps, steps, steps, literals, literals, literals):
        width = body[pos]
        columns.append(array(WIDTHS[width], body[pos + 1 : pos + 1 + length * width]).tolist())
        pos += 1 + length * width
    out = array("q", (size, wanted))
    used = 0
    for skip, copied, inserted in zip(*columns[:3], strict=True):
        out.extend((skip, copied, inserted))
        for k in range(used, used + inserted):
            out.extend((columns[3][k], columns[4][k], columns[5][k]))
        used += inserted
    return out.tobytes()

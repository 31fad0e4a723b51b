"""Compressed packs and blobs: existing rows converted to the codec-flagged form.

A stored pack or blob now begins with its codec (docs/storage.md §3.4): the
byte 0x01 and zlib's stream of the bytes, 0x00 and the bytes, or the bytes themselves, which
is what every existing row is (serialized messages and framed nodes never begin with 0x00 or
0x01: field number 0 does not exist). So the schema does not change: the upgrade compresses
every pack and blob of 4 KiB or more with zlib (level 3) where that makes it smaller, as
mgstore.codec.compress does for new rows, and the downgrade writes every flagged row back as
its bytes. Nothing hashed changes: a blob's key and a version's content hash are of the
bytes, and node rows point into the uncompressed bytes of their pack.

This revision keeps its own copy of the codec, so that what it writes stays what it wrote
when mgstore's choice of level changes.

Revision ID: 0010_compact
Revises: 0009_trust_gaps
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_compact"
down_revision: str | None = "0009_trust_gaps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RAW, ZLIB = b"\x00", b"\x01"
COMPRESS_MIN = 4096
LEVEL = 3
BATCH = 64  # rows per round trip: packs are up to 256 KiB

_meta = sa.MetaData()
packs = sa.Table("packs", _meta, sa.Column("id", sa.Integer), sa.Column("data", sa.LargeBinary))
blobs = sa.Table(
    "blobs", _meta, sa.Column("sha256", sa.LargeBinary), sa.Column("data", sa.LargeBinary)
)


def upgrade() -> None:
    _convert(packs, packs.c.id, _compressed)
    _convert(blobs, blobs.c.sha256, _compressed)


def downgrade() -> None:
    _convert(packs, packs.c.id, _plain)
    _convert(blobs, blobs.c.sha256, _plain)


def _compressed(data: bytes) -> bytes | None:
    """A row's new value (None: it stays as it is)."""
    if data[:1] in (RAW, ZLIB):  # converted already
        return None
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, LEVEL)
        if len(packed) + 1 < len(data):
            return ZLIB + packed
    return None


def _plain(data: bytes) -> bytes | None:
    if data[:1] == ZLIB:
        return zlib.decompress(data[1:])
    if data[:1] == RAW:
        return data[1:]
    return None


def _convert(
    table: sa.Table, key: sa.Column[object], change: Callable[[bytes], bytes | None]
) -> None:
    """Rewrite every row whose value ``change`` changes, in batches by key."""
    conn = op.get_bind()
    last = None
    while True:
        query = sa.select(key, table.c.data)
        if last is not None:
            query = query.where(key > last)
        rows = conn.execute(query.order_by(key).limit(BATCH)).all()
        if not rows:
            return
        for row_key, data in rows:
            value = change(bytes(data))
            if value is not None:
                conn.execute(table.update().where(key == row_key).values(data=value))
        last = rows[-1][0]

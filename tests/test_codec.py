"""The codec of stored packs and blobs (mgstore.codec.compress, docs/storage.md §3.4): values
round-trip, old (unflagged) values read as they are, and a damaged compressed pack is an
IntegrityError that fsck names, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from mgstore import IntegrityError, Store, codec
from mgstore.db import engine as db
from mgstore.db.models import metadata
from mgstore.proto import MetaGraphDef

P = metadata.tables["packs"]


@given(st.binary(max_size=9000) | st.builds(lambda n: b"\x0a" * n, st.integers(0, 20000)))
def test_values_round_trip(data: bytes) -> None:
    assert bytes(codec.decompress(codec.compress(data))) == data


def test_what_is_compressed_and_what_is_not() -> None:
    big = b"\x0a\x05hello" * 1000
    assert codec.compress(big)[:1] == codec.ZLIB and len(codec.compress(big)) < len(big) / 10
    assert codec.compress(b"\x0a\x05hello") == b"\x0a\x05hello"  # small: as it is
    noise = b"\x0a" + random.Random(0).randbytes(codec.COMPRESS_MIN * 2)
    assert codec.compress(noise) == noise  # compression would not pay
    assert codec.compress(b"\x01abc") == b"\x00\x01abc"  # flag bytes are escaped
    assert bytes(codec.decompress(b"\x0a\x05hello")) == b"\x0a\x05hello"  # an old value
    with pytest.raises(ValueError, match="zlib"):
        codec.decompress(codec.ZLIB + b"not zlib")


def test_small_values_take_the_higher_level() -> None:
    """What a version of a few changed nodes brings is small: it takes zlib's level 9."""
    text = b"".join(b"\x0a\x07node_%d" % i for i in range(3000))
    small, large = text[: codec.SMALL - 1], text * (codec.SMALL // len(text) + 1)
    assert codec.compress(small) == codec.ZLIB + zlib.compress(small, codec.SMALL_LEVEL)
    assert codec.compress(large) == codec.ZLIB + zlib.compress(large, codec.ZLIB_LEVEL)


def test_a_damaged_compressed_pack_is_refused(store: Store) -> None:
    meta = MetaGraphDef()
    for i in range(300):
        meta.graph_def.node.add(name=f"layer_{i}/w", op="VariableV2", device="/cpu:0")
    store.ingest(meta, "g")
    with db.transaction(store.engine, write=True) as conn:
        pack_id, data = conn.execute(select(P.c.id, P.c.data)).one()
        assert bytes(data[:1]) == codec.ZLIB
        damaged = bytes(data[:20]) + bytes([data[20] ^ 0xFF]) + bytes(data[21:])
        conn.execute(P.update().where(P.c.id == pack_id).values(data=damaged))
    # Each read names the version it could not read, and the fsck that says more.
    with pytest.raises(IntegrityError, match=r"g@1: stored pack \d+ cannot be read.*fsck g@1"):
        store.checkout("g@1")
    with pytest.raises(IntegrityError, match=r"g@1: stored pack \d+ cannot be read.*fsck g@1"):
        store.query("g@1", scope="layer_7/", strict_scope=True)
    report = store.fsck()
    assert not report.ok and {p.kind for p in report.problems} >= {"content", "node"}


def test_a_pack_damaged_after_a_query_read_it_is_refused_by_the_next(store: Store) -> None:
    """Packs a query inflated are kept with their stored bytes (versions._Inflated); a later
    read compares the stored bytes it fetched with those, so an edit is seen at once."""
    meta = MetaGraphDef()
    for i in range(300):
        meta.graph_def.node.add(name=f"layer_{i}/w", op="VariableV2", device="/cpu:0")
    store.ingest(meta, "g")
    assert list(store.query("g@1", scope="layer_7/", strict_scope=True)) == ["layer_7/w"]
    assert list(store.query("g@1", scope="layer_7/", strict_scope=True)) == ["layer_7/w"]
    with db.transaction(store.engine, write=True) as conn:
        pack_id, data = conn.execute(select(P.c.id, P.c.data)).one()
        damaged = bytes(data[:20]) + bytes([data[20] ^ 0xFF]) + bytes(data[21:])
        conn.execute(P.update().where(P.c.id == pack_id).values(data=damaged))
    with pytest.raises(IntegrityError, match="g@1: stored pack"):
        store.query("g@1", scope="layer_7/", strict_scope=True)

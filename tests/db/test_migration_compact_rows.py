"""Migration 0013_compact_rows down and up with data present, on SQLite and PostgreSQL: down
rebuilds the member rows of every collection from its member list; up writes each list as the
blob its digest names (those it finds stay as they are), and queries, fsck, gc and the audit chain
see the same store."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, inspect, select

from mgstore import Store, codec
from mgstore.db.models import metadata
from mgstore.proto import MetaGraphDef
from tests.db.migration_steps import below, connection, step

ROWS = "0013_compact_rows"
INTERNED = "0019_interned_names"  # the keys' last revision is the one below it
B, C = (metadata.tables[t] for t in ("blobs", "collections"))
# The name columns as revisions 0013 to 0018 keep them (revision 0019 interns the names).
N = Table("nodes", MetaData(), Column("name", Text), Column("name_key", Integer))
E = Table("edges", MetaData(), Column("src_name", Text), Column("src_key", Integer))


def graph(k: int) -> Any:
    """Two collections (one whose members change with ``k``), and a collection with none."""
    meta = MetaGraphDef()
    for i in range(20):
        node = meta.graph_def.node.add(name=f"block_{i}/dense", op="MatMul")
        node.input.extend([f"block_{i - 1}/dense:1", f"^block_{i + 1}/dense"] if i else [])
    meta.collection_def["train_op"].node_list.value.extend([f"block_{k}/dense", "block_0/dense"])
    meta.collection_def["summaries"].node_list.value.extend(["block_19/dense"])
    meta.collection_def["empty"].node_list.value.extend([])
    meta.collection_def["empty"].node_list.SetInParent()
    return meta


def state(url: str) -> tuple[dict[bytes, bytes], set[tuple[bytes, str, str]] | None]:
    """The blobs, and the member rows (None where the table is gone)."""
    with connection(url) as conn:
        blobs = {bytes(k): bytes(v) for k, v in conn.execute(select(B.c.sha256, B.c.data))}
        if "collection_members" not in inspect(conn).get_table_names():
            return blobs, None
        members = Table("collection_members", MetaData(), autoload_with=conn)
        rows = {(bytes(s), k, n) for s, k, n in conn.execute(select(members))}
        return blobs, rows


def name_key(name: str) -> int:
    """A name's key as revision 0013 computes it: CRC-32 of the UTF-8, signed."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) - 0x80000000


def keys(url: str) -> tuple[set[str], set[str], dict[str, int | None]]:
    """The columns of nodes and edges, and the key of each name they hold (where kept)."""
    with connection(url) as conn:
        found = inspect(conn)
        columns = [{c["name"] for c in found.get_columns(t)} for t in ("nodes", "edges")]
        indexes = {i["name"] for i in found.get_indexes("edges")}
        named: dict[str, int | None] = {}
        if "name_key" in columns[0]:
            named.update((n, k) for n, k in conn.execute(select(N.c.name, N.c.name_key)))
            named.update((n, k) for n, k in conn.execute(select(E.c.src_name, E.c.src_key)))
        return columns[0] | columns[1], indexes, named


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2, 3):
            store.ingest(graph(k), "g")
        head = store.audit_head()
        lists = {
            bytes.fromhex(d)
            for d in store.engine.connect().execute(select(C.c.members_sha256)).scalars()
        }
    before, gone = state(migrated_url)
    assert gone is None and len(lists) == 5  # train_op three times, summaries, empty
    assert all(hashlib.sha256(codec.decompress(before[sha])).digest() == sha for sha in lists)

    step(migrated_url, below(INTERNED), down=True)  # the keys' last revision
    at_keys = columns, indexes, named = keys(migrated_url)
    assert {"name_key", "src_key"} <= columns and indexes == {"ix_edges_src_key"}
    assert named == {name: name_key(name) for name in named} and len(named) == 21

    step(migrated_url, below(ROWS), down=True)
    columns, indexes, _ = keys(migrated_url)
    assert not {"name_key", "src_key"} & columns and indexes == {"ix_edges_src"}
    blobs, rows = state(migrated_url)
    assert blobs == before  # the lists stay, unread
    assert rows is not None and len(rows) == 3 * 2 + 1
    assert {(key, name) for _, key, name in rows} == {
        ("train_op", "block_0/dense"),
        ("train_op", "block_1/dense"),
        ("train_op", "block_2/dense"),
        ("train_op", "block_3/dense"),
        ("summaries", "block_19/dense"),
    }

    with connection(migrated_url, write=True) as conn:  # as a store made by the release before
        conn.execute(B.delete().where(B.c.sha256.in_(sorted(lists))))  # (no lists)
    step(migrated_url, below(INTERNED), down=False)
    assert state(migrated_url) == (before, None)
    assert keys(migrated_url) == at_keys
    step(migrated_url, "head", down=False)
    with Store(migrated_url) as store:
        assert set(store.query("g@2", collection="train_op").nodes) == {
            "block_0/dense",
            "block_2/dense",
        }
        assert list(store.query("g@1", collection="empty").nodes) == []
        below_7 = store.query("g@3", scope="block_17/", closure="descendants", depth=2)
        assert set(below_7.nodes) == {"block_17/dense", "block_18/dense", "block_19/dense",
                                      "block_16/dense", "block_15/dense"}  # fmt: skip
        assert store.fsck().ok and store.audit_check(expect=head).ok
        store.delete("g@1")
        assert store.gc().versions == ("g@1",)
        after, _ = state(migrated_url)
        assert set(before) - set(after) >= {hashlib.sha256(b'["block_0/dense","block_1/dense"]')
                                            .digest()}  # fmt: skip
        assert store.fsck().ok

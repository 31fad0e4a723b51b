"""Migration 0010_compact (compressed packs and blobs) down and up with data present, on SQLite
and PostgreSQL: down writes every pack and blob as its bytes, as the release before kept
them; up compresses those that pay, and checkout, queries, diff, fsck and the audit chain see
the same store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mgstore import Store, codec
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef
from tests.db.migration_steps import below, connection, step

COMPACT = "0010_compact"
P, B = metadata.tables["packs"], metadata.tables["blobs"]


def graph(k: int) -> Any:
    """A graph whose packs and collections are large enough to be compressed."""
    meta = MetaGraphDef()
    for i in range(400):
        node = meta.graph_def.node.add(name=f"block_{i}/dense", op="MatMul")
        node.input.extend([f"block_{i - 1}/dense"] if i else [])
        node.attr["_label"].CopyFrom(AttrValue(s=f"v{k if i == 7 else 0}".encode() * 10))
        meta.collection_def["train_op"].node_list.value.append(node.name)
    return meta


def stored(url: str) -> dict[str, dict[Any, bytes]]:
    with connection(url) as conn:
        return {
            "packs": {k: bytes(v) for k, v in conn.execute(select(P.c.id, P.c.data))},
            "blobs": {bytes(k): bytes(v) for k, v in conn.execute(select(B.c.sha256, B.c.data))},
        }


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2):
            store.ingest(graph(k), "g")
        store.ingest(graph(1), "other")
        head = store.audit_head()
    step(migrated_url, below(COMPACT), down=True)  # nothing to lose: refused by no guard
    plain = stored(migrated_url)
    values = [*plain["packs"].values(), *plain["blobs"].values()]
    assert all(v[:1] not in (codec.RAW, codec.ZLIB) for v in values)  # as the release before
    assert any(len(v) >= codec.COMPRESS_MIN for v in values)

    step(migrated_url, "head", down=False)
    compact = stored(migrated_url)
    assert compact.keys() == plain.keys()
    for table, rows in compact.items():
        assert rows.keys() == plain[table].keys()
        for key, value in rows.items():
            assert bytes(codec.decompress(value)) == plain[table][key]
    assert sum(map(len, compact["packs"].values())) < sum(map(len, plain["packs"].values())) / 2
    assert any(v[:1] == codec.ZLIB for v in compact["blobs"].values())
    with Store(migrated_url) as store:
        assert store.checkout("g@1") == graph(1) and store.checkout("g@2") == graph(2)
        assert set(store.query("g@2", scope="block_7/", strict_scope=True).nodes) == {
            "block_7/dense"
        }
        assert [c.name for c in store.diff("g@1", "g@2").changed] == ["block_7/dense"]
        assert store.fsck().ok and store.audit_check(expect=head).ok
        store.ingest(graph(3), "g")  # a new version shares the converted content
        assert store.checkout("g@3") == graph(3)

    step(migrated_url, below(COMPACT), down=True)
    again = stored(migrated_url)
    for table, rows in plain.items():
        assert {k: again[table][k] for k in rows} == rows
    step(migrated_url, "head", down=False)
    with Store(migrated_url) as store:
        assert store.checkout("g@3") == graph(3) and store.fsck().ok

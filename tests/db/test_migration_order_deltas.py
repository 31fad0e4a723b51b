"""Migration 0012_order_deltas (node orders stored as deltas) down and up with data present, on
SQLite and PostgreSQL: down writes every order whole, as the release before kept them; up
rewrites them as deltas where that is smaller; checkout, queries, fsck and the audit chain
(whose records keep the digest of each whole order) see the same store either way."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mgstore import Store, byte_layout, node_order
from mgstore.db import orders as stored_orders
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef
from tests.db.migration_steps import below, connection, step

ORDER_DELTAS = "0012_order_deltas"
V = metadata.tables["versions"]


def graph(k: int) -> Any:
    """A 600-node graph; version ``k`` changes three nodes, and version 4 moves a block."""
    meta = MetaGraphDef()
    order = list(range(600))
    if k == 4:
        order = order[:50] + order[200:] + order[50:200]
    for i in order:
        node = meta.graph_def.node.add(name=f"block_{i // 20}/n{i}", op="NoOp")
        label = f"v{k}" if i in (k, 100 + k, 500 - k) else "base"
        node.attr["_label"].CopyFrom(AttrValue(s=label.encode() * 20))
    return meta


def orders(url: str) -> dict[int, bytes]:
    with connection(url) as conn:
        return {int(i): bytes(d) for i, d in conn.execute(select(V.c.id, V.c.node_order))}


def check(url: str, head: Any) -> None:
    stored_orders.forget_orders()
    with Store(url) as store:
        for k in (1, 3, 4, 5):  # g@2 is deleted (its order is g@3's base)
            assert store.checkout(f"g@{k}") == graph(k)
        assert store.checkout("other@1") == graph(1)
        assert list(store.query("g@4", scope="block_3/", strict_scope=True).nodes) == [
            f"block_3/n{i}" for i in range(60, 80)
        ]
        assert store.fsck().ok and store.audit_check(expect=head).ok


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in range(1, 6):
            store.ingest(graph(k), "g")
        store.ingest(graph(1), "other")
        store.delete("g@2")
        head = store.audit_head()
    new = orders(migrated_url)
    assert sum(d[:1] == node_order.DELTA for d in new.values()) == 4  # g@2 to g@5
    stored_orders.forget_orders()
    with Store(migrated_url) as store, store.engine.connect() as conn:
        rows = conn.execute(select(V)).all()
        materialized = {r.id: node_order.locations(stored_orders.read_order(conn, r)) for r in rows}
    step(migrated_url, below(ORDER_DELTAS), down=True)
    whole = orders(migrated_url)
    assert whole.keys() == new.keys()
    for version_id, data in whole.items():
        assert data[:1] != node_order.DELTA  # as the release before kept them
        assert byte_layout.unpack_locations(data) == materialized[version_id]
        assert node_order.digest(data) == node_order.digest(new[version_id])  # the records'

    step(migrated_url, "head", down=False)
    again = orders(migrated_url)
    assert sum(d[:1] == node_order.DELTA for d in again.values()) == 4
    assert all(len(d) < len(whole[i]) for i, d in again.items() if d[:1] == node_order.DELTA)
    # The same orders (each delta's digest is its whole order's), though the upgrade builds
    # each on the version before where the ingest takes skip bases (docs/storage.md §4.1).
    assert {i: node_order.digest(d) for i, d in again.items()} == {
        i: node_order.digest(d) for i, d in new.items()
    }
    check(migrated_url, head)
    with Store(migrated_url) as store:
        store.ingest(graph(6), "g")  # a delta against a converted order
        assert orders(migrated_url)[max(again) + 1][:1] == node_order.DELTA
        assert store.checkout("g@6") == graph(6)

    step(migrated_url, below(ORDER_DELTAS), down=True)
    assert all(d[:1] != node_order.DELTA for d in orders(migrated_url).values())
    step(migrated_url, "head", down=False)
    with Store(migrated_url) as store:
        assert store.checkout("g@6") == graph(6) and store.fsck().ok and store.audit_check().ok

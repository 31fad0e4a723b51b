"""Migration 0018_order_columns (node order deltas column by column) down and up with data
present, on SQLite and PostgreSQL: down writes every delta as revisions before it did (0x01,
8-byte values, same base and steps), up writes them back as the ingest does; checkout, fsck and
the audit chain (whose records keep each order's digest) see the same store either way."""

from __future__ import annotations

import zlib
from array import array
from typing import Any

from sqlalchemy import select

from mgstore import Store, node_order
from mgstore.db import orders as stored_orders
from mgstore.db.models import metadata
from tests.db.migration_steps import below, connection, step
from tests.db.test_migration_order_deltas import graph

ORDER_COLUMNS = "0018_order_columns"
V = metadata.tables["versions"]


def orders(url: str) -> dict[int, bytes]:
    with connection(url) as conn:
        return {int(i): bytes(d) for i, d in conn.execute(select(V.c.id, V.c.node_order))}


def check(url: str, head: Any, versions: range) -> None:
    stored_orders.forget_orders()
    with Store(url) as store:
        for k in versions:
            assert store.checkout(f"g@{k}") == graph(k)
        assert store.fsck().ok and store.audit_check(expect=head).ok


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in range(1, 7):
            store.ingest(graph(k), "g")
        head = store.audit_head()
    new = orders(migrated_url)
    deltas = {i for i, d in new.items() if d[:1] == node_order.DELTA}
    assert len(deltas) == 5  # g@2 to g@6 (skip bases g@1, g@1, g@3, g@1, g@5)

    step(migrated_url, below(ORDER_COLUMNS), down=True)
    old = orders(migrated_url)
    assert old.keys() == new.keys()
    for version_id, data in old.items():
        if version_id not in deltas:
            assert data == new[version_id]
            continue
        # As revisions 0012 to 0016 wrote a delta: flag 0x01, the same head, 8-byte values.
        assert data[:1] == node_order.DELTA_V1 and data[1:41] == new[version_id][1:41]
        values = array("q")
        values.frombytes(zlib.decompress(data[41:]))
        assert len(values) >= 2 and values[0] == 600
        base = node_order.base_of(data)
        assert base is not None
        got = node_order.apply_delta(_materialized(new, base), data)
        assert got == _materialized(new, version_id)

    step(migrated_url, "head", down=False)
    assert orders(migrated_url) == new  # as the ingest wrote them
    check(migrated_url, head, range(1, 7))
    with Store(migrated_url) as store:
        store.ingest(graph(7), "g")  # a delta against a converted order (g@7 builds on g@5)
        assert store.checkout("g@7") == graph(7)


def _materialized(stored: dict[int, bytes], version_id: int) -> Any:
    data = stored[version_id]
    base = node_order.base_of(data)
    if base is None:
        return node_order.decode(data)
    return node_order.apply_delta(_materialized(stored, base), data)


def test_a_damaged_order_is_left_as_it_is(migrated_url: str) -> None:
    """An order that cannot be read does not stop the migration either way: it stays as it
    is (fsck reports it) and the other orders are converted."""
    with Store(migrated_url) as store:
        for k in range(1, 4):
            store.ingest(graph(k), "g")
    new = orders(migrated_url)
    damaged, kept = sorted(i for i, d in new.items() if d[:1] == node_order.DELTA)[:2]
    with connection(migrated_url, write=True) as conn:
        bad = new[damaged][:41] + b"not zlib"
        conn.execute(V.update().where(V.c.id == damaged).values(node_order=bad))
    step(migrated_url, below(ORDER_COLUMNS), down=True)
    old = orders(migrated_url)
    assert old[damaged] == bad and old[kept][:1] == node_order.DELTA_V1
    step(migrated_url, "head", down=False)
    after = orders(migrated_url)
    assert after[damaged] == bad and after[kept] == new[kept]
    stored_orders.forget_orders()
    with Store(migrated_url) as store:
        assert not store.fsck().ok

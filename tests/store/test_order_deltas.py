"""Node orders stored as deltas against the order of an earlier version, its skip base
(docs/storage.md §4.1): many versions with changed, added, removed and moved nodes check out
as they went in; chains stay logarithmic; a damaged delta or base is an IntegrityError naming
the version, and fsck says so; gc keeps the order a live version's delta builds on, and clears
it once none does."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from mgstore import IntegrityError, Store, node_order
from mgstore.db import orders as order_reads
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef

V = metadata.tables["versions"]
NODES = 1500


def version_meta(k: int) -> Any:
    """Version ``k`` of a 1,500-node graph: 1% of its nodes carry k's label; every 5th
    version moves a block of nodes to the end, every 7th drops a node, every 4th adds one."""
    meta = MetaGraphDef()
    names = [f"scope_{i // 50}/n{i}" for i in range(NODES)]
    if k % 5 == 0:
        names = names[:100] + names[300:] + names[100:300]
    if k % 7 == 0:
        del names[k % NODES]
    if k % 4 == 0:
        names.insert(k, f"extra_{k}")
    changed = {(k * 37 + j * 101) % NODES for j in range(15)}
    for name in names:
        node = meta.graph_def.node.add(name=name, op="NoOp")
        i = int(name.rsplit("n", 1)[1]) if "/n" in name else -1
        label = f"v{k}" if i in changed else "base"
        node.attr["_label"].CopyFrom(AttrValue(s=label.encode() * 30))
    return meta


def stored_orders(store: Store, graph: str = "g") -> dict[int, bytes]:
    with store.engine.connect() as conn:
        return {
            int(number): bytes(data)
            for number, data in conn.execute(
                select(V.c.number, V.c.node_order)
                .where(V.c.graph_id == select(metadata.tables["graphs"].c.id)
                       .where(metadata.tables["graphs"].c.name == graph).scalar_subquery())
                .order_by(V.c.number)
            )
        }  # fmt: skip


def set_order(store: Store, number: int, data: bytes) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(V).where(V.c.number == number).values(node_order=data))


def chain_length(orders: dict[int, bytes], ids: dict[int, int], number: int) -> int:
    by_id = {ids[n]: n for n in ids}
    depth, data = 0, orders[number]
    while (base := node_order.base_of(data)) is not None:
        depth, data = depth + 1, orders[by_id[base]]
    return depth


def test_many_versions_with_churn_check_out_as_they_went_in(store: Store) -> None:
    count = 40
    for k in range(1, count + 1):
        store.ingest(version_meta(k), "g")
    orders = stored_orders(store)
    with store.engine.connect() as conn:
        ids = {int(n): int(i) for n, i in conn.execute(select(V.c.number, V.c.id))}
    deltas = [n for n, data in orders.items() if data[:1] == node_order.DELTA]
    assert orders[1][:1] != node_order.DELTA and len(deltas) >= count * 3 // 4
    # Each delta builds on its skip base: chains are as long as n - 1 has set bits.
    by_id = {i: n for n, i in ids.items()}
    for n in deltas:
        assert by_id[node_order.base_of(orders[n])] == order_reads.skip_base(n)
    assert all(chain_length(orders, ids, n) <= bin(n - 1).count("1") for n in orders)
    assert max(chain_length(orders, ids, n) for n in orders) >= 4
    with store.engine.connect() as conn:
        rows = {r.number: r for r in conn.execute(select(V)).all()}
        whole = {n: node_order.encode(order_reads.read_order(conn, rows[n])) for n in deltas}
    assert all(4 * len(orders[n]) <= 3 * len(whole[n]) for n in deltas)
    assert sum(len(orders[n]) for n in deltas) < sum(map(len, whole.values())) / 2
    order_reads.forget_orders()  # read every chain from the database
    for k in range(1, count + 1):
        assert store.checkout(f"g@{k}") == version_meta(k)
    scope = store.query("g@35", scope="scope_3/", strict_scope=True)
    assert list(scope.nodes) == [n.name for n in version_meta(35).graph_def.node
                                  if n.name.startswith("scope_3/")]  # fmt: skip
    assert store.fsck().ok and store.audit_check().ok


def test_a_damaged_delta_or_base_names_the_version(store: Store) -> None:
    for k in range(1, 5):
        store.ingest(version_meta(k), "g")
    orders = stored_orders(store)
    assert all(orders[n][:1] == node_order.DELTA for n in (2, 3, 4))
    order_reads.forget_orders()
    set_order(store, 3, orders[3][:41] + b"\x78\x9c damaged")
    with pytest.raises(IntegrityError, match=r"g@3: its node order, a delta .* is damaged"):
        store.checkout("g@3")
    with pytest.raises(IntegrityError, match=r"g@4: the node order of version 3 .* is damaged"):
        store.checkout("g@4")
    assert store.checkout("g@2") == version_meta(2)
    report = store.fsck()
    assert {(p.ref, p.kind) for p in report.problems} >= {("g@3", "order"), ("g@4", "order")}
    # The digest the delta carries (what the audit record keeps) is intact: fsck's order
    # check is what finds this damage.
    assert not any(p.kind == "audit" for p in report.problems)
    set_order(store, 3, orders[3])
    # A delta applied to another base gives another order: the content hash refuses it
    # (g@4's base is g@3; g@2's order builds on g@1 as g@3's does).
    order_reads.forget_orders()
    set_order(store, 3, orders[2])
    with pytest.raises(IntegrityError, match=r"g@4: .*content hash|g@4: its node order"):
        store.checkout("g@4")
    problems = {(p.ref, p.kind) for p in store.fsck().problems}
    assert ("g@4", "order") in problems or ("g@4", "content") in problems
    set_order(store, 3, orders[3])
    # A delta whose digest was changed: fsck and audit check see it, a checkout still works.
    order_reads.forget_orders()
    forged = orders[4][:9] + bytes(32) + orders[4][41:]
    set_order(store, 4, forged)
    assert store.checkout("g@4") == version_meta(4)
    kinds = {p.kind for p in store.fsck(["g@4"]).problems}
    assert {"order", "audit"} <= kinds and not store.audit_check().ok
    set_order(store, 4, orders[4])
    assert store.fsck().ok and store.audit_check().ok


def test_gc_keeps_an_order_a_live_delta_builds_on(store: Store) -> None:
    for k in range(1, 6):
        store.ingest(version_meta(k), "g")
    orders = stored_orders(store)
    # Skip bases: g@2 and g@3 build on g@1, g@4 on g@3, g@5 on g@1.
    assert all(orders[n][:1] == node_order.DELTA for n in (2, 3, 4, 5))
    store.delete("g@2")
    store.delete("g@3")
    report = store.gc()
    assert report.versions == ("g@2", "g@3") and report.order_bytes == len(orders[2])
    after = stored_orders(store)
    assert after[2] == b"" and after[3] == orders[3]  # g@4 builds on g@3
    order_reads.forget_orders()
    for k in (1, 4, 5):
        assert store.checkout(f"g@{k}") == version_meta(k)
    assert store.fsck().ok and store.audit_check().ok
    store.ingest(version_meta(6), "g")  # builds on g@5
    store.delete("g@4")
    store.delete("g@5")
    report = store.gc()  # g@6 builds on g@5, which builds on g@1: g@3 and g@4 are cleared
    assert report.order_bytes == len(orders[3]) + len(orders[4])
    assert stored_orders(store)[5] == orders[5]
    sixth = stored_orders(store)[6]
    store.delete("g@6")
    report = store.gc()  # the last version building on g@5 is collected: all cleared
    assert report.order_bytes == len(orders[5]) + len(sixth)
    left = stored_orders(store)
    assert [n for n, data in left.items() if data] == [1]
    assert store.checkout("g@1") == version_meta(1)
    assert store.fsck().ok and store.audit_check().ok
    # The skip base (g@5) and the latest (g@6) are collected: a whole order again.
    store.ingest(version_meta(7), "g")
    assert stored_orders(store)[7][:1] != node_order.DELTA
    assert store.checkout("g@7") == version_meta(7)
    store.ingest(version_meta(8), "g")  # its skip base, g@7, is there
    assert node_order.base_of(stored_orders(store)[8]) is not None
    assert store.checkout("g@8") == version_meta(8)

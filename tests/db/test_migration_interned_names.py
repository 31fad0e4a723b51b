"""Migration 0019_interned_names down and up with data present, on SQLite and PostgreSQL: down
writes each row's name, op type and device (and the 32-bit keys of revision 0013) back into
node and edge rows and drops ``names``; up interns them again, and scope, op type and device
queries, closures, checkout, content lookups across graphs, fsck and the audit chain see the
same store."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, func, inspect, select

from mgstore import Store
from mgstore.db.models import metadata
from mgstore.proto import MetaGraphDef
from tests.db.migration_steps import below, connection, step

INTERNED = "0019_interned_names"
NM, N = metadata.tables["names"], metadata.tables["nodes"]
# The rows' names and keys as revisions 0013 to 0018 keep them.
OLD_N = Table(
    "nodes",
    MetaData(),
    Column("id", Integer),
    Column("name", Text),
    Column("name_key", Integer),
    Column("op", Text),
    Column("device", Text),
)
OLD_E = Table("edges", MetaData(), Column("src_name", Text), Column("src_key", Integer))


def graph(k: int) -> Any:
    """Three scopes of a chain with data, indexed and control inputs; version ``k`` moves the
    nodes of scope 1 to another device, and names one input that no node has."""
    meta = MetaGraphDef()
    for i in range(24):
        node = meta.graph_def.node.add(name=f"s{i // 8}/n{i}", op="Identity")
        node.input.extend([f"s{(i - 1) // 8}/n{i - 1}:1", f"^s{(i - 2) // 8}/n{i - 2}"][:i])
        if i // 8 == 1:
            node.device = f"/cpu:{k}"
    meta.graph_def.node[5].input.append("missing/op")
    meta.collection_def["train_op"].node_list.value.extend(["s2/n20"])
    return meta


def answers(store: Store, ref: str) -> list[object]:
    """What the queries of a version give: scopes, closures both ways, a collection."""
    found: list[object] = [store.checkout(ref)]
    for scope in ("s0", "s1/", "s2/n20"):
        found.append(sorted(store.query(ref, scope=scope).nodes(data="device")))
    for direction in ("ancestors", "descendants"):
        found.append(sorted(store.query(ref, scope="s1/n9", closure=direction).nodes))
    found.append(sorted(store.query(ref, collection="train_op", closure="ancestors").nodes))
    found.append(sorted(store.query(ref, op_type="Identity", device="/cpu:2").nodes))
    found.append(sorted(store.query(ref, op_type="Const").nodes))
    return found


def old_rows(url: str) -> tuple[set[str], dict[str, int]]:
    """At the revision below: the columns of nodes and edges, and each name's key there."""
    with connection(url) as conn:
        found = inspect(conn)
        columns = {c["name"] for t in ("nodes", "edges") for c in found.get_columns(t)}
        assert "names" not in found.get_table_names()
        keys = dict(conn.execute(select(OLD_N.c.name, OLD_N.c.name_key)).all())
        keys.update(conn.execute(select(OLD_E.c.src_name, OLD_E.c.src_key)).all())
    return columns, keys


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2, 3):
            store.ingest(graph(k), "g")
        store.ingest(graph(2), "other")  # content found in another graph
        head = store.audit_head()
        expected = {ref: answers(store, ref) for ref in ("g@1", "g@3", "other")}
    step(migrated_url, below(INTERNED), down=True)
    columns, keys = old_rows(migrated_url)
    assert {"name", "name_key", "op", "device", "src_name", "src_key"} <= columns
    assert not {"name_id", "op_id", "device_id", "src_id"} & columns
    assert len(keys) == 25  # every node's name, and the input no node has
    assert keys == {n: zlib.crc32(n.encode()) - 0x80000000 for n in keys}
    with connection(migrated_url) as conn:
        described = set(conn.execute(select(OLD_N.c.op, OLD_N.c.device).distinct()).all())
    assert described == {("Identity", ""), ("Identity", "/cpu:1"), ("Identity", "/cpu:2"),
                         ("Identity", "/cpu:3")}  # fmt: skip

    step(migrated_url, "head", down=False)
    with connection(migrated_url) as conn:  # 25 names, an op, 4 devices ("" too)
        assert int(conn.execute(select(func.count()).select_from(NM)).scalar_one()) == 30
        rows = int(conn.execute(select(func.count()).select_from(N)).scalar_one())
        packs = set(conn.execute(select(N.c.pack_id).distinct()).scalars())
    with Store(migrated_url) as store:
        assert {ref: answers(store, ref) for ref in expected} == expected
        assert store.fsck().ok and store.audit_check(expect=head).ok
        store.ingest(graph(1), "third")  # every node's content is stored: found by name id
        assert store.checkout("third") == graph(1)
    with connection(migrated_url) as conn:
        assert int(conn.execute(select(func.count()).select_from(N)).scalar_one()) == rows + 24
        assert set(conn.execute(select(N.c.pack_id).distinct()).scalars()) == packs  # none new
        assert int(conn.execute(select(func.count()).select_from(NM)).scalar_one()) == 30


def test_a_dangling_name_id_does_not_stop_the_downgrade(migrated_url: str) -> None:
    """A node row whose name id names no row (damaged) is written back with an empty name,
    for fsck to report at the older revision; the other rows keep theirs."""
    with Store(migrated_url) as store:
        store.ingest(graph(1), "g")
    with connection(migrated_url, write=True) as conn:
        damaged = int(conn.execute(select(func.min(N.c.id))).scalar_one())
        conn.execute(N.update().where(N.c.id == damaged).values(name_id=10**9, op_id=None))
    step(migrated_url, below(INTERNED), down=True)
    with connection(migrated_url) as conn:
        rows = dict(conn.execute(select(OLD_N.c.id, OLD_N.c.name)).all())
        ops = set(conn.execute(select(OLD_N.c.op).where(OLD_N.c.id == damaged)).scalars())
    assert rows.pop(damaged) == "" and ops == {""}
    assert all(rows.values())

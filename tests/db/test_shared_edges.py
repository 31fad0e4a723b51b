"""Shared edges (mgstore.db.edges, docs/storage.md §3.5): a row whose inputs are those of the
row it follows uses that row's edge rows; closures, fsck and gc see the same graph as if each
row had its own, and migration 0016_shared_edges converts a store both ways."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, inspect, select, update

from mgstore import Store
from mgstore.db.models import metadata
from mgstore.db.versions import named
from mgstore.proto import MetaGraphDef
from tests.db.migration_steps import below, connection, step

SHARED = "0016_shared_edges"
N, E, NM = metadata.tables["nodes"], metadata.tables["edges"], metadata.tables["names"]


def graph(k: int) -> Any:
    """A chain of 30 nodes, each with a data and a control input. Version 2 moves n5 and n6
    (same inputs) and gives n10 one more input; version 3 moves n5 and n6 again."""
    meta = MetaGraphDef()
    for i in range(30):
        node = meta.graph_def.node.add(name=f"s{i // 10}/n{i}", op="Identity")
        node.input.extend([f"s{(i - 1) // 10}/n{i - 1}:0", f"^s{(i - 2) // 10}/n{i - 2}"][:i])
        if k >= 2 and i in (5, 6):
            node.device = f"/device:CPU:{k}"
        if k >= 2 and i == 10:
            node.input.append("s0/n0")
    return meta


def edge_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(E)).scalar_one())


def closures(store: Store, ref: str) -> dict[str, set[str]]:
    return {
        f"{direction} {scope}": set(store.query(ref, scope=scope, closure=direction).nodes)
        for scope in ("s0/n5", "s1/n10", "s2/n29", "s0/n0")
        for direction in ("ancestors", "descendants")
    }


def test_a_node_whose_inputs_stay_uses_the_edges_of_the_row_it_follows(store: Store) -> None:
    for k in (1, 2, 3):
        store.ingest(graph(k), "g")
        store.ingest(graph(k), f"fresh{k}")  # each row with edges of its own
    inputs = [sum(len(n.input) for n in graph(k).graph_def.node) for k in (1, 2, 3)]
    # g: version 1's rows, n10's new row (3 edges); n5 and n6 share, twice
    assert edge_rows(store) == inputs[0] + 3 + sum(inputs)
    with store.engine.connect() as conn:
        shared = conn.execute(
            select(NM.c.name, N.c.edges_from).select_from(named()).where(N.c.edges_from != 0)
        ).all()
        first = dict(
            conn.execute(
                select(NM.c.name, N.c.id)
                .select_from(named())
                .where(N.c.first_version == 1, N.c.graph_id == 1)
            ).all()
        )
    moved = [(name, first[name]) for name in ("s0/n5", "s0/n6")]
    assert sorted(shared) == sorted(moved * 2)  # versions 2 and 3, both on version 1's rows
    for k in (1, 2, 3):
        assert closures(store, f"g@{k}") == closures(store, f"fresh{k}")
        assert store.checkout(f"g@{k}") == graph(k)
        assert store.outline(f"g@{k}").edges == store.outline(f"fresh{k}").edges
    assert store.fsck().ok


def test_gc_keeps_the_rows_whose_edges_are_shared(store: Store) -> None:
    for k in (1, 2, 3):
        store.ingest(graph(k), "g")
    store.ingest(graph(3), "fresh")
    store.delete("g@1")
    store.delete("g@2")
    store.gc()
    assert closures(store, "g@3") == closures(store, "fresh")
    assert store.fsck().ok
    with store.engine.connect() as conn:  # version 1's n5 and n6 stay for their edges
        kept = conn.execute(
            select(NM.c.name).select_from(named()).where(N.c.first_version == 1, N.c.graph_id == 1)
        )
        assert {"s0/n5", "s0/n6"} <= set(kept.scalars())
    store.delete("g@3", force=True)
    store.gc()
    assert edge_rows(store) == sum(len(n.input) for n in graph(3).graph_def.node)


def test_fsck_finds_a_row_using_another_names_edges(store: Store) -> None:
    store.ingest(graph(1), "g")
    store.ingest(graph(2), "g")
    with store.engine.begin() as conn:
        other = conn.execute(
            select(N.c.id).select_from(named()).where(NM.c.name == "s0/n4")
        ).scalar_one()
        conn.execute(update(N).where(N.c.edges_from != 0).values(edges_from=other))
    problems = {(p.kind, p.detail) for p in store.fsck().problems}
    assert ("edges", "node 's0/n5': the row whose edges it uses is not its own") in problems


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2, 3):
            store.ingest(graph(k), "g")
        store.ingest(graph(3), "fresh")
        head = store.audit_head()
        expected = closures(store, "fresh")
        shared_count = edge_rows(store)
    step(migrated_url, below(SHARED), down=True)
    with connection(migrated_url) as conn:
        assert "edges_from" not in {c["name"] for c in inspect(conn).get_columns("nodes")}
        count = int(conn.execute(select(func.count()).select_from(E)).scalar_one())
    assert count == shared_count + 4 * 2  # each of the 4 sharing rows got its 2 edges
    step(migrated_url, "head", down=False)
    with Store(migrated_url) as store:
        assert closures(store, "g@3") == expected
        assert store.fsck().ok and store.audit_check(expect=head).ok
        store.ingest(graph(2), "g")  # n5 and n6 share again
        assert edge_rows(store) == count
        assert closures(store, "g@4") == closures(store, "g@2")

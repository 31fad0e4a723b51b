"""The version writer (mgstore.db.write) run by run: graphs of many runs, packs cut small,
content found across runs and graphs, errors found late, progress, and the GIL hand-over."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import mgstore.db.inserts
import mgstore.db.write
from mgstore import InvalidGraphError, Store, codec, io
from mgstore.db import engine as db
from mgstore.db.models import metadata
from mgstore.graph import parse_input
from mgstore.proto import AttrValue, MetaGraphDef

G, N, E, P = (metadata.tables[t] for t in ("graphs", "nodes", "edges", "packs"))
NM = metadata.tables["names"]
GRAPHS = ["dense.meta", "control_flow.meta", "functions.meta", "collections.meta", "graph.pb"]


@pytest.fixture(autouse=True)
def small_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 3 nodes and packs of 2 KB, so that small graphs take every path of a large one."""
    monkeypatch.setattr(mgstore.db.write, "RUN_NODES", 3)
    monkeypatch.setattr(mgstore.db.write, "PACK_BYTES", 2048)


def chain(*names: str, payload: int = 0) -> Any:
    """A MetaGraphDef of ops named ``names``, each taking the previous one as input."""
    meta = MetaGraphDef()
    previous = None
    for name in names:
        node = meta.graph_def.node.add(name=name, op="Identity")
        if previous is not None:
            node.input.extend([previous, f"^{previous}", f"{previous}:1"])
        if payload:
            node.attr["value"].CopyFrom(AttrValue(s=name.encode() * payload))
        previous = name
    return meta


def rows_match(store: Store, ref: str) -> None:
    """The version's node and edge rows say what its NodeDefs say, and packs are cut small."""
    meta = store.checkout(ref)
    info = store.version(ref)
    with db.transaction(store.engine) as conn:
        graph_id = conn.execute(select(G.c.id).where(G.c.name == info.name)).scalar_one()
        current = (N.c.last_version.is_(None)) | (N.c.last_version >= info.number)
        rows = conn.execute(
            select(N).where(N.c.graph_id == graph_id, N.c.first_version <= info.number, current)
        ).all()
        names = dict(conn.execute(select(NM.c.id, NM.c.name)).all())
        nodes = {names[row.name_id]: row for row in rows}
        assert sorted(nodes) == sorted(n.name for n in meta.graph_def.node)
        for node in meta.graph_def.node:
            row = nodes[node.name]
            assert (names[row.op_id], names[row.device_id]) == (node.op, node.device)
            edges = conn.execute(
                select(E.c.src_id, E.c.src_output, E.c.control)
                .where(E.c.node_id == (row.edges_from or row.id))  # its own, or shared
                .order_by(E.c.slot)
            ).all()
            assert [(names[e[0]], e[1], e[2]) for e in edges] == [
                parse_input(t) for t in node.input
            ]
        # A pack over the limit holds one node.
        for pack_id, data in conn.execute(select(P.c.id, P.c.data)):
            if len(data) > 2048:
                held = conn.execute(select(N.c.offset, N.c.length).where(N.c.pack_id == pack_id))
                assert {tuple(r) for r in held} == {(0, len(data))}


@pytest.mark.parametrize("fixture", GRAPHS)
def test_fixtures_round_trip_in_many_runs(store: Store, fixtures_dir: Path, fixture: str) -> None:
    meta = io.read_meta_graph(fixtures_dir / fixture)
    store.ingest(fixtures_dir / fixture, "g")
    assert io.serialize(store.checkout("g")) == io.serialize(meta)
    assert store.checkout_bytes("g") == (fixtures_dir / fixture).read_bytes()
    rows_match(store, "g")


def test_large_nodes_and_small_packs(store: Store) -> None:
    names = [f"n{i}" for i in range(20)]
    meta = chain(*names, payload=300)  # some nodes alone exceed a pack
    store.ingest(meta, "g")
    assert store.checkout("g") == meta
    rows_match(store, "g")


def test_a_versions_new_nodes_fill_packs_across_its_runs(
    store: Store, counts: Callable[[Store], dict[str, int]]
) -> None:
    """Nodes changed in many runs go into as few packs as the limit allows, not one per run
    (docs/storage.md §3.2)."""
    names = [f"n{i}" for i in range(30)]  # ten runs of three
    store.ingest(chain(*names, payload=4), "g")
    for version, (every, payload) in enumerate([(4, 4), (1, 20)], start=2):
        before = counts(store)["packs"]
        changed = chain(*names, payload=payload)
        for node in changed.graph_def.node[::every]:
            node.device = "/device:CPU:1"
        store.ingest(changed, "g")
        with db.transaction(store.engine) as conn:
            added = conn.execute(
                select(P.c.id, P.c.data).where(
                    P.c.id
                    > select(func.max(N.c.pack_id))
                    .where(N.c.first_version < version)
                    .scalar_subquery()
                )
            ).all()
        sizes = [len(codec.decompress(data)) for _, data in added]
        assert len(added) == counts(store)["packs"] - before
        # Every pack but the last is full: the next node would not have fitted.
        assert all(2048 - 200 < size <= 2048 for size in sizes[:-1]) and sizes[-1] <= 2048
        assert store.checkout("g") == changed
        rows_match(store, f"g@{version}")
    assert len(sizes) > 1  # the second edit fills more than one pack


def test_a_changed_node_in_a_later_run_adds_one_row(
    store: Store, counts: Callable[[Store], dict[str, int]]
) -> None:
    names = [f"n{i}" for i in range(10)]
    store.ingest(chain(*names), "g")
    before = counts(store)
    changed = chain(*names)
    changed.graph_def.node[7].device = "/device:CPU:1"
    store.ingest(changed, "g")
    after = counts(store)
    assert after["nodes"] - before["nodes"] == 1
    # Its 3 inputs did not change: the new row uses the edge rows of the row it follows
    # (docs/storage.md §3.5); a changed input gives it rows of its own.
    assert after["edges"] - before["edges"] == 0
    assert store.checkout("g@1") == chain(*names)
    assert store.checkout("g@2") == changed
    rows_match(store, "g@2")


def test_content_is_found_in_other_graphs_and_older_rows(
    store: Store, counts: Callable[[Store], dict[str, int]]
) -> None:
    names = [f"n{i}" for i in range(10)]
    original = chain(*names, payload=50)
    store.ingest(original, "a")
    packs = counts(store)["packs"]
    store.ingest(original, "b")  # another graph: rows of its own, no new bytes
    assert counts(store)["packs"] == packs
    changed = chain(*names, payload=50)
    for node in changed.graph_def.node[4:8]:
        node.device = "/device:GPU:0"
    store.ingest(changed, "a")
    grown = counts(store)["packs"]
    assert grown > packs
    store.ingest(original, "a")  # back to version 1's content: found in closed rows
    assert counts(store)["packs"] == grown
    assert [store.checkout(ref) for ref in ("a@1", "a@2", "a@3", "b")] == [
        original,
        changed,
        original,
        original,
    ]
    rows_match(store, "a@3")


def test_a_name_repeated_in_a_later_run_is_refused_and_leaves_no_trace(
    store: Store, dump: Callable[[Store], Any]
) -> None:
    store.ingest(chain("x", "y"), "other")
    before = dump(store)
    meta = chain(*[f"n{i}" for i in range(8)])
    meta.graph_def.node[6].name = "n1"
    with pytest.raises(InvalidGraphError, match="'n1' is not unique"):
        store.ingest(meta, "g")
    assert dump(store) == before


def test_progress_reports_the_nodes_written(store: Store) -> None:
    calls: list[tuple[str, int, int]] = []
    store.ingest(chain(*[f"n{i}" for i in range(7)]), "g", progress=lambda *c: calls.append(c))
    assert calls == [
        ("read", 0, 1),
        ("write", 3, 7),
        ("write", 6, 7),
        ("write", 7, 7),
        ("done", 1, 1),
    ]


def test_the_switch_interval_is_lowered_while_writing_and_restored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    encode = mgstore.byte_layout.encode_nodes

    def spy(defs: Any) -> Any:
        seen.append(sys.getswitchinterval())
        return encode(defs)

    monkeypatch.setattr(mgstore.byte_layout, "encode_nodes", spy)
    before = sys.getswitchinterval()
    store.ingest(chain("a", "b", "c", "d"), "g")
    assert seen and all(value <= 0.0001 for value in seen)
    assert sys.getswitchinterval() == before
    bad = chain("a", "b", "c", "d")
    bad.graph_def.node[3].name = "a"
    with pytest.raises(InvalidGraphError):
        store.ingest(bad, "g")
    assert sys.getswitchinterval() == before


def test_an_output_index_over_32_bits_is_refused_and_leaves_no_trace(
    store: Store, dump: Callable[[Store], Any]
) -> None:
    store.ingest(chain("x", "y"), "other")
    before = dump(store)
    for index in (2**31, 2**63, 10**20):
        meta = chain("a", "b")
        meta.graph_def.node[1].input.append(f"a:{index}")
        with pytest.raises(InvalidGraphError, match=f"'a:{index}': output index {index} is over"):
            store.ingest(meta, "g")
        assert dump(store) == before
    meta = chain("a", "b")
    meta.graph_def.node[1].input.append(f"a:{2**31 - 1}")
    store.ingest(meta, "g")
    rows_match(store, "g")


def test_runs_too_large_for_one_value_go_row_by_row(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite refuses one value over 10**9 bytes: a run whose packs or columns would come near
    # it is inserted a row at a time. (PostgreSQL takes every run by COPY.)
    # (40: node and edge rows hold name ids, not names, since revision 0019: runs are smaller)
    monkeypatch.setattr(mgstore.db.inserts, "VALUE_LIMIT", 40)
    tables: list[str] = []
    executemany = mgstore.db.inserts.executemany

    def spy(conn: Any, statement: Any, *args: Any) -> None:
        tables.append(statement.table.name)
        executemany(conn, statement, *args)

    monkeypatch.setattr(mgstore.db.inserts, "executemany", spy)
    meta = chain(*[f"node_{i}_" + "x" * 60 for i in range(12)], payload=40)
    with Store(sqlite_url) as store:
        store.ingest(meta, "g")
        assert {"packs", "nodes", "edges"} <= set(tables)
        assert store.checkout("g") == meta
        rows_match(store, "g")


def test_the_latest_nodes_are_read_through_the_open_rows_index(
    store: Store, fixtures_dir: Path
) -> None:
    """An ingest reads the graph's open rows through ``ix_nodes_graph_open``, not through an
    index that holds every row of the graph's history (docs/storage.md §7)."""
    from sqlalchemy import inspect, text

    store.ingest(fixtures_dir / GRAPHS[0], "g")
    with store.engine.connect() as conn:
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("nodes")}
        assert "ix_nodes_graph_open" in indexes
        assert "ix_collections_blob" in {
            ix["name"] for ix in inspect(conn).get_indexes("collections")
        }
        if conn.dialect.name == "sqlite":
            plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id, sha256, pack_id, offset, length FROM nodes"
                    " WHERE graph_id = 1 AND last_version IS NULL"
                )
            ).all()
            assert "ix_nodes_graph_open" in " ".join(str(row[-1]) for row in plan)


def test_the_exported_content_check_is_read_through_an_index(
    store: Store, fixtures_dir: Path
) -> None:
    """Whether an export names a content hash (asked by an ingest with ``prepare_export``,
    ``forms.drop_unexported``) is answered through ``ix_exports_content_hash``, not a scan of
    the export log (docs/storage.md §7): the plan of the statement it sends."""
    from sqlalchemy import event, inspect

    from mgstore.db import forms

    store.ingest(fixtures_dir / GRAPHS[0], "g")
    with store.engine.connect() as conn:
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("exports")}
        assert "ix_exports_content_hash" in indexes
        if conn.dialect.name != "sqlite":
            return
        sent: list[tuple[str, Any]] = []
        event.listen(
            conn, "before_cursor_execute", lambda _c, _k, sql, p, *_: sent.append((sql, p))
        )
        forms.drop_unexported(conn, "0" * 64)
        [(sql, parameters)] = [(q, p) for q, p in sent if "exports" in q]
        plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters).all()
        conn.rollback()
        assert "ix_exports_content_hash" in " ".join(str(row[-1]) for row in plan)


@pytest.mark.postgres
def test_ids_are_reserved_in_one_round_trip_even_when_draws_interleave(pg_url: str) -> None:
    """PostgreSQL ids for a run's nodes and packs come from one statement, as a range's ends;
    draws that are not one range (another writer drew meanwhile: here, a sequence that steps
    by 3) come back id by id, and are the ids the sequence gave (docs/storage.md §7)."""
    from sqlalchemy import text

    from mgstore.db.migrate import upgrade_database

    upgrade_database(pg_url)
    with Store(pg_url) as store, db.transaction(store.engine, write=True) as conn:
        reserver = mgstore.db.write._IdReserver(conn)
        statements: list[str] = []
        listen = sa_event_recorder(conn, statements)
        nodes, packs, none = reserver.reserve((N, 5), (P, 2), (E, 0))
        assert len(statements) == 1 and listen
        assert list(nodes) == list(range(nodes[0], nodes[0] + 5)) and len(packs) == 2
        assert list(none) == []
        conn.execute(text("ALTER SEQUENCE packs_id_seq INCREMENT BY 3"))
        (packs,) = reserver.reserve((P, 4))
        assert list(packs) == [packs[0] + 3 * k for k in range(4)]
        later = conn.execute(text("SELECT nextval('packs_id_seq')")).scalar_one()
        assert later == packs[-1] + 3


def sa_event_recorder(conn: Any, statements: list[str]) -> bool:
    """Record in ``statements`` the SQL ``conn`` sends from now on."""
    from sqlalchemy import event

    event.listen(conn, "before_cursor_execute", lambda _c, _cur, sql, *_: statements.append(sql))
    return True


def test_the_postgresql_forms_of_shared_rows_are_one_statement(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collection members and blobs, whose keys another version may hold already, go in one
    statement per batch on PostgreSQL (arrays unnested, conflicts skipped), not one per row;
    and they arrive whole on either backend."""
    calls: list[int] = []
    executemany = mgstore.db.inserts.executemany

    def spy(conn: Any, statement: Any, columns: Any, rows: Any) -> None:
        rows = list(rows)
        calls.append(len(rows))
        executemany(conn, statement, columns, rows)

    monkeypatch.setattr(mgstore.db.inserts, "executemany", spy)
    meta = chain(*[f"n{i}" for i in range(40)])
    meta.collection_def["c"].node_list.value.extend([f"n{i}" for i in range(40)])
    meta.collection_def["d"].node_list.value.extend(["n1", "n2"])
    store.ingest(meta, "g")
    postgres = store.engine.dialect.name == "postgresql"
    assert (max(calls) == 1) == postgres
    assert store.checkout("g") == meta
    assert sorted(store.query("g", collection="c").nodes) == sorted(f"n{i}" for i in range(40))
    store.ingest(meta, "h")  # the same members and blobs again: skipped, not refused
    assert sorted(store.query("h", collection="d").nodes) == ["n1", "n2"]

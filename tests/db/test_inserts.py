"""Bulk inserts (mgstore.db.inserts): every value arrives exactly, on SQLite's JSON path, its
executemany fallback, and PostgreSQL's executemany."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mgstore import Store
from mgstore.db import engine as db
from mgstore.db.inserts import BulkRows, bulk_rows, insert_bulk
from mgstore.db.models import Base

B, G, N, E, P = (Base.metadata.tables[t] for t in ("blobs", "graphs", "nodes", "edges", "packs"))
CM = Base.metadata.tables["collection_members"]
NODE_COLUMNS = ("id", "name", "op", "device", "pack_id", "offset", "length")

# Text as SQLite and PostgreSQL keep it: any code point but surrogates (and NUL on PostgreSQL).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def _insert(store: Store, bulk: BulkRows) -> None:
    with db.transaction(store.engine, write=True) as conn:
        insert_bulk(conn, bulk)


def _rows(store: Store, table: Any) -> list[tuple[Any, ...]]:
    with db.transaction(store.engine) as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


def _graph_and_pack(store: Store, pack: bytes = b"p") -> None:
    dialect = store.engine.dialect.name
    _insert(store, bulk_rows(dialect, P, ("id",), [(1,)], blob=("data", [pack])))
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(G.insert(), {"id": 1, "name": "g", "created_at": datetime.now(timezone.utc)})


def test_node_rows_with_a_fixed_width_blob_and_constants(store: Store) -> None:
    _graph_and_pack(store)
    rows = [(i, f"n{i}", "Op", "", 1, i, 1) for i in range(1, 6)]
    shas = [bytes([i]) * 32 for i in range(1, 6)]
    bulk = bulk_rows(
        store.engine.dialect.name,
        N,
        NODE_COLUMNS,
        rows,
        blob=("sha256", shas),
        constants={"graph_id": 1, "first_version": 7},
    )
    assert isinstance(bulk.rows, str) == (store.engine.dialect.name == "sqlite")
    _insert(store, bulk)
    assert _rows(store, N) == [
        (i, 1, f"n{i}", "Op", "", shas[i - 1], 1, i, 1, 7, None) for i in range(1, 6)
    ]


def test_rows_with_byte_strings_of_many_lengths(store: Store) -> None:
    packs = [b"", b"\x00", b"abc" * 1000, bytes(range(256))]
    bulk = bulk_rows(
        store.engine.dialect.name, P, ("id",), [(i,) for i in range(1, 5)], blob=("data", packs)
    )
    _insert(store, bulk)
    assert _rows(store, P) == [(i, data) for i, data in enumerate(packs, 1)]


def test_ignore_skips_rows_whose_key_is_stored(store: Store) -> None:
    sha = b"s" * 32
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.insert(), {"sha256": sha, "data": b"x"})
    dialect = store.engine.dialect.name
    keys = ("blob_sha256", "key", "node_name")

    def members(names: list[str]) -> BulkRows:
        rows = [("k", name) for name in names]
        blob = ("blob_sha256", [sha] * len(names))
        return bulk_rows(dialect, CM, ("key", "node_name"), rows, blob=blob, ignore=keys)

    _insert(store, members(["a", "b"]))
    _insert(store, members(["b", "c"]))
    assert _rows(store, CM) == [(sha, "k", "a"), (sha, "k", "b"), (sha, "k", "c")]


def test_no_rows_is_nothing(store: Store) -> None:
    _insert(store, bulk_rows(store.engine.dialect.name, E, ("node_id",), []))
    assert _rows(store, E) == []


def test_nul_characters_take_executemany_on_sqlite(store: Store) -> None:
    # SQLite's JSON functions end strings at NUL: such rows must not take the JSON path.
    _graph_and_pack(store)
    dialect = store.engine.dialect.name
    names = ["a\x00b", "\x00", "plain", "back\\u0000slash"]
    if dialect == "postgresql":
        names = [n.replace("\x00", "") + "!" for n in names]  # PostgreSQL text has no NUL
    rows = [(i, name, "Op\x00" if dialect == "sqlite" else "Op", "", 1, 0, 1) for i, name in
            enumerate(names, 1)]  # fmt: skip
    bulk = bulk_rows(
        dialect, N, NODE_COLUMNS, rows, blob=("sha256", [b"h" * 32] * len(names)),
        constants={"graph_id": 1, "first_version": 1},
    )  # fmt: skip
    if dialect == "sqlite":
        assert not isinstance(bulk.rows, str)
    _insert(store, bulk)
    assert [r[2:4] for r in _rows(store, N)] == [row[1:3] for row in rows]


def test_json_path_keeps_any_text(tmp_path: Any) -> None:
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        _graph_and_pack(store)
        node = bulk_rows("sqlite", N, NODE_COLUMNS, [(1, "n", "Op", "", 1, 0, 1)],
                         blob=("sha256", [b"h" * 32]),
                         constants={"graph_id": 1, "first_version": 1})  # fmt: skip
        _insert(store, node)
        columns = ("node_id", "slot", "src_name", "src_output", "control")

        @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(st.tuples(TEXT, st.integers(-1, 2**40), st.booleans()), max_size=20))
        def check(values: list[tuple[str, int, bool]]) -> None:
            with db.transaction(store.engine, write=True) as conn:
                conn.execute(E.delete())
                rows = [(1, slot, *v) for slot, v in enumerate(values)]
                insert_bulk(conn, bulk_rows("sqlite", E, columns, rows))
            assert _rows(store, E) == rows

        check()


def test_the_json_statements_need_no_sqlite_newer_than_json1() -> None:
    # ->> came with SQLite 3.38; Python 3.10 may link an older SQLite with JSON1.
    from sqlalchemy.dialects import sqlite

    from mgstore.db.inserts import _json_insert

    keys = ("blob_sha256", "key", "node_name")
    for arrow in (False, True):
        for statement in (
            _json_insert(N, NODE_COLUMNS + ("sha256",), ("graph_id",), True, 32, None, arrow),
            _json_insert(P, ("id", "data"), (), True, None, None, arrow),
            _json_insert(CM, ("node_name",), ("blob_sha256", "key"), False, None, keys, arrow),
        ):
            sql = str(statement.compile(dialect=sqlite.dialect()))
            assert "json_each(" in sql
            assert ("->>" in sql) == arrow and ("json_extract(" in sql) != arrow


def test_both_ways_of_reading_json_store_the_same(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mgstore.db.inserts

    tables = []
    for arrow in (False, True):
        monkeypatch.setattr(mgstore.db.inserts, "_HAS_ARROW", arrow)
        with Store(f"sqlite:///{tmp_path / f'{arrow}.db'}") as store:
            _graph_and_pack(store, b"\x00pack")
            rows = [(i, f'n{i} ü \\u00 "q"', "Op", "/cpu:0", 1, i, 2) for i in range(1, 9)]
            bulk = bulk_rows("sqlite", N, NODE_COLUMNS, rows, blob=("sha256", [b"h" * 32] * 8),
                             constants={"graph_id": 1, "first_version": 3})  # fmt: skip
            _insert(store, bulk)
            tables.append((_rows(store, N), _rows(store, P)))
    assert tables[0] == tables[1]
    assert [r[2] for r in tables[0][0]] == [f'n{i} ü \\u00 "q"' for i in range(1, 9)]

"""Bulk inserts (mgstore.db.inserts): every value arrives exactly, whichever form SQLite's
statement reads each column in, by the executemany fallback, and by PostgreSQL's executemany."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, Table, Text, select
from sqlalchemy.dialects import sqlite

from mgstore import MgstoreError, Store
from mgstore.db import engine as db
from mgstore.db.inserts import BulkRows, bulk_rows, insert_bulk, slices_insert
from mgstore.db.models import metadata

B, G, N, E, P = (metadata.tables[t] for t in ("blobs", "graphs", "nodes", "edges", "packs"))
NM = metadata.tables["names"]
# A table shaped as node rows were before revision 0019 interned their strings (three text
# columns, hashes, integers): every form of the bulk statement, with the real tables' types.
NT = Table(
    "nodes_for_test",
    MetaData(),
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("graph_id", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("op", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("pack_id", Integer, nullable=False),
    Column("offset", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    Column("first_version", Integer, nullable=False),
    Column("last_version", Integer),
    Column("name_key", Integer),
    Column("edges_from", BigInteger().with_variant(Integer, "sqlite"), server_default="0"),
)
# A table keyed by bytes and text, as collection_members was (migration 0013 dropped it).
CM = Table(
    "members_for_test",
    MetaData(),
    Column("blob_sha256", LargeBinary(32), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("node_name", Text, primary_key=True),
    sqlite_with_rowid=False,
)
LAYOUTS = {"driver", "constant", "sequence", "integer", "text", "text_fixed", "text_dict",
           "bytes", "bytes_fixed", "bytes_dict"}  # fmt: skip

# Text as SQLite and PostgreSQL keep it: any code point but surrogates (and NUL on PostgreSQL).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@pytest.fixture
def keyed(store: Store) -> Store:
    """The store, with the table CM."""
    with db.transaction(store.engine, write=True) as conn:
        CM.create(conn)
    return store


def _insert(store: Store, bulk: BulkRows) -> None:
    with db.transaction(store.engine, write=True) as conn:
        insert_bulk(conn, bulk)


def _rows(store: Store, table: Any) -> list[tuple[Any, ...]]:
    with db.transaction(store.engine) as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


def _graph_and_pack(store: Store, pack: bytes = b"p") -> None:
    """A graph and a pack, and the table NT."""
    _insert(store, bulk_rows(store.engine.dialect.name, P, {"id": [1], "data": [pack]}))
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(G.insert(), {"id": 1, "name": "g", "created_at": datetime.now(timezone.utc)})
        NT.create(conn)


def _node_bulk(dialect: str) -> BulkRows:
    """Node row 1 of the real table (its strings are ids of ``names``, revision 0019)."""
    columns = {"id": [1], "name_id": [1], "op_id": [1], "device_id": [1], "sha256": [b"h" * 32],
               "pack_id": [1], "offset": [0], "length": [1]}  # fmt: skip
    return bulk_rows(dialect, N, columns, constants={"graph_id": 1, "first_version": 1})


def _nodes(rows: Sequence[tuple[Any, ...]], shas: list[bytes]) -> dict[str, Sequence[Any]]:
    names = ("id", "name", "op", "device", "pack_id", "offset", "length")
    columns: dict[str, Sequence[Any]] = {
        name: [row[k] for row in rows] for k, name in enumerate(names)
    }
    return {**columns, "sha256": shas}


def test_node_rows_with_hashes_and_constants(store: Store) -> None:
    _graph_and_pack(store)
    rows = [(i, f"n{i}", "Op", "", 1, i, 1) for i in range(1, 6)]
    shas = [bytes([i]) * 32 for i in range(1, 6)]
    dialect = store.engine.dialect.name
    bulk = bulk_rows(dialect, NT, _nodes(rows, shas), constants={"graph_id": 1, "first_version": 7})
    assert (bulk.rows is None) == (dialect == "sqlite")
    if dialect == "sqlite":
        assert bulk.layout == ("sequence", "driver", "constant", "constant", "constant",
                               "sequence", "constant", "bytes_fixed")  # fmt: skip
    _insert(store, bulk)
    assert _rows(store, NT) == [
        (i, 1, f"n{i}", "Op", "", shas[i - 1], 1, i, 1, 7, None, None, 0) for i in range(1, 6)
    ]


def test_rows_with_byte_strings_of_many_lengths(store: Store) -> None:
    packs = [b"", b"\x00", b"abc" * 1000, bytes(range(256))]
    bulk = bulk_rows(store.engine.dialect.name, P, {"id": [4, 2, 3, 1], "data": packs})
    _insert(store, bulk)
    assert _rows(store, P) == sorted(zip([4, 2, 3, 1], packs, strict=True))


def test_ignore_skips_rows_whose_key_is_stored(keyed: Store) -> None:
    store = keyed
    sha = b"s" * 32
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.insert(), {"sha256": sha, "data": b"x"})
    dialect = store.engine.dialect.name
    keys = ("blob_sha256", "key", "node_name")

    def members(names: list[str]) -> BulkRows:
        same = {"blob_sha256": sha, "key": "k"}
        return bulk_rows(dialect, CM, {"node_name": names}, constants=same, ignore=keys)

    _insert(store, members(["a", "b"]))
    _insert(store, members(["b", "c"]))
    assert _rows(store, CM) == [(sha, "k", "a"), (sha, "k", "b"), (sha, "k", "c")]


def test_no_rows_is_nothing(store: Store) -> None:
    _insert(store, bulk_rows(store.engine.dialect.name, E, {"node_id": []}))
    assert _rows(store, E) == []


def test_a_batch_of_constant_columns_has_every_row(keyed: Store) -> None:
    store = keyed
    # No column refers to the statement's row source: the rows must still all arrive.
    sha = b"s" * 32
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.insert(), {"sha256": sha, "data": b"x"})
    columns = {"blob_sha256": [sha] * 5, "key": ["k"] * 5, "node_name": ["a", "b", "c", "d", "e"]}
    _insert(store, bulk_rows(store.engine.dialect.name, CM, columns))
    assert len(_rows(store, CM)) == 5
    _graph_and_pack(store)
    _insert(store, _node_bulk(store.engine.dialect.name))
    edges = {"node_id": [1] * 4, "slot": [0] * 4, "src_id": [1] * 4, "src_output": [0] * 4,
             "control": [False] * 4}  # fmt: skip
    bulk = bulk_rows(store.engine.dialect.name, E, edges)
    with pytest.raises(MgstoreError, match="conflict|UNIQUE|duplicate"):  # four rows, one key
        _insert(store, bulk)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_empty_strings_and_bytes_stay_empty(keyed: Store, count: int) -> None:
    store = keyed
    sha = b"s" * 32
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.insert(), {"sha256": sha, "data": b"x"})
    columns = {"blob_sha256": [sha] * count, "key": [""] * count,
               "node_name": [str(i) for i in range(count)]}  # fmt: skip
    _insert(store, bulk_rows(store.engine.dialect.name, CM, columns))
    assert [r[1] for r in _rows(store, CM)] == [""] * count
    _insert(store, bulk_rows(store.engine.dialect.name, P, {"id": range(1, count + 1),
                                                            "data": [b""] * count}))  # fmt: skip
    assert _rows(store, P) == [(i, b"") for i in range(1, count + 1)]


def test_integers_beyond_64_bits_are_refused_not_clamped() -> None:
    for value in (2**63, -(2**63) - 1):
        with pytest.raises(ValueError, match="not a 64-bit integer"):
            bulk_rows("sqlite", E, {"node_id": [0, value]})


def test_a_refused_batch_is_an_mgstore_error_and_leaves_nothing(store: Store) -> None:
    # PostgreSQL takes the rows by COPY: its errors must be mapped as an INSERT's are.
    _graph_and_pack(store)
    dialect = store.engine.dialect.name
    # One key twice (PostgreSQL checks no foreign key on insert, docs/storage.md §8).
    edges = {"node_id": [1, 1], "slot": [0, 0], "src_id": [1, 2], "src_output": [0, 0],
             "control": [False, True]}  # fmt: skip
    refused = pytest.raises(MgstoreError, match="conflict|UNIQUE|duplicate")
    with refused, db.transaction(store.engine, write=True) as conn:
        insert_bulk(conn, _node_bulk(dialect))
        insert_bulk(conn, bulk_rows(dialect, E, edges))
    assert _rows(store, N) == [] and _rows(store, E) == []


@pytest.mark.postgres
def test_other_postgresql_drivers_take_inserts(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # COPY is psycopg 3's; a store opened with another driver (psycopg2...) inserts its rows.
    import mgstore.db.inserts
    from mgstore.db.migrate import upgrade_database

    copies: list[str] = []
    copy = mgstore.db.inserts.copy_rows
    monkeypatch.setattr(mgstore.db.inserts, "copy_rows", lambda *a: copies.append(a[1]) or copy(*a))
    upgrade_database(pg_url)
    with Store(pg_url) as store:
        _graph_and_pack(store)
        assert copies == ["packs"]
        monkeypatch.setattr(store.engine.dialect, "driver", "psycopg2")
        columns = _nodes([(1, "n", "Op", "", 1, 0, 1)], [b"h" * 32])
        _insert(
            store,
            bulk_rows("postgresql", NT, columns, constants={"graph_id": 1, "first_version": 1}),
        )
        assert copies == ["packs"] and len(_rows(store, NT)) == 1


def test_columns_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        bulk_rows("sqlite", P, {"id": [1, 2], "data": [b"x"]})


def test_nul_characters_arrive_whole(store: Store) -> None:
    # SQLite's JSON functions end a string at NUL: such a column must be read from slices.
    _graph_and_pack(store)
    dialect = store.engine.dialect.name
    names = ["a\x00b", "\x00", "plain", "back\\u0000slash"]
    ops = ["Op\x00", "Op\x00", "Op\x00", "Op\x00"]
    if dialect == "postgresql":  # PostgreSQL text has no NUL
        names, ops = [n.replace("\x00", "") + "!" for n in names], ["Op"] * 4
    pairs = zip(names, ops, strict=True)
    rows = [(i, name, op, "", 1, 0, 1) for i, (name, op) in enumerate(pairs, 1)]
    columns = _nodes(rows, [b"h" * 32] * len(names))
    bulk = bulk_rows(dialect, NT, columns, constants={"graph_id": 1, "first_version": 1})
    if dialect == "sqlite":
        assert bulk.rows is None and bulk.layout[1:3] == ("text", "constant")
    _insert(store, bulk)
    assert [r[2:4] for r in _rows(store, NT)] == [row[1:3] for row in rows]


# Columns drawn so that every form is taken: constant, consecutive, single digits, wide and
# negative numbers, few distinct strings, one length, any length.
INTEGERS = st.one_of(
    st.lists(st.integers(0, 9), min_size=1, max_size=30),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30),
    st.builds(
        lambda n, first: list(range(first, first + n)), st.integers(1, 30), st.integers(-5, 2**40)
    ),  # fmt: skip
    st.builds(lambda n, v: [v] * n, st.integers(1, 30), st.integers(-(2**40), 2**40)),
)
TEXTS = st.one_of(
    st.lists(TEXT, min_size=1, max_size=30),
    st.builds(
        lambda picks, pool: [pool[i % len(pool)] for i in picks],
        st.lists(st.integers(0, 3), min_size=8, max_size=30),
        st.lists(TEXT, min_size=1, max_size=2),
    ),  # fmt: skip
)


def _fit(columns: list[list[Any]]) -> list[list[Any]]:
    """The columns cut or repeated to the length of the first."""
    count = len(columns[0])
    return [(column * count)[:count] for column in columns]


def test_every_form_keeps_every_value(tmp_path: Any) -> None:
    seen: set[str] = set()
    with Store(f"sqlite:///{tmp_path / 's.db'}") as store:
        _graph_and_pack(store)

        # Each form once for certain, whatever the random examples draw.
        @example(
            [[1, 22, 3], [5]], [f"n{i}" * i for i in range(8)], ["p", "q"], [b"a", b"bb"], False
        )  # sequence, driver, text_dict, text, constant, integer, bytes_dict
        @example(
            [[-1, 2**40], [7, 8]], ["aa", "bb", "cc", "dd"], ["ab", "cd", "ef", "gh"], [b""], True
        )  # text_fixed, bytes_fixed
        @example(
            [[0], [0]], ["a", "b", "c", "d"], ["x", "y", "z", "w"], [b"", b"a", b"bc", b"d"], False
        )  # bytes
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(st.lists(INTEGERS, min_size=2, max_size=2), TEXTS, TEXTS, st.lists(
            st.binary(max_size=8), min_size=1, max_size=30), st.booleans())  # fmt: skip
        def check(
            ints: list[list[int]], a: list[str], b: list[str], data: list[bytes], hashes: bool
        ) -> None:
            ids = list(range(1, len(a) + 1))
            names, ops, devices, offsets, lengths = _fit([a, b, a[::-1], *ints])
            shas = _fit([ids, [bytes([k % 256]) * 32 for k in ids] if hashes else data])[1]
            columns = {"id": ids, "name": names, "op": ops, "device": devices,
                       "pack_id": [1] * len(ids), "offset": offsets, "length": lengths,
                       "sha256": shas}  # fmt: skip
            bulk = bulk_rows("sqlite", NT, columns, constants={"graph_id": 1, "first_version": 2})
            assert bulk.rows is None
            seen.update(bulk.layout)
            with db.transaction(store.engine, write=True) as conn:
                conn.execute(NT.delete())
                insert_bulk(conn, bulk)
            n = len(ids)
            expected = list(zip(ids, [1] * n, names, ops, devices, shas, [1] * n, offsets,
                                lengths, [2] * n, [None] * n, [None] * n, [0] * n,
                                strict=True))  # fmt: skip
            assert _rows(store, NT) == expected

        check()
    assert seen == LAYOUTS


def test_edges_keep_any_text_and_integer(store: Store) -> None:
    _graph_and_pack(store)
    dialect = store.engine.dialect.name
    _insert(store, _node_bulk(store.engine.dialect.name))
    nul = dialect == "sqlite"

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(TEXT if nul else TEXT.map(lambda t: t.replace("\x00", "")),
                              st.integers(-1, 2**31 - 1), st.booleans()), max_size=20,
                    unique_by=lambda v: v[0]))  # fmt: skip
    def check(values: list[tuple[str, int, bool]]) -> None:
        # The names of the sources, interned (docs/storage.md §3.5), and edges naming them.
        with db.transaction(store.engine, write=True) as conn:
            conn.execute(E.delete())
            conn.execute(NM.delete())
            ids = list(range(1, len(values) + 1))
            insert_bulk(conn, bulk_rows(dialect, NM, {"id": ids, "name": [v[0] for v in values]}))
            columns = {"node_id": [1] * len(values), "slot": list(range(len(values))),
                       "src_output": [v[1] for v in values], "control": [v[2] for v in values],
                       "src_id": ids}  # fmt: skip
            insert_bulk(conn, bulk_rows(dialect, E, columns))
        assert _rows(store, NM) == [(i, v[0]) for i, v in zip(ids, values, strict=True)]
        assert _rows(store, E) == [(1, k, v[1], v[2], k + 1) for k, v in enumerate(values)]

    check()


def test_the_statements_need_no_sqlite_newer_than_json1() -> None:
    # ->> came with SQLite 3.38; Python 3.10 may link an older SQLite with JSON1.
    columns = ("id", "name", "op", "device", "pack_id", "offset", "length", "sha256")
    for layout in [("sequence", "driver", "text_dict", "constant", "integer", "integer",
                    "integer", "bytes_fixed"),
                   ("integer", "text", "text_fixed", "bytes_dict", "constant", "sequence",
                    "integer", "bytes")]:  # fmt: skip
        statement = slices_insert(NT, columns, layout, ("graph_id",), None)
        sql = str(statement.compile(dialect=sqlite.dialect()))
        assert "json_each(" in sql and "->>" not in sql and "json_extract" not in sql


def test_the_tables_copied_on_postgresql_go_in_binary() -> None:
    # Binary COPY needs each column's PostgreSQL type; a column this module cannot type
    # would send its table's rows in text format (slower, and hex for the packs' bytes).
    from mgstore.db.inserts import pg_types

    for table in (P, N, E, NM, NT, CM, B):
        types = pg_types(table, [column.name for column in table.c])
        assert types is not None and len(types) == len(table.c), table.name
    assert pg_types(NT, ["id", "offset", "sha256", "name"]) == ("int8", "int4", "bytea", "text")
    assert pg_types(E, ["control"]) == ("bool",)

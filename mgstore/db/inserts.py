"""Bulk statements: dialect-specific INSERT forms and executemany without per-row overhead.

SQLAlchemy's per-row parameter processing costs more than the database itself when a version
brings 80,000 nodes, so bulk statements are compiled once for the connection's dialect and the
rows handed to the driver as they are. The SQL still comes from SQLAlchemy constructs and every
value is a bound parameter.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    cast,
    exc,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from mgstore import codec
from mgstore.db.tables import BLOBS


def insert_ignore(conn: Connection, table: Table, keys: Sequence[str]) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` for the connection's dialect."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))


def executemany(
    conn: Connection,
    statement: ClauseElement,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Run ``statement`` once per row; ``rows`` hold values in the order of ``columns``."""
    batch = list(rows)
    if not batch:
        return
    compiled = _compile(conn, statement, column_keys=list(columns))
    positions = compiled.positiontup
    if positions is not None:  # qmark/format paramstyles: reorder to the statement's order
        order = [columns.index(name) for name in positions]
        if order == list(range(len(columns))):
            params: list[Any] = batch
        else:
            pick = operator.itemgetter(*order)
            params = [pick(row) for row in batch]
    else:  # named/pyformat paramstyles
        params = [dict(zip(columns, row, strict=True)) for row in batch]
    conn.exec_driver_sql(compiled.string, params)


def fetch_raw(conn: Connection, statement: ClauseElement) -> list[tuple[Any, ...]]:
    """All rows of a SELECT as plain tuples, skipping SQLAlchemy's per-value result processing.

    For statements without expanding parameters (``IN`` lists): those need SQLAlchemy's own
    execution.
    """
    compiled = _compile(conn, statement)
    params = compiled.params
    positions = compiled.positiontup
    args: Any = tuple(params[name] for name in positions) if positions is not None else params
    with _driver_cursor(conn, compiled.string, args) as cursor:
        cursor.execute(compiled.string, args)
        return list(cursor.fetchall())


def copy_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    types: Sequence[str] | None = None,
) -> None:
    """Rows into a PostgreSQL table by ``COPY ... FROM STDIN`` (psycopg 3): a few times faster
    than INSERTs, which the server plans and executes row by row. With ``types`` (the columns'
    PostgreSQL types, :func:`pg_types`) in binary format: nothing to escape or parse, and bytes
    (packs) travel as they are instead of in hex (docs/storage.md §7)."""
    from psycopg import sql

    binary = sql.SQL(" (FORMAT BINARY)") if types is not None else sql.SQL("")
    statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), binary
    )
    with (
        _driver_cursor(conn, statement.as_string(), None) as cursor,
        cursor.copy(statement) as copy,
    ):
        if types is not None:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def pg_types(table: Table, columns: Sequence[str]) -> tuple[str, ...] | None:
    """The PostgreSQL types of ``table``'s ``columns`` as binary COPY names them, or None if
    one has a type this module does not map (its rows then go in text format)."""
    names: list[str] = []
    for name in columns:
        kind = table.c[name].type
        found = next((pg for sa, pg in _PG_TYPES if isinstance(kind, sa)), None)
        if found is None:
            return None
        names.append(found)
    return tuple(names)


# Most specific first: BigInteger is an Integer, Text a String.
_PG_TYPES: tuple[tuple[type, str], ...] = (
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Boolean, "bool"),
    (LargeBinary, "bytea"),
    (String, "text"),
)


@contextmanager
def _driver_cursor(conn: Connection, statement: str, args: Any) -> Iterator[Any]:
    """A cursor of this transaction's DBAPI connection, closed after use; the driver's errors
    leave wrapped as SQLAlchemy would, so that the transaction helper maps them to mgstore
    errors (``statement`` and ``args`` describe the work, for the message)."""
    cursor = conn.connection.cursor()
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as error:
        raise exc.DBAPIError.instance(
            statement, args, error, conn.dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


def _compile(conn: Connection, statement: ClauseElement, **kw: Any) -> SQLCompiler:
    compiled = statement.compile(dialect=conn.dialect, **kw)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def insert_blobs(conn: Connection, blobs: Iterable[tuple[bytes, bytes]]) -> None:
    """Store ``(sha256, data)`` blobs the store lacks (content-addressed: duplicates are fine),
    compressed where that pays (``mgstore.codec.compress``)."""
    # Sorted, so concurrent writers lock shared rows in one order and cannot deadlock.
    rows = [(sha, codec.compress(data)) for sha, data in sorted(dict(blobs).items())]
    if rows and conn.dialect.driver == "psycopg":
        insert_arrays(conn, BLOBS, ("sha256", "data"), rows, ("sha256",))
    elif rows:
        executemany(conn, insert_ignore(conn, BLOBS, ["sha256"]), ("sha256", "data"), rows)


@dataclass(frozen=True)
class BulkRows:
    """Rows for one INSERT, made ready without the database, so another thread can do it.

    On SQLite the whole INSERT is one statement, so that the driver holds the GIL only to start
    it and Python work in another thread overlaps the database's (an executemany takes the GIL
    back row by row, and waits for it each time while another thread runs). The values travel
    in two blobs that each row slices by its number (``key`` of ``json_each`` over a list of
    zeros): ``records``, every integer column in fixed-width decimal, column after column, and
    ``heap``, the text and byte values end to end. SQLite reads a slice far faster than a JSON
    field. PostgreSQL takes the rows by COPY (psycopg 3) or, where a key may repeat, INSERT;
    other drivers, and SQLite batches too large for one value, by executemany.
    """

    table: Table
    columns: tuple[str, ...]  # of ``rows``, or of the columns in ``layout``
    rows: list[tuple[Any, ...]] | None  # whole rows, for executemany (else SQLite's slices)
    count: int = 0  # SQLite: how many rows
    driver: str = ""  # SQLite: the JSON array json_each walks (a text column, or zeros)
    layout: tuple[str, ...] = ()  # SQLite: how each column is read (see slices_insert)
    records: bytes = b""
    heap: bytes = b""
    numbers: tuple[tuple[str, Any], ...] = ()  # SQLite: where each column's slices are
    constants: tuple[tuple[str, Any], ...] = ()  # SQLite: columns with one value for every row
    ignore: tuple[str, ...] | None = None  # a unique key: rows that would repeat it are skipped


VALUE_LIMIT = 1 << 28  # bytes in one bound value: well under SQLite's limit (10**9)


def bulk_rows(
    dialect: str,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    ignore: Sequence[str] | None = None,
) -> BulkRows:
    """Prepare rows for :func:`insert_bulk`, given column by column (each sequence holds one
    column's values, row after row; building rows as tuples would cost the caller more).

    ``constants`` gives columns whose value is the same in every row. With ``ignore`` (a
    unique key), rows that would repeat a stored key are skipped.
    """
    names = tuple(columns)
    values = list(columns.values())
    count = len(values[0]) if values else 0
    if any(len(column) != count for column in values):
        raise ValueError(f"{table.name}: columns of different lengths")
    fixed = tuple(sorted((constants or {}).items()))
    keys = tuple(ignore) if ignore is not None else None
    if dialect == "sqlite":
        if count == 0:
            return BulkRows(table, names, None)
        packed = _pack(table, names, values, count)
        if packed is not None:
            driver, layout, records, heap, numbers = packed
            return BulkRows(
                table, names, None, count, driver, layout, records, heap, numbers, fixed, keys
            )
    rows = list(zip(*values, *([value] * count for _, value in fixed), strict=True))
    return BulkRows(table, names + tuple(name for name, _ in fixed), rows, ignore=keys)


_Packed = tuple[str, tuple[str, ...], bytes, bytes, tuple[tuple[str, Any], ...]]
_DIGITS = bytes.maketrans(bytes(range(10)), b"0123456789")
_INT64 = (-(2**63), 2**63 - 1)
_SAMPLE = 64  # rows looked at before trying a column as a few distinct values


def _pack(
    table: Table, names: tuple[str, ...], values: list[Sequence[Any]], count: int
) -> _Packed | None:
    """The columns ``values`` as SQLite's bulk statement reads them: the JSON array that drives
    it, the layout, records, heap and the parameters that place each column (None if a value
    would be too large).

    Each column takes the form that costs least Python (see :func:`slices_insert`): one value
    for all rows, a run of consecutive integers (reserved ids), single digits, a few distinct
    strings (ops, devices) referred to by number, the JSON array that drives the statement
    (one text column: the JSON encoder is C), or one slice per row.
    """
    packer = _Packer(table.name, count)
    for i, (name, column) in enumerate(zip(names, values, strict=True)):
        kind = table.c[name].type
        if isinstance(kind, (LargeBinary, String)):
            packer.strings(i, column, text=isinstance(kind, String))
        else:  # integers and booleans
            packer.integers(i, name, column)
    return packer.packed()


class _Packer:
    """The regions of one SQLite bulk statement, filled column by column (see :func:`_pack`)."""

    def __init__(self, table: str, count: int) -> None:
        self.table = table
        self.count = count
        self.driver: str | None = None
        self.layout: list[str] = []
        self.records: list[bytes] = []
        self.heap: list[bytes] = []
        self.numbers: list[tuple[str, Any]] = []
        self.at = {"records": 0, "heap": 0}

    def integers(self, i: int, name: str, column: Sequence[int]) -> None:
        """Column ``i`` of integers: one value, a run of consecutive ones, or digits."""
        low, high = min(column), max(column)
        if low < _INT64[0] or high > _INT64[1]:
            bad = low if low < _INT64[0] else high
            raise ValueError(f"{self.table}.{name}: {bad} is not a 64-bit integer")
        first = column[0]
        if low == high:
            self.layout.append("constant")
            self.numbers.append((f"c{i}", first))
        elif (
            high - low == self.count - 1
            and first == low
            and all(map(operator.eq, column, range(first, first + self.count)))
        ):
            self.layout.append("sequence")  # reserved ids: first + row number
            self.numbers.append((f"c{i}", first))
        else:
            self.layout.append("integer")
            self._digits(column, f"n{i}", low, high)

    def strings(self, i: int, column: Sequence[Any], *, text: bool) -> None:
        """Column ``i`` of text (``text``) or bytes: one value, a few distinct ones, the
        driving JSON array, or slices of the heap."""
        distinct = _few_distinct(column, self.count)
        if distinct is not None and len(distinct) == 1:
            self.layout.append("constant")
            self.numbers.append((f"c{i}", column[0]))
        elif distinct is not None and len(distinct) <= self.count // 4:
            self.layout.append("text_dict" if text else "bytes_dict")  # ops, devices
            number = {value: k for k, value in enumerate(distinct)}
            self._digits([number[value] for value in column], f"d{i}", 0, len(distinct) - 1)
            self._slices([v.encode() for v in distinct] if text else list(distinct), str(i))
        elif not (text and self._drives(column)):
            self._heap_column(i, [v.encode() for v in column] if text else column, text)

    def _drives(self, column: Sequence[str]) -> bool:
        """Make ``column`` the JSON array that drives the statement, if none is yet and it
        holds no NUL (SQLite's JSON functions end a string there)."""
        if self.driver is not None:
            return False
        encoded = _json(column)
        if "\\u0000" in encoded:
            return False
        self.layout.append("driver")
        self.driver = encoded
        return True

    def _heap_column(self, i: int, data: Sequence[bytes], text: bool) -> None:
        width = len(data[0])
        if all(len(value) == width for value in data):  # hashes: the row number places them
            self.layout.append("text_fixed" if text else "bytes_fixed")
            at = self._region(self.heap, b"".join(data), "heap")
            self.numbers.extend(((f"h{i}_at", at), (f"h{i}_width", width)))
        else:
            self.layout.append("text" if text else "bytes")
            self._slices(data, str(i))

    def _region(self, where: list[bytes], data: bytes, kind: str) -> int:
        where.append(data)
        offset = self.at[kind]
        self.at[kind] += len(data)
        return offset

    def _digits(self, column: Sequence[int], part: str, low: int, high: int) -> None:
        if low >= 0 and high <= 9:
            width, data = 1, bytes(column).translate(_DIGITS)
        else:
            width = max(len(str(low)), len(str(high)))
            data = (f"%0{width}d" * len(column) % tuple(column)).encode("ascii")
        at = self._region(self.records, data, "records")
        self.numbers.extend(((f"{part}_at", at), (f"{part}_width", width)))

    def _slices(self, data: Sequence[bytes], part: str) -> None:
        lengths = list(map(len, data))
        starts = list(accumulate(lengths, initial=self._region(self.heap, b"".join(data), "heap")))
        starts.pop()
        self._digits(starts, f"s{part}", starts[0], starts[-1])
        self._digits(lengths, f"l{part}", min(lengths), max(lengths))

    def packed(self) -> _Packed | None:
        driver = self.driver
        size = max(self.at["records"], self.at["heap"], 4 * len(driver or ""))  # 4: UTF-8 bytes
        if size > VALUE_LIMIT:
            return None
        # One byte past the slices: SQLite's substr of an empty blob is NULL, not an empty blob.
        self.heap.append(b"\x00")
        rows = driver if driver is not None else "[" + "0," * (self.count - 1) + "0]"  # the keys
        records, heap = b"".join(self.records), b"".join(self.heap)
        return rows, tuple(self.layout), records, heap, tuple(self.numbers)


def _few_distinct(column: Sequence[Any], count: int) -> dict[Any, None] | None:
    """The distinct values of ``column`` (in order) when a sample suggests there are few or
    it has one row, else None."""
    few = len(set(column[:_SAMPLE])) * 4 <= min(count, _SAMPLE)
    return dict.fromkeys(column) if few or count == 1 else None


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_JSON_PIECE = 2048  # values


def _json(values: Sequence[str]) -> str:
    """``values`` as a JSON array, encoded a piece at a time: the encoder holds the GIL while it
    runs, and the writing thread waits for the GIL after every statement."""
    pieces = (
        _encode(values[i : i + _JSON_PIECE])[1:-1] for i in range(0, len(values), _JSON_PIECE)
    )
    return "[" + ",".join(pieces) + "]"


def insert_bulk(conn: Connection, bulk: BulkRows) -> None:
    """Insert rows prepared by :func:`bulk_rows`."""
    if bulk.rows is None:
        if bulk.count:
            _insert_slices(conn, bulk)
    elif bulk.ignore is None and conn.dialect.driver == "psycopg":
        if bulk.rows:
            types = pg_types(bulk.table, bulk.columns)
            copy_rows(conn, bulk.table.name, bulk.columns, bulk.rows, types)
    elif bulk.ignore is not None and conn.dialect.driver == "psycopg":
        if bulk.rows:
            insert_arrays(conn, bulk.table, bulk.columns, bulk.rows, bulk.ignore)
    else:
        statement: Any = bulk.table.insert()
        if bulk.ignore is not None:
            statement = insert_ignore(conn, bulk.table, bulk.ignore)
        executemany(conn, statement, bulk.columns, bulk.rows)


def insert_arrays(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    ignore: Sequence[str],
) -> None:
    """PostgreSQL: ``rows`` as one ``INSERT ... SELECT unnest(...) ON CONFLICT (ignore) DO
    NOTHING``, each column one array parameter: one statement and one round trip for the whole
    batch, where an executemany sends a statement per row (docs/storage.md §7). The rows are
    inserted in the order given (sorted, for shared rows: docs/storage.md §8)."""
    if not rows:
        return
    arrays = tuple(map(list, zip(*rows, strict=True)))
    statement = _arrays_insert(table, tuple(columns), tuple(ignore))
    executemany(conn, statement, [f"a{i}" for i in range(len(columns))], [arrays])


@functools.lru_cache(maxsize=16)
def _arrays_insert(table: Table, columns: tuple[str, ...], ignore: tuple[str, ...]) -> Any:
    arrays = [
        func.unnest(cast(bindparam(f"a{i}"), postgresql.ARRAY(table.c[name].type)))
        for i, name in enumerate(columns)
    ]
    return (
        postgresql.insert(table)
        .from_select(list(columns), select(*arrays))
        .on_conflict_do_nothing(index_elements=list(ignore))
    )


def _insert_slices(conn: Connection, bulk: BulkRows) -> None:
    """SQLite: the batch as one statement that reads each row's values from slices."""
    constants = tuple(name for name, _ in bulk.constants)
    statement = slices_insert(bulk.table, bulk.columns, bulk.layout, constants, bulk.ignore)
    parameters: dict[str, Any] = {
        "rows": bulk.driver,
        "records": bulk.records,
        "heap": bulk.heap,
    }
    parameters.update(bulk.numbers)
    parameters.update((f"constant_{name}", value) for name, value in bulk.constants)
    conn.execute(statement, parameters)


@functools.lru_cache(maxsize=32)
def slices_insert(
    table: Table,
    columns: tuple[str, ...],
    layout: tuple[str, ...],
    constants: tuple[str, ...],
    ignore: tuple[str, ...] | None,
) -> Any:
    """``INSERT INTO table (columns) SELECT <slices> FROM json_each(:rows)`` (SQLite).

    Row ``key`` (0, 1, ...) of the batch reads column ``i`` as its ``layout`` says:

    * ``driver``: the key-th string of the JSON array ``rows`` (else ``rows`` is zeros);
    * ``constant``: parameter ``c<i>``; ``sequence``: ``c<i> + key``;
    * ``integer``: the key-th fixed-width number of its region of ``records``;
    * ``text``/``bytes``: the slice of ``heap`` that the key-th numbers of its start and
      length regions give; ``text_fixed``/``bytes_fixed``: the key-th slice of one width;
      ``text_dict``/``bytes_dict``: the slice of the distinct value that the key-th number
      of its region names.
    """
    items = func.json_each(bindparam("rows", type_=Text)).table_valued("key", "value")
    key = items.c.key
    records = bindparam("records", type_=LargeBinary)
    heap = bindparam("heap", type_=LargeBinary)

    def number(name: str) -> Any:
        return bindparam(name, type_=Integer)

    def integer(part: str, index: Any) -> Any:
        width = number(f"{part}_width")
        return cast(func.substr(records, number(f"{part}_at") + index * width + 1, width), Integer)

    values: list[Any] = []
    for i, (name, how) in enumerate(zip(columns, layout, strict=True)):
        if how == "driver":
            values.append(items.c.value)
        elif how == "constant":
            values.append(bindparam(f"c{i}", type_=table.c[name].type))
        elif how == "sequence":
            values.append(number(f"c{i}") + key)
        elif how == "integer":
            values.append(integer(f"n{i}", key))
        elif how.endswith("_fixed"):
            width = number(f"h{i}_width")
            piece = func.substr(heap, number(f"h{i}_at") + key * width + 1, width)
            values.append(cast(piece, Text) if how.startswith("text") else piece)
        else:
            index = integer(f"d{i}", key) if how.endswith("_dict") else key
            piece = func.substr(heap, integer(f"s{i}", index) + 1, integer(f"l{i}", index))
            values.append(cast(piece, Text) if how.startswith("text") else piece)
    values.extend(bindparam(f"constant_{name}", type_=table.c[name].type) for name in constants)
    # FROM json_each even when no value refers to it (one row per key); WHERE true: SQLite
    # needs it to tell an ON CONFLICT clause from a join's ON.
    query = select(*values).select_from(items).where(true())
    statement = sqlite.insert(table).from_select([*columns, *constants], query)
    if ignore is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(ignore))
    return statement

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
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from sqlalchemy import (
    Connection,
    LargeBinary,
    Table,
    Text,
    bindparam,
    exc,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement


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
    cursor = conn.connection.cursor()  # this transaction's DBAPI connection
    try:
        cursor.execute(compiled.string, args)
        return list(cursor.fetchall())
    except conn.dialect.loaded_dbapi.Error as error:
        # Wrapped as SQLAlchemy would, so that the transaction helper maps it to mgstore errors.
        raise exc.DBAPIError.instance(
            compiled.string, args, error, conn.dialect.loaded_dbapi.Error
        ) from error
    finally:
        cursor.close()


def _compile(conn: Connection, statement: ClauseElement, **kw: Any) -> SQLCompiler:
    compiled = statement.compile(dialect=conn.dialect, **kw)
    assert isinstance(compiled, SQLCompiler)
    return compiled


def insert_blobs(conn: Connection, blobs: Iterable[tuple[bytes, bytes]]) -> None:
    """Store ``(sha256, data)`` blobs the store lacks (content-addressed: duplicates are fine)."""
    from mgstore.db.models import Blob

    # Sorted, so concurrent writers lock shared rows in one order and cannot deadlock.
    rows = sorted(dict(blobs).items())
    if rows:
        table = Blob.__table__
        executemany(conn, insert_ignore(conn, table, ["sha256"]), ("sha256", "data"), rows)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BulkRows:
    """Rows for one INSERT, made ready without the database, so another thread can do it.

    On SQLite the rows travel as one JSON array (``json_each`` unpacks it), so that the whole
    INSERT is one statement: the driver holds the GIL only to start it, and Python work in
    another thread overlaps the database's (an executemany takes the GIL back row by row,
    and waits for it each time while another thread runs). A byte-string column (JSON has no
    bytes) travels as one blob that the rows slice. Other dialects take the rows by
    executemany.
    """

    table: Table
    columns: tuple[str, ...]  # of ``rows`` (on SQLite, then the byte-string column, if any)
    rows: list[tuple[Any, ...]] | str  # whole rows for executemany, or JSON for SQLite
    blob: bytes | None  # SQLite: the byte strings, joined
    width: int | None  # SQLite: the byte strings' one length (else each row gives its slice)
    constants: tuple[tuple[str, Any], ...]  # SQLite: columns with one value for every row
    ignore: tuple[str, ...] | None  # a unique key: rows that would repeat it are skipped


_VALUE_LIMIT = 1 << 28  # bytes in one bound value: well under SQLite's limit
_HAS_ARROW = sqlite3.sqlite_version_info >= (3, 38, 0)


def bulk_rows(
    dialect: str,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    blob: tuple[str, list[bytes]] | None = None,
    constants: dict[str, Any] | None = None,
    ignore: Sequence[str] | None = None,
) -> BulkRows:
    """Prepare ``rows`` (values in the order of ``columns``) for :func:`insert_bulk`.

    ``blob`` is a further column, given apart: its name and each row's bytes. ``constants``
    gives columns whose value is the same in every row. With ``ignore`` (a unique key), rows
    that would repeat a stored key are skipped.
    """
    names = tuple(columns) + ((blob[0],) if blob else ())
    values = blob[1] if blob else None
    fixed = tuple(sorted((constants or {}).items()))
    keys = tuple(ignore) if ignore is not None else None
    text = _json(rows) if dialect == "sqlite" else None
    # Rows go by executemany too where SQLite's JSON functions end a string at NUL, and where
    # the JSON or the joined bytes would come near SQLite's limit on one value (10**9 bytes).
    if (
        text is None
        or "\\u0000" in text
        or len(text) > _VALUE_LIMIT // 4  # characters: up to 4 bytes each
        or (values is not None and sum(map(len, values)) > _VALUE_LIMIT)
    ):
        if values is not None:
            rows = [(*row, value) for row, value in zip(rows, values, strict=True)]
        if fixed:
            same = tuple(value for _, value in fixed)
            rows = [(*row, *same) for row in rows]
        return BulkRows(table, names + tuple(name for name, _ in fixed), rows, None, None, (), keys)
    width = None
    if values:
        lengths = list(map(len, values))
        if min(lengths) == max(lengths):
            width = lengths[0]
        else:  # each row ends with its slice of the blob: start, length
            starts = accumulate(lengths, initial=0)
            slices = zip(rows, starts, lengths, strict=False)
            text = _json([(*row, start, n) for row, start, n in slices])
    data = b"".join(values) if values is not None else None
    return BulkRows(table, names, text, data, width, fixed, keys)


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_JSON_PIECE = 1024  # rows


def _json(rows: list[tuple[Any, ...]]) -> str:
    """``rows`` as a JSON array, encoded a piece at a time: the encoder holds the GIL while it
    runs, and the writing thread waits for the GIL after every statement."""
    pieces = (_encode(rows[i : i + _JSON_PIECE])[1:-1] for i in range(0, len(rows), _JSON_PIECE))
    return "[" + ",".join(pieces) + "]"


def insert_bulk(conn: Connection, bulk: BulkRows) -> None:
    """Insert rows prepared by :func:`bulk_rows`."""
    if not isinstance(bulk.rows, str):
        statement: Any = bulk.table.insert()
        if bulk.ignore is not None:
            statement = insert_ignore(conn, bulk.table, bulk.ignore)
        executemany(conn, statement, bulk.columns, bulk.rows)
        return
    if bulk.rows == "[]":
        return
    constants = tuple(name for name, _ in bulk.constants)
    blob = bulk.blob is not None
    statement = _json_insert(
        bulk.table, bulk.columns, constants, blob, bulk.width, bulk.ignore, _HAS_ARROW
    )
    parameters = {"rows": bulk.rows, "blob": bulk.blob}
    parameters.update((f"constant_{name}", value) for name, value in bulk.constants)
    conn.execute(statement, parameters)


@functools.lru_cache(maxsize=32)
def _json_insert(
    table: Table,
    columns: tuple[str, ...],
    constants: tuple[str, ...],
    blob: bool,
    width: int | None,
    ignore: tuple[str, ...] | None,
    arrow: bool,
) -> Any:
    """``INSERT INTO table (columns) SELECT ... FROM json_each(:rows)`` (SQLite).

    With ``arrow``, fields are read with ``->>`` (SQLite 3.38+, a little faster), else with
    ``json_extract``.
    """
    items = func.json_each(bindparam("rows", type_=Text)).table_valued("key", "value")

    def field(i: int) -> Any:
        if arrow:
            return items.c.value.op("->>")(literal(i))
        return func.json_extract(items.c.value, f"$[{i}]")

    count = len(columns) - blob
    values = [field(i) for i in range(count)]
    if blob:
        data = bindparam("blob", type_=LargeBinary)
        if width is not None:  # the k-th row's bytes are the k-th slice of that width
            values.append(func.substr(data, items.c.key * width + 1, width))
        else:  # each row ends with its slice's start and length
            values.append(func.substr(data, field(count) + 1, field(count + 1)))
    values.extend(bindparam(f"constant_{name}", type_=table.c[name].type) for name in constants)
    # WHERE true: SQLite needs it to tell an ON CONFLICT clause from a join's ON.
    query = select(*values).where(true())
    statement = sqlite.insert(table).from_select([*columns, *constants], query)
    if ignore is not None:
        statement = statement.on_conflict_do_nothing(index_elements=list(ignore))
    return statement

"""Bulk statements: dialect-specific INSERT forms and executemany without per-row overhead.

SQLAlchemy's per-row parameter processing costs more than the database itself when a version
brings 80,000 nodes, so bulk statements are compiled once for the connection's dialect and the
rows handed to the driver as they are. The SQL still comes from SQLAlchemy constructs and every
value is a bound parameter.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, exc
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

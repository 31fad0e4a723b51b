"""What the benchmarks print about the SQL a call runs: each statement's plan, on either backend.

    with captured(store.engine) as statements:
        store.query("large", scope="block_7")
    print_plans(store.engine, statements)

SQLite's ``EXPLAIN QUERY PLAN`` or PostgreSQL's ``EXPLAIN`` of every SELECT (and WITH) the
call ran, with the parameters it ran them with.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Statement:
    sql: str
    parameters: Any
    seconds: float


@contextmanager
def captured(engine: Engine) -> Iterator[list[Statement]]:
    """The statements run on ``engine`` in the block, with their parameters and times."""
    found: list[Statement] = []
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        seconds = time.perf_counter() - started.pop(id(cursor), time.perf_counter())
        found.append(Statement(sql, parameters, seconds))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def plans(
    engine: Engine, statements: list[Statement], kinds: tuple[str, ...] = ("SELECT", "WITH")
) -> list[tuple[Statement, list[str]]]:
    """Each statement of ``statements`` of these ``kinds`` with the lines of its plan."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    out = []
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for statement in statements:
            head = statement.sql.lstrip().split(None, 1)[0].upper()
            if head not in kinds or isinstance(statement.parameters, list):  # executemany
                continue
            cursor = raw.cursor()
            cursor.execute(prefix + statement.sql, statement.parameters)
            rows = cursor.fetchall()
            cursor.close()
            if engine.dialect.name == "sqlite":  # (id, parent, notused, detail)
                depth = {0: 0}
                lines = []
                for node, parent, _, detail in rows:
                    depth[node] = depth.get(parent, 0) + 1
                    lines.append("  " * (depth[node] - 1) + str(detail))
            else:
                lines = [str(row[0]) for row in rows]
            out.append((statement, lines))
        conn.rollback()
    return out


def print_plans(
    engine: Engine,
    statements: list[Statement],
    *,
    width: int = 110,
    kinds: tuple[str, ...] = ("SELECT", "WITH"),
) -> None:
    """Print each statement's time, its SQL (cut to ``width`` per line) and its plan."""
    for statement, lines in plans(engine, statements, kinds):
        sql = " ".join(statement.sql.split())
        cut = f"{sql[:width]}..." if len(sql) > width else sql
        print(f"    {statement.seconds * 1000:7.2f} ms  {cut}")
        for line in lines:
            print(f"                  {line}")

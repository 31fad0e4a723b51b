"""Going around the audit log's append-only triggers, as someone with write access to the
database could: shared by the tests that check that ``audit check`` still finds the change."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection

from mgstore import Store
from mgstore.db import migrate

#: The migrations whose append-only triggers are stepped around.
MIGRATIONS = ("0002_audit.py", "0006_trust.py")


@cache
def _migration(name: str) -> Any:
    path = migrate.migrations_dir() / "versions" / name
    spec = importlib.util.spec_from_file_location(f"mgstore_test_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _triggers(postgres: bool) -> list[str]:
    return [
        statement
        for name in MIGRATIONS
        for statement in (
            _migration(name).PG_TRIGGERS if postgres else _migration(name).SQLITE_TRIGGERS
        )
    ]


@contextmanager
def triggers_dropped(store: Store) -> Iterator[Connection]:
    """A write connection without the append-only triggers of the audit log (migrations 0002
    and 0006: dropped, and created again from the migrations' own statements afterwards)."""
    with store.engine.connect() as conn:
        conn = conn.execution_options(mgstore_write=True)
        with conn.begin():
            postgres = conn.dialect.name == "postgresql"
            statements = _triggers(postgres)
            for statement in statements:
                words = statement.split()
                name, table = words[2], words[words.index("ON") + 1]
                conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}" if postgres
                                     else f"DROP TRIGGER {name}")  # fmt: skip
            yield conn
            for statement in statements:
                conn.exec_driver_sql(statement)

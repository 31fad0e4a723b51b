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


@cache
def _audit_migration() -> Any:
    path = migrate.migrations_dir() / "versions" / "0002_audit.py"
    spec = importlib.util.spec_from_file_location("mgstore_test_migration_0002", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def triggers_dropped(store: Store) -> Iterator[Connection]:
    """A write connection without migration 0002's append-only triggers (dropped, and created
    again from the migration's own statements afterwards)."""
    migration = _audit_migration()
    with store.engine.connect() as conn:
        conn = conn.execution_options(mgstore_write=True)
        with conn.begin():
            postgres = conn.dialect.name == "postgresql"
            statements = migration.PG_TRIGGERS if postgres else migration.SQLITE_TRIGGERS
            for statement in statements:
                words = statement.split()
                name, table = words[2], words[words.index("ON") + 1]
                conn.exec_driver_sql(f"DROP TRIGGER {name} ON {table}" if postgres
                                     else f"DROP TRIGGER {name}")  # fmt: skip
            yield conn
            for statement in statements:
                conn.exec_driver_sql(statement)

"""Migration 0017_pg_reference_guards down and up with data present, on SQLite and PostgreSQL:
on PostgreSQL the foreign keys of node and edge rows come back on the way down and go on the
way up (guards on delete instead), on SQLite nothing changes; either way the references hold
and the versions read back the same."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, inspect

from mgstore import Store, StoreError
from mgstore.db import engine as db
from mgstore.db.models import GUARDED_ON_POSTGRESQL, metadata
from mgstore.proto import MetaGraphDef
from tests.db.migration_steps import below, connection, step

GUARDS = "0017_pg_reference_guards"


def graph(k: int) -> Any:
    meta = MetaGraphDef()
    for i in range(6):
        node = meta.graph_def.node.add(name=f"n{i}", op="NoOp", device=f"/cpu:{int(i < k)}")
        node.input.extend([f"^n{i - 1}"] if i else [])
    return meta


def foreign_keys(url: str) -> set[tuple[str, str, str]]:
    """The declared foreign keys of the guarded references."""
    with connection(url) as conn:
        found = inspect(conn)
        return {
            (table, *fk["constrained_columns"], fk["referred_table"])
            for table in ("nodes", "edges")
            for fk in found.get_foreign_keys(table)
        }


def refuses_deletes(url: str) -> bool:
    """Whether deletes of referenced packs, node rows and graphs are each refused."""
    engine = db.create(url)
    try:
        for table in ("packs", "nodes", "graphs"):
            with (
                pytest.raises(StoreError, match="(?i)foreign key"),
                db.transaction(engine, write=True) as conn,
            ):
                conn.execute(delete(metadata.tables[table]))
    finally:
        engine.dispose()
    return True


def reads(url: str) -> list[Any]:
    with Store(url) as store:
        return [store.checkout(f"g@{k}") for k in (1, 2, 3)] + [store.fsck().ok]


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2, 3):
            store.ingest(graph(k), "g")
    pg = migrated_url.startswith("postgresql")
    declared = set(GUARDED_ON_POSTGRESQL)
    assert foreign_keys(migrated_url) == (set() if pg else declared)
    assert refuses_deletes(migrated_url)
    expected = reads(migrated_url)
    assert expected == [graph(1), graph(2), graph(3), True]

    step(migrated_url, below(GUARDS), down=True)
    assert foreign_keys(migrated_url) == declared
    assert refuses_deletes(migrated_url)  # by the foreign keys again (mgstore opens only head)
    step(migrated_url, "head", down=False)
    assert foreign_keys(migrated_url) == (set() if pg else declared)
    assert refuses_deletes(migrated_url)
    assert reads(migrated_url) == expected

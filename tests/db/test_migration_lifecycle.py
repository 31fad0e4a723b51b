"""Migration 0005 (lifecycle) with data, on SQLite and PostgreSQL: down keeps versions, tags
and content (deleted versions come back into view), up again works; a store where gc has
collected versions refuses to go below 0005 and is left as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect

from mgstore import InputError, Store, StoreError
from mgstore.db import engine as db
from mgstore.db import migrate

LIFECYCLE = "0005"


def _populated(url: str, small_meta: Any) -> None:
    engine = db.create(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with Store(url) as store:
        for k in range(1, 4):
            store.ingest(small_meta(*[f"n{i}" for i in range(k)]), "g", tags={"k": str(k)})
        store.set_alias("g", "prod", "g@2")
        store.tag("g@1", {"stage": "old"})
        store.delete("g@3")


def test_down_and_up_with_data(db_url: str, small_meta: Any) -> None:
    _populated(db_url, small_meta)
    engine = db.create(db_url)
    try:
        below = migrate.scripts().get_revision(LIFECYCLE).down_revision
        assert isinstance(below, str)
        with pytest.raises(InputError, match="would drop data: aliases"):
            migrate.downgrade(engine, below)  # rows would go: refused, nothing changed
        assert migrate.current(engine) == migrate.head()
        migrate.downgrade(engine, below, drop_data=True)
        assert migrate.current(engine) == below
        names = set(inspect(engine).get_table_names())
        assert not {"aliases", "version_states", "lifecycle_events"} & names
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with Store(db_url) as store:
        # The deleted version is back in view; tags (edited ones too) and content are kept.
        assert [v.number for v in store.versions("g")] == [3, 2, 1]
        assert dict(store.version("g@1").tags) == {"k": "1", "stage": "old"}
        assert store.checkout("g@3") == small_meta("n0", "n1", "n2")
        assert store.aliases() == []  # aliases have no place below 0005
        store.set_alias("g", "prod", "g@1")
        assert store.version("g@prod").number == 1


def test_down_is_refused_after_gc(db_url: str, small_meta: Any) -> None:
    _populated(db_url, small_meta)
    with Store(db_url) as store:
        store.gc()
    engine = db.create(db_url)
    try:
        with pytest.raises(StoreError, match="garbage-collected"):
            migrate.downgrade(engine, "base", drop_data=True)
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()
    with Store(db_url) as store:
        assert [v.number for v in store.versions("g", deleted=True)] == [3, 2, 1]
        assert store.version("g@prod").number == 2

"""Schema migrations: up and down on SQLite and PostgreSQL, models in step with the scripts,
refusal of databases at other revisions, and the SQLite connection settings."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, inspect, text

from mgstore import SchemaError, Store
from mgstore.db import engine as db
from mgstore.db import migrate
from mgstore.db.models import GUARDED_ON_POSTGRESQL, metadata

MODEL_TABLES = set(metadata.tables)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = db.create(db_url)
    yield eng
    eng.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def set_revision(engine: Engine, revision: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_upgrade_from_empty_to_head_and_down_to_base(engine: Engine) -> None:
    assert tables(engine) == set()
    assert migrate.current(engine) is None

    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert tables(engine) == MODEL_TABLES | {"alembic_version"}

    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert tables(engine) == {"alembic_version"}

    migrate.upgrade(engine)  # and back up again: the downgrade left nothing in the way
    assert migrate.current(engine) == migrate.head()
    assert tables(engine) == MODEL_TABLES | {"alembic_version"}


def test_every_revision_steps_up_and_down(engine: Engine) -> None:
    revisions = [s.revision for s in migrate.scripts().walk_revisions()][::-1]  # oldest first
    assert revisions[-1] == migrate.head()
    for revision in revisions:
        migrate.upgrade(engine, revision)
        assert migrate.current(engine) == revision
    for previous in [*revisions[-2::-1], "base"]:
        migrate.downgrade(engine, "-1")
        assert migrate.current(engine) == (None if previous == "base" else previous)
    assert tables(engine) == {"alembic_version"}


def test_models_and_migrations_agree(engine: Engine) -> None:
    """The schema the migrations make is the models', but for one documented difference:
    on PostgreSQL the foreign keys of ``GUARDED_ON_POSTGRESQL`` are guards on delete
    (revision 0017_pg_reference_guards, docs/storage.md §8), not constraints."""
    migrate.upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, metadata)
    guarded = []
    if engine.dialect.name == "postgresql":
        guarded = [d for d in diff if d[0] == "add_fk"]
        diff = [d for d in diff if d[0] != "add_fk"]
    assert diff == []
    found = [(fk.table.name, *fk.column_keys, fk.referred_table.name) for _, fk in guarded]
    expected = GUARDED_ON_POSTGRESQL if engine.dialect.name == "postgresql" else ()
    assert sorted(found) == sorted(expected)


def test_a_store_opens_a_database_at_head(db_url: str, engine: Engine) -> None:
    migrate.upgrade(engine)
    with Store(db_url) as store:
        assert store.graphs() == []
    assert migrate.current(engine) == migrate.head()


def test_an_empty_database(db_url: str, engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        with Store(db_url) as store:  # a new SQLite file is created at the current schema
            assert store.graphs() == []
        assert migrate.current(engine) == migrate.head()
        assert tables(engine) == MODEL_TABLES | {"alembic_version"}
    else:  # a server database is never set up as a side effect
        with pytest.raises(SchemaError, match="mgstore db upgrade"):
            Store(db_url)
        assert tables(engine) == set()


def test_an_unknown_revision_was_written_by_a_newer_mgstore(db_url: str, engine: Engine) -> None:
    migrate.upgrade(engine)
    set_revision(engine, "ffffffffffff")
    with pytest.raises(SchemaError) as raised:
        Store(db_url)
    message = str(raised.value)
    assert "ffffffffffff" in message
    assert "newer mgstore" in message
    assert migrate.head() in message
    assert migrate.current(engine) == "ffffffffffff"  # untouched


@pytest.fixture
def newer_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The migration scripts plus one newer revision: the database at today's head is older."""
    scripts = tmp_path / "migrations"
    shutil.copytree(migrate.migrations_dir(), scripts, ignore=shutil.ignore_patterns("__pycache__"))
    old_head = migrate.head()
    (scripts / "versions" / "9999_next.py").write_text(
        f'''"""A revision from the future."""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{old_head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("future", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("future")
'''
    )
    monkeypatch.setattr(migrate, "migrations_dir", lambda: scripts)
    assert migrate.head() == "9999"
    return old_head


def test_an_older_revision_needs_mgstore_db_upgrade(
    db_url: str, engine: Engine, newer_scripts: str
) -> None:
    migrate.upgrade(engine, newer_scripts)
    with pytest.raises(SchemaError) as raised:
        Store(db_url)
    message = str(raised.value)
    assert "mgstore db upgrade" in message
    assert newer_scripts in message and "9999" in message
    assert migrate.current(engine) == newer_scripts  # never migrated silently
    assert "future" not in tables(engine)

    migrate.upgrade(engine)
    assert "future" in tables(engine)
    with Store(db_url) as store:
        assert store.graphs() == []
    migrate.downgrade(engine, newer_scripts)
    assert "future" not in tables(engine)


def test_an_older_revision_in_alembic_version_is_refused(
    db_url: str, engine: Engine, newer_scripts: str
) -> None:
    migrate.upgrade(engine)
    set_revision(engine, newer_scripts)
    with pytest.raises(SchemaError, match="mgstore db upgrade"):
        Store(db_url)


def test_a_database_of_someone_else_is_refused(db_url: str, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(text("INSERT INTO customers (id, name) VALUES (1, 'ann')"))

    with pytest.raises(SchemaError, match="not an mgstore database"):
        Store(db_url)

    assert tables(engine) == {"customers"}  # nothing created beside it
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM customers")).scalar_one() == "ann"


def test_migrating_to_an_unknown_revision_is_an_input_error(engine: Engine) -> None:
    from mgstore import InputError

    with pytest.raises(InputError, match="nosuchrev"):
        migrate.upgrade(engine, "nosuchrev")
    assert migrate.current(engine) is None


def test_a_database_created_meanwhile_is_accepted(sqlite_url: str) -> None:
    """Two processes open a new file at once, and the other one's migration commits just after
    this one first looked for mgstore's revision table. (Threads stand in for the processes; a
    hook on the database statements fixes that interleaving.)"""
    has_looked, created = threading.Event(), threading.Event()

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            threading.current_thread().name == "late"
            and "alembic_version" in statement
            and not has_looked.is_set()
        ):
            has_looked.set()
            assert created.wait(30)

    outcome: list[BaseException | None] = []

    def open_late() -> None:
        try:
            Store(sqlite_url).close()
            outcome.append(None)
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    event.listen(Engine, "after_cursor_execute", after_execute)
    late = threading.Thread(target=open_late, name="late")
    try:
        late.start()
        assert has_looked.wait(30)  # it looked, found nothing...
        Store(sqlite_url).close()  # ...and the other process creates the schema now
    finally:
        created.set()
        late.join(30)
        event.remove(Engine, "after_cursor_execute", after_execute)
    assert outcome == [None]


# ------------------------------------------------------------------------------------------
# SQLite connection settings


def test_sqlite_pragmas_are_in_effect(sqlite_url: str) -> None:
    with Store(sqlite_url) as store, store.engine.connect() as conn:

        def pragma(name: str) -> object:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert str(pragma("journal_mode")).lower() == "wal"
        assert pragma("foreign_keys") == 1
        busy_timeout = pragma("busy_timeout")
        assert isinstance(busy_timeout, int) and busy_timeout > 0
        assert pragma("synchronous") == 1  # NORMAL


def test_sqlite_foreign_keys_are_enforced(sqlite_url: str) -> None:
    """A foreign-key violation is refused, and is not a (retryable) ConflictError."""
    from mgstore import ConflictError, StoreError

    with (
        Store(sqlite_url) as store,
        pytest.raises(StoreError, match="FOREIGN KEY") as raised,
        db.transaction(store.engine, write=True) as conn,
    ):
        conn.exec_driver_sql(
            "INSERT INTO version_tags (version_id, key, value) VALUES (12345, 'k', 'v')"
        )
    assert not isinstance(raised.value, ConflictError)


def test_sqlite_write_transactions_take_the_lock_at_begin(sqlite_url: str) -> None:
    """``BEGIN IMMEDIATE``: a second writer cannot start while a write transaction is open."""
    with Store(sqlite_url) as store:
        path = store.engine.url.database
        assert path is not None
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with (
                db.transaction(store.engine, write=True),
                pytest.raises(sqlite3.OperationalError, match="locked"),
            ):
                other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")  # free again once the transaction ended
            other.execute("ROLLBACK")
            with db.transaction(store.engine):  # a read transaction does not block writers
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
        finally:
            other.close()

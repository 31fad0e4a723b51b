"""Alembic environment: runs migrations on mgstore's engine (or one built from the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from mgstore.db.engine import create, resolve_url
from mgstore.db.models import metadata

config = context.config
target_metadata = metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is not None:
        _run(engine)
        return
    # Run from the alembic command line: the engine is this run's, closed with its pool.
    own = create(resolve_url(config.get_main_option("sqlalchemy.url") or None))
    try:
        _run(own)
    finally:
        own.dispose()


def _run(engine: Engine) -> None:
    # One write transaction for the whole run (BEGIN IMMEDIATE on SQLite), so processes that
    # open a new database at once queue here and the later ones find it migrated.
    # A guard (mgstore.db.migrate's) may look at the data before and after the scripts run, in
    # the same transaction, and refuse the result (a downgrade that would drop rows).
    guard = config.attributes.get("guard")
    with engine.connect() as connection:
        connection = connection.execution_options(mgstore_write=True)
        with connection.begin():
            before = guard.before(connection) if guard is not None else None
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            context.run_migrations()
            if guard is not None:
                guard.after(connection, before)


if context.is_offline_mode():
    context.configure(
        url=resolve_url(config.get_main_option("sqlalchemy.url") or None),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()

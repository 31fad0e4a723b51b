"""Schema revisions through Alembic: upgrade, downgrade, current, and the check on open.

The migration scripts live in ``migrations/`` at the repository root; they are installed as the
package ``mgstore._migrations`` so that an installed mgstore can migrate too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from mgstore.errors import SchemaError, StoreError


def migrations_dir() -> Path:
    """Where the Alembic scripts are: the source tree's migrations/, else the installed copy."""
    source = Path(__file__).resolve().parents[2] / "migrations"
    if (source / "env.py").is_file():
        return source
    spec = importlib.util.find_spec("mgstore._migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("mgstore's migration scripts are missing from this installation")
    return Path(next(iter(spec.submodule_search_locations)))


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def scripts() -> ScriptDirectory:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(cfg)


def head() -> str:
    """The newest revision the installed mgstore knows."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision (None for a database mgstore has never touched)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(config(engine), revision)


def ensure(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one at another revision.

    A database is never migrated silently: an older one raises SchemaError telling the user to
    run ``mgstore db upgrade``.
    """
    found = current(engine)
    wanted = head()
    if found == wanted:
        return
    if found is None:
        if inspect(engine).get_table_names():
            raise SchemaError(
                f"{engine.url.render_as_string(hide_password=True)} has tables but no mgstore "
                "schema revision; it is not an mgstore database"
            )
        upgrade(engine)
        return
    known = {script.revision for script in scripts().walk_revisions()}
    if found in known:
        raise SchemaError(
            f"the database is at schema revision {found}, this mgstore needs {wanted}: "
            "run `mgstore db upgrade` (back it up first)"
        )
    raise SchemaError(
        f"the database is at schema revision {found}, unknown to this mgstore (which needs "
        f"{wanted}); it was written by a newer mgstore: upgrade mgstore"
    )

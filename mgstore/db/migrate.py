"""Schema revisions through Alembic: upgrade, downgrade, current, and the check on open.

The migration scripts live in ``migrations/`` at the repository root; they are installed as the
package ``mgstore._migrations`` so that an installed mgstore can migrate too.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from mgstore.db.engine import create, display_url, errors_mapped, require_existing, resolve_url
from mgstore.errors import InputError, NotFoundError, SchemaError, StoreError


def migrations_dir() -> Path:
    """Where the Alembic scripts are: the source tree's migrations/, else the installed copy."""
    source = Path(__file__).resolve().parents[2] / "migrations"
    if (source / "env.py").is_file():
        return source
    spec = importlib.util.find_spec("mgstore._migrations")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("mgstore's migration scripts are missing from this installation")
    return Path(next(iter(spec.submodule_search_locations)))


if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported by the functions that run it: opening a store at the current revision
# (every command but `db`) reads the revision without it (see ensure).


def config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def scripts() -> ScriptDirectory:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

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
    from alembic.runtime.migration import MigrationContext

    with errors_mapped(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    _run(command.upgrade, engine, revision)


def downgrade(engine: Engine, revision: str, *, drop_data: bool = False) -> None:
    """Migrate down to ``revision``. One that would drop rows (a table that goes, rows that
    vanish) is refused with InputError, which counts them per table, and changes nothing,
    unless ``drop_data``."""
    from alembic import command

    _run(command.downgrade, engine, revision, None if drop_data else _DataGuard(revision))


class _DataGuard:
    """Refuses a migration that loses rows: counts every table's rows before and after the
    scripts ran, in their transaction, so that a refusal rolls everything back."""

    def __init__(self, revision: str) -> None:
        self.revision = revision

    def before(self, conn: Connection) -> dict[str, int]:
        return _row_counts(conn)

    def after(self, conn: Connection, before: dict[str, int]) -> None:
        after = _row_counts(conn)
        lost = {
            table: count - after.get(table, 0)
            for table, count in sorted(before.items())
            if count > after.get(table, 0)
        }
        if lost:
            shown = ", ".join(
                f"{table} ({n} row{'s' if n != 1 else ''})" for table, n in lost.items()
            )
            raise InputError(
                f"downgrading to {self.revision!r} would drop data: {shown}; nothing was "
                "changed. Back the database up, then pass --drop-data (API: drop_data=True) "
                "to drop it"
            )


#: Columns whose values a downgrade can drop without dropping rows: (table, column), counted
#: where not NULL, so that the guard refuses to lose them too.
_DATA_COLUMNS = (("versions", "original_sha256"),)  # what went in (revision 0007_source_form)

#: Tables whose rows are computed from the others, and computed again by the upgrade that
#: brings them back, or (``names``, revision 0019) written back into the rows that refer to
#: them by the downgrade that drops them: dropping them loses nothing, so the guard does not
#: count them.
DERIVED = frozenset({"outline_parts", "version_outlines", "names"})


def _row_counts(conn: Connection) -> dict[str, int]:
    """The rows of every table but Alembic's own and the derived ones, and the values of
    :data:`_DATA_COLUMNS` (as ``table.column``)."""
    counts = {}
    inspector = inspect(conn)
    for name in inspector.get_table_names():
        if name != "alembic_version" and name not in DERIVED:
            table = Table(name, MetaData())
            counts[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    for name, column in _DATA_COLUMNS:
        if name in counts and column in {c["name"] for c in inspector.get_columns(name)}:
            table = Table(name, MetaData(), Column(column))
            values = select(func.count()).select_from(table).where(table.c[column].is_not(None))
            counts[f"{name}.{column}"] = int(conn.execute(values).scalar_one())
    return counts


#: What a revision argument may be: an id (or ``head``, ``base``), optionally with a relative
#: step (``0011_ingest_indexes@-1``), or a relative step alone (``-1``). Alembic asserts rather
#: than raising on some other shapes (``@``), so they are refused before it sees them.
_REVISION_ARGUMENT = re.compile(r"(?:\w+(?:@[+-]?\d+)?|[+-]\d+)\Z", re.ASCII)


def _run(step: Any, engine: Engine, revision: str, guard: _DataGuard | None = None) -> None:
    from alembic.util import CommandError

    if not isinstance(revision, str) or not _REVISION_ARGUMENT.match(revision):
        raise InputError(
            f"schema revision {revision!r}: expected a revision id, 'head' or 'base', "
            "optionally with a relative step such as 'head@-1', or a step such as -1"
        )
    cfg = config(engine)
    cfg.attributes["guard"] = guard
    try:
        step(cfg, revision)
    except CommandError as error:
        raise InputError(f"schema revision {revision!r}: {error}") from None
    except SQLAlchemyError as error:
        raise StoreError(f"migration to {revision!r} failed: {error}") from error
    except StoreError as error:
        raise StoreError(f"migration to {revision!r} failed: {error}") from error


def ensure(engine: Engine, *, create: bool = True) -> None:
    """Create the schema in an empty SQLite database (if ``create``, else NotFoundError);
    refuse one at another revision.

    A shared server's database (PostgreSQL) is set up explicitly with ``mgstore db upgrade``,
    never as a side effect of a typo'd URL. A database is never migrated silently: an older one
    raises SchemaError telling the user to run ``mgstore db upgrade``.
    """
    if _stored_revisions(engine) == [script_head()]:
        return  # the common case, without Alembic
    from alembic.runtime.migration import MigrationContext

    wanted = head()
    # The revision and the table list are read in one transaction: another process may be
    # creating the schema right now, and must be seen either not at all or completely.
    with errors_mapped(), engine.connect() as conn, conn.begin():
        found = MigrationContext.configure(conn).get_current_revision()
        tables = inspect(conn).get_table_names() if found is None else []
    if found == wanted:
        return
    where = display_url(engine.url)
    if found is None:
        if tables:
            raise SchemaError(
                f"{where} has tables but no mgstore schema revision; it is not an mgstore database"
            )
        if engine.dialect.name != "sqlite":
            raise SchemaError(
                f"{where} has no mgstore schema yet: run `mgstore db upgrade` to create it"
            )
        if not create:
            raise NotFoundError(
                f"{where} is empty: no mgstore store yet (`mgstore ingest` or "
                "`mgstore db upgrade` creates one)"
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


def _stored_revisions(engine: Engine) -> list[str]:
    """The revisions in the database's ``alembic_version`` table, read without Alembic (none
    if it has no such table)."""
    with errors_mapped(), engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return []
        versions = Table("alembic_version", MetaData(), Column("version_num"))
        return [str(v) for v in conn.execute(select(versions.c.version_num)).scalars()]


_REVISION = re.compile(r"^revision\b[^=\n]*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"^down_revision\b[^=\n]*=\s*(?:None|[\"']([^\"']*)[\"'])", re.MULTILINE
)


def script_head() -> str:
    """:func:`head`, read from the scripts' ``revision`` and ``down_revision`` lines instead of
    loading them with Alembic (a tenth of the time); Alembic's answer where a script does not
    spell them plainly, or the chain has more than one head."""
    scripts = sorted((migrations_dir() / "versions").glob("*.py"))
    return _script_head(tuple((path, path.stat().st_mtime_ns) for path in scripts))


@functools.lru_cache(maxsize=4)
def _script_head(scripts: tuple[tuple[Path, int], ...]) -> str:
    revisions, parents = set(), set()
    for path, _ in scripts:
        text = path.read_text(encoding="utf-8")
        found, down = _REVISION.findall(text), _DOWN_REVISION.search(text)
        if path.name == "__init__.py" and not found:
            continue
        if len(found) != 1 or down is None:
            return head()
        revisions.add(found[0])
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else head()


def upgrade_database(url: str | None = None, revision: str = "head") -> str | None:
    """Migrate the database at ``url`` (default: $MGSTORE_DB...) up to ``revision``; the result."""
    with _engine(url) as engine:
        upgrade(engine, revision)
        return current(engine)


def downgrade_database(url: str | None, revision: str, *, drop_data: bool = False) -> str | None:
    """Migrate the database at ``url`` down to ``revision`` (``base`` removes every table);
    one that would drop rows needs ``drop_data`` (see :func:`downgrade`)."""
    require_existing(resolve_url(url))
    with _engine(url) as engine:
        downgrade(engine, revision, drop_data=drop_data)
        return current(engine)


def database_revision(url: str | None = None) -> str | None:
    """The schema revision of the database at ``url`` (None if mgstore never touched it, or
    if it is an SQLite file that does not exist: it is not created)."""
    try:
        require_existing(resolve_url(url))
    except NotFoundError:
        return None
    with _engine(url) as engine:
        return current(engine)


@contextmanager
def database(url: str | None) -> Iterator[Engine]:
    """An engine for ``url`` (default: $MGSTORE_DB...) for the block, without a schema check."""
    with _engine(url) as engine:
        yield engine


@contextmanager
def _engine(url: str | None) -> Iterator[Engine]:
    engine = create(resolve_url(url))
    try:
        yield engine
    finally:
        engine.dispose()

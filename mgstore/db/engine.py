"""Engines per dialect and the one transaction helper every database access goes through.

SQLite gets WAL, foreign keys and a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing half-way. Database
errors leave as mgstore errors: ``ConflictError`` for a lost race (retryable), ``StoreError``
otherwise.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool, StaticPool

from mgstore.errors import ConflictError, InputError, NotFoundError, StoreError

DEFAULT_URL = "sqlite:///mgstore.db"
SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_WAL_LIMIT = 64 * 1024 * 1024  #: bytes of write-ahead log kept once checkpointed
WRITE_RETRIES = 8
T = TypeVar("T")
#: A query parameter that holds a password: ``password``, ``passwd``, ``sslpassword``, and any
#: key ending so (a '?' in the host makes SQLAlchemy read ``/db?password`` as one key).
_PASSWORD_PARAMETER = re.compile(r"([?&][^=&]*(?:password|passwd)=)[^&]*", re.IGNORECASE)


def resolve_url(url: str | None) -> str:
    """The database URL to use: ``url``, else ``$MGSTORE_DB``, else ``sqlite:///mgstore.db``."""
    return url or os.environ.get("MGSTORE_DB") or DEFAULT_URL


def resolve_read_url(url: str | None, primary: str) -> str | None:
    """The read replica's URL: ``url``, else ``$MGSTORE_READ_DB``; None when there is none or
    it is the primary itself (see docs/storage.md §12)."""
    found = url or os.environ.get("MGSTORE_READ_DB") or None
    return None if found is None or found == primary else found


def require_existing(url: str) -> None:
    """Raise NotFoundError if ``url`` names an SQLite file that does not exist (connecting
    would create it): read-only commands never create a store."""
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        return  # create() says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = parsed.database
    if path.startswith("file:"):
        return  # a URI filename: SQLite's own options decide
    if not os.path.exists(path):
        raise NotFoundError(
            f"no mgstore store at {path}: the file does not exist (`mgstore ingest` or "
            "`mgstore db upgrade` creates one; check --db or $MGSTORE_DB)"
        )


def display_url(url: str | URL) -> str:
    """``url`` as it may be shown: any password masked (``user:***@``, ``password=***``),
    whether or not the URL can be parsed. Every message that names a database uses this."""
    raw = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "", raw
    at = rest.rfind("@")
    if at >= 0 and ":" in rest[:at]:  # user:password@...: the password may hold '@', ':', '/'
        rest = f"{rest[: rest.index(':')]}:***{rest[at:]}"
    return _PASSWORD_PARAMETER.sub(r"\1***", f"{scheme}{sep}{rest}")


def parse_url(url: str) -> URL:
    """``url`` parsed and checked, or one InputError (password masked) saying what is wrong."""
    if not isinstance(url, str):
        raise InputError(f"a database URL is a str; got {type(url).__name__}")
    shown = display_url(url)
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # e.g. a SQLite file name that is not UTF-8, from argv
        raise InputError(
            "the database URL is not valid Unicode (a lone surrogate, e.g. from a file name "
            "that is not UTF-8)"
        ) from None
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        raise InputError(
            f"{shown!r} is not a database URL: it needs a scheme, e.g. sqlite:///mgstore.db or "
            "postgresql://user@host/db"
        ) from None
    except ValueError:  # a port that is not a number, a bracket left open...
        raise InputError(
            f"{shown!r} is not a valid database URL: check the host and port "
            "(host:port, [IPv6]:port, the port a number) and percent-encode special "
            "characters in the password"
        ) from None
    if "\0" in (parsed.database or "") or "\0" in (parsed.host or ""):
        raise InputError(f"{shown!r}: a database URL cannot hold a NUL character")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise InputError(f"{shown!r}: the port must be a number from 1 to 65535")
    if parsed.host is not None and "@" in parsed.host:
        raise InputError(
            f"{shown!r}: the host has an '@': percent-encode '@' in the user name or password "
            "as %40"
        )
    return parsed


def create(url: str) -> Engine:
    """An engine for ``url`` set up for mgstore (pragmas, transactions, psycopg for PostgreSQL)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
            # One connection for the engine's life: every new one would be a new, empty database.
            engine = create_engine(
                parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            _configure_sqlite(engine)
        elif parsed.get_backend_name() == "sqlite":
            # Connections are kept for the next transaction (as many as threads ask for): a
            # new one reads the schema and starts with an empty page cache, which cost a warm
            # scope query half its time (docs/storage.md §8). Store.close() closes them.
            engine = create_engine(parsed, poolclass=QueuePool, pool_size=5, max_overflow=-1)
            _configure_sqlite(engine)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as error:
        raise StoreError(
            f"the driver for {parsed.drivername} is not installed ({error.name}); "
            "for PostgreSQL: pip install 'mgstore[postgres]'"
        ) from None
    except (exc.ArgumentError, exc.NoSuchModuleError) as error:
        raise InputError(f"{display_url(parsed)}: {_masked(str(error), parsed)}") from None
    return engine


def _masked(text: str, url: URL) -> str:
    """``text`` with ``url``'s password taken out, should a driver's message quote it."""
    return (
        text.replace(url.password, "***")
        if isinstance(url.password, str) and url.password
        else text
    )


#: The files SQLite keeps beside a database file, by suffix (write-ahead log, shared memory,
#: rollback journal).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def database_files(engine: Engine) -> tuple[str, ...]:
    """The files a SQLite database lives in (the file, its ``-wal``, ``-shm`` and ``-journal``),
    so that nothing mgstore writes lands on them; none for a server or an in-memory database."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return ()
    if database.startswith("file:"):  # a URI filename: file:PATH?options
        database = database[len("file:") :].split("?", 1)[0]
    return (database, *(database + suffix for suffix in SQLITE_COMPANIONS))


def _file_identity(path: str | None) -> tuple[int, int] | None:
    """The device and inode of the file at ``path`` (None if there is none): what tells a
    kept connection that its database file was replaced or removed under it."""
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _configure_sqlite(engine: Engine) -> None:
    files = database_files(engine)
    path = os.path.abspath(files[0]) if files else None

    @event.listens_for(engine, "checkout")
    def _on_checkout(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # A kept connection reads the file it opened: if another file has taken its name
        # since (a refreshed replica, a restored backup), the pool opens a new connection.
        if path is not None and record.info.get("mgstore_file") != _file_identity(path):
            raise exc.DisconnectionError("the database file was replaced")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
        # A kept connection does not fold the write-ahead log into the database on closing:
        # each one returned does, so that the database file alone holds what was committed
        # (a copy of it, a replica, sees every write). Passive: it never waits for a reader
        # or writer, and costs ~16 us when there is nothing to fold (docs/storage.md §8). A
        # read-only file cannot be checkpointed, and needs not be.
        if dbapi_conn is not None:
            with suppress(sqlite3.Error):
                dbapi_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA page_size = 16384")  # takes effect only in a new database
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Connections are kept (create), so the log is not removed after each transaction:
        # once checkpointed, it is cut back to this size rather than left at its largest.
        cursor.execute(f"PRAGMA journal_size_limit = {SQLITE_WAL_LIMIT}")
        cursor.close()
        record.info["mgstore_file"] = _file_identity(path)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mgstore_write", False)
        # Writers get a large page cache (random-key index inserts); readers mostly stream
        # pack pages through it: a small one saves memory (shrinking it frees the rest).
        conn.exec_driver_sql(f"PRAGMA cache_size = {-65536 if write else -4096}")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def errors_mapped() -> Iterator[None]:
    """Turn database errors raised in the body into mgstore errors."""
    try:
        yield
    except exc.IntegrityError as error:
        if _is_unique_violation(error):  # another writer got there first: retrying may work
            raise ConflictError(f"a concurrent change conflicted: {_reason(error)}") from error
        raise StoreError(f"the database refused the change: {_reason(error)}") from error
    except exc.DBAPIError as error:
        if "cannot contain NUL" in _reason(error):  # PostgreSQL's text type, from psycopg
            raise InputError("text with a NUL character cannot be looked up or stored") from None
        if _is_transient(error):
            raise ConflictError(f"the database is busy: {_reason(error)}") from error
        raise StoreError(f"database error: {_reason(error)}") from error
    except exc.SQLAlchemyError as error:
        raise StoreError(f"database error: {error}") from error
    except UnicodeEncodeError:  # a lone surrogate (from a non-UTF-8 argument) in a parameter
        raise InputError(
            "text that is not valid Unicode (a lone surrogate, e.g. from a file name or argument "
            "that is not UTF-8) cannot be looked up or stored"
        ) from None
    except OverflowError:  # an int parameter beyond the database's 64-bit integers
        raise InputError("a number too large for the database") from None


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One transaction: commits on success, rolls back on any error, maps database errors."""
    with errors_mapped(), engine.connect() as conn:
        if write:
            conn = conn.execution_options(mgstore_write=True)
        with conn.begin():
            yield conn


def vacuum(engine: Engine) -> None:
    """``VACUUM`` the database, outside any transaction (which neither database allows)."""
    with errors_mapped():
        if engine.dialect.name == "sqlite":
            # The driver connection runs in autocommit mode (see _configure_sqlite); the
            # engine's own connections would open a transaction first.
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
                # VACUUM wrote the database into the write-ahead log, which kept connections
                # (create) do not fold in on closing: give the space back now.
                raw.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                )
            finally:
                raw.close()
        else:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM")


def retrying(operation: Callable[[], T], retries: int = WRITE_RETRIES) -> T:
    """Run ``operation`` again (with backoff) when it loses a race, a bounded number of times."""
    for attempt in range(retries):
        try:
            return operation()
        except ConflictError:
            if attempt == retries - 1:
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise AssertionError("unreachable")


def _reason(error: exc.DBAPIError) -> str:
    return str(error.orig).strip().splitlines()[0] if error.orig else str(error)


def _is_unique_violation(error: exc.DBAPIError) -> bool:
    text = str(error.orig).lower()
    return getattr(error.orig, "sqlstate", None) == "23505" or "unique constraint" in text


def _is_transient(error: exc.DBAPIError) -> bool:
    text = str(error.orig).lower()
    code = getattr(error.orig, "sqlstate", None)
    return "database is locked" in text or "deadlock" in text or code in {"40001", "40P01", "55P03"}

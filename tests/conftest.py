"""Shared test set-up: optional capabilities that skip locally but are required in CI.

``MGSTORE_REQUIRE`` (set by .ci/run) lists capabilities that must be present: ``tf``,
``postgres``, ``protoc``, ``web`` (the web extra), ``browser`` (Chromium, for the web
view). A test that needs a listed capability fails instead of skipping
when it is missing, so nothing can silently skip in CI.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mgstore import Store
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef

REQUIRED = {c.strip() for c in os.environ.get("MGSTORE_REQUIRE", "").split(",") if c.strip()}


def need(capability: str, available: bool, why: str) -> None:
    """Skip (or, when CI requires the capability, fail) a test whose capability is missing."""
    if available:
        return
    if capability in REQUIRED:
        pytest.fail(f"{capability} is required here (MGSTORE_REQUIRE) but {why}", pytrace=False)
    pytest.skip(f"{why}; install it to run this test (see README)")


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session")
def tf():  # type: ignore[no-untyped-def]
    """TensorFlow, imported once per session (slow: about 3 s)."""
    need("tf", _has_module("tensorflow"), "TensorFlow is not installed")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow

    return tensorflow


@pytest.fixture(scope="session")
def protoc():  # type: ignore[no-untyped-def]
    need("protoc", _has_module("grpc_tools"), "grpcio-tools (the dev extra) is not installed")
    from grpc_tools import protoc as module

    return module


@pytest.fixture(scope="session")
def web() -> None:
    """The web extra (Starlette, Jinja2, uvicorn) and Starlette's test client (httpx2)."""
    missing = [m for m in ("starlette", "jinja2", "uvicorn", "httpx2") if not _has_module(m)]
    need("web", not missing, f"{', '.join(missing)} not installed (pip install -e '.[dev,web]')")


@pytest.fixture(scope="session")
def chromium(web: None) -> str:
    """The path of a Chromium to drive headless, and websockets for its DevTools protocol."""
    import shutil

    path = os.environ.get("MGSTORE_CHROMIUM") or shutil.which("chromium")
    need("browser", path is not None, "Chromium is not installed (apt-get install chromium)")
    need("browser", _has_module("websockets"), "websockets (the dev extra) is not installed")
    assert path is not None
    return path


# ------------------------------------------------------------------------------------------
# Stores: a fresh one per test, on SQLite and on PostgreSQL (a schema of its own, dropped after)

PG_URL = os.environ.get("MGSTORE_TEST_PG") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_available() -> tuple[bool, str]:
    if not _has_module("psycopg"):
        return False, "psycopg is not installed (pip install 'mgstore[postgres]')"
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # any failure means: no usable server here
        return False, f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__})"
    return True, ""


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL URL, once it is known to answer."""
    ok, why = _pg_available()
    need("postgres", ok, why)
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str):  # type: ignore[no-untyped-def]
    """A URL whose search_path is a fresh schema, dropped after the test."""
    import uuid

    import sqlalchemy

    schema = f"mgstore_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(pg_server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{pg_server}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request):  # type: ignore[no-untyped-def]
    """A fresh, empty database URL: one SQLite file, or one PostgreSQL schema."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def migrated_url(db_url):  # type: ignore[no-untyped-def]
    """:func:`db_url` at the current schema, ready for a Store: a server database is set up
    explicitly, as users do (``mgstore db upgrade``); a SQLite file is created by the Store."""
    from mgstore.db.migrate import upgrade_database

    if not db_url.startswith("sqlite"):
        upgrade_database(db_url)
    return db_url


@pytest.fixture
def store(migrated_url):  # type: ignore[no-untyped-def]
    """A fresh Store on each database."""
    from mgstore import Store

    with Store(migrated_url) as s:
        yield s


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir():  # type: ignore[no-untyped-def]
    return FIXTURES


# ------------------------------------------------------------------------------------------
# What is in the tables, and small graphs built in code (fixtures, so that test modules need
# not import this file, whatever pytest's import mode).


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows in every table of the schema."""
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in metadata.sorted_tables
        }


def table_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: "unchanged" means exactly this."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
        }


def small_meta(*names: str, op: str = "NoOp", label: str | None = None) -> Any:
    """A MetaGraphDef of a chain of ops named ``names`` (each takes the previous one as input)."""
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    previous = None
    for name in names:
        node = meta.graph_def.node.add(name=name, op=op)
        if previous is not None:
            node.input.append(f"^{previous}")
        if label is not None:
            node.attr["label"].CopyFrom(AttrValue(s=label.encode()))
        previous = name
    return meta


@pytest.fixture
def counts() -> Callable[[Store], dict[str, int]]:
    return lambda store: row_counts(store.engine)


@pytest.fixture
def dump() -> Callable[[Store], dict[str, list[tuple[Any, ...]]]]:
    return lambda store: table_dump(store.engine)


@pytest.fixture(name="small_meta")
def small_meta_fixture() -> Callable[..., Any]:
    return small_meta

"""Fixtures of the audit tests: a store holding two versions of one graph, a way to append
export records as the exporter does (one write transaction, retried on conflicts), files written
with their records, and direct database access that goes around the append-only triggers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from mgstore import Store, audit
from mgstore.db import engine as db
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSIONS as V
from mgstore.proto import MetaGraphDef
from tests.tampering import triggers_dropped


@pytest.fixture
def versions(store: Store) -> dict[int, int]:
    """``net@1`` and ``net@2`` in the store: their ids by number."""
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="a", op="NoOp")
    store.ingest(meta, "net", message="first")
    meta.graph_def.node.add(name="b", op="NoOp", input=["^a"])
    store.ingest(meta, "net", message="second")
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(V.c.number, V.c.id).join(G, G.c.id == V.c.graph_id).where(G.c.name == "net")
        )
        return {int(number): int(version_id) for number, version_id in rows}


Append = Callable[..., audit.ExportRecord]


@pytest.fixture
def append(store: Store, versions: dict[int, int], tmp_path: Path) -> Append:
    """Record an export (defaults: a successful one of net@1 to tmp/out.meta, of no file)."""

    def append(**fields: Any) -> audit.ExportRecord:
        values: dict[str, Any] = {
            "version_id": versions[1],
            "query": None,
            "options": {},
            "path": tmp_path / "out.meta",
            "sha256": hashlib.sha256(b"").hexdigest(),
            "size": 0,
            "duration": 0.25,
        }
        values.update(fields)

        def attempt() -> audit.ExportRecord:
            with db.transaction(store.engine, write=True) as conn:
                return audit.record_export(conn, **values)

        return db.retrying(attempt)

    return append


@pytest.fixture
def write_and_record(
    append: Append, tmp_path: Path
) -> Callable[..., tuple[Path, audit.ExportRecord]]:
    """Write ``data`` to ``name`` (and ``debug`` beside it) and record that export."""

    def write(
        name: str, data: bytes, debug: bytes | None = None, **fields: Any
    ) -> tuple[Path, audit.ExportRecord]:
        path = tmp_path / name
        path.write_bytes(data)
        extra: dict[str, Any] = {}
        if debug is not None:
            debug_path = path.with_suffix(".debug")
            debug_path.write_bytes(debug)
            extra = {"debug_path": debug_path, "debug_sha256": hashlib.sha256(debug).hexdigest()}
        record = append(
            path=path,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            **extra,
            **fields,
        )
        return path, record

    return write


@pytest.fixture
def read(store: Store) -> Callable[..., Any]:
    """Run ``fn(conn, *args)`` in a read transaction."""

    def read(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with db.transaction(store.engine) as conn:
            return fn(conn, *args, **kwargs)

    return read


@pytest.fixture
def tamper(store: Store) -> Callable[[], AbstractContextManager[Connection]]:
    """A context manager: a raw connection with the append-only triggers out of the way, as
    someone with write access to the database could have it."""

    def tamper() -> AbstractContextManager[Connection]:
        return triggers_dropped(store)

    return tamper

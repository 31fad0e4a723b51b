"""What the tests of one migration with data share: the revision below it, a step down or up
on a fresh engine, and a connection that disposes of its engine (so that no pooled connection
holds a lock the next step needs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from mgstore.db import engine as db
from mgstore.db import migrate


def below(revision: str) -> str:
    """The revision ``revision`` upgrades from."""
    down = migrate.scripts().get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


def step(url: str, revision: str, *, down: bool) -> None:
    """Downgrade (``down``) or upgrade the database at ``url`` to ``revision``."""
    engine = db.create(url)
    try:
        if down:
            migrate.downgrade(engine, revision)
        else:
            migrate.upgrade(engine, revision)
    finally:
        engine.dispose()


@contextmanager
def connection(url: str, *, write: bool = False) -> Iterator[Connection]:
    """A connection to ``url`` (in a transaction committed at the end if ``write``)."""
    engine = db.create(url)
    try:
        with engine.begin() if write else engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()

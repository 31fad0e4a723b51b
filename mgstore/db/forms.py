"""Import forms: how TensorFlow's import changes a version's content, kept per content hash in
``import_forms`` so that exports skip that work (docs/storage.md §6).

Ingest asked to prepare the export computes a version's form once the version is committed
(:func:`prepare`: :func:`compute` on the graph it ingested, then :func:`keep`), and drops the
form of the version it follows unless that content was exported (:func:`drop_unexported`): the
latest version of each graph and the exported ones have their forms ready, and the store does
not grow by a form per version. An export that finds none (an older version, a form row
deleted) computes and keeps it then.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, Engine, exists, select

from mgstore.db import engine as db
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.export.imported import FORM_VERSION, import_meta_graph
from mgstore.proto import MetaGraphDef

if TYPE_CHECKING:
    from mgstore.byte_layout import StoredGraph

__all__ = ["compute", "drop_unexported", "keep", "prepare", "stored"]


def prepare(engine: Engine, graph: StoredGraph, content: str, previous: str | None) -> None:
    """Once an ingest's version is committed, the content's import form, computed on the
    ingested graph itself (normalised in place: nothing reads it any more, and a committed
    ingest is not retried) and kept in a transaction of its own, unless one is stored; the
    form of the ``previous`` latest content goes unless it was exported. A cache: a failure
    only costs the first export its time, so none is raised."""
    if graph.source is None:
        return
    try:
        with db.transaction(engine) as conn:
            if stored(conn, content):
                return
        data = compute(graph.source, in_place=True)
        with db.transaction(engine, write=True) as conn:
            keep(conn, content, data)
            if previous is not None and previous != content:
                drop_unexported(conn, previous)
    except Exception:  # noqa: BLE001 - e.g. a read-only database; never fail a committed ingest
        pass


def compute(meta_graph: MetaGraphDef, *, in_place: bool = False) -> bytes | None:
    """The encoded import form of ``meta_graph``, or None if TensorFlow could not import it;
    its export then computes it again and fails there, with TensorFlow's error in TensorFlow's
    order. ``meta_graph`` is left as it is, unless ``in_place``: then its nodes are normalised
    (no copy is made; ingest does so once nothing reads it any more)."""
    if not in_place:
        copy = MetaGraphDef()
        copy.CopyFrom(meta_graph)
        meta_graph = copy
    try:
        form = import_meta_graph(meta_graph).form
    except Exception:  # noqa: BLE001 - a cache: the export raises whatever this hid
        return None
    return None if form is None else form.to_bytes()


def stored(conn: Connection, content_hash: str) -> bool:
    """Whether ``content_hash`` has an import form of this mgstore's :data:`FORM_VERSION`."""
    return bool(conn.execute(select(exists().where(*_key(content_hash)))).scalar())


def _key(content_hash: str) -> tuple[ColumnElement[bool], ...]:
    return F.c.content_hash == content_hash, F.c.form_version == FORM_VERSION


def keep(conn: Connection, content_hash: str, data: bytes | None, *, replace: bool = False) -> None:
    """Store ``data`` as the import form of ``content_hash`` (``replace``: instead of a row
    already there; else such a row is kept). None: nothing to store."""
    if data is None:
        return
    if replace:
        conn.execute(F.delete().where(*_key(content_hash)))
    elif stored(conn, content_hash):
        return
    row = {"content_hash": content_hash, "form_version": FORM_VERSION, "data": data,
           "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    conn.execute(F.insert(), row)


def drop_unexported(conn: Connection, content_hash: str) -> None:
    """Remove the import form of ``content_hash`` unless an export record names that content
    (a later export of it then computes the form again)."""
    exported = exists().where(X.c.content_hash == content_hash)
    conn.execute(F.delete().where(*_key(content_hash), ~exported))

"""Import forms: how TensorFlow's import changes a version's content, kept per content hash in
``import_forms`` so that exports skip that work (docs/storage.md §6).

Ingest asked to prepare the export computes a version's form once the version is committed
(:func:`prepare`: :func:`compute` on the graph it ingested, then :func:`keep`), and drops the
form of the version it follows unless that content was exported (:func:`drop_unexported`): the
latest version of each graph and the exported ones have their forms ready, and the store does
not grow by a form per version. An export that finds none (an older version, a form row
deleted) derives it from the stored form of a neighbouring version when few nodes differ
(:func:`derived`), else computes it, and keeps it then.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, Row, exists, func, select

from mgstore import byte_layout
from mgstore.db import engine as db
from mgstore.db import versions
from mgstore.db.orders import read_order
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.db.tables import NODES as N
from mgstore.db.tables import VERSIONS as V
from mgstore.db.versions import in_version, names_in, pack_slices
from mgstore.errors import MgstoreError
from mgstore.export.imported import (
    FORM_VERSION,
    ImportForm,
    colocation_scan,
    derive_form,
    import_meta_graph,
)
from mgstore.proto import MetaGraphDef, NodeDef

if TYPE_CHECKING:
    from mgstore.byte_layout import StoredGraph

__all__ = ["DERIVE_SHARE", "compute", "derived", "drop_unexported", "keep", "prepare", "stored"]


def prepare(
    engine: Engine, graph: StoredGraph, version_id: int, previous: str | None, body: bytes
) -> None:
    """Once an ingest's version (``version_id``, its framed nodes ``body``) is committed,
    its content's import form,
    derived from the form of another version of the graph (:func:`derived`: the ``previous``
    latest one's, kept until now) or else computed on the ingested graph itself (normalised in
    place: nothing reads it any more, and a committed ingest is not retried), and kept in a
    transaction of its own, unless one is stored; the form of the ``previous`` latest content
    goes unless it was exported. A cache: a failure only costs the first export its time, so
    none is raised."""
    if graph.source is None:
        return
    try:
        with db.transaction(engine) as conn:
            row = conn.execute(select(V).where(V.c.id == version_id)).one()
            if stored(conn, row.content_hash):
                return
            form = derived(conn, row, graph.source, None, body=body)
        data = compute(graph.source, in_place=True) if form is None else form.to_bytes()
        with db.transaction(engine, write=True) as conn:
            keep(conn, row.content_hash, data)
            if previous is not None and previous != row.content_hash:
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


#: A form is derived from another version's only when at most this share of nodes changed:
#: beyond it, computing it in full costs about as much.
DERIVE_SHARE = 0.1


def derived(
    conn: Connection,
    row: Row[Any],
    meta_graph: MetaGraphDef,
    data: bytes | None,
    *,
    body: bytes | None = None,
) -> ImportForm | None:
    """The import form of the version ``row`` (its content ``data``, or its framed nodes
    ``body``, if the caller has them; parsed as ``meta_graph``, which is left as it is),
    derived from the stored form of the nearest other version of its graph whose nodes differ
    at few positions (:func:`mgstore.export.imported.derive_form`): only those nodes are
    normalised. None if there is no such version or the form cannot be derived (the caller
    computes it in full). The other version's form is checked against its hash and its nodes
    read at those positions against their rows' hashes; anything amiss there gives None, not
    an error."""
    try:
        return _derived(conn, row, meta_graph, data, body)
    except MgstoreError:
        return None


def _derived(
    conn: Connection,
    row: Row[Any],
    meta_graph: MetaGraphDef,
    data: bytes | None,
    body: bytes | None,
) -> ImportForm | None:
    near = conn.execute(
        select(V)
        .join(F, F.c.content_hash == V.c.content_hash)
        .where(V.c.graph_id == row.graph_id, V.c.id != row.id, F.c.form_version == FORM_VERSION)
        .order_by(func.abs(V.c.number - row.number), V.c.number.desc())
        .limit(1)
    ).first()
    stored = None if near is None else versions.import_form(conn, near, FORM_VERSION)
    if near is None or stored is None:
        return None
    try:
        form = ImportForm.from_bytes(stored)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    now, then = read_order(conn, row), read_order(conn, near)
    if len(now) != len(then) or len(now) != 3 * len(meta_graph.graph_def.node):
        return None
    changed = _changed(now, then)
    if len(changed) > DERIVE_SHARE * len(meta_graph.graph_def.node):
        return None
    before = _nodes_at(conn, near, then, changed, meta_graph)
    if before is None:
        return None
    sizes = now[2::3]
    scan = (
        colocation_scan(data, sizes)
        if data is not None
        else None
        if body is None
        else colocation_scan(body, sizes, nodes_at=0)
    )
    return derive_form(meta_graph, form, changed, before, colocated=scan)


def _changed(now: Sequence[int], then: Sequence[int], step: int = 48) -> list[int]:
    """The positions at which two node orders (flat location triples) differ, compared a
    block of 16 nodes at a time (one C-level comparison per block)."""
    found: set[int] = set()
    for start in range(0, len(now), step):
        if now[start : start + step] != then[start : start + step]:
            end = min(start + step, len(now))
            found.update(k // 3 for k in range(start, end) if now[k] != then[k])
    return sorted(found)


def _nodes_at(
    conn: Connection,
    row: Row[Any],
    order: Sequence[int],
    positions: Sequence[int],
    meta_graph: MetaGraphDef,
) -> list[NodeDef] | None:
    """The version ``row``'s NodeDefs at these stored positions (its ``order``), each checked
    against its row's hash; they are looked up by the names ``meta_graph`` has there, and
    None if a position holds no such node."""
    nodes = meta_graph.graph_def.node
    names = sorted({nodes[i].name for i in positions})
    found: dict[tuple[int, int], tuple[Any, ...]] = {}
    columns = select(N.c.pack_id, N.c.offset, N.c.length, N.c.sha256)
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        query = columns.where(
            in_version(N, row.graph_id, row.number), names_in(conn, N.c.name_id, chunk)
        )
        for r in conn.execute(query):
            found[(r[0], r[1])] = tuple(r)
    located = []
    for i in positions:
        hit = found.get((order[3 * i], order[3 * i + 1]))
        if hit is None:
            return None
        located.append(hit)
    pieces = pack_slices(conn, [(h[0], h[1], h[2]) for h in located])
    out = []
    for hit, piece in zip(located, pieces, strict=True):
        try:
            node = byte_layout.unframe(piece)
        except ValueError:  # e.g. its pack is gone (a collected version)
            return None
        if hashlib.sha256(node).digest() != bytes(hit[3]):
            return None
        out.append(NodeDef.FromString(bytes(node)))
    return out

"""``fsck``: every stored version checked end to end, and the audit log.

For each version: its bytes against its content hash, the bytes that went in (rebuilt from
their delta) against their recorded hash, and its debug info against its debug hash; every
node row's bytes against the row's hash, its indexed columns (name, op, device) and edge rows
against the NodeDef, and the rows against the version's node order; each collection's blob
against its key and its member list against the blob (and its digest); the stored import
form against its hash and, with ``deep``, against a recomputation; the stored outline against
its hashes and a recomputation from the version's bytes. Then the audit log
(:func:`mgstore.audit.check_chain`), which also compares version rows and tags with their
records. Each problem names the version it was found in. See docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from mgstore import audit, byte_layout, node_order
from mgstore import collections as colls
from mgstore.db import engine as db
from mgstore.db import orders as stored_orders
from mgstore.db import outlines, versions
from mgstore.db import refs as version_refs
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import FsckProblem, FsckReport
from mgstore.errors import IntegrityError, InvalidGraphError
from mgstore.export.imported import FORM_VERSION, import_meta_graph
from mgstore.graph import parse_input
from mgstore.proto import CollectionDef, MetaGraphDef, NodeDef

_CHUNK = 500


def fsck(engine: Engine, refs: list[str] | None, *, deep: bool = False) -> FsckReport:
    """Check the versions ``refs`` name (every version if None) and the audit log."""
    with db.transaction(engine) as conn:
        if refs is None:
            collected = select(S.c.version_id).where(S.c.collected_at.is_not(None))
            rows = conn.execute(  # gc removed the content of collected versions on purpose
                select(V, G.c.name.label("graph_name"))
                .join(G, G.c.id == V.c.graph_id)
                .where(V.c.id.not_in(collected))
                .order_by(G.c.name, V.c.number)
            ).all()
            targets = [(f"{r.graph_name}@{r.number}", int(r.id)) for r in rows]
        else:
            targets = []
            for ref in refs:
                row = version_refs.resolve(conn, ref)
                targets.append((version_refs.version_ref(conn, row), row.id))
    problems: list[FsckProblem] = []
    for ref, version_id in targets:
        with db.transaction(engine) as conn:  # one short transaction per version
            row = conn.execute(select(V).where(V.c.id == version_id)).one()
            problems.extend(
                FsckProblem(ref, kind, detail) for kind, detail in _version(conn, row, deep)
            )
    with db.transaction(engine) as conn:
        chain = audit.check_chain(conn)
    wanted = {ref for ref, _ in targets}
    for problem in chain.problems:
        if refs is None or problem.ref is None or problem.ref in wanted:
            problems.append(FsckProblem(problem.ref, "audit", str(problem)))
    return FsckReport(tuple(ref for ref, _ in targets), tuple(problems), deep)


Found = Iterator[tuple[str, str]]  # (kind, detail)


def _version(conn: Connection, row: Row[Any], deep: bool) -> Found:
    data: bytes | None = None
    try:
        data = versions.assemble(conn, row)
    except IntegrityError as error:
        yield "content", _reason(error)
    try:
        versions.version_bytes(conn, row, graph=False)
    except IntegrityError as error:
        yield "debug", _reason(error)
    if data is not None:
        try:  # the bytes that went in, from their delta (docs/storage.md §10)
            versions.form_bytes(conn, row, data)
        except IntegrityError as error:
            yield "original", _reason(error)
    yield from _nodes(conn, row)
    yield from _collections(conn, row)
    yield from _import_form(conn, row, data if deep else None)
    yield from _outline(conn, row, data)


def _order_digest(row: Row[Any], order: list[tuple[int, int, int]]) -> Found:
    """A node order stored as a delta against the digest it carries (what the version's
    audit record keeps, docs/storage.md §4); a whole order is its own digest."""
    data = bytes(row.node_order)
    if node_order.base_of(data) is None:
        return
    whole = node_order.encode(node_order.flat(order))
    if hashlib.sha256(whole).digest() != node_order.digest(data):
        yield "order", "its node order does not match the digest its delta carries"


def _reason(error: IntegrityError) -> str:
    """The error's message without the version (the line names it) and the advice."""
    text = str(error).split("; the store is damaged")[0]
    ref, sep, rest = text.partition(": ")
    return rest if sep and "@" in ref and " " not in ref else text


def _nodes(conn: Connection, row: Row[Any]) -> Found:
    rows = conn.execute(
        select(
            N.c.id,
            N.c.name_id,
            NM.c.name,
            versions.OPS.c.name.label("op"),
            versions.DEVICES.c.name.label("device"),
            N.c.sha256,
            N.c.pack_id,
            N.c.offset,
            N.c.length,
            N.c.edges_from,
        )
        .select_from(versions.described())
        .where(versions.in_version(N, row.graph_id, row.number))
    ).all()
    located = {(r.pack_id, r.offset, r.length) for r in rows}
    try:
        order = node_order.locations(stored_orders.read_order(conn, row, cached=False))
    except IntegrityError as error:
        yield "order", _reason(error)
        order = []
    else:
        yield from _order_digest(row, order)
    if len(order) != row.node_count or set(order) != located:
        yield (
            "nodes",
            (
                f"its node rows ({len(rows)}) do not match its node order ({len(order)} nodes, "
                f"{row.node_count} recorded)"
            ),
        )
    try:
        packs = versions.pack_data(conn, {r.pack_id for r in rows}, complete=False)
    except IntegrityError as error:
        yield "node", _reason(error)
        return
    edges = _edges(conn, [int(r.edges_from or r.id) for r in rows])
    yield from _shared_edges(conn, rows, row.graph_id)
    for r in rows:
        pack = packs.get(r.pack_id)
        if pack is None:
            yield "node", f"node {r.name!r}: its pack {r.pack_id} is missing"
            continue
        try:
            body = byte_layout.unframe(pack[r.offset : r.offset + r.length])
        except ValueError:
            yield "node", f"node {r.name!r}: its stored bytes are not a framed NodeDef"
            continue
        if hashlib.sha256(body).digest() != bytes(r.sha256):
            yield "node", f"node {r.name!r}: its stored bytes do not match its hash"
            continue
        node = NodeDef.FromString(bytes(body))
        for column, indexed, actual in (("name", r.name, node.name), ("op", r.op, node.op),
                                        ("device", r.device, node.device)):  # fmt: skip
            if indexed != actual:
                yield (
                    "index",
                    (
                        f"node {node.name!r}: indexed {column} {indexed!r}, but its content says "
                        f"{actual!r}"
                    ),
                )
        stored = edges.get(int(r.edges_from or r.id), [])
        wanted = [_edge(text) for text in node.input]
        if stored != wanted:
            yield "edges", f"node {node.name!r}: its edge rows do not match its inputs"


_Edge = tuple["str | None", int, bool]  # source name (its ``names`` row's), output, control


def _edge(text: str) -> _Edge:
    return parse_input(text)


def _edges(conn: Connection, node_ids: list[int]) -> dict[int, list[_Edge]]:
    found: dict[int, list[tuple[int, _Edge]]] = {}
    columns = (E.c.node_id, E.c.slot, NM.c.name, E.c.src_output, E.c.control)
    rows = E.outerjoin(NM, NM.c.id == E.c.src_id)
    for i in range(0, len(node_ids), _CHUNK):
        for node_id, slot, src, output, control in conn.execute(
            select(*columns).select_from(rows).where(E.c.node_id.in_(node_ids[i : i + _CHUNK]))
        ):
            found.setdefault(int(node_id), []).append((slot, (src, int(output), bool(control))))
    return {k: [edge for _, edge in sorted(v)] for k, v in found.items()}


def _shared_edges(conn: Connection, rows: Sequence[Any], graph_id: int) -> Found:
    """Rows that use another row's edges (docs/storage.md §3.5): that row must be one of
    their graph under their name, with edges of its own, or closures would miss them."""
    sharing = [r for r in rows if r.edges_from]
    for i in range(0, len(sharing), _CHUNK):
        chunk = sharing[i : i + _CHUNK]
        found = {
            int(o.id): o
            for o in conn.execute(
                select(N.c.id, N.c.name_id, N.c.graph_id, N.c.edges_from).where(
                    N.c.id.in_(sorted({int(r.edges_from) for r in chunk}))
                )
            )
        }
        for r in chunk:
            o = found.get(int(r.edges_from))
            if o is None or o.name_id != r.name_id or o.edges_from or o.graph_id != graph_id:
                yield "edges", f"node {r.name!r}: the row whose edges it uses is not its own"


def _collections(conn: Connection, row: Row[Any]) -> Found:
    rows = conn.execute(
        select(C.c.key, C.c.blob_sha256, C.c.members_sha256).where(C.c.version_id == row.id)
    ).all()
    try:
        blobs = versions.blobs(conn, [bytes(r.blob_sha256) for r in rows])
    except IntegrityError as error:
        yield "collection", _reason(error)
        blobs = versions.blobs(conn, [bytes(r.blob_sha256) for r in rows], verify=False)
    lists = versions.blobs(conn, [bytes.fromhex(r.members_sha256) for r in rows], verify=False)
    memo: dict[tuple[Any, bytes], set[str]] = {}
    for r in rows:
        sha = bytes(r.blob_sha256)
        stored = _member_list(lists.get(bytes.fromhex(r.members_sha256)))
        if stored is None or versions.members_digest(stored) != r.members_sha256:
            yield "collection", f"collection {r.key!r}: its member list does not match its digest"
        data = blobs.get(sha)
        if data is None:
            yield "collection", f"collection {r.key!r}: its blob is missing"
            continue
        try:
            expected = sorted(colls.members(r.key, CollectionDef.FromString(data), memo))
        except Exception:  # noqa: BLE001 - a damaged blob: reported above by its hash
            continue
        if stored is not None and expected != stored:
            yield "collection", f"collection {r.key!r}: its member list does not match its content"


def _member_list(data: bytes | None) -> list[str] | None:
    """The names a stored member list holds (None if it is missing or not a list of names)."""
    if data is None:
        return None
    try:
        names = json.loads(data.decode("utf-8", "surrogatepass"))
    except ValueError:
        return None
    ok = isinstance(names, list) and all(isinstance(name, str) for name in names)
    return names if ok else None


def _import_form(conn: Connection, row: Row[Any], data: bytes | None) -> Found:
    try:
        stored = versions.import_form(conn, row, FORM_VERSION)
    except IntegrityError as error:
        yield "import_form", _reason(error)
        return
    if stored is None or data is None:
        return
    _, debug = versions.version_bytes(conn, row, graph=False)
    try:
        form = import_meta_graph(MetaGraphDef.FromString(data), debug).form
    except InvalidGraphError:
        yield "import_form", "it is stored, but the version cannot be imported"
        return
    if form is None or form.to_bytes() != stored:
        yield "import_form", "its stored import form differs from a recomputation"


def _outline(conn: Connection, row: Row[Any], data: bytes | None) -> Found:
    """The stored outline against its hashes and against a recomputation (docs/storage.md
    §11): from the version's bytes (``data``, checked against its content hash), as ingest
    made it; from its node, edge and collection rows if those bytes are damaged."""
    try:
        stored = outlines.read(conn, row)
    except IntegrityError as error:
        yield "outline", _reason(error)
        return
    if stored is None:
        yield "outline", "it has no stored outline in the format this mgstore reads"
        return
    if data is None:
        expected = outlines.from_tables(conn, row)
    else:
        meta = MetaGraphDef.FromString(data)
        nodes = meta.graph_def.node
        memo: dict[tuple[Any, bytes], set[str]] = {}
        expected = outlines.build(
            [n.name for n in nodes],
            [n.op for n in nodes],
            [n.device for n in nodes],
            [n.input for n in nodes],
            {key: colls.members(key, c, memo) for key, c in meta.collection_def.items()},
        ).shape()
    if stored != expected:
        yield "outline", "its stored outline differs from a recomputation"

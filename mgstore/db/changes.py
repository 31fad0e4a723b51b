"""What differs between two stored versions, read from the node rows' content hashes.

Two versions of one graph share the node rows whose content both hold, so the rows of one
and not the other are those closed or opened between them, two range scans of indexes; across
graphs, the (name, hash) pairs are compared. Only the differing nodes' bytes are read (a
slice of their pack each) and parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, and_, exists, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from mgstore import byte_layout
from mgstore.db.inserts import fetch_raw
from mgstore.db.prefixes import name_starts_with
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.versions import blobs, in_version, named, pack_slices
from mgstore.proto import GraphDef, MetaGraphDef

_CHUNK = 500

#: A node row as the diff needs it: id, name, content hash.
NodeRow = tuple[int, str, bytes]


def differing_rows(
    conn: Connection, a: Row[Any], b: Row[Any], scope: str | None
) -> tuple[dict[str, int], dict[str, int]]:
    """The node rows (ids by node name) whose name and content are in version row ``a`` and
    not in ``b``, and the other way round; ``scope`` keeps names at or under it."""
    if a.graph_id == b.graph_id:
        older, newer = (a, b) if a.number <= b.number else (b, a)
        closed, opened = _between(conn, older.graph_id, older.number, newer.number, scope)
        only_a, only_b = (closed, opened) if older is a else (opened, closed)
    else:
        only_a = _rows(conn, [_in(a), ~_same_in(b)], scope)
        only_b = _rows(conn, [_in(b), ~_same_in(a)], scope)
    # A node whose content came back (x, then y, then x again) has two rows with one hash.
    same = {(name, sha) for _, name, sha in only_a} & {(name, sha) for _, name, sha in only_b}
    return (
        {name: node_id for node_id, name, sha in only_a if (name, sha) not in same},
        {name: node_id for node_id, name, sha in only_b if (name, sha) not in same},
    )


def _between(
    conn: Connection, graph_id: int, older: int, newer: int, scope: str | None
) -> tuple[list[NodeRow], list[NodeRow]]:
    """The rows of version ``older`` closed before ``newer``, and those of ``newer`` opened
    after ``older`` (two range scans of the (graph, first/last version) indexes)."""
    closed = [
        N.c.graph_id == graph_id,
        N.c.last_version >= older,
        N.c.last_version < newer,
        N.c.first_version <= older,
    ]
    opened = [
        N.c.graph_id == graph_id,
        N.c.first_version > literal_column("1"),  # as ix_nodes_graph_first says, literally
        N.c.first_version > older,
        N.c.first_version <= newer,
        or_(N.c.last_version.is_(None), N.c.last_version >= newer),
    ]
    return _rows(conn, closed, scope), _rows(conn, opened, scope)


def _same_in(row: Row[Any]) -> ColumnElement[bool]:
    """The node (of the outer query) is in version ``row`` with the same content: one lookup
    of the (name, graph) index per node."""
    other = N.alias("other")
    return exists().where(
        other.c.name_id == N.c.name_id,
        other.c.sha256 == N.c.sha256,
        in_version(other, row.graph_id, row.number),
    )


def _in(row: Row[Any]) -> ColumnElement[bool]:
    return in_version(N, row.graph_id, row.number)


def _rows(conn: Connection, conditions: list[Any], scope: str | None) -> list[NodeRow]:
    if scope:
        under = or_(NM.c.name == scope, name_starts_with(conn, scope + "/"))
        conditions.append(N.c.name_id.in_(select(NM.c.id).where(under)))
    query = select(N.c.id, NM.c.name, N.c.sha256).select_from(named()).where(and_(*conditions))
    return [(i, name, bytes(sha)) for i, name, sha in fetch_raw(conn, query)]


def node_defs(conn: Connection, node_ids: Iterable[int]) -> dict[int, Any]:
    """The NodeDefs of these node rows, by row id: only their own bytes are read."""
    ids = sorted(node_ids)
    framed: dict[int, bytes] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            select(N.c.id, N.c.pack_id, N.c.offset, N.c.length).where(
                N.c.id.in_(ids[i : i + _CHUNK])
            )
        ).all()
        pieces = pack_slices(conn, [(r[1], r[2], r[3]) for r in rows])
        framed.update((int(r[0]), piece) for r, piece in zip(rows, pieces, strict=True))
    order = sorted(framed)
    parsed = GraphDef.FromString(b"".join(framed[k] for k in order)).node
    return dict(zip(order, parsed, strict=True))


def frame(conn: Connection, row: Row[Any]) -> Any:
    """A version's MetaGraphDef without its nodes (meta_info_def, library, collections...)."""
    parts = blobs(conn, [row.head_sha256, row.graph_tail_sha256, row.tail_sha256])
    data = byte_layout.assemble(
        parts[row.head_sha256],
        parts[row.graph_tail_sha256],
        parts[row.tail_sha256],
        row.has_graph_def,
        b"",
    )
    return MetaGraphDef.FromString(data)

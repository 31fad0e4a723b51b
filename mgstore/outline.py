"""A version's outline: node names, ops, devices, edges and collection membership, from the
indexed columns of the node and edge tables, never from NodeDef bytes.

A picture of a scope, a scope tree or a node list needs only these; reading them is several
times cheaper than decoding the version's NodeDefs.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import repeat
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Row, and_, select

from mgstore.db.inserts import fetch_raw
from mgstore.db.models import Base
from mgstore.db.versions import in_version
from mgstore.entities import Outline, VersionInfo

_TABLES = Base.metadata.tables
N, E = _TABLES["nodes"], _TABLES["edges"]
C, CM = _TABLES["collections"], _TABLES["collection_members"]


def read_outline(conn: Connection, row: Row[Any], info: VersionInfo) -> Outline:
    """The outline of the version in ``row`` (a ``versions`` row), read in ``conn``."""
    in_row = in_version(N, row.graph_id, row.number)
    # Plain tuples from the driver: SQLAlchemy's per-row processing is most of the cost here.
    rows = fetch_raw(conn, select(N.c.name, N.c.op, N.c.device, N.c.id).where(in_row))
    columns = [list(column) for column in zip(*rows, strict=True)] if rows else [[], [], [], []]
    order = sorted(range(len(rows)), key=columns[0].__getitem__)
    names, ops, devices, ids = ([column[i] for i in order] for column in columns)
    index = {name: i for i, name in enumerate(names)}
    by_id = {node_id: i for i, node_id in enumerate(ids)}
    inputs = fetch_raw(
        conn,
        select(E.c.src_name, E.c.node_id, E.c.control)
        .select_from(E.join(N, N.c.id == E.c.node_id))
        .where(in_row),
    )
    # Column at a time, with C-level maps: a Python loop here is most of the cost at 100k edges.
    srcs, dsts, controls = [list(c) for c in zip(*inputs, strict=True)] if inputs else [[], [], []]
    producers = map(index.get, srcs, repeat(-1))  # -1: an input naming no node of the version
    consumers = map(by_id.__getitem__, dsts)
    edges = tuple(
        sorted(e for e in zip(producers, consumers, map(bool, controls), strict=True) if e[0] >= 0)
    )
    members: defaultdict[str, list[str]] = defaultdict(list)
    for key, name in conn.execute(
        select(CM.c.key, CM.c.node_name)
        .join(C, and_(C.c.blob_sha256 == CM.c.blob_sha256, C.c.key == CM.c.key))
        .where(C.c.version_id == row.id)
        .order_by(CM.c.key, CM.c.node_name)
    ):
        members[key].append(name)
    return Outline(
        version=info,
        names=tuple(names),
        ops=tuple(ops),
        devices=tuple(devices),
        edges=edges,
        collections=MappingProxyType({k: tuple(v) for k, v in sorted(members.items())}),
    )

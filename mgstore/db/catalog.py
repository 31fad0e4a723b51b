"""What the store holds, as users list it: its graphs, a graph's versions (the log) and a
version's summary. Reads only; the store checks what they return against the audit chain."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, and_, exists, func, select

from mgstore import lazy
from mgstore.clock import as_utc
from mgstore.db import refs, versions
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import GraphInfo, Summary, VersionInfo

# The log (`mgstore log`) reads none of these (see mgstore.lazy).
if TYPE_CHECKING:
    from mgstore import byte_layout, proto
    from mgstore import outline as _outline
else:
    byte_layout, proto = lazy.module("mgstore.byte_layout"), lazy.module("mgstore.proto")
    _outline = lazy.module("mgstore.outline")


def graph_infos(conn: Connection, tags: Mapping[str, str] | None = None) -> list[GraphInfo]:
    """Every named graph with a version that is not deleted, by name; with ``tags`` (checked
    already), only graphs with a live version that has all of them."""
    live = ~refs.is_deleted()
    query = (
        select(
            G.c.name,
            G.c.created_at,
            func.count(V.c.id).label("versions"),
            func.max(V.c.number).label("latest"),
            func.max(V.c.created_at).label("updated"),
        )
        .join(V, V.c.graph_id == G.c.id)
        .where(live)
        .group_by(G.c.id, G.c.name, G.c.created_at)
        .order_by(G.c.name)
    )
    if tags:
        query = query.where(G.c.id.in_(select(V.c.graph_id).where(live, tagged(tags))))
    return [
        GraphInfo(r.name, int(r.versions), int(r.latest), as_utc(r.created_at), as_utc(r.updated))
        for r in conn.execute(query)
    ]


def version_rows(
    conn: Connection,
    graph_id: int,
    *,
    tags: Mapping[str, str] | None = None,
    limit: int | None = None,
    deleted: bool = False,
) -> list[Row[Any]]:
    """A graph's version rows, newest first: only those with all of ``tags`` (checked
    already), at most ``limit``, deleted ones too if ``deleted``."""
    query = select(V).where(V.c.graph_id == graph_id).order_by(V.c.number.desc())
    if not deleted:
        query = query.where(~refs.is_deleted())
    if tags:
        query = query.where(tagged(tags))
    return list(conn.execute(query.limit(limit)).all())


def tagged(tags: Mapping[str, str]) -> Any:
    """A condition on ``versions`` rows: the version has every one of these tags."""
    return and_(
        *(
            exists().where(T.c.version_id == V.c.id, T.c.key == key, T.c.value == value)
            for key, value in sorted(tags.items())
        )
    )


def summary(conn: Connection, row: Row[Any], info: VersionInfo) -> Summary:
    """Node and op counts, top-level scopes, devices, collections and signatures of the
    version ``row`` (whose checked metadata is ``info``), from its stored outline
    (docs/storage.md §11) and the blobs that frame its nodes."""
    shape = _outline.read_shape(conn, row, ("names", "ops", "devices"))
    collections = {
        r.key: int(r.size)
        for r in conn.execute(select(C.c.key, C.c.size).where(C.c.version_id == row.id))
    }
    frame = versions.blobs(conn, [row.tail_sha256, row.graph_tail_sha256])
    tail, graph_tail = frame.get(bytes(row.tail_sha256)), frame.get(bytes(row.graph_tail_sha256))
    if tail is None or graph_tail is None:
        raise refs.damaged(conn, row, "a blob that frames its nodes is missing")
    rest = proto.MetaGraphDef.FromString(tail)
    library = proto.MetaGraphDef.FromString(
        byte_layout.assemble(b"", graph_tail, b"", True, b"")
    ).graph_def
    return Summary(
        version=info,
        op_counts=MappingProxyType(dict(Counter(shape.ops).most_common())),
        scopes=MappingProxyType(
            dict(sorted(Counter(name.split("/", 1)[0] for name in shape.names).items()))
        ),
        devices=MappingProxyType(dict(Counter(shape.devices).most_common())),
        collections=MappingProxyType(collections),
        signatures=tuple(sorted(rest.signature_def)),
        functions=len(library.library.function),
        has_saver=rest.HasField("saver_def"),
        has_debug_info=row.debug_sha256 is not None,
    )

"""Reading stored versions: which node rows a version holds, and its MetaGraphDef bytes.

Shared by the store (checkout) and queries (subgraphs): a version's bytes are its framing
blobs around a body of framed NodeDefs, taken from its packs or given by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from mgstore import wire
from mgstore.db.models import Base
from mgstore.entities import VersionInfo
from mgstore.proto import GraphDebugInfo

_TABLES = Base.metadata.tables
N, P, B = (_TABLES[t] for t in ("nodes", "packs", "blobs"))
G, T = _TABLES["graphs"], _TABLES["version_tags"]
S, A = _TABLES["version_states"], _TABLES["aliases"]
_CHUNK = 500


def in_version(
    nodes: Any, graph_id: int, number: int, *, graph_index: bool = True
) -> ColumnElement[bool]:
    """The node rows (of ``nodes``, the table or an alias) that belong to version ``number``.

    ``graph_index=False`` keeps the planner off the (graph_id, op) index (``graph_id + 0`` is
    the same test, unindexed), for conditions that another index answers better.
    """
    graph = nodes.c.graph_id if graph_index else nodes.c.graph_id + 0
    return and_(
        graph == graph_id,
        nodes.c.first_version <= number,
        or_(nodes.c.last_version.is_(None), nodes.c.last_version >= number),
    )


def blobs(conn: Connection, shas: list[bytes]) -> dict[bytes, bytes]:
    """The data of the blobs with these hashes."""
    rows = conn.execute(select(B.c.sha256, B.c.data).where(B.c.sha256.in_(shas)))
    return {sha: data for sha, data in rows}


def assemble(conn: Connection, row: Row[Any], body: bytes | None = None) -> bytes:
    """The deterministic MetaGraphDef bytes of a version (a ``versions`` row).

    ``body`` (framed NodeDefs) replaces the version's own nodes, for a subgraph; without it the
    nodes come from the version's packs, joined by contiguous runs.
    """
    if body is None:
        runs = wire.unpack_runs(row.node_order)
        packs = _packs(conn, {pack for pack, _, _ in runs})
        body = b"".join([packs[pack][offset : offset + length] for pack, offset, length in runs])
    frame = blobs(conn, [row.head_sha256, row.graph_tail_sha256, row.tail_sha256])
    return wire.assemble(
        frame[row.head_sha256],
        frame[row.graph_tail_sha256],
        frame[row.tail_sha256],
        row.has_graph_def,
        body,
    )


def body_chunks(
    conn: Connection,
    row: Row[Any],
    order: Sequence[int] | None,
    patches: Mapping[int, bytes],
) -> list[bytes | memoryview]:
    """A version's framed NodeDefs, reordered and patched, as slices of its packs.

    ``order`` lists stored positions in the wanted order (None: as stored); ``patches``
    replaces the NodeDef at a position of that order with other (unframed) bytes. Adjacent
    stored bytes are one slice, so the result is a few chunks per patch, not one per node.
    """
    locations = wire.unpack_locations(row.node_order)
    packs = _packs(conn, {pack for pack, _, _ in locations})
    chunks: list[bytes | memoryview] = []
    run_pack, run_start, run_end = -1, 0, 0
    for pos, i in enumerate(range(len(locations)) if order is None else order):
        patch = patches.get(pos)
        if patch is None:
            pack, offset, length = locations[i]
            if pack == run_pack and offset == run_end:
                run_end += length
                continue
            if run_pack >= 0:
                chunks.append(packs[run_pack][run_start:run_end])
            run_pack, run_start, run_end = pack, offset, offset + length
        else:
            if run_pack >= 0:
                chunks.append(packs[run_pack][run_start:run_end])
            run_pack = -1
            chunks.append(wire.frame(patch))
    if run_pack >= 0:
        chunks.append(packs[run_pack][run_start:run_end])
    return chunks


def _packs(conn: Connection, pack_ids: Iterable[int]) -> dict[int, memoryview]:
    """The data of these packs, by id, read in batches."""
    ids = sorted(pack_ids)
    packs: dict[int, memoryview] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(P.c.id, P.c.data).where(P.c.id.in_(ids[i : i + _CHUNK])))
        packs.update((pack_id, memoryview(data)) for pack_id, data in rows)
    return packs


def version_info(conn: Connection, row: Row[Any], name: str | None = None) -> VersionInfo:
    """The user-facing record of a ``versions`` row (``name``: its graph's, if known)."""
    if name is None:
        name = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar_one()
    tags = {
        r.key: r.value
        for r in conn.execute(select(T.c.key, T.c.value).where(T.c.version_id == row.id))
    }
    state = conn.execute(
        select(S.c.deleted_at, S.c.collected_at).where(S.c.version_id == row.id)
    ).first()
    aliases = tuple(
        sorted(conn.execute(select(A.c.name).where(A.c.version_id == row.id)).scalars())
    )
    created = row.created_at
    return VersionInfo(
        name=name,
        number=int(row.number),
        content_hash=row.content_hash,
        created_at=created if created.tzinfo else created.replace(tzinfo=timezone.utc),
        created_by=row.created_by,
        message=row.message,
        tags=MappingProxyType(tags),
        node_count=int(row.node_count),
        size=int(row.size),
        debug_hash=row.debug_hash,
        source_path=row.source_path,
        source_sha256=row.source_sha256,
        source_format=row.source_format,
        deleted_at=None if state is None else _utc(state.deleted_at),
        collected=state is not None and state.collected_at is not None,
        aliases=aliases,
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def version_bytes(
    conn: Connection, row: Row[Any], *, graph: bool = True, debug: bool = True
) -> tuple[bytes, GraphDebugInfo | None]:
    """A version's MetaGraphDef bytes (``b""`` without ``graph``) and its stored debug info
    (None without ``debug`` or if it has none)."""
    data = assemble(conn, row) if graph else b""
    if not debug or row.debug_sha256 is None:
        return data, None
    return data, GraphDebugInfo.FromString(blobs(conn, [row.debug_sha256])[row.debug_sha256])

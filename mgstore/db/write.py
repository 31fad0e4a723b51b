"""Writing a version: its node rows, edges, packs, collections and version row, in one
transaction (see :mod:`mgstore.db.models` for the layout).

:func:`write_version` is what :meth:`mgstore.Store.ingest` runs once the graph is split
(:func:`mgstore.wire.split`); content already stored is found by hash and not written again.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update

from mgstore import collections as colls
from mgstore import graph as nxgraph
from mgstore import io, wire
from mgstore.db import engine as db
from mgstore.db.inserts import executemany, fetch_raw, insert_blobs, insert_ignore
from mgstore.db.models import Base

__all__ = ["write_version", "write_collections"]

_ROW_BATCH = 8192
_PACK_BYTES = 256 * 1024
_NODE_COLUMNS = (
    "id",
    "graph_id",
    "name",
    "op",
    "device",
    "sha256",
    "pack_id",
    "offset",
    "length",
    "first_version",
)
_EDGE_COLUMNS = ("node_id", "slot", "src_name", "src_output", "control")
_CHUNK = 500

_TABLES = Base.metadata.tables
B, G, V, N, E = (_TABLES[t] for t in ("blobs", "graphs", "versions", "nodes", "edges"))
P = _TABLES["packs"]
C, CM, T = (_TABLES[t] for t in ("collections", "collection_members", "version_tags"))


def write_version(
    engine: Engine,
    name: str,
    stored: wire.StoredGraph,
    message: str | None,
    tags: dict[str, str],
    loaded: io.Loaded | None,
) -> int:
    now = datetime.now(timezone.utc)
    with db.transaction(engine, write=True) as conn:
        graph_id = _lock_graph(conn, name, now)
        latest = conn.execute(
            select(V).where(V.c.graph_id == graph_id).order_by(V.c.number.desc()).limit(1)
        ).first()
        if (
            latest is not None
            and latest.content_hash == stored.content_hash
            and latest.debug_hash == stored.debug_hash
        ):
            return int(latest.id)
        number = 1 if latest is None else latest.number + 1
        # Collections are prepared in a worker while the nodes are written.
        with ThreadPoolExecutor(max_workers=1) as worker:
            collections = worker.submit(_prepare_collections, stored.collections)
            locations = _write_nodes(conn, graph_id, number, stored)
            prepared = collections.result()
        parts = [stored.head, stored.graph_tail, stored.tail]
        if stored.debug is not None:
            parts.append(stored.debug)
        insert_blobs(conn, ((wire.sha256(p), p) for p in parts))
        version_id = conn.execute(
            V.insert().returning(V.c.id),
            {
                "graph_id": graph_id,
                "number": number,
                "content_hash": stored.content_hash,
                "debug_hash": stored.debug_hash,
                "message": message,
                "created_at": now,
                "created_by": _whoami(),
                "node_count": len(stored.nodes),
                "size": stored.size,
                "node_order": wire.pack_locations(locations),
                "has_graph_def": stored.has_graph_def,
                "head_sha256": wire.sha256(stored.head),
                "graph_tail_sha256": wire.sha256(stored.graph_tail),
                "tail_sha256": wire.sha256(stored.tail),
                "debug_sha256": None if stored.debug is None else wire.sha256(stored.debug),
                "source_path": None if loaded is None or loaded.path is None else str(loaded.path),
                "source_sha256": None if loaded is None else loaded.sha256,
                "source_format": None if loaded is None else loaded.format,
            },
        ).scalar_one()
        if tags:
            conn.execute(
                T.insert(),
                [{"version_id": version_id, "key": k, "value": v} for k, v in sorted(tags.items())],
            )
        write_collections(conn, version_id, prepared)
        return int(version_id)


def _lock_graph(conn: Connection, name: str, now: datetime) -> int:
    """The graph's id, creating it if need be, locked against concurrent version writes."""
    conn.execute(insert_ignore(conn, G, ["name"]), {"name": name, "created_at": now})
    query = select(G.c.id).where(G.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return int(conn.execute(query).scalar_one())


def _write_nodes(
    conn: Connection, graph_id: int, number: int, stored: wire.StoredGraph
) -> list[tuple[int, int, int]]:
    """Close the rows of nodes that changed, add rows (and packs) for new ones.

    Returns each node's location (pack, offset, length), in graph order. Rows are matched
    by content hash: within one version, identical bytes mean the same node.
    """
    nodes = stored.nodes
    current = {
        sha: (node_id, (pack, offset, length))
        for node_id, sha, pack, offset, length in fetch_raw(
            conn,
            select(N.c.id, N.c.sha256, N.c.pack_id, N.c.offset, N.c.length).where(
                N.c.graph_id == graph_id, N.c.last_version.is_(None)
            ),
        )
    }
    incoming = set(nodes.shas)
    closing = sorted(node_id for sha, (node_id, _) in current.items() if sha not in incoming)
    for i in range(0, len(closing), _CHUNK):
        conn.execute(
            update(N).where(N.c.id.in_(closing[i : i + _CHUNK])).values(last_version=number - 1)
        )
    fresh = [i for i, sha in enumerate(nodes.shas) if sha not in current]
    known = {sha: location for sha, (_, location) in current.items()}
    if not fresh:
        return [known[sha] for sha in nodes.shas]
    wanted = {nodes.shas[i]: nodes.names[i] for i in fresh}
    known.update(_locate(conn, graph_id, bool(current), wanted))
    # New content goes into packs of at most _PACK_BYTES (cut at node boundaries), so that
    # reading one node never means reading a huge value.
    segments: list[list[bytes]] = []
    size = _PACK_BYTES
    unplaced: dict[bytes, tuple[int, int, int]] = {}
    for i in fresh:
        sha = nodes.shas[i]
        if sha not in known and sha not in unplaced:
            framed = nodes.framed[i]
            if size + len(framed) > _PACK_BYTES and size:
                segments.append([])
                size = 0
            unplaced[sha] = (len(segments) - 1, size, len(framed))
            segments[-1].append(framed)
            size += len(framed)
    if segments:
        pack_ids = _reserve_ids(conn, P, len(segments))
        executemany(
            conn,
            P.insert(),
            ("id", "data"),
            [
                (pack_id, b"".join(chunks))
                for pack_id, chunks in zip(pack_ids, segments, strict=True)
            ],
        )
        known.update(
            (sha, (pack_ids[k], off, length)) for sha, (k, off, length) in unplaced.items()
        )
    ids = _reserve_ids(conn, N, len(fresh))

    def rows(start: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        batch = range(start, min(start + _ROW_BATCH, len(fresh)))
        node_rows: list[tuple[Any, ...]] = []
        edge_rows: list[tuple[Any, ...]] = []
        parse = nxgraph.parse_input
        for k in batch:
            i, node_id = fresh[k], ids[k]
            sha = nodes.shas[i]
            node_rows.append(
                (
                    node_id,
                    graph_id,
                    nodes.names[i],
                    nodes.ops[i],
                    nodes.devices[i],
                    sha,
                    *known[sha],
                    number,
                )
            )
            edge_rows.extend(
                (node_id, slot, *parse(text)) for slot, text in enumerate(nodes.defs[i].input)
            )
        return node_rows, edge_rows

    # Rows of the next batch are built in a worker thread while the database inserts the
    # current one (the driver releases the GIL while it writes): two cores, half the wait.
    with ThreadPoolExecutor(max_workers=1) as worker:
        for node_rows, edge_rows in worker.map(rows, range(0, len(fresh), _ROW_BATCH)):
            executemany(conn, N.insert(), _NODE_COLUMNS, node_rows)
            executemany(conn, E.insert(), _EDGE_COLUMNS, edge_rows)
    return [known[sha] for sha in nodes.shas]


def _locate(
    conn: Connection, graph_id: int, has_rows: bool, wanted: Mapping[bytes, str]
) -> dict[bytes, tuple[int, int, int]]:
    """Where the store already holds NodeDefs with these hashes (content addressing).

    ``wanted`` maps each hash to its node's name: equal bytes mean an equal name, so the
    name index finds the candidates and the full hash decides.
    """
    if not has_rows and conn.execute(select(N.c.id).limit(1)).first() is None:
        return {}  # the store holds no nodes at all: nothing could match
    found: dict[bytes, tuple[int, int, int]] = {}
    pairs = sorted((name, sha) for sha, name in wanted.items())
    for i in range(0, len(pairs), _CHUNK):
        chunk = pairs[i : i + _CHUNK]
        rows = conn.execute(
            select(N.c.sha256, N.c.pack_id, N.c.offset, N.c.length).where(
                N.c.name.in_([name for name, _ in chunk]),
                N.c.sha256.in_([sha for _, sha in chunk]),
            )
        )
        found.update(
            (sha, (pack, offset, length)) for sha, pack, offset, length in rows if sha in wanted
        )
    return found


def write_collections(conn: Connection, version_id: int, prepared: _PreparedCollections) -> None:
    rows, blobs, members = prepared
    if not rows:
        return
    for row in rows:
        row["version_id"] = version_id
    shas = list(blobs)
    stored = set(conn.execute(select(B.c.sha256).where(B.c.sha256.in_(shas))).scalars())
    # Members depend on the bytes and the key; pairs kept by earlier versions have theirs.
    known = {
        (sha, key)
        for sha, key in conn.execute(
            select(C.c.blob_sha256, C.c.key).distinct().where(C.c.blob_sha256.in_(shas))
        )
    }
    insert_blobs(conn, ((sha, data) for sha, data in blobs.items() if sha not in stored))
    conn.execute(C.insert(), rows)
    executemany(
        conn,
        insert_ignore(conn, CM, ["blob_sha256", "key", "node_name"]),
        ("blob_sha256", "key", "node_name"),
        [member for member in members if (member[0], member[1]) not in known],
    )


_PreparedCollections = tuple[list[dict[str, Any]], dict[bytes, bytes], list[tuple[bytes, str, str]]]


def _prepare_collections(collections: Mapping[str, Any]) -> _PreparedCollections:
    """Rows, blobs and (sorted) member rows of a version's collections; no database needed."""
    rows: list[dict[str, Any]] = []
    blobs: dict[bytes, bytes] = {}
    members: set[tuple[bytes, str, str]] = set()
    for key, collection in sorted(collections.items()):
        data = io.serialize(collection)
        sha = wire.sha256(data)
        blobs[sha] = data
        rows.append(
            {
                "key": key,
                "kind": colls.kind(collection),
                "size": colls.size(collection),
                "blob_sha256": sha,
            }
        )
        members.update((sha, key, name) for name in colls.members(key, collection))
    return rows, blobs, sorted(members)


def _reserve_ids(conn: Connection, table: Any, count: int) -> list[int]:
    """``count`` fresh primary keys of ``table``, so rows can refer to them without a read-back."""
    if conn.dialect.name == "postgresql":
        return list(
            conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:table, 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"table": table.name, "n": count},
            ).scalars()
        )
    # SQLite: writes hold the database lock (BEGIN IMMEDIATE), so nobody else takes ids.
    start = conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


def _whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"

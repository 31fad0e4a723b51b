"""Garbage collection: remove the content that only deleted versions use.

A node row is kept while some version that is not deleted lies in its range of versions,
or a row kept uses its edges;
a pack while some node row points into it; a blob (a frame, debug info, a collection or its
member list, the delta of a version's original bytes) while a version row, a collection or
an export record names it; an import form while a live version has its content hash; an
outline part while the outline of a version not collected uses it or builds on it (a delta's
base, docs/storage.md §11). What is
left of a collected version is its ``versions`` row (and the small blobs that frame it), so
that audit records of its exports keep their reference and still verify their files.

GC holds the versions lock exclusively (:func:`mgstore.db.lifecycle.lock_versions`;
SQLite's write lock does the same), so no ingest can pick content to share while GC removes
it.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, LargeBinary, delete, func, select, update

from mgstore import node_order
from mgstore.db.lifecycle import lock_versions, record_lifecycle_event
from mgstore.db.outlines import DELTA_PARTS, PARTS, delta_base
from mgstore.db.refs import graph_name, is_deleted
from mgstore.db.tables import BLOBS as B
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.db.tables import NODES as N
from mgstore.db.tables import OUTLINE_PARTS as OP
from mgstore.db.tables import PACKS as P
from mgstore.db.tables import VERSION_OUTLINES as VO
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import GcReport

_CHUNK = 500
_HEAD = 41  # the bytes of a stored node order that name its base (mgstore.node_order)
# The first bytes of an outline part: they hold its first line, which names its base (at most
# 91 bytes, deflated: a block's code tables take under 320 bytes, a literal at most 15 bits).
_OUTLINE_HEAD = 1024


def collect(conn: Connection, *, dry_run: bool = False) -> GcReport:
    """Collect every deleted version not collected yet; what was (or would be) freed."""
    lock_versions(conn, exclusive=True)
    states = select(S.c.version_id).where(S.c.collected_at.is_(None))
    if conn.dialect.name == "postgresql":
        states = states.with_for_update()
    victim_ids = list(conn.execute(states).scalars())
    victims = conn.execute(
        select(V).where(V.c.id.in_(victim_ids)).order_by(V.c.graph_id, V.c.number)
    ).all() if victim_ids else []  # fmt: skip
    node_ids: list[int] = []
    for graph_id in sorted({v.graph_id for v in victims}):
        node_ids.extend(_dead_rows(conn, graph_id))
    pack_ids = _dead_packs(conn, node_ids)
    cleared = _cleared(conn, victims)
    blob_shas = _dead_blobs(conn, victims, cleared)
    forms = _dead_forms(conn, victims)
    report = GcReport(
        versions=tuple(f"{graph_name(conn, v.graph_id)}@{v.number}" for v in victims),
        node_rows=len(node_ids),
        edges=_count(conn, E, E.c.node_id, node_ids),
        packs=len(pack_ids),
        pack_bytes=_bytes(conn, P, P.c.id, pack_ids),
        blobs=len(blob_shas),
        blob_bytes=_bytes(conn, B, B.c.sha256, blob_shas),
        import_forms=len(forms),
        order_bytes=sum(len(v.node_order) for v in cleared),
        dry_run=dry_run,
    )
    if dry_run or not victims:
        return report
    # The victims are marked collected first: on PostgreSQL, the guards of a writer role
    # (docs/postgres-roles.md) let only collected versions lose their content.
    ids = [v.id for v in victims]
    for chunk in _chunks(ids):
        conn.execute(
            update(S)
            .where(S.c.version_id.in_(chunk))
            .values(collected_at=datetime.now(timezone.utc))
        )
    _delete(conn, E, E.c.node_id, node_ids)
    _delete(conn, N, N.c.id, node_ids)
    _delete(conn, P, P.c.id, pack_ids)
    for chunk in _chunks([v.id for v in cleared]):
        conn.execute(
            update(V)
            .where(V.c.id.in_(chunk))
            .values(node_order=b"", debug_sha256=None, original_delta_sha256=None)
        )
    _delete(conn, C, C.c.version_id, ids)
    _delete_outlines(conn, ids)
    _delete(conn, B, B.c.sha256, blob_shas)
    for content_hash in forms:
        conn.execute(delete(F).where(F.c.content_hash == content_hash))
    data = report.to_dict()
    del data["dry_run"]
    record_lifecycle_event(conn, "gc", data)
    return report


def _dead_rows(conn: Connection, graph_id: int) -> list[int]:
    """The graph's node rows whose range of versions holds no live version."""
    live = sorted(
        conn.execute(select(V.c.number).where(V.c.graph_id == graph_id, ~is_deleted())).scalars()
    )
    rows = conn.execute(
        select(N.c.id, N.c.first_version, N.c.last_version, N.c.edges_from).where(
            N.c.graph_id == graph_id
        )
    )
    dead = []
    shared: set[int] = set()  # rows whose edges a row that stays uses (docs/storage.md §3.5)
    for node_id, first, last, edges_from in rows:
        k = bisect_left(live, first)  # the first live version at or after the row's first
        if k == len(live) or (last is not None and live[k] > last):
            dead.append(int(node_id))
        elif edges_from:
            shared.add(int(edges_from))
    return [node_id for node_id in dead if node_id not in shared]


def _dead_packs(conn: Connection, node_ids: Sequence[int]) -> list[int]:
    """The packs the dead rows point into that no other node row points into."""
    candidates: set[int] = set()
    for chunk in _chunks(node_ids):
        candidates.update(conn.execute(select(N.c.pack_id).where(N.c.id.in_(chunk))).scalars())
    dead_rows = set(node_ids)
    used: set[int] = set()
    for chunk in _chunks(sorted(candidates)):
        rows = conn.execute(select(N.c.id, N.c.pack_id).where(N.c.pack_id.in_(chunk)))
        used.update(pack for node_id, pack in rows if node_id not in dead_rows)
    return sorted(candidates - used)


def _cleared(conn: Connection, victims: Sequence[Any]) -> list[Any]:
    """The version rows whose node order, debug info and original's delta gc clears: the
    victims', and those of versions collected before, in the victims' graphs, whose order
    was kept, unless the order of a version not collected still builds on theirs (a node
    order stored as a delta needs its base's, docs/storage.md §4). A kept order is cleared
    by the gc that collects the last version building on it."""
    if not victims:
        return []
    graphs = sorted({v.graph_id for v in victims})
    collected = set(
        conn.execute(select(S.c.version_id).where(S.c.collected_at.is_not(None))).scalars()
    )
    done = collected | {v.id for v in victims}
    # The first bytes of every order of the victims' graphs: whether it is a delta, and of what.
    bases = conn.execute(
        select(V.c.id, func.substr(V.c.node_order, 1, _HEAD, type_=LargeBinary)).where(
            V.c.graph_id.in_(graphs), V.c.node_order != b""
        )
    ).all()
    base_of = {vid: _base(bytes(head)) for vid, head in bases}
    needed: set[int] = set()
    for vid in base_of.keys() - done:  # the live versions' orders
        base = base_of[vid]
        while base is not None and base not in needed:
            needed.add(base)
            base = base_of.get(base)
    kept_before = sorted(vid for vid in base_of.keys() & collected if vid not in needed)
    rows = list(victims)
    for chunk in _chunks(kept_before):
        rows.extend(conn.execute(select(V).where(V.c.id.in_(chunk))).all())
    return [r for r in rows if r.node_order and r.id not in needed]


def _base(head: bytes) -> int | None:
    """The base a stored order's first bytes name (None: whole, or too damaged to say)."""
    try:
        return node_order.base_of(head)
    except ValueError:
        return None


def _dead_blobs(conn: Connection, victims: Sequence[Any], cleared: Sequence[Any]) -> list[bytes]:
    """The collection and member-list blobs of the victims, and the debug-info and
    original-delta blobs of the ``cleared`` rows, that nothing else names. (Frames stay: the
    version rows keep naming them.)"""
    ids = [v.id for v in victims]
    candidates = {
        bytes(sha)
        for v in cleared
        for sha in (v.debug_sha256, v.original_delta_sha256)
        if sha is not None
    }
    for chunk in _chunks(ids):
        for sha, members in conn.execute(
            select(C.c.blob_sha256, C.c.members_sha256).where(C.c.version_id.in_(chunk))
        ):
            candidates.update((bytes(sha), bytes.fromhex(members)))
    if not candidates:
        return []
    victim_ids, cleared_ids = set(ids), {v.id for v in cleared}
    keep: set[bytes] = set()
    shas = sorted(candidates)
    for chunk in _chunks(shas):
        for column in (V.c.head_sha256, V.c.graph_tail_sha256, V.c.tail_sha256):
            rows = conn.execute(select(V.c.id, column).where(column.in_(chunk)))
            keep.update(sha for version_id, sha in rows if version_id not in victim_ids)
        for column in (V.c.debug_sha256, V.c.original_delta_sha256):
            rows = conn.execute(select(V.c.id, column).where(column.in_(chunk)))
            keep.update(sha for version_id, sha in rows if version_id not in cleared_ids)
        rows = conn.execute(
            select(C.c.version_id, C.c.blob_sha256).where(C.c.blob_sha256.in_(chunk))
        )
        keep.update(sha for version_id, sha in rows if version_id not in victim_ids)
        keep.update(_used_lists(conn, chunk, victim_ids))
    keep.update(_export_blobs(conn))
    return sorted(candidates - keep)


def _used_lists(conn: Connection, shas: Sequence[bytes], victim_ids: set[int]) -> set[bytes]:
    """Which of ``shas`` are the member lists of collections of versions not collected now
    (docs/storage.md §5)."""
    rows = conn.execute(
        select(C.c.version_id, C.c.members_sha256).where(
            C.c.members_sha256.in_([sha.hex() for sha in shas])
        )
    )
    return {bytes.fromhex(d) for version_id, d in rows if version_id not in victim_ids}


def _export_blobs(conn: Connection) -> set[bytes]:
    """The blobs export records keep their message arguments in."""
    found: set[bytes] = set()
    for options in conn.execute(select(X.c.options)).scalars():
        for value in json.loads(options).values():
            if isinstance(value, dict) and isinstance(value.get("sha256"), str):
                found.add(bytes.fromhex(value["sha256"]))
    return found


def _dead_forms(conn: Connection, victims: Sequence[Any]) -> list[str]:
    hashes = sorted({v.content_hash for v in victims})
    if not hashes:
        return []
    victim_ids = {v.id for v in victims}
    live = set(
        conn.execute(
            select(V.c.content_hash).where(
                V.c.content_hash.in_(hashes), ~is_deleted(), V.c.id.notin_(victim_ids)
            )
        ).scalars()
    )
    stored = set(
        conn.execute(select(F.c.content_hash).where(F.c.content_hash.in_(hashes))).scalars()
    )
    return sorted(stored - live)


def _delete_outlines(conn: Connection, ids: Sequence[int]) -> None:
    """The victims' outlines, and the parts no other version's outline uses."""
    parts: set[bytes] = set()
    for chunk in _chunks(ids):
        for row in conn.execute(select(VO).where(VO.c.version_id.in_(chunk))):
            parts.update(bytes(getattr(row, part)) for part in PARTS)
    _delete(conn, VO, VO.c.version_id, ids)
    # The parts the victims' deltas build on may go too (docs/storage.md §11).
    parts |= _outline_bases(conn, parts)
    used: set[bytes] = set()
    for chunk in _chunks(sorted(parts)):
        for part in PARTS:
            column = VO.c[part]
            used.update(conn.execute(select(column).where(column.in_(chunk))).scalars())
    unused = parts - used
    if unused:  # unless a remaining delta builds on them
        remaining: set[bytes] = set()
        for part in DELTA_PARTS:
            distinct = select(VO.c[part]).distinct()
            remaining.update(bytes(sha) for sha in conn.execute(distinct).scalars())
        unused -= _outline_bases(conn, remaining)
    _delete(conn, OP, OP.c.sha256, sorted(unused))


def _outline_bases(conn: Connection, todo: set[bytes]) -> set[bytes]:
    """The outline parts that the deltas among ``todo`` build on, however far down their
    chains (docs/storage.md §11): read from each part's first bytes."""
    seen: set[bytes] = set()
    bases: set[bytes] = set()
    head = func.substr(OP.c.data, 1, _OUTLINE_HEAD, type_=LargeBinary)
    while todo:
        seen |= todo
        batch, todo = sorted(todo), set()
        for chunk in _chunks(batch):
            for data in conn.execute(select(head).where(OP.c.sha256.in_(chunk))).scalars():
                base = delta_base(bytes(data))
                if base is not None:
                    bases.add(base)
                    todo.add(base)
        todo -= seen
    return bases


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _count(conn: Connection, table: Any, column: Any, keys: Sequence[Any]) -> int:
    return sum(
        int(conn.execute(select(func.count()).select_from(table).where(column.in_(c))).scalar_one())
        for c in _chunks(keys)
    )


def _bytes(conn: Connection, table: Any, column: Any, keys: Sequence[Any]) -> int:
    return sum(
        int(
            conn.execute(
                select(func.coalesce(func.sum(func.length(table.c.data)), 0)).where(column.in_(c))
            ).scalar_one()
        )
        for c in _chunks(keys)
    )


def _delete(conn: Connection, table: Any, column: Any, keys: Sequence[Any]) -> None:
    for chunk in _chunks(keys):
        conn.execute(delete(table).where(column.in_(chunk)))

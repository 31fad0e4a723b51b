"""A version's life after ingest: aliases, tag edits, deletion and restore, and the history
of all of them.

Every change goes through :func:`record_lifecycle_event`, in the transaction that makes the
change, so the history has exactly the changes that happened. Today it appends to
``lifecycle_events`` (append-only by triggers); pointing that one function at the store's
tamper-evident audit chain is all it takes to chain these records too (docs/lifecycle.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, text, update

from mgstore.clock import as_utc
from mgstore.db.refs import LATEST, graph_id_of, graph_name
from mgstore.db.tables import ALIASES as A
from mgstore.db.tables import EXPORTS
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import LIFECYCLE_EVENTS as EVENTS
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import AliasInfo, AliasMove
from mgstore.errors import InputError, NotFoundError
from mgstore.who import user_at_host, whoami

MAX_ALIAS = 256  # aliases.name

#: The kinds of lifecycle events.
KINDS = ("alias_set", "alias_removed", "tag", "delete", "restore", "gc")

# PostgreSQL: writers that add or change versions take this advisory lock shared, gc takes it
# exclusive, so gc never removes content that a concurrent ingest is about to refer to.
# (SQLite's write transactions are serialized by BEGIN IMMEDIATE already.) A delete of packs,
# node rows or graphs takes it exclusive too, in the guard that keeps their references
# (revision 0017_pg_reference_guards, which has this number; docs/storage.md §8).
_VERSIONS_LOCK = 0x6D6773746F7265  # "mgstore"


def lock_versions(conn: Connection, *, exclusive: bool = False) -> None:
    """Hold the versions lock for this transaction (see ``_VERSIONS_LOCK``)."""
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(text(f"SELECT {function}(:key)"), {"key": _VERSIONS_LOCK})


def record_lifecycle_event(conn: Connection, kind: str, payload: Mapping[str, Any]) -> None:
    """Record one lifecycle event (an alias move, a tag change, a deletion, a restore, a GC
    run) in the caller's transaction: the one place every such record is written."""
    assert kind in KINDS, kind
    user, host = whoami()
    conn.execute(
        EVENTS.insert(),
        {
            "kind": kind,
            "graph": payload.get("graph"),
            "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str),
            "created_at": datetime.now(timezone.utc),
            "username": user,
            "hostname": host,
        },
    )
    # ...and in the one tamper-evident chain of every change (docs/audit.md), in the same
    # transaction. Imported here: the audit package builds on this one.
    from mgstore.audit.events import append_event

    append_event(conn, kind, json.loads(json.dumps(payload, default=str)))


# ------------------------------------------------------------------------------------------
# Aliases


def check_alias(alias: object) -> str:
    """An alias name, or InputError saying what one may be."""
    if not isinstance(alias, str) or not alias:
        raise InputError(f"an alias is a non-empty str; got {alias!r}")
    if len(alias) > MAX_ALIAS:
        raise InputError(f"alias {alias[:40]!r}...: at most {MAX_ALIAS} characters")
    if alias == LATEST or alias.isdigit():
        raise InputError(f"alias {alias!r}: numbers and {LATEST!r} already name versions")
    if any(c in alias for c in "@~/ \t\r\n\0") or not alias.isprintable():
        raise InputError(f"alias {alias!r}: no '@', '~', '/', spaces or control characters")
    return alias


def set_alias(conn: Connection, row: Row[Any], alias: str) -> AliasInfo:
    """Point ``alias`` of the version's graph at that version (creating or moving it)."""
    now, by = datetime.now(timezone.utc), user_at_host()
    old = conn.execute(
        select(A.c.version_id).where(A.c.graph_id == row.graph_id, A.c.name == alias)
    ).scalar()
    values = {"version_id": row.id, "updated_at": now, "updated_by": by}
    if old is None:
        conn.execute(A.insert(), {"graph_id": row.graph_id, "name": alias, **values})
    else:
        conn.execute(
            update(A).where(A.c.graph_id == row.graph_id, A.c.name == alias).values(**values)
        )
    name = graph_name(conn, row.graph_id)
    record_lifecycle_event(
        conn,
        "alias_set",
        {**_names(name, row), "alias": alias, "old": _number(conn, old)},
    )
    return AliasInfo(name, alias, int(row.number), now, by)


def remove_alias(conn: Connection, graph: str, alias: str) -> AliasMove:
    """Remove an alias; the move it makes (to None)."""
    graph_id = graph_id_of(conn, graph)
    old = conn.execute(
        select(A.c.version_id).where(A.c.graph_id == graph_id, A.c.name == alias)
    ).scalar()
    if old is None:
        raise NotFoundError(f"{graph!r} has no alias {alias!r}")
    conn.execute(delete(A).where(A.c.graph_id == graph_id, A.c.name == alias))
    number = _number(conn, old)
    record_lifecycle_event(conn, "alias_removed", {"graph": graph, "alias": alias, "old": number})
    return AliasMove(graph, alias, number, None, datetime.now(timezone.utc), user_at_host())


def aliases(conn: Connection, graph: str | None) -> list[AliasInfo]:
    query = (
        select(G.c.name.label("graph"), A.c.name, V.c.number, A.c.updated_at, A.c.updated_by)
        .join(G, G.c.id == A.c.graph_id)
        .join(V, V.c.id == A.c.version_id)
        .order_by(G.c.name, A.c.name)
    )
    if graph is not None:
        query = query.where(A.c.graph_id == graph_id_of(conn, graph))
    return [
        AliasInfo(r.graph, r.name, int(r.number), as_utc(r.updated_at), r.updated_by)
        for r in conn.execute(query)
    ]


def alias_log(conn: Connection, graph: str) -> list[AliasMove]:
    """Every move of the graph's aliases, oldest first."""
    graph_id_of(conn, graph)  # NotFoundError for an unknown graph
    rows = conn.execute(
        select(EVENTS)
        .where(EVENTS.c.graph == graph, EVENTS.c.kind.in_(["alias_set", "alias_removed"]))
        .order_by(EVENTS.c.seq)
    )
    moves = []
    for r in rows:
        payload = json.loads(r.payload)
        moves.append(
            AliasMove(
                graph,
                payload["alias"],
                payload.get("old"),
                payload.get("number"),
                as_utc(r.created_at),
                f"{r.username}@{r.hostname}",
            )
        )
    return moves


def _names(graph: str, row: Row[Any]) -> dict[str, Any]:
    """How a payload names a version: ``graph``, ``number``, ``content_hash``."""
    return {"graph": graph, "number": int(row.number), "content_hash": row.content_hash}


def _number(conn: Connection, version_id: int | None) -> int | None:
    if version_id is None:
        return None
    return int(conn.execute(select(V.c.number).where(V.c.id == version_id)).scalar_one())


# ------------------------------------------------------------------------------------------
# Tags


def change_tags(
    conn: Connection, row: Row[Any], values: Mapping[str, str], remove: Iterable[str]
) -> None:
    """Set and remove tags of a version, recording old and new values."""
    current = {
        r.key: r.value
        for r in conn.execute(select(T.c.key, T.c.value).where(T.c.version_id == row.id))
    }
    removed = sorted(set(remove))
    missing = [k for k in removed if k not in current]
    if missing:
        raise NotFoundError(
            f"{graph_name(conn, row.graph_id)}@{row.number} has no tag {missing[0]!r}"
        )
    clash = sorted(set(removed) & set(values))
    if clash:
        raise InputError(f"tag {clash[0]!r} is both set and removed")
    if removed:
        conn.execute(delete(T).where(T.c.version_id == row.id, T.c.key.in_(removed)))
    for key, value in sorted(values.items()):
        if key in current:
            conn.execute(
                update(T).where(T.c.version_id == row.id, T.c.key == key).values(value=value)
            )
        else:
            conn.execute(T.insert(), {"version_id": row.id, "key": key, "value": value})
    version = _names(graph_name(conn, row.graph_id), row)
    changes: dict[str, str | None] = {**dict.fromkeys(removed), **values}
    for key in sorted(changes):  # one record per key: set (a value) or removed (None)
        record_lifecycle_event(conn, "tag", {**version, "key": key, "value": changes[key]})


# ------------------------------------------------------------------------------------------
# Deletion and restore


def delete_version(conn: Connection, row: Row[Any], ref: str, *, force: bool) -> None:
    """Mark a version deleted; one with recorded exports or aliases needs ``force`` (its
    aliases are then removed, each move recorded)."""
    lock_versions(conn)
    name = graph_name(conn, row.graph_id)
    exports = int(
        conn.execute(
            select(func.count()).select_from(EXPORTS).where(EXPORTS.c.version_id == row.id)
        ).scalar_one()
    )
    pointing = sorted(conn.execute(select(A.c.name).where(A.c.version_id == row.id)).scalars())
    if (exports or pointing) and not force:
        reasons = [f"{exports} recorded export(s)"] if exports else []
        if pointing:
            reasons.append(f"alias(es) {', '.join(pointing)}")
        raise InputError(
            f"{name}@{row.number} has {' and '.join(reasons)}; delete it anyway with --force "
            "(force=True)"
        )
    for alias in pointing:
        remove_alias(conn, name, alias)
    conn.execute(
        S.insert(),
        {
            "version_id": row.id,
            "deleted_at": datetime.now(timezone.utc),
            "deleted_by": user_at_host(),
        },
    )
    record_lifecycle_event(
        conn,
        "delete",
        {
            **_names(name, row),
            "ref": ref,
            "exports": exports,
            "aliases": pointing,
            "forced": bool(force and (exports or pointing)),
        },
    )


def restore_version(conn: Connection, row: Row[Any], ref: str) -> None:
    """Undo a deletion, unless GC has collected the version."""
    lock_versions(conn)
    name = graph_name(conn, row.graph_id)
    query = select(S).where(S.c.version_id == row.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    state = conn.execute(query).first()
    if state is None:
        raise InputError(f"{name}@{row.number} is not deleted")
    if state.collected_at is not None:
        when = as_utc(state.collected_at).strftime("%Y-%m-%d %H:%M:%S")
        raise InputError(
            f"{name}@{row.number} was garbage-collected at {when} UTC; its content is gone "
            "and it cannot be restored"
        )
    conn.execute(delete(S).where(S.c.version_id == row.id))
    record_lifecycle_event(conn, "restore", {**_names(name, row), "ref": ref})


def is_deleted_version(conn: Connection, version_id: int) -> bool:
    """Whether the version is deleted (or collected)."""
    query = select(S.c.version_id).where(S.c.version_id == version_id)
    return conn.execute(query).first() is not None


def collected_at(conn: Connection, version_id: int) -> datetime | None:
    """When GC collected this version, or None (live, or deleted but not collected)."""
    value = conn.execute(select(S.c.collected_at).where(S.c.version_id == version_id)).scalar()
    return None if value is None else as_utc(value)

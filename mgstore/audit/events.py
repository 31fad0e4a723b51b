"""The one chain of every change to the store: appending a record of any kind, reading records.

A record (table ``audit_events``) has a ``kind`` (``ingest``, ``export``, ``tag``, or any
other a later feature adds) and a ``payload``: the canonical JSON of a mapping saying what
changed. :func:`append_event` appends one in the caller's write transaction, linked to the
record before it; that is the one call a new kind of change needs (see docs/audit.md).

A link is ``record_hash`` = SHA-256 of ``prev_hash`` followed by the canonical JSON of the
record's other columns, or, when the key in ``$MGSTORE_AUDIT_KEY`` is set, HMAC-SHA256 under
that key (the record is then ``signed``). Once a record is signed, appending without the key
is refused, and a check with the key reports any record after it that is not signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select, update

from mgstore.audit.canonical import canonical_json, frozen
from mgstore.audit.entities import AuditEvent
from mgstore.clock import as_utc
from mgstore.db.inserts import insert_ignore
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import AUDIT_HEAD as H
from mgstore.errors import ArgumentTypeError, AuditError, ConflictError, InputError, StoreError
from mgstore.who import whoami

#: The ``prev_hash`` of the first record.
GENESIS = "0" * 64
#: The environment variable that holds the key records are signed with (HMAC-SHA256).
KEY_VARIABLE = "MGSTORE_AUDIT_KEY"

_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_MAX_GRAPH = 512  # audit_events.graph, as graphs.name
# The columns a link covers (with prev_hash): every column but the link itself.
_LINKED = ("seq", "kind", "payload", "created_at", "username", "hostname", "signed")


def append_event(
    conn: Connection, kind: str, payload: Mapping[str, Any], *, now: datetime | None = None
) -> AuditEvent:
    """Append a record of ``kind`` with ``payload`` to the chain, in the caller's write
    transaction (so the record exists exactly when the change does); the record.

    ``kind`` is a short lower-case name (``[a-z][a-z0-9_.-]*``, at most 32 characters);
    ``payload`` a mapping that canonical JSON represents. A payload that names a version uses
    the keys ``graph``, ``number`` and ``content_hash``: ``audit check`` and ``fsck`` then
    check that the version exists with that content (see :func:`mgstore.audit.register_kind`
    for kinds that remove versions).
    """
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise InputError(f"a record's kind is a short lower-case name like 'ingest'; got {kind!r}")
    if not isinstance(payload, Mapping):
        raise ArgumentTypeError(f"a record's payload is a mapping; got {type(payload).__name__}")
    text = canonical_json(payload)
    require_write(conn)
    seq, prev_hash = lock_head(conn)
    key = audit_key()
    if key is None and seq > 0 and _signed(conn, seq):
        raise AuditError(
            f"the audit log is signed: set {KEY_VARIABLE} to the key its records are signed "
            "with to change this store"
        )
    user, host = whoami()
    values: dict[str, Any] = {
        "seq": seq + 1,
        "kind": kind,
        "payload": text,
        "created_at": (now or datetime.now(timezone.utc)).astimezone(timezone.utc),
        "username": user,
        "hostname": host,
        "signed": key is not None,
        "prev_hash": prev_hash,
    }
    values["record_hash"] = link_hash(values, key)
    graph, number = indexed_names(payload)  # for the index reads use; not linked
    conn.execute(A.insert(), {**values, "graph": graph, "number": number})
    moved = conn.execute(
        update(H)
        .where(H.c.id == 1, H.c.seq == seq, H.c.record_hash == prev_hash)
        .values(seq=values["seq"], record_hash=values["record_hash"])
    )
    if moved.rowcount != 1:  # cannot happen under the lock; refuse rather than fork the chain
        raise ConflictError("the audit log's head moved while a record was appended")
    return to_event(values)


def indexed_names(payload: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The graph and version number a payload names (``graph``, ``number``), as the record's
    ``graph`` and ``number`` columns keep them; None where it names none."""
    graph, number = payload.get("graph"), payload.get("number")
    if not isinstance(graph, str) or len(graph) > _MAX_GRAPH:
        return None, None
    if not isinstance(number, int) or isinstance(number, bool) or not 0 < number < 2**31:
        number = None
    return graph, number


def link_hash(values: Mapping[str, Any], key: bytes | None) -> str:
    """A record's link: SHA-256 (HMAC-SHA256 with ``key``) of ``prev_hash`` followed by the
    canonical JSON of its other columns (time as ISO 8601 UTC with microseconds)."""
    fields = {name: values[name] for name in _LINKED}
    fields["created_at"] = values["created_at"].isoformat(timespec="microseconds")
    fields["signed"] = bool(values["signed"])
    data = (values["prev_hash"] + canonical_json(fields)).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def link_holds(values: Mapping[str, Any], key: bytes | None) -> bool | None:
    """Whether a record's (``normalized``) fields match its link; None for a signed record
    when there is no key to check it with."""
    if not values["signed"]:
        return bool(link_hash(values, None) == values["record_hash"])
    if key is None:
        return None
    return hmac.compare_digest(link_hash(values, key), values["record_hash"])


def audit_key() -> bytes | None:
    """The signing key from ``$MGSTORE_AUDIT_KEY`` (None when unset or empty)."""
    key = os.environ.get(KEY_VARIABLE)
    return key.encode("utf-8") if key else None


def lock_head(conn: Connection) -> tuple[int, str]:
    """The head's (seq, hash), locked until the caller's transaction ends; created if need be.

    SQLite's write lock (``BEGIN IMMEDIATE``) covers it; PostgreSQL takes ``FOR UPDATE``.
    """
    query = select(H.c.seq, H.c.record_hash).where(H.c.id == 1)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        # The first record: create the head. A concurrent first appender's insert makes this
        # one wait (PostgreSQL) and then do nothing; its head is the one locked below.
        conn.execute(insert_ignore(conn, H, ["id"]), {"id": 1, "seq": 0, "record_hash": GENESIS})
        row = conn.execute(query).one()
        if row.seq == 0 and conn.execute(select(A.c.seq).limit(1)).first() is not None:
            raise StoreError(
                "the audit log has records but no head row: it was changed outside mgstore "
                "(run `mgstore audit check`)"
            )
    return int(row.seq), str(row.record_hash)


def require_write(conn: Connection) -> None:
    """Refuse to append outside a write transaction (on SQLite, one that holds the lock)."""
    if not conn.in_transaction():
        raise StoreError("appending to the audit log needs the caller's transaction; none is open")
    if conn.dialect.name == "sqlite" and not conn.get_execution_options().get("mgstore_write"):
        raise StoreError(
            "appending to the audit log needs a write transaction "
            "(mgstore.db.engine.transaction(engine, write=True))"
        )


def events(conn: Connection, kind: str | None = None) -> list[AuditEvent]:
    """The records, oldest first, optionally of one kind."""
    query = select(A).order_by(A.c.seq)
    if kind is not None:
        if not isinstance(kind, str):
            raise ArgumentTypeError(f"kind is a str; got {type(kind).__name__}")
        query = query.where(A.c.kind == kind)
    return [to_event(row._mapping) for row in conn.execute(query)]


def head(conn: Connection) -> tuple[int, str]:
    """The head row's (seq, hash): where the next record will link; (0, GENESIS) if empty."""
    row = conn.execute(select(H.c.seq, H.c.record_hash).where(H.c.id == 1)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.record_hash))


def normalized(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row's values as they were linked: UTC-aware time, int seq, bool signed."""
    values = dict(row)
    values["created_at"] = as_utc(values["created_at"])
    values["seq"] = int(values["seq"])
    values["signed"] = bool(values["signed"])
    return values


def to_event(row: Mapping[Any, Any]) -> AuditEvent:
    """The user's view of an ``audit_events`` row (a payload that is not JSON reads as empty;
    ``audit check`` reports it)."""
    values = normalized(row)
    try:
        payload = json.loads(values["payload"])
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    return AuditEvent(
        seq=values["seq"],
        kind=values["kind"],
        payload=frozen(payload),
        created_at=values["created_at"],
        user=values["username"],
        host=values["hostname"],
        signed=values["signed"],
        prev_hash=values["prev_hash"],
        record_hash=values["record_hash"],
    )


def _signed(conn: Connection, seq: int) -> bool:
    return bool(conn.execute(select(A.c.signed).where(A.c.seq == seq)).scalar())

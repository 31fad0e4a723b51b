"""What the chain records of versions: each ingest (the whole version row and its tags) and
tag changes, so that ``audit check`` can tell an edited version row or tag, and so can every
read that hands out a version's metadata (:func:`check_versions`; docs/audit.md, "Version
metadata checked on read")."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from mgstore import node_order
from mgstore.audit.entities import AuditEvent
from mgstore.audit.events import append_event, audit_key, indexed_names, link_holds, normalized
from mgstore.clock import as_utc
from mgstore.db import refs
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import NotFoundError

_CHUNK = 500
#: The fields of a version row that gc, a recorded change, clears (docs/lifecycle.md).
_COLLECTED = frozenset({"node_order", "debug", "original_delta"})


def record_ingest(conn: Connection, version_id: int) -> AuditEvent:
    """Append the record of a new version (in the ingest's transaction): its graph, number,
    content hash, message, author, time, tags, source path and hash, and every other field of
    its row."""
    row = conn.execute(select(V).where(V.c.id == version_id)).first()
    if row is None:
        raise NotFoundError(f"no version has the id {version_id}")
    name = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar_one()
    tags = {
        key: value
        for key, value in conn.execute(
            select(T.c.key, T.c.value).where(T.c.version_id == version_id)
        )
    }
    payload = version_fields(row, name)
    payload["tags"] = tags
    return append_event(conn, "ingest", payload, now=payload_time(row))


def record_tag(conn: Connection, version_id: int, key: str, value: str | None) -> AuditEvent:
    """Append the record of a tag set (``value``) or removed (None) on a version, in the
    transaction that changes ``version_tags``."""
    row = conn.execute(select(V).where(V.c.id == version_id)).first()
    if row is None:
        raise NotFoundError(f"no version has the id {version_id}")
    name = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar_one()
    payload = {
        "graph": name,
        "number": int(row.number),
        "content_hash": row.content_hash,
        "key": key,
        "value": value,
    }
    return append_event(conn, "tag", payload)


def version_fields(row: Row[Any] | Mapping[Any, Any], graph: str) -> dict[str, Any]:
    """Every field of a ``versions`` row as the ingest record keeps it (binary columns as hex,
    the node order as its SHA-256), without tags."""
    values = row._mapping if isinstance(row, Row) else row

    def hexed(value: Any) -> str | None:
        return None if value is None else bytes(value).hex()

    fields = {
        "graph": graph,
        "number": int(values["number"]),
        "content_hash": values["content_hash"],
        "debug_hash": values["debug_hash"],
        "message": values["message"],
        "created_at": payload_time(values).isoformat(timespec="microseconds"),
        "created_by": values["created_by"],
        "node_count": int(values["node_count"]),
        "size": int(values["size"]),
        "node_order": _order_digest(bytes(values["node_order"])),
        "has_graph_def": bool(values["has_graph_def"]),
        "head": hexed(values["head_sha256"]),
        "graph_tail": hexed(values["graph_tail_sha256"]),
        "tail": hexed(values["tail_sha256"]),
        "debug": hexed(values["debug_sha256"]),
        "source_path": values["source_path"],
        "source_sha256": values["source_sha256"],
        "source_format": values["source_format"],
    }
    # What went in (revision 0007_source_form): recorded for versions that have it, so that
    # the records of versions stored before keep matching their rows.
    if values.get("original_sha256") is not None:
        fields["form"] = values["form"]
        fields["original_sha256"] = values["original_sha256"]
        fields["original_size"] = int(values["original_size"])
        fields["original_delta"] = hexed(values["original_delta_sha256"])
        fields["meta_graph_index"] = values["meta_graph_index"]
    return fields


def _order_digest(data: bytes) -> str:
    """The SHA-256 of a node order's whole encoding: what the ingest record keeps, whether
    the order is stored whole or as a delta (docs/storage.md §4), so that records made
    before deltas existed, and orders written back whole by a downgrade, still match."""
    try:
        return node_order.digest(data).hex()
    except ValueError:  # a delta cut short: its bytes' hash, which no record holds
        return hashlib.sha256(data).hexdigest()


def payload_time(row: Row[Any] | Mapping[Any, Any]) -> Any:
    """A version's creation time, UTC-aware."""
    values = row._mapping if isinstance(row, Row) else row
    return as_utc(values["created_at"])


def differences(
    fields: Mapping[str, Any],
    recorded: Mapping[str, Any],
    tags: Mapping[str, str],
    recorded_tags: Mapping[str, str],
    *,
    collected: bool,
) -> list[str]:
    """The fields (and ``tags``) in which a version row differs from its records: its ingest
    record's payload, and its tags as the ingest and later tag records leave them."""
    # Over the keys of both: a row that gained or lost what went in differs too.
    keys = (fields.keys() | recorded.keys()) - {"tags"}
    changed = sorted(k for k in keys if recorded.get(k) != fields.get(k))
    if collected:
        changed = [k for k in changed if k not in _COLLECTED]
    if dict(tags) != dict(recorded_tags):
        changed.append("tags")
    return changed


def check_versions(
    conn: Connection,
    rows: Sequence[Row[Any]],
    graph: str,
    tags: Mapping[int, Mapping[str, str]] | None = None,
) -> None:
    """Check ``versions`` rows of the graph named ``graph`` against their records in the chain:
    every field and the tags must be what the version's ``ingest`` record and later ``tag``
    records say, and each of those records must match its own link. IntegrityError names the
    first version that disagrees.

    ``tags``: the versions' current tags by version id, when the caller has read them already.
    The records are found by the chain's (graph, number) index: one query per 500 versions.
    The place of each record in the chain is ``audit check``'s to verify.
    """
    if not rows:
        return
    records = _records(conn, rows, graph)
    current = _tags(conn, rows) if tags is None else {k: dict(v) for k, v in tags.items()}
    for row in rows:
        found = records.get(int(row.number), [])
        ingests = [payload for kind, payload in found if kind == "ingest"]
        if len(ingests) != 1:
            what = "no ingest record" if not ingests else f"{len(ingests)} ingest records"
            raise refs.damaged(
                conn, row, f"it has {what} in the audit chain (run `mgstore audit check`)"
            )
        recorded_tags = dict(ingests[0].get("tags") or {})
        for kind, payload in found:
            if kind == "tag" and isinstance(payload.get("key"), str):
                if payload.get("value") is None:
                    recorded_tags.pop(payload["key"], None)
                else:
                    recorded_tags[payload["key"]] = payload["value"]
        fields = version_fields(row, graph)
        changed = differences(
            fields, ingests[0], current.get(int(row.id), {}), recorded_tags, collected=False
        )
        if set(changed) & _COLLECTED:  # asked only then: gc may have cleared these
            changed = differences(
                fields,
                ingests[0],
                current.get(int(row.id), {}),
                recorded_tags,
                collected=_collected(conn, row),
            )
        if changed:
            raise refs.damaged(
                conn,
                row,
                f"it differs from its records in the audit chain in {', '.join(changed)} "
                "(its versions or version_tags rows were edited)",
            )


def _tags(conn: Connection, rows: Sequence[Row[Any]]) -> dict[int, dict[str, str]]:
    """The versions' tags, by version id."""
    ids = [int(r.id) for r in rows]
    found: dict[int, dict[str, str]] = {i: {} for i in ids}
    for i in range(0, len(ids), _CHUNK):
        for version_id, key, value in conn.execute(
            select(T.c.version_id, T.c.key, T.c.value).where(
                T.c.version_id.in_(ids[i : i + _CHUNK])
            )
        ):
            found[int(version_id)][key] = value
    return found


def _collected(conn: Connection, row: Row[Any]) -> bool:
    """Whether gc collected the version."""
    query = select(S.c.collected_at).where(S.c.version_id == row.id)
    return conn.execute(query).scalar() is not None


def _records(
    conn: Connection, rows: Sequence[Row[Any]], graph: str
) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """The ingest and tag records of these versions, by number, oldest first, each checked
    against its link."""
    numbers = sorted({int(r.number) for r in rows})
    by_number = {int(r.number): r for r in rows}
    key = audit_key()
    found: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}
    for i in range(0, len(numbers), _CHUNK):
        for record in conn.execute(
            select(A).where(
                A.c.graph == graph,
                A.c.number.in_(numbers[i : i + _CHUNK]),
                A.c.kind.in_(("ingest", "tag")),
            )
        ):
            values = normalized(record._mapping)
            number = int(values["number"])
            try:
                payload = json.loads(values["payload"])
            except ValueError:
                payload = None
            if (
                link_holds(values, key) is False
                or not isinstance(payload, dict)
                or indexed_names(payload) != (graph, number)
            ):
                raise refs.damaged(
                    conn,
                    by_number[number],
                    f"its {values['kind']} record {values['seq']} in the audit chain was changed "
                    "(run `mgstore audit check`)",
                )
            found.setdefault(number, []).append((values["seq"], values["kind"], payload))
    return {n: [(kind, p) for _, kind, p in sorted(v)] for n, v in found.items()}

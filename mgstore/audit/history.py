"""What the chain records of versions: each ingest (the whole version row and its tags) and
tag changes, so that ``audit check`` can tell an edited version row or tag."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, select

from mgstore.audit.entities import AuditEvent
from mgstore.audit.events import append_event
from mgstore.clock import as_utc
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import NotFoundError


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
        "node_order": hashlib.sha256(bytes(values["node_order"])).hexdigest(),
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


def payload_time(row: Row[Any] | Mapping[Any, Any]) -> Any:
    """A version's creation time, UTC-aware."""
    values = row._mapping if isinstance(row, Row) else row
    return as_utc(values["created_at"])

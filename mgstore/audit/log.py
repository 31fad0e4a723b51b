"""Appending export records to the log (each with its record in the chain), reading them back."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version
from typing import Any

from sqlalchemy import Connection, select

from mgstore.audit.canonical import canonical_json, frozen
from mgstore.audit.entities import ExportRecord, Status
from mgstore.audit.events import append_event, lock_head, require_write
from mgstore.clock import as_utc
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import (
    AmbiguousRefError,
    ArgumentTypeError,
    InputError,
    NotFoundError,
    StoreError,
)
from mgstore.who import whoami

_SHA256 = re.compile(r"[0-9a-f]{64}")
_ID_PREFIX = re.compile(r"[0-9a-f]{4,32}")
# The fields of a row its digest covers: every column but the chain link.
_HASHED = (
    "seq", "id", "status", "version_id", "graph", "version", "content_hash", "query", "options",
    "path", "sha256", "size", "debug_path", "debug_sha256", "created_at", "username", "hostname",
    "mgstore_version", "protobuf_version", "duration", "error",
)  # fmt: skip


# ------------------------------------------------------------------------------------------
# Recording


def record_export(
    conn: Connection,
    *,
    version_id: int | None,
    query: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    path: str | os.PathLike[str],
    sha256: str | None,
    size: int | None,
    debug_path: str | os.PathLike[str] | None = None,
    debug_sha256: str | None = None,
    duration: float,
    status: Status = "ok",
    error: str | BaseException | None = None,
    now: datetime | None = None,
) -> ExportRecord:
    """Append the record of an export to the log, in the caller's (write) transaction.

    A successful export (``status="ok"``) gives the written file's ``sha256`` and ``size``,
    and ``debug_sha256`` if it wrote ``debug_path``. A failed one (``status="failed"``) gives
    its ``error`` (text or the exception) and no hash or size; ``version_id`` may be None if
    it failed before a version was chosen. ``query`` and ``options`` are stored as canonical
    JSON; paths are made absolute. User, host, mgstore and protobuf versions and the time
    (``now``, default: when the record is appended; UTC) are filled in here.
    """
    if status not in ("ok", "failed"):
        raise InputError(f"an export's status is 'ok' or 'failed'; got {status!r}")
    exact = status == "ok"
    if query is not None and not isinstance(query, Mapping):
        raise ArgumentTypeError(f"query is a mapping or None; got {type(query).__name__}")
    if not isinstance(options, Mapping):
        raise ArgumentTypeError(f"options are a mapping; got {type(options).__name__}")
    values: dict[str, Any] = {
        "status": status,
        "query": None if query is None else canonical_json(query),
        "options": canonical_json(options),
        "path": _absolute(path, exact=exact),
        "debug_path": None if debug_path is None else _absolute(debug_path, exact=exact),
        "duration": _duration(duration),
    }
    if exact:
        if error is not None:
            raise InputError("a successful export has no error")
        if version_id is None:
            raise InputError("a successful export names the version it exported (version_id)")
        values["sha256"] = _sha(sha256, "sha256")
        values["size"] = _size(size)
        if values["debug_path"] is None and debug_sha256 is not None:
            raise InputError("debug_sha256 without debug_path: which file does it describe?")
        values["debug_sha256"] = (
            None if values["debug_path"] is None else _sha(debug_sha256, "debug_sha256")
        )
        values["error"] = None
    else:
        if sha256 is not None or size is not None or debug_sha256 is not None:
            raise InputError("a failed export left no file: it has no sha256, size or debug_sha256")
        values.update(sha256=None, size=None, debug_sha256=None, error=_error_text(error))
    created = None if now is None else _aware_utc(now, "now")

    require_write(conn)
    values.update(_version_identity(conn, version_id))
    head_seq, _ = lock_head(conn)
    user, host = whoami()
    mgstore_version, protobuf_version = _software()
    values.update(
        seq=head_seq + 1,
        id=uuid.uuid4().hex,
        created_at=created or datetime.now(timezone.utc),
        username=user,
        hostname=host,
        mgstore_version=mgstore_version,
        protobuf_version=protobuf_version,
    )
    event = append_event(conn, "export", export_payload(values), now=values["created_at"])
    values.update(prev_hash=event.prev_hash, record_hash=event.record_hash)
    conn.execute(X.insert(), values)
    return to_record(values)


# ------------------------------------------------------------------------------------------
# Reading


def exports(
    conn: Connection,
    graph: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    user: str | None = None,
) -> list[ExportRecord]:
    """The log, newest first (failed exports included), optionally only the exports of one
    graph, at or after ``since``, at or before ``until`` (timezone-aware datetimes), by ``user``.
    """
    query = select(X)
    if graph is not None:
        query = query.where(X.c.graph == _text_arg(graph, "graph"))
    if since is not None:
        query = query.where(X.c.created_at >= _aware_utc(since, "since"))
    if until is not None:
        query = query.where(X.c.created_at <= _aware_utc(until, "until"))
    if user is not None:
        query = query.where(X.c.username == _text_arg(user, "user"))
    return [to_record(row._mapping) for row in conn.execute(query.order_by(X.c.seq.desc()))]


def export(conn: Connection, export_id: str) -> ExportRecord:
    """The export with this id, or with this unique prefix (at least 4 characters) of an id."""
    if not isinstance(export_id, str) or not export_id.strip():
        raise ArgumentTypeError(f"an export id is a non-empty str; got {export_id!r}")
    key = export_id.strip().lower()
    row = conn.execute(select(X).where(X.c.id == key)).first()
    if row is not None:
        return to_record(row._mapping)
    if _ID_PREFIX.fullmatch(key):
        rows = conn.execute(
            select(X).where(X.c.id.startswith(key, autoescape=True)).order_by(X.c.seq).limit(10)
        ).all()
        if len(rows) == 1:
            return to_record(rows[0]._mapping)
        if rows:
            ids = ", ".join(row.id for row in rows)
            raise AmbiguousRefError(f"export id prefix {export_id!r} matches several: {ids}")
    raise NotFoundError(f"no export has the id {export_id!r}")


# ------------------------------------------------------------------------------------------
# What the chain records of an export


def export_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of an export's record in the chain: what it exported, where to, and the
    digest of its whole ``exports`` row (:func:`row_digest`), which ``audit check`` compares."""
    return {
        "id": values["id"],
        "status": values["status"],
        "graph": values["graph"],
        "number": values["version"],
        "content_hash": values["content_hash"],
        "path": values["path"],
        "sha256": values["sha256"],
        "row": row_digest(values),
    }


def row_digest(values: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an ``exports`` row's fields (every column but the
    chain link it shares with its record)."""
    payload = {key: values[key] for key in _HASHED}
    payload["created_at"] = values["created_at"].isoformat(timespec="microseconds")
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


# ------------------------------------------------------------------------------------------
# Rows and values


def normalized(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A row's values as they were hashed: UTC-aware time, float duration, ints as ints."""
    values = dict(row)
    values["created_at"] = as_utc(values["created_at"])
    values["duration"] = float(values["duration"])
    for key in ("seq", "version_id", "version", "size"):
        if values[key] is not None:
            values[key] = int(values[key])
    return values


def to_record(row: Mapping[Any, Any]) -> ExportRecord:
    """The user's view of an ``exports`` row."""
    values = normalized(row)
    try:
        query = None if values["query"] is None else json.loads(values["query"])
        options = json.loads(values["options"])
    except ValueError:
        raise StoreError(
            f"export record {values['seq']} is damaged (its query or options are not JSON): "
            "it was changed outside mgstore (run `mgstore audit check`)"
        ) from None
    return ExportRecord(
        id=values["id"],
        seq=values["seq"],
        status=values["status"],
        graph=values["graph"],
        version=values["version"],
        content_hash=values["content_hash"],
        version_id=values["version_id"],
        query=None if query is None else frozen(query),
        options=frozen(options),
        path=values["path"],
        sha256=values["sha256"],
        size=values["size"],
        debug_path=values["debug_path"],
        debug_sha256=values["debug_sha256"],
        created_at=values["created_at"],
        user=values["username"],
        host=values["hostname"],
        mgstore_version=values["mgstore_version"],
        protobuf_version=values["protobuf_version"],
        duration=values["duration"],
        error=values["error"],
        prev_hash=values["prev_hash"],
        record_hash=values["record_hash"],
    )


def _version_identity(conn: Connection, version_id: int | None) -> dict[str, Any]:
    if version_id is None:
        return {"version_id": None, "graph": None, "version": None, "content_hash": None}
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise ArgumentTypeError(f"version_id is an int or None; got {version_id!r}")
    row = conn.execute(
        select(G.c.name, V.c.number, V.c.content_hash)
        .join(G, G.c.id == V.c.graph_id)
        .where(V.c.id == version_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no version has the id {version_id}")
    return {
        "version_id": version_id,
        "graph": row.name,
        "version": int(row.number),
        "content_hash": row.content_hash,
    }


def _absolute(path: str | os.PathLike[str], *, exact: bool) -> str:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(f"a path is a str or path-like; got {type(path).__name__}")
    text = os.path.realpath(os.fsdecode(os.fspath(path)))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if exact:
            raise InputError(f"{text!r}: a path that is not UTF-8 cannot be recorded") from None
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\0", "\\0")


def _sha(value: object, name: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        raise InputError(f"{name} is 64 hexadecimal digits; got {value!r}")
    return value.lower()


def _size(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"size is a non-negative int; got {value!r}")
    return value


def _duration(value: object) -> float:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(f"duration is a non-negative number of seconds; got {value!r}")
    return float(value)


def _error_text(error: object) -> str:
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}"
    elif isinstance(error, str) and error.strip():
        text = error
    else:
        raise InputError(f"a failed export needs its error (a str or the exception); got {error!r}")
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\0", "\\0")


def _text_arg(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} is a str; got {type(value).__name__}")
    return value


def _aware_utc(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ArgumentTypeError(f"{name} is a datetime; got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} needs a timezone (e.g. datetime(..., tzinfo=timezone.utc)); got {value}"
        )
    return value.astimezone(timezone.utc)


@lru_cache(maxsize=1)
def _software() -> tuple[str, str]:
    """The versions of mgstore and of the protobuf runtime."""
    from google.protobuf import __version__ as protobuf_version

    try:
        mgstore_version = _distribution_version("mgstore")
    except PackageNotFoundError:  # a source tree that was never installed
        mgstore_version = "0+unknown"
    return mgstore_version, str(protobuf_version)

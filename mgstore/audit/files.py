"""The files exports wrote: verifying them, finding where a file came from, reproducing."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, or_, select

from mgstore.audit.canonical import canonical_json
from mgstore.audit.entities import (
    ExportRecord,
    FileStatus,
    Provenance,
    Role,
    Verification,
)
from mgstore.audit.history import check_versions
from mgstore.audit.log import export, exports, normalized, row_digest, to_record
from mgstore.db import versions
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import VersionInfo
from mgstore.errors import InputError, IntegrityError, ReproductionError, SourceNotFoundError

_CHUNK = 1 << 20


def verify(conn: Connection, export_id: str | None = None) -> list[Verification]:
    """Check the files of one export, or of every successful export (newest first): one
    :class:`Verification` per file (the graph, then its debug companion if one was written).

    A file that a later recorded export wrote again (same path) is ``superseded`` by it, and
    that later export is checked instead (with one export, its files follow).

    The files are read while the caller's transaction is open; to keep it short, read the
    records with :func:`to_verify` and check them with :func:`verify_files` after it.
    """
    records, later = to_verify(conn, export_id)
    return verify_files(records, later)


def to_verify(
    conn: Connection, export_id: str | None = None
) -> tuple[list[ExportRecord], dict[str, ExportRecord]]:
    """The records :func:`verify` checks (all successful ones, or one and the export that
    superseded it) and, by path, the latest successful export that wrote each path."""
    every = [r for r in exports(conn) if r.ok]  # newest first
    latest: dict[str, ExportRecord] = {}
    for record in every:
        for path in (record.path, record.debug_path):
            if path is not None:
                latest.setdefault(path, record)
    if export_id is None:
        return every, latest
    record = export(conn, export_id)
    if not record.ok:
        raise InputError(f"export {record.id} failed ({record.error}); it left no file to verify")
    records = [record]
    newer = latest.get(record.path)
    if newer is not None and newer.id != record.id:
        records.append(newer)
    return records, latest


def verify_files(
    records: Iterable[ExportRecord],
    latest: Mapping[str, ExportRecord] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Verification]:
    """Check the files the (successful) ``records`` wrote; failed records have none. A file
    whose path ``latest`` maps to another export is reported ``superseded`` by it, unread.
    ``progress(stage, done, total)`` hears ``("verify", records done, records)``, then
    ``("done", total, total)``."""
    digests: dict[str, tuple[FileStatus, str | None, str | None]] = {}
    results: list[Verification] = []
    latest = latest or {}
    records = list(records)
    for done, record in enumerate(records):
        if progress is not None:
            progress("verify", done, len(records))
        files: list[tuple[Role, str, str | None]] = [("file", record.path, record.sha256)]
        if record.debug_path is not None:
            files.append(("debug", record.debug_path, record.debug_sha256))
        for role, path, expected in files:
            if not record.ok or expected is None:
                continue
            newer = latest.get(path)
            if newer is not None and newer.id != record.id:
                results.append(
                    Verification(
                        record.id, path, "superseded", expected, None, role, superseded_by=newer.id
                    )
                )
                continue
            if path not in digests:
                digests[path] = _look_at(path)
            found, actual, error = digests[path]
            if found == "ok":
                found = "ok" if actual == expected else "modified"
            results.append(Verification(record.id, path, found, expected, actual, role, error))
    if progress is not None:
        progress("done", len(records), len(records))
    return results


def which(conn: Connection, path: str | os.PathLike[str]) -> list[Provenance]:
    """The exports that wrote a file with the same bytes as ``path`` (found by its SHA-256,
    wherever the file was moved), newest first, each with its version and ingest source.

    An empty list means no recorded export produced these bytes.
    """
    if "\0" in os.fsdecode(os.fspath(path)):
        raise InputError(f"{os.fsdecode(os.fspath(path))!r}: a path cannot hold a NUL character")
    target = os.path.realpath(os.fsdecode(os.fspath(path)))
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise InputError(f"{path}: not a file")
        sha, size = file_digest(target)
    except (FileNotFoundError, NotADirectoryError):
        raise SourceNotFoundError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    rows = conn.execute(
        select(X)
        .where(X.c.status == "ok", or_(X.c.sha256 == sha, X.c.debug_sha256 == sha))
        .order_by(X.c.seq.desc())
    )
    found: list[Provenance] = []
    infos: dict[int, VersionInfo | None] = {}
    for row in rows:
        record = to_record(row._mapping)
        info = None
        if record.version_id is not None:
            if record.version_id not in infos:
                infos[record.version_id] = _version_info(conn, record.version_id)
            info = infos[record.version_id]
        role: Role = "file" if record.sha256 == sha else "debug"
        problem = _untrusted(conn, row._mapping, record, info)
        found.append(Provenance(target, sha, size, role, record, info, problem))
    return found


def _untrusted(
    conn: Connection, row: Mapping[Any, Any], record: ExportRecord, info: VersionInfo | None
) -> str | None:
    """Why an export's provenance cannot be trusted (None if it can): no record in the chain,
    a row that differs from its record, or a version that does not hold what it names."""
    needle = canonical_json({"id": record.id})[1:-1]  # '"id":"..."', as payloads have it
    payloads = conn.execute(
        select(A.c.payload).where(A.c.kind == "export", A.c.payload.contains(needle))
    ).scalars()
    recorded = [p for p in map(_json, payloads) if p.get("id") == record.id]
    if not recorded:
        return "this export has no record in the audit chain (it was added outside mgstore)"
    if recorded[0].get("row") != row_digest(normalized(row)):
        return "this export's row differs from its record in the audit chain (it was edited)"
    if info is None:
        return f"its version ({record.ref}) is no longer in the store"
    problem = _version_problem(conn, record)
    if problem is not None:
        return problem
    if info.content_hash != record.content_hash:
        return (
            f"it names content {record.content_hash}, but {info.ref} has content "
            f"{info.content_hash} (a forged record)"
        )
    return None


def _version_problem(conn: Connection, record: ExportRecord) -> str | None:
    """Why the version row of an export differs from its records in the chain (None if not)."""
    row = conn.execute(select(V).where(V.c.id == record.version_id)).first()
    graph = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar() if row else None
    if row is None or graph is None:
        return None
    try:
        check_versions(conn, [row], graph)
    except IntegrityError as error:
        return f"its version differs from the audit chain: {error}"
    return None


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_reproducible(record: ExportRecord) -> None:
    """Raise InputError unless ``record`` can be exported again (it succeeded, from a version)."""
    if not record.ok:
        raise InputError(
            f"export {record.id} failed ({record.error}); there is nothing to reproduce"
        )
    if record.version_id is None:
        raise InputError(f"export {record.id} names no stored version; it cannot be reproduced")


def check_reproduction(record: ExportRecord, sha256: str, debug_sha256: str | None = None) -> None:
    """Raise ReproductionError, showing both hashes, unless a new export of ``record``'s version,
    query and options gave the recorded bytes (and debug bytes, when both are known)."""
    check_reproducible(record)
    compared = [("", record.sha256, sha256)]
    if debug_sha256 is not None and record.debug_sha256 is not None:
        compared.append(("debug file ", record.debug_sha256, debug_sha256))
    for what, recorded, reproduced in compared:
        if reproduced != recorded:
            raise ReproductionError(
                f"export {record.id} ({record.ref}) did not reproduce: the {what}SHA-256 was "
                f"{recorded} and is now {reproduced}"
            )


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The SHA-256 (hex) and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _version_info(conn: Connection, version_id: int) -> VersionInfo | None:
    row = conn.execute(select(V).where(V.c.id == version_id)).first()
    return None if row is None else versions.version_info(conn, row)


def _look_at(path: str) -> tuple[FileStatus, str | None, str | None]:
    """("ok", its SHA-256, None) for a readable file, else why not (status, None, error)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return "missing", None, "not a regular file"
        sha, _ = file_digest(path)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", None, None
    except OSError as error:
        return "unreadable", None, str(error.strerror or error)
    return "ok", sha, None

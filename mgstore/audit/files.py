"""The files exports wrote: verifying them, finding where a file came from, reproducing."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable

from sqlalchemy import Connection, or_, select

from mgstore.audit.entities import (
    ExportRecord,
    FileStatus,
    Provenance,
    Role,
    Verification,
)
from mgstore.audit.log import V, X, export, exports, to_record
from mgstore.db import versions
from mgstore.db.models import Base
from mgstore.entities import VersionInfo
from mgstore.errors import InputError, ReproductionError, SourceNotFoundError

T = Base.metadata.tables["version_tags"]
_CHUNK = 1 << 20


def verify(conn: Connection, export_id: str | None = None) -> list[Verification]:
    """Check the files of one export, or of every successful export (newest first): one
    :class:`Verification` per file (the graph, then its debug companion if one was written).

    The files are read while the caller's transaction is open; to keep it short, read the
    records with :func:`exports` and check them with :func:`verify_files` after it.
    """
    if export_id is None:
        records = [r for r in exports(conn) if r.ok]
    else:
        record = export(conn, export_id)
        if not record.ok:
            raise InputError(
                f"export {record.id} failed ({record.error}); it left no file to verify"
            )
        records = [record]
    return verify_files(records)


def verify_files(
    records: Iterable[ExportRecord], progress: Callable[[str, int, int], None] | None = None
) -> list[Verification]:
    """Check the files the (successful) ``records`` wrote; failed records have none.
    ``progress(stage, done, total)`` hears ``("verify", records done, records)``, then
    ``("done", total, total)``."""
    digests: dict[str, tuple[FileStatus, str | None, str | None]] = {}
    results: list[Verification] = []
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
        found.append(Provenance(target, sha, size, role, record, info))
    return found


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

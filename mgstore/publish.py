"""Putting an export's files in place and recording them so that no crash can split the two.

An export is journaled before it touches the file system, published under a lock on its target
paths, recorded, and only then forgotten (see docs/durability.md):

1. A row in ``export_journal`` (its own committed transaction) names every target with the
   temporary file, the backup and the "there was no file" marker it will use, and the SHA-256
   of the new bytes.
2. The new bytes go to the temporary files (synced), outside any lock.
3. One write transaction takes the lock of the targets (a PostgreSQL advisory lock per resolved
   path; SQLite's write lock), undoes what dead exporters left at those paths, keeps each old
   file as a backup (a hard link) or leaves a marker where there was none, renames the new
   files into place, appends the audit record and marks the row ``recorded``; it commits.
4. The backups and markers are removed, then the journal row.

A crash anywhere leaves a row whose files say how far it got; :func:`recover` (run when a
Store opens, by :meth:`mgstore.Store.recover`, and by the next export to the same path) takes
back the new file and restores the old one for a ``pending`` row (its record never
committed), or removes the leftovers of a ``recorded`` one. A row whose owner still runs is
left alone: on PostgreSQL the owner holds an advisory lock for the row's life; on SQLite the
row's process id and start time tell. A row made on another host is that host's to settle.

``MGSTORE_CRASH_AT=<point>`` in the environment makes the process ``os._exit`` at that point
(for tests that kill an export half-way): see :data:`CRASH_POINTS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, select, text

from mgstore.db.engine import database_files, errors_mapped
from mgstore.db.tables import EXPORT_JOURNAL as J
from mgstore.errors import ConflictError, InputError, MgstoreError, OutputError

if TYPE_CHECKING:
    from mgstore.atomic import Data  # the atomic writer loads protobuf: only for type checks

__all__ = ["CRASH_POINTS", "RecoveryReport", "check_output", "publish", "recover"]


def check_output(path: str | os.PathLike[str], *engines: Engine) -> None:
    """Refuse an output path that is the database file of one of ``engines`` (or SQLite's
    ``-wal``, ``-shm`` or ``-journal`` beside it), however it is named: UnsafePathError."""
    from mgstore.atomic import check_target  # it loads the protobuf modules: only when writing

    files = tuple(dict.fromkeys(f for engine in engines for f in database_files(engine)))
    check_target(path, files, "the store's own database file")


T = TypeVar("T")

#: The points at which ``MGSTORE_CRASH_AT`` stops an export, in the order they are passed.
CRASH_POINTS = (
    "journaled",  # the journal row is committed, nothing written yet
    "writing",  # half of the first temporary file is written
    "staged",  # every temporary file is written and synced
    "backed-up",  # the first target's backup (or marker) exists, the rename has not happened
    "renamed",  # the first file is in place, its record not yet written
    "recorded",  # every file is in place and the record written, not yet committed
    "committed",  # the record is committed; backups still there
    "cleaned",  # backups removed; the journal row still there
)
CRASH_ENV = "MGSTORE_CRASH_AT"
CRASH_EXIT = 70
_NAME_MAX = 255  # bytes in one file name, on the file systems that matter
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`mgstore.Store.recover` did with exports that a crash interrupted.

    ``rolled_back``: target paths given back their previous state (the old file, or none),
    because the export's record never committed. ``finished``: target paths whose export was
    recorded; only its leftover backups were removed. ``in_progress``: target paths of exports
    whose process still runs, or that were made on another host (left alone: a process on
    that host settles them, where their files are).
    """

    rolled_back: tuple[str, ...] = ()
    finished: tuple[str, ...] = ()
    in_progress: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """True when nothing was interrupted."""
        return not (self.rolled_back or self.finished or self.in_progress)


def crash_point(point: str) -> None:
    """Stop the process right here if ``MGSTORE_CRASH_AT`` names ``point`` (fault injection)."""
    if os.environ.get(CRASH_ENV) == point:
        os._exit(CRASH_EXIT)


# ------------------------------------------------------------------------------------------
# Publishing


@dataclass(frozen=True)
class _File:
    """One file of an export and the names it uses beside its target."""

    target: str
    tmp: str
    backup: str  # a hard link to (or copy of) the previous file while the export runs
    fresh: str  # an empty marker: there was no previous file
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"target": self.target, "tmp": self.tmp, "backup": self.backup,
                "fresh": self.fresh, "sha256": self.sha256}  # fmt: skip


def publish(
    engine: Engine,
    files: Sequence[tuple[Data, str | os.PathLike[str], str]],
    record: Callable[[Connection], T],
) -> T:
    """Put ``files`` (data, path, SHA-256 of the data) in place and run ``record`` (in the
    write transaction that makes them visible): both happen, or neither, even across a crash.

    Raises OutputError (nothing left behind, old files kept) when a file cannot be written,
    and whatever ``record`` raises (the old files are back then too).
    """
    journal_id = uuid.uuid4().hex
    planned = [_plan(path, journal_id, sha) for _, path, sha in files]
    lock_keys = sorted({_path_key(f.target) for f in planned})
    with _Owner(engine, journal_id) as owner:
        owner.transaction(lambda conn: _journal(conn, journal_id, planned))
        crash_point("journaled")
        made: list[Path] = []
        try:
            for (data, _, _), item in zip(files, planned, strict=True):
                _write_temporary(item, data, made)
            crash_point("staged")
            result = owner.transaction(lambda conn: _swap(conn, journal_id, planned, lock_keys,
                                                          record))  # fmt: skip
        except BaseException:
            try:  # under the paths' lock, so that no other publisher is between two steps
                owner.transaction(lambda conn: _abandon(conn, journal_id, planned, lock_keys))
            except MgstoreError:  # the database is gone: undo without it, the row stays
                for item in reversed(planned):
                    _undo(item)
            for directory in made:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            raise
        crash_point("committed")
        for item in planned:
            _remove(item.backup, item.fresh, item.tmp)
        crash_point("cleaned")
        with contextlib.suppress(MgstoreError):  # a row left here is finished by recover()
            owner.transaction(lambda conn: _forget(conn, journal_id, owner), durable=False)
        return result


def _swap(
    conn: Connection,
    journal_id: str,
    planned: list[_File],
    lock_keys: list[int],
    record: Callable[[Connection], T],
) -> T:
    """Step 3 of the module docstring, in the caller's write transaction."""
    _lock_paths(conn, lock_keys)
    # The journal holds only the exports in flight: reading it whole is cheap.
    targets, mine = {f.target for f in planned}, None
    for row in conn.execute(select(J)).all():
        if row.id == journal_id:
            mine = row.state
        elif not targets.isdisjoint(f.target for f in _files(row)) and not _owner_alive(conn, row):
            _settle(conn, row)
    if mine != "pending":
        raise ConflictError("the export was rolled back by a recovery that took it for dead")
    try:
        for i, item in enumerate(planned):
            _swap_in(item, first=i == 0)
        result = record(conn)
        conn.execute(J.update().where(J.c.id == journal_id).values(state="recorded"))
        crash_point("recorded")
    except BaseException:
        for item in reversed(planned):
            _undo(item)
        raise
    return result


def _abandon(conn: Connection, journal_id: str, planned: list[_File], lock_keys: list[int]) -> None:
    """Take a failed export back (its files, then its journal row), holding its paths' lock."""
    _lock_paths(conn, lock_keys)
    for item in reversed(planned):
        _undo(item)
    _forget(conn, journal_id)


def _swap_in(item: _File, *, first: bool) -> None:
    """Keep the previous file (or mark that there was none), then rename the new one in."""
    target = item.target
    try:
        if os.path.lexists(target) and not os.path.isdir(target):
            _back_up(target, item.backup)
        else:
            os.close(os.open(item.fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        _sync_directory(target)
        if first:
            crash_point("backed-up")
        os.replace(item.tmp, target)
        _sync_directory(target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot be written ({exc.strerror or exc})") from None
    if first:
        crash_point("renamed")


def _back_up(target: str, backup: str) -> None:
    """Keep the entry at ``target`` (a file, a symlink...) as ``backup``, to restore it."""
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError:  # no hard links here (vfat, some network mounts): copy it instead
        if os.path.islink(target):
            os.symlink(os.readlink(target), backup)
        elif os.path.isfile(target):
            shutil.copy2(target, backup)
        else:
            raise


def _write_temporary(item: _File, data: Data, made: list[Path]) -> None:
    """Write the new bytes beside the target (parents created as TensorFlow does), synced."""
    directory = Path(item.target).parent
    missing: list[Path] = []
    probe = directory
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{directory}: cannot create directory ({exc.strerror or exc})") from None
    made.extend(missing)  # deepest first: removed in this order if the export fails
    chunks = [data] if isinstance(data, bytes) else list(data)
    try:
        fd = os.open(item.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        with os.fdopen(fd, "wb") as fh:
            for i, chunk in enumerate(chunks):
                if i == len(chunks) // 2:
                    fh.flush()
                    crash_point("writing")
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"{item.target}: cannot be written ({exc.strerror or exc})") from None


# ------------------------------------------------------------------------------------------
# Recovering


def recover(engine: Engine) -> RecoveryReport:
    """Settle every export a crash interrupted (see the module docstring); the report."""
    with errors_mapped(), engine.connect() as conn, conn.begin():
        rows = conn.execute(select(J).order_by(J.c.created_at)).all()
    rolled_back: list[str] = []
    finished: list[str] = []
    busy: list[str] = []
    for row in rows:
        targets = [f.target for f in _files(row)]
        if engine.dialect.name == "sqlite" and _owner_alive_here(row):
            busy.extend(targets)  # known without SQLite's write lock, which all writers share
            continue
        keys = sorted({_path_key(t) for t in targets})
        with errors_mapped(), engine.connect() as conn:
            conn = conn.execution_options(mgstore_write=True)
            with conn.begin():
                _lock_paths(conn, keys)
                current = conn.execute(select(J).where(J.c.id == row.id)).first()
                if current is None:
                    continue  # settled meanwhile (by its owner, or another recovery)
                if _owner_alive(conn, current):
                    busy.extend(targets)
                    continue
                state = _settle(conn, current)
        (finished if state == "recorded" else rolled_back).extend(targets)
    return RecoveryReport(tuple(rolled_back), tuple(finished), tuple(busy))


def pending(engine: Engine) -> bool:
    """Whether any export is journaled (a cheap read, for the check when a Store opens)."""
    with errors_mapped(), engine.connect() as conn, conn.begin():
        return conn.execute(select(J.c.id).limit(1)).first() is not None


def _settle(conn: Connection, row: Any) -> str:
    """Undo (``pending``) or finish (``recorded``) a dead exporter's row; the row's state.

    Runs with the lock of the row's paths held, in a write transaction that removes the row.
    """
    files = _files(row)
    if row.state == "recorded":
        for item in files:
            _remove(item.tmp, item.backup, item.fresh)
    else:
        for item in reversed(files):
            _undo(item)
    conn.execute(J.delete().where(J.c.id == row.id))
    if conn.dialect.name == "postgresql":  # the dead owner's lock, taken by _owner_alive
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _owner_key(row.id)})
    return str(row.state)


def _undo(item: _File) -> None:
    """Give the target its previous state back, judged by what is on disk (idempotent).

    The temporary file still there: the rename never happened, only leftovers go. Else a
    backup or a marker says the rename happened: the new file (known by its SHA-256) goes and
    the backup comes back. A file of someone else's at the target is left where it is.
    """
    with contextlib.suppress(OSError):
        if os.path.lexists(item.tmp):
            _remove(item.tmp, item.backup, item.fresh)
            return
        if os.path.lexists(item.backup):
            if not os.path.lexists(item.target) or _holds(item.target, item.sha256):
                os.replace(item.backup, item.target)
                _sync_directory(item.target)
            _remove(item.backup, item.fresh)
        elif os.path.lexists(item.fresh):
            if _holds(item.target, item.sha256):
                os.unlink(item.target)
                _sync_directory(item.target)
            _remove(item.fresh)


def _holds(path: str, sha256: str) -> bool:
    """Whether ``path`` is a regular file with exactly these bytes."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == sha256


def _remove(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(path)


# ------------------------------------------------------------------------------------------
# The journal rows, their owners, and the locks


class _Owner:
    """The connection an export runs its transactions on, marking it alive while it lasts.

    PostgreSQL: a session advisory lock on the journal id, taken in the transaction that
    journals the export (so no one sees the row unlocked) and released with the row's removal
    or when the connection ends, however the process ends. SQLite: the row's host, pid and
    process start time, and commits synced to disk (``synchronous = FULL``) so that the
    journal is durable before a file moves.
    """

    def __init__(self, engine: Engine, journal_id: str) -> None:
        self.engine = engine
        self.journal_id = journal_id
        self.key = _owner_key(journal_id)
        self.conn: Connection | None = None
        self.locked = False

    def __enter__(self) -> _Owner:
        with errors_mapped():
            conn = self.engine.connect()
            try:
                if conn.dialect.name == "sqlite":
                    _sqlite_pragma(conn, "synchronous = FULL")
                conn = conn.execution_options(mgstore_write=True)
            except BaseException:
                conn.close()
                raise
        self.conn = conn
        return self

    def transaction(self, body: Callable[[Connection], T], *, durable: bool = True) -> T:
        """Run ``body`` in a write transaction; ``durable=False``: its commit need not reach
        the disk before this returns (the journal row's removal: if it is lost, the row says
        ``recorded`` and a recovery removes it)."""
        conn = self.conn
        assert conn is not None
        postgres = conn.dialect.name == "postgresql"
        if not durable and not postgres:
            _sqlite_pragma(conn, "synchronous = NORMAL")
        with errors_mapped(), conn.begin():
            if postgres and not self.locked:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
                self.locked = True
            if postgres and not durable:
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            return body(conn)

    def release(self, conn: Connection) -> None:
        """Give up the PostgreSQL lock now, in the caller's transaction on this connection."""
        if self.locked:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            self.locked = False

    def __exit__(self, *exc: object) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if self.locked:
                with conn.begin():
                    self.release(conn)
            elif conn.dialect.name == "sqlite":
                _sqlite_pragma(conn, "synchronous = NORMAL")
        except Exception:  # noqa: BLE001 - a connection in doubt is not given back to the pool
            conn.invalidate()
        finally:
            conn.close()


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    """Set a pragma outside any transaction (SQLite refuses some inside one)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _journal(conn: Connection, journal_id: str, planned: list[_File]) -> None:
    conn.execute(
        J.insert(),
        {
            "id": journal_id,
            "path": _column_path(planned[0].target),
            "files": json.dumps([f.to_json() for f in planned]),
            "state": "pending",
            "host": socket.gethostname()[:256],
            "pid": os.getpid(),
            "started": _process_start(os.getpid()),
            "created_at": datetime.now(timezone.utc),
        },
    )


def _forget(conn: Connection, journal_id: str, owner: _Owner | None = None) -> None:
    """Remove the journal row (and let go of its owner's lock, in the same transaction)."""
    conn.execute(J.delete().where(J.c.id == journal_id))
    if owner is not None:
        owner.release(conn)


def _files(row: Any) -> list[_File]:
    return [_File(**item) for item in json.loads(row.files)]


def _owner_alive(conn: Connection, row: Any) -> bool:
    """Whether the process that journaled ``row`` may still be running. A row from another
    host counts as running: its files are on that host's file system, not this one's, and a
    process there settles it."""
    if row.host != socket.gethostname()[:256]:
        return True
    if conn.dialect.name == "postgresql":
        key = _owner_key(row.id)
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        return not got
    return _owner_alive_here(row)


def _owner_alive_here(row: Any) -> bool:
    """SQLite's test: the row's process still runs (another host's cannot be seen: yes;
    PostgreSQL asks the server instead, see :func:`_owner_alive`)."""
    if row.host != socket.gethostname()[:256]:
        return True
    return bool(_process_start(int(row.pid)) == row.started != "gone")


def _process_start(pid: int) -> str:
    """What tells this process from a later one with the same id: boot id and start time on
    Linux (``gone`` for no such process or a zombie), else just whether it exists."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":
            return "gone"
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()
        return f"{boot[:36]}:{fields[19].decode()}"
    except FileNotFoundError:
        return "gone"
    except (OSError, IndexError, ValueError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "gone"
        except OSError:
            pass
        return "running"


def _lock_paths(conn: Connection, keys: list[int]) -> None:
    """Serialise publishers of the same paths until the transaction ends (SQLite's write
    lock does that already)."""
    if conn.dialect.name == "postgresql":
        for key in keys:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _plan(path: str | os.PathLike[str], journal_id: str, sha256: str) -> _File:
    """A target's absolute path (its directory resolved) and the names used beside it."""
    raw = os.fsdecode(os.fspath(path))
    name = os.path.basename(raw)
    if name in ("", ".", ".."):
        raise InputError(f"{path}: not a file name")
    if "\0" in raw:
        raise InputError(f"{raw!r}: a file name cannot contain a NUL character")
    directory = os.path.realpath(os.path.dirname(os.path.abspath(raw)))
    target = os.path.join(directory, name)
    stem = os.fsencode(name)[: _NAME_MAX - len(journal_id) - 6]
    base = os.path.join(directory, f".{os.fsdecode(stem)}.{journal_id}")
    return _File(target, base + ".tmp", base + ".old", base + ".new", sha256)


def _column_path(target: str) -> str:
    return target.encode("utf-8", "backslashreplace").decode("utf-8")


def _path_key(target: str) -> int:
    return _key("path", target)


def _owner_key(journal_id: str) -> int:
    return _key("owner", journal_id)


def _key(kind: str, value: str) -> int:
    digest = hashlib.sha256(f"mgstore:{kind}:{value}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _sync_directory(path: str) -> None:
    """Make a rename, link or removal in ``path``'s directory durable (where it can be)."""
    try:
        fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

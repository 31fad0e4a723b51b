"""Writing files so that no failure or crash leaves half of them: one file or several together.

Each file goes to a temporary file beside its target, synced, then renamed over the target; a
set of files (:func:`published`) appears together or not at all, and a failure, even of the
caller's block run after the renames (a database commit), brings the old files back. Also here:
:func:`check_target`, the refusal of output paths that would destroy a protected file. What the
bytes are is :mod:`mgstore.io`'s business; exports that must survive a crash of the process
add a journal (:mod:`mgstore.publish`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from google.protobuf.message import Message

from mgstore.errors import InputError, OutputError, UnsafePathError
from mgstore.io import file_type, serialize

__all__ = ["Data", "check_target", "published", "write_bytes", "write_message"]

_UMASK = os.umask(0o022)
os.umask(_UMASK)

#: File contents: bytes, or byte chunks to write one after the other.
Data = bytes | Sequence[bytes | memoryview]


def check_target(
    path: str | os.PathLike[str], protected: Iterable[str | os.PathLike[str]], what: str
) -> None:
    """Refuse to write ``path`` if it is one of the ``protected`` files, however it is named:
    through symlinks (of the file or of its directories), ``..``, or as a hard link to the
    same file (same device and inode). ``what`` says what the protected files are. Also
    refused: a path that has a part too long for its file system, holds NUL, or names a
    device, pipe or socket. Called before anything is written (or recorded)."""
    name = os.fsdecode(os.fspath(path))
    if "\0" in name:
        raise InputError(f"{name!r}: a path cannot hold a NUL character")
    _check_name_lengths(name)
    try:
        mode: int | None = os.stat(name).st_mode
    except OSError:
        mode = None  # nothing there yet (or a dangling symlink, which is replaced)
    # A directory there is left to the write, which fails (OutputError) without harm.
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        # Replacing it would put a file where a device, pipe or socket was (as root, a
        # file at /dev/zero): mgstore only ever replaces regular files.
        raise UnsafePathError(
            f"{name}: is a {file_type(mode)}, not a regular file; mgstore writes only files"
        )
    target = os.path.realpath(name)
    identity = _identity(name)
    for other in protected:
        if target == os.path.realpath(other) or (
            identity is not None and identity == _identity(other)
        ):
            raise UnsafePathError(
                f"{name}: this is {what} ({os.fspath(other)}); writing it would destroy it. "
                "Choose another output path"
            )


def _check_name_lengths(name: str) -> None:
    """Refuse a path with a component longer than its file system allows, before anything is
    written (or recorded as failed): ENAMETOOLONG is a bad name, not a failed write."""
    longest = max(Path(name).parts, key=lambda part: len(os.fsencode(part)), default="")
    size = len(os.fsencode(longest))
    if size <= 255:  # what every common file system allows; ask only past that
        return
    probe = Path(os.path.abspath(name)).parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if size > limit:
        raise InputError(
            f"{name}: file name too long ({size} bytes in one part of the path, where the file "
            f"system allows {limit})"
        )


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` (through symlinks), or None if there is none."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def write_message(message: Message, path: str | os.PathLike[str], *, as_text: bool = False) -> Path:
    """Write ``message`` to ``path`` atomically (see :func:`write_bytes`); returns the path."""
    return write_bytes(serialize(message, as_text=as_text), path)


def write_bytes(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write ``data`` to ``path`` atomically: a crash leaves the old file or none, never half.

    Missing parent directories are created (as TensorFlow does) and removed again on failure.
    """
    with published([(data, path)]) as (target,):
        return target


@contextlib.contextmanager
def published(files: Iterable[tuple[Data, str | os.PathLike[str]]]) -> Iterator[list[Path]]:
    """Write several files so that they appear together, or not at all.

    A file's data is bytes, or a sequence of byte chunks written one after the other (so that
    a large file assembled from slices is never joined in memory).

    Each file is written to a temporary file beside its target, then every target is
    replaced; the block then runs (e.g. a database commit). If anything fails, including the
    block, the old files come back (or the new ones go), as do the directories made for them.
    """
    staged: list[_Staged] = []
    try:
        for data, path in files:
            staged.append(_Staged(data, path))
        for item in staged:
            item.publish()
        yield [item.target for item in staged]
    except BaseException:
        for item in reversed(staged):
            item.rollback()
        raise
    for item in staged:
        item.finish()


class _Staged:
    """One file of :func:`published`: written to a temporary file, then put in place."""

    def __init__(self, data: Data, path: str | os.PathLike[str]) -> None:
        if "\0" in os.fspath(path):
            raise InputError(f"{os.fspath(path)!r}: a path cannot hold a NUL character")
        # pathlib drops a trailing "/" or "/.", which would make "file.meta/." name file.meta
        if os.path.basename(os.fspath(path)) in ("", ".", ".."):
            raise InputError(f"{path}: not a file name")
        self.target = Path(path)
        self.backup: Path | None = None
        self.published = False
        self.identity: tuple[int, int] = (-1, -1)  # (device, inode) of the file put in place
        self._parents = _created_parents(self.target.parent)
        self._parents.__enter__()
        try:
            fd, tmp = tempfile.mkstemp(
                dir=self.target.parent, prefix=f".{self.target.name}.", suffix=".tmp"
            )
        except OSError as exc:
            self._parents_failed()
            raise OutputError(f"{self.target}: cannot be written ({exc.strerror or exc})") from None
        self.tmp = Path(tmp)
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a written file gets the usual
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, bytes):
                    fh.write(data)
                else:
                    fh.writelines(data)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._parents_failed()
            if isinstance(exc, OSError):
                raise OutputError(
                    f"{self.target}: cannot be written ({exc.strerror or exc})"
                ) from None
            raise

    def publish(self) -> None:
        try:
            if os.path.lexists(self.target) and not os.path.isdir(self.target):
                self.backup = self._back_up()
            identity = os.stat(self.tmp)
            os.replace(self.tmp, self.target)
            self.published = True
            self.identity = (identity.st_dev, identity.st_ino)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot be written ({exc.strerror or exc})") from None

    def _back_up(self) -> Path:
        """Keep the entry at the target (a file, a symlink...) beside it, to restore it."""
        backup = self.tmp.with_suffix(".old")
        try:
            os.link(self.target, backup, follow_symlinks=False)
        except OSError:  # no hard links here (vfat, some network mounts): copy it instead
            if os.path.islink(self.target):
                os.symlink(os.readlink(self.target), backup)
            elif os.path.isfile(self.target):
                shutil.copy2(self.target, backup)
            else:
                raise
        return backup

    def rollback(self) -> None:
        with contextlib.suppress(OSError):
            current = os.lstat(self.target) if self.published else None
            # Only our own file is taken back: a later writer's file stays where it is.
            if current is not None and (current.st_dev, current.st_ino) == self.identity:
                if self.backup is not None:
                    os.replace(self.backup, self.target)
                else:
                    os.unlink(self.target)
        for leftover in (self.tmp, self.backup):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        self._parents_failed()

    def finish(self) -> None:
        if self.backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.backup)
        self._parents.__exit__(None, None, None)

    def _parents_failed(self) -> None:
        with contextlib.suppress(BaseException):
            self._parents.__exit__(OutputError, OutputError("rolled back"), None)


@contextlib.contextmanager
def _created_parents(directory: Path) -> Iterator[None]:
    """Create ``directory`` and missing parents; remove the ones it made if the body fails."""
    made: list[Path] = []
    probe = directory
    while not probe.exists():
        made.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"{directory}: cannot create directory ({exc.strerror or exc})"
            ) from None
        yield
    except BaseException:
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise

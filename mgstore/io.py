"""Read and write MetaGraphDefs, GraphDefs, SavedModels and GraphDebugInfo files.

Formats are detected from the content: text or binary from the bytes, and the message type from
which candidate parses cleanly (no unknown fields where TensorFlow would write none). The file
extension only breaks ties that the content cannot (an empty file, say). Everything read comes
back as mgstore's own messages (``mgstore.proto``); messages of TensorFlow's own classes are
accepted too and copied by their bytes, so TensorFlow is never imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import message as _message
from google.protobuf import text_format
from google.protobuf import unknown_fields as _unknown_fields
from google.protobuf.descriptor import FieldDescriptor

from mgstore.errors import (
    AmbiguousInputError,
    ArgumentTypeError,
    FormatError,
    InputError,
    OutputError,
    SourceNotFoundError,
    UnsafePathError,
)
from mgstore.proto import POOL, GraphDebugInfo, GraphDef, MetaGraphDef, SavedModel

Message = Any  # a protobuf message of one of mgstore's classes

#: The message kinds mgstore reads, by the name used in errors and in ``Loaded.format``.
KINDS: dict[str, Any] = {
    "MetaGraphDef": MetaGraphDef,
    "GraphDef": GraphDef,
    "SavedModel": SavedModel,
    "GraphDebugInfo": GraphDebugInfo,
}
_BY_FULL_NAME = {cls.DESCRIPTOR.full_name: kind for kind, cls in KINDS.items()}
_GRAPH_KINDS = ("MetaGraphDef", "GraphDef", "SavedModel")
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
SAVED_MODEL_DEBUG_FILE = Path("debug") / "saved_model_debug_info.pb"

# Bytes that never occur in a text-format file but almost always occur early in a binary one
# (tags and lengths of small fields are below 0x20).
_TEXT_BYTES = bytes(b for b in range(256) if b >= 0x20 and b != 0x7F) + b"\t\n\r"
_UNKNOWN_CHECK_BUDGET = 4096
#: The deepest nesting of messages that protobuf's binary decoder reads (upb's default limit).
DECODE_DEPTH_LIMIT = 100
#: Formats whose bytes were already decoded with that limit from the MetaGraphDef down (or
#: from above it), so that the stored MetaGraphDef is known to read back.
DECODED_FORMATS = frozenset({"MetaGraphDef/binary", "SavedModel/binary"})
_UMASK = os.umask(0o022)
os.umask(_UMASK)

#: File contents: bytes, or byte chunks to write one after the other.
Data = bytes | Sequence[bytes | memoryview]


@dataclass(frozen=True)
class Loaded:
    """A graph read from somewhere, with where it came from.

    ``format`` is ``"<Kind>/<binary|text>"`` for files and bytes (``"SavedModel/binary"``...) or
    ``"<Kind>/message"`` for a message passed in; ``sha256`` is that of the file or bytes read.
    ``data`` is what went in: those bytes, or a message's deterministic serialization (what
    a checkout gives back, see :mod:`mgstore.original`); ``meta_graph_index`` is the position of
    the chosen MetaGraphDef in a SavedModel (None for other kinds).
    """

    meta_graph: Message
    debug_info: Message | None
    format: str
    path: Path | None = None
    sha256: str | None = None
    data: bytes | None = dataclasses.field(default=None, repr=False, compare=False)
    meta_graph_index: int | None = None


def load(source: object, *, tags: Iterable[str] | None = None) -> Loaded:
    """Read a graph from a path, bytes or a message, as a MetaGraphDef plus optional debug info.

    ``source`` may be a MetaGraphDef/GraphDef/SavedModel file (binary or text), a SavedModel
    directory, bytes of any of those, or a message (mgstore's or TensorFlow's). A GraphDef is
    wrapped as ``MetaGraphDef(graph_def=...)``. For a SavedModel, ``tags`` picks the MetaGraphDef
    whose tag set equals it; without ``tags`` the SavedModel must hold exactly one. The debug
    information TensorFlow writes beside a ``.meta`` (``<stem>.debug``) or inside a SavedModel
    (``debug/saved_model_debug_info.pb``) is read when present.
    """
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source), tags)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        kind, message, fmt = parse(data, expected=_GRAPH_KINDS)
        meta, index = _as_meta_graph(kind, message, tags, where="the given bytes")
        sha = hashlib.sha256(data).hexdigest()
        return Loaded(meta, None, f"{kind}/{fmt}", None, sha, data, index)
    kind, message = coerce_message(source, expected=_GRAPH_KINDS)
    meta, index = _as_meta_graph(kind, message, tags, where=f"the given {kind}")
    return Loaded(meta, None, f"{kind}/message", None, None, serialize(message), index)


def read_meta_graph(source: object, *, tags: Iterable[str] | None = None) -> Message:
    """The MetaGraphDef of ``source`` (see :func:`load`), without debug info."""
    return load(source, tags=tags).meta_graph


def read_debug_info(source: object) -> Message:
    """A GraphDebugInfo from a path, bytes or message (binary or text)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = _read_bytes(path, "a GraphDebugInfo file")
        _, message, _ = parse(data, expected=("GraphDebugInfo",), where=str(path))
        return message
    if isinstance(source, (bytes, bytearray, memoryview)):
        _, message, _ = parse(bytes(source), expected=("GraphDebugInfo",))
        return message
    return coerce_message(source, expected=("GraphDebugInfo",))[1]


def debug_path_for(path: str | os.PathLike[str]) -> Path:
    """Where TensorFlow puts the debug info of a graph file: ``splitext(path)[0] + ".debug"``."""
    return Path(os.path.splitext(os.fspath(path))[0] + ".debug")


# --------------------------------------------------------------------------------------------
# Parsing


def parse(
    data: bytes,
    *,
    expected: Iterable[str] = tuple(KINDS),
    hint: str | None = None,
    where: str = "the given bytes",
) -> tuple[str, Message, str]:
    """Detect and parse ``data`` as one of the ``expected`` kinds: ``(kind, message, format)``.

    ``format`` is ``"text"`` or ``"binary"``. ``hint`` (a kind) only breaks ties between kinds
    that parse equally cleanly. Raises FormatError naming ``where`` and what was expected.
    """
    kinds = list(expected)
    if hint in kinds:
        kinds.remove(hint)
        kinds.insert(0, hint)
    wanted = " or ".join(kinds)
    if _looks_like_text(data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError(f"{where}: not valid UTF-8 text ({exc}); expected {wanted}") from None
        errors: list[tuple[tuple[int, int], str]] = []
        for kind in kinds:
            message = KINDS[kind]()
            try:
                text_format.Parse(text, message, descriptor_pool=POOL)
            except RecursionError:
                raise FormatError(
                    f"{where}: messages nested deeper than the text parser can follow "
                    f"(Python's recursion limit); protobuf's decoder reads at most "
                    f"{DECODE_DEPTH_LIMIT} levels"
                ) from None
            except text_format.ParseError as exc:
                position = (exc.GetLine() or 0, exc.GetColumn() or 0)
                errors.append((position, f"as {kind}: {exc}"))
                continue
            return kind, message, "text"
        # The kind whose parse got furthest names the real mistake (the first of equals).
        furthest = max(errors, key=lambda error: error[0])[1]
        raise FormatError(f"{where}: text that is not a {wanted} ({furthest})")
    parsed = False
    for kind in kinds:
        message = KINDS[kind]()
        try:
            message.ParseFromString(data)
        except _message.DecodeError:
            continue
        if not _has_unknown_fields(message, [_UNKNOWN_CHECK_BUDGET]):
            return kind, message, "binary"
        parsed = True  # but with unknown fields where this kind has its own: another type
    what = "a protobuf of another message type" if parsed else "truncated or corrupt"
    raise FormatError(f"{where}: {len(data)} bytes that are {what}; expected a {wanted}")


def check_decodable(message: Message, where: str) -> None:
    """Refuse a message that protobuf's binary decoder cannot read back from its own bytes.

    The decoder stops at :data:`DECODE_DEPTH_LIMIT` levels of nested messages; the text parser
    and messages built in memory have no such limit (nested ``AttrValue`` lists and function
    attrs reach it at about 32 levels). A version stored with such nesting could never be
    checked out, queried or exported, so ingest checks first.
    """
    try:
        data = message.SerializeToString()
        type(message).FromString(data)
    except (_message.DecodeError, _message.EncodeError, RecursionError):
        kind = message.DESCRIPTOR.name
        raise FormatError(
            f"{where}: its {kind} nests messages deeper than protobuf's decoder reads back "
            f"({DECODE_DEPTH_LIMIT} levels, counted from the {kind}); it could not be read "
            "from the store, so it is not stored"
        ) from None


def coerce_message(obj: object, *, expected: Iterable[str] = tuple(KINDS)) -> tuple[str, Message]:
    """``(kind, copy)`` of a message of one of the ``expected`` kinds, mgstore's or TensorFlow's."""
    kinds = tuple(expected)
    descriptor = getattr(obj, "DESCRIPTOR", None)
    kind = _BY_FULL_NAME.get(getattr(descriptor, "full_name", ""))
    if kind is None or kind not in kinds or not hasattr(obj, "SerializeToString"):
        got = getattr(descriptor, "full_name", None) or type(obj).__name__
        raise ArgumentTypeError(
            f"expected a path, bytes or a {' / '.join(f'tensorflow.{k}' for k in kinds)} "
            f"message; got {got}"
        )
    if isinstance(obj, KINDS[kind]):
        copy = KINDS[kind]()
        copy.CopyFrom(obj)
        return kind, copy
    return kind, KINDS[kind].FromString(obj.SerializeToString())


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if not head or head.translate(None, _TEXT_BYTES):
        return False
    # Text opens with a field name, "[" (an extension or Any) or a "#" comment; binary whose
    # bytes are all printable (only fields numbered 4 and up, say) mostly opens otherwise.
    start = head.lstrip()[:1]
    return not start or start.isalpha() or start in b"_[#"


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 7 dropped ``label``; 6.x has both.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _has_unknown_fields(message: Message, budget: list[int]) -> bool:
    """Whether ``message`` or (within a budget of visits) its sub-messages look mis-typed.

    An unknown field numbered within the range a message declares is what parsing bytes as the
    wrong type produces; one above that range is what a newer TensorFlow adds, and is kept.
    """
    budget[0] -= 1
    if budget[0] < 0:
        return False
    unknown = _unknown_fields.UnknownFieldSet(message)
    if len(unknown):
        highest = max((f.number for f in message.DESCRIPTOR.fields), default=0)
        if any(item.field_number <= highest for item in unknown):
            return True
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            if value_field.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            items: Iterable[Message] = value.values()
        elif _is_repeated(field):
            items = value
        else:
            items = (value,)
        for item in items:
            if budget[0] < 0:
                return False
            if _has_unknown_fields(item, budget):
                return True
    return False


# --------------------------------------------------------------------------------------------
# Paths


def _load_path(path: Path, tags: Iterable[str] | None) -> Loaded:
    if stat.S_ISDIR(_source_mode(path, "a MetaGraphDef, GraphDef or SavedModel file or directory")):
        for name in SAVED_MODEL_FILES:
            if (path / name).is_file():
                return _load_path(path / name, tags)
        raise InputError(
            f"{path}: a directory without a SavedModel; expected {' or '.join(SAVED_MODEL_FILES)} "
            "in it, or the path of a graph file"
        )
    data = _read_bytes(path, "a MetaGraphDef, GraphDef or SavedModel file or directory")
    hint = _kind_hint(path)
    kind, message, fmt = parse(data, expected=_GRAPH_KINDS, hint=hint, where=str(path))
    meta, index = _as_meta_graph(kind, message, tags, where=str(path))
    debug_file = (
        path.parent / SAVED_MODEL_DEBUG_FILE if kind == "SavedModel" else debug_path_for(path)
    )
    debug = None
    if debug_file != path and _is_regular_file(debug_file):
        debug = read_debug_info(debug_file)
    sha = hashlib.sha256(data).hexdigest()
    return Loaded(meta, debug, f"{kind}/{fmt}", path.resolve(), sha, data, index)


def _source_mode(path: Path, expected: str) -> int:
    """The file type bits of ``path`` (followed through symlinks), or a clear InputError."""
    if "\0" in os.fspath(path):
        raise InputError(f"{os.fspath(path)!r}: a path cannot hold a NUL character")
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        raise SourceNotFoundError(
            f"{path}: no such file or directory; expected {expected}"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_bytes(path: Path, expected: str) -> bytes:
    """The bytes of the regular file ``path``. Anything else (a named pipe, a device, a
    socket) is refused before a byte is read: a pipe would wait forever for a writer, and
    ``/dev/zero`` would fill the memory."""
    _source_mode(path, expected)
    try:
        # O_NONBLOCK: opening a named pipe without a writer returns at once instead of waiting;
        # fstat on the open file then says what was opened, whatever was swapped in meanwhile.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SourceNotFoundError(
            f"{path}: no such file or directory; expected {expected}"
        ) from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory; expected {expected}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory; expected {expected}")
        raise InputError(
            f"{path}: is a {_file_type(mode)}, not a regular file; expected {expected}"
        )
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        try:
            return fh.read()
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, a name too long, a NUL...: no companion there
        return False


def _file_type(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "named pipe"), (stat.S_ISCHR, "character device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "special file")


def _kind_hint(path: Path) -> str | None:
    name = path.name.lower()
    if name.startswith("saved_model."):
        return "SavedModel"
    if name.endswith((".pb", ".pbtxt", ".graphdef")):
        return "GraphDef"
    if name.endswith(".debug"):
        return "GraphDebugInfo"
    return None


def _as_meta_graph(
    kind: str, message: Message, tags: Iterable[str] | None, where: str
) -> tuple[Message, int | None]:
    """The MetaGraphDef of a message, and its position if it was one of a SavedModel's."""
    if kind == "MetaGraphDef":
        return message, None
    if kind == "GraphDef":
        meta = MetaGraphDef()
        meta.graph_def.CopyFrom(message)
        return meta, None
    index = meta_graph_index(message, tags, where=where)
    return message.meta_graphs[index], index


def select_meta_graph(saved_model: Message, tags: Iterable[str] | None, where: str) -> Message:
    """The MetaGraphDef of a SavedModel whose tag set equals ``tags`` (see :func:`load`)."""
    return saved_model.meta_graphs[meta_graph_index(saved_model, tags, where)]


def meta_graph_index(saved_model: Message, tags: Iterable[str] | None, where: str) -> int:
    """The position of the MetaGraphDef :func:`select_meta_graph` chooses."""
    graphs = list(saved_model.meta_graphs)
    available = (
        ", ".join("{" + ", ".join(sorted(m.meta_info_def.tags)) + "}" for m in graphs) or "none"
    )
    if tags is None:
        if len(graphs) == 1:
            return 0
        if not graphs:
            raise InputError(f"{where}: a SavedModel without any MetaGraphDef")
        raise AmbiguousInputError(
            f"{where}: the SavedModel holds {len(graphs)} MetaGraphDefs; choose one by its tags: "
            f"{available}"
        )
    if isinstance(tags, str):
        tags = tags.split(",")
    tag_list: list[object]
    try:
        tag_list = list(tags)
    except TypeError:
        tag_list = [tags]  # reported just below
    if not all(isinstance(t, str) for t in tag_list):
        raise ArgumentTypeError(f"SavedModel tags are str (e.g. ['serve']); got {tags!r}")
    wanted = {t.strip() for t in tag_list if isinstance(t, str) and t.strip()}
    matches = [i for i, m in enumerate(graphs) if set(m.meta_info_def.tags) == wanted]
    if len(matches) != 1:
        problem = "no MetaGraphDef" if not matches else f"{len(matches)} MetaGraphDefs"
        raise AmbiguousInputError(
            f"{where}: {problem} with tags {{{', '.join(sorted(wanted))}}}; tag sets there are: "
            f"{available}"
        )
    return matches[0]


# --------------------------------------------------------------------------------------------
# Writing


def serialize(message: Message, *, as_text: bool = False) -> bytes:
    """The bytes TensorFlow writes for ``message``: deterministic binary, or its text format."""
    if as_text:
        text: str = text_format.MessageToString(message, descriptor_pool=POOL)
        return text.encode("utf-8")
    data: bytes = message.SerializeToString(deterministic=True)
    return data


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
            f"{name}: is a {_file_type(mode)}, not a regular file; mgstore writes only files"
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

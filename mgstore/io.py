"""Read MetaGraphDefs, GraphDefs, SavedModels and GraphDebugInfo files, and serialize them.

Formats are detected from the content: text or binary from the bytes, and the message type from
which candidate parses cleanly (no unknown fields where TensorFlow would write none). The file
extension only breaks ties that the content cannot (an empty file, say). Everything read comes
back as mgstore's own messages (``mgstore.proto``); messages of TensorFlow's own classes are
accepted too and copied by their bytes, so TensorFlow is never imported. Writing files is
:mod:`mgstore.atomic`'s job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from google.protobuf import message as _message
from google.protobuf import text_format
from google.protobuf import unknown_fields as _unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mgstore.errors import (
    AmbiguousInputError,
    ArgumentTypeError,
    FormatError,
    InputError,
    SourceNotFoundError,
)
from mgstore.proto import POOL, GraphDebugInfo, GraphDef, MetaGraphDef, SavedModel

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


@dataclass(frozen=True)
class Loaded:
    """A graph read from somewhere, with where it came from.

    ``format`` is ``"<Kind>/<binary|text>"`` for files and bytes (``"SavedModel/binary"``...) or
    ``"<Kind>/message"`` for a message passed in; ``sha256`` is that of the file or bytes read.
    ``data`` is what went in: those bytes, or a message's deterministic serialization (what
    a checkout gives back, see :mod:`mgstore.original`); ``meta_graph_index`` is the position of
    the chosen MetaGraphDef in a SavedModel (None for other kinds).
    """

    meta_graph: MetaGraphDef
    debug_info: GraphDebugInfo | None
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


def read_meta_graph(source: object, *, tags: Iterable[str] | None = None) -> MetaGraphDef:
    """The MetaGraphDef of ``source`` (see :func:`load`), without debug info."""
    return load(source, tags=tags).meta_graph


def read_debug_info(source: object) -> GraphDebugInfo:
    """A GraphDebugInfo from a path, bytes or message (binary or text)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = _read_bytes(path, "a GraphDebugInfo file")
        _, message, _ = parse(data, expected=("GraphDebugInfo",), where=str(path))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        _, message, _ = parse(bytes(source), expected=("GraphDebugInfo",))
    else:
        message = coerce_message(source, expected=("GraphDebugInfo",))[1]
    return cast(GraphDebugInfo, message)  # the kind expected is the kind parsed


def debug_path_for(path: str | os.PathLike[str]) -> Path:
    """Where TensorFlow puts the debug info of a graph file: ``splitext(path)[0] + ".debug"``
    (what ``export_meta_graph(save_debug_info=True)`` writes, and ingest looks for)."""
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
    return bool(getattr(field, "label", None) == FieldDescriptor.LABEL_REPEATED)


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
        if any(unknown[i].field_number <= highest for i in range(len(unknown))):
            return True
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
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
        raise InputError(f"{path}: is a {file_type(mode)}, not a regular file; expected {expected}")
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


def file_type(mode: int) -> str:
    """What a file that is not regular is, by its mode: a named pipe, a device..."""
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
) -> tuple[MetaGraphDef, int | None]:
    """The MetaGraphDef of a message, and its position if it was one of a SavedModel's."""
    if kind == "MetaGraphDef":
        return cast(MetaGraphDef, message), None
    if kind == "GraphDef":
        meta = MetaGraphDef()
        meta.graph_def.CopyFrom(cast(GraphDef, message))
        return meta, None
    saved_model = cast(SavedModel, message)
    index = meta_graph_index(saved_model, tags, where=where)
    return saved_model.meta_graphs[index], index


def select_meta_graph(
    saved_model: SavedModel, tags: Iterable[str] | None, where: str
) -> MetaGraphDef:
    """The MetaGraphDef of a SavedModel whose tag set equals ``tags`` (see :func:`load`)."""
    return saved_model.meta_graphs[meta_graph_index(saved_model, tags, where)]


def meta_graph_index(saved_model: SavedModel, tags: Iterable[str] | None, where: str) -> int:
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
# Serializing


def serialize(message: Message, *, as_text: bool = False) -> bytes:
    """The bytes TensorFlow writes for ``message``: deterministic binary, or its text format."""
    if as_text:
        text: str = text_format.MessageToString(message, descriptor_pool=POOL)
        return text.encode("utf-8")
    data: bytes = message.SerializeToString(deterministic=True)
    return data

"""The bytes that went in: each version's input form, and its exact file bytes as a delta.

A version's content is the deterministic serialization of its MetaGraphDef (docs/storage.md
§4). The file it came from may hold the same message in another form (a GraphDef, a
SavedModel, text format) and in another encoding of that form (a TensorFlow 1.x writer's field
and map order, other indentation). A checkout gives back that file, byte for byte, so each
version records its *form* (:data:`FORMS`) and its *original* bytes, kept as a delta against
the form's canonical encoding of the stored content (:func:`reference`): nothing when they are
equal, else zlib with the canonical encoding as preset dictionary, chunk by chunk, or plain
zlib when that is smaller (:func:`encode`). See docs/storage.md §10.

Pure functions of bytes: no database, no TensorFlow.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mgstore import lazy

if TYPE_CHECKING:
    from mgstore import byte_layout, proto
else:
    # The CLI's parser needs FORMS, not the protos (nor byte_layout, which imports them).
    proto = lazy.module("mgstore.proto")
    byte_layout = lazy.module("mgstore.byte_layout")

#: The input forms a version can come from (and be converted to on checkout), by name.
FORMS = ("meta", "meta-text", "graphdef", "graphdef-text", "saved-model", "saved-model-text")
#: The form of each ``Loaded.format`` (``"<Kind>/<binary|text|message>"``); a message passed in
#: is kept as its deterministic binary serialization.
_KINDS = {"MetaGraphDef": "meta", "GraphDef": "graphdef", "SavedModel": "saved-model"}
#: The file name suffix a checkout would give each form (for messages and hints).
SUFFIXES = {
    "meta": ".meta",
    "meta-text": ".meta.txt",
    "graphdef": ".pb",
    "graphdef-text": ".pbtxt",
    "saved-model": "saved_model.pb",
    "saved-model-text": "saved_model.pbtxt",
}
#: The SavedModel schema version TensorFlow writes (``saved_model_schema_version``).
SAVED_MODEL_SCHEMA_VERSION = 1

_PLAIN, _CHUNKED = b"z", b"d"  # the first byte of a delta says how it is coded
_CHUNK = 16 * 1024  # original bytes per chunk
_WINDOW = 32 * 1024  # deflate's window: the part of a preset dictionary it can reach
_ANCHOR = 32  # bytes matched to place a chunk in the reference
_ANCHOR_OFFSETS = (0, 512, 4096, 12288)  # where in a chunk anchors are taken
_SEARCH = 64 * 1024  # how far from its expected place an anchor is looked for
_LEVEL = 6  # zlib's default: level 9 costs 3 to 4 times the time for 10% less (80k-node bench)
_GOOD_ENOUGH = 25  # a chunked delta under 1/25 of the bytes is kept without trying plain zlib


class DeltaError(ValueError):
    """A stored delta that does not decode (the caller reports it as damage)."""


def form_of(fmt: str | None) -> str:
    """The form of a ``Loaded.format`` (``"GraphDef/text"`` -> ``"graphdef-text"``); None
    (a networkx graph) is a MetaGraphDef."""
    if fmt is None:
        return "meta"
    kind, _, encoding = fmt.partition("/")
    form = _KINDS[kind]
    return f"{form}-text" if encoding == "text" else form


def is_text(form: str) -> bool:
    return form.endswith("-text")


def check_form(form: object) -> str:
    """``form`` if it names one of :data:`FORMS`, else InputError naming them."""
    from mgstore.errors import InputError

    if not isinstance(form, str) or form not in FORMS:
        raise InputError(f"a checkout form is one of {', '.join(FORMS)}; got {form!r}")
    return form


# --------------------------------------------------------------------------------------------
# The canonical encoding of each form


def reference(form: str, content: bytes) -> bytes:
    """The canonical bytes of a version in ``form``, from its content (the deterministic
    MetaGraphDef bytes): the MetaGraphDef itself, its GraphDef, a SavedModel holding it
    alone (schema version 1), or the text format of one of those."""
    if form == "meta":
        return content
    if form == "graphdef":
        return graph_def_bytes(content)
    if form == "saved-model":
        return _saved_model_bytes(content)
    from mgstore.io import serialize  # text: parse once, write TensorFlow's text format

    if form == "meta-text":
        return serialize(proto.MetaGraphDef.FromString(content), as_text=True)
    if form == "graphdef-text":
        return serialize(proto.GraphDef.FromString(graph_def_bytes(content)), as_text=True)
    if form == "saved-model-text":
        return serialize(proto.SavedModel.FromString(_saved_model_bytes(content)), as_text=True)
    raise ValueError(f"unknown form {form!r}")


def graph_def_bytes(content: bytes) -> bytes:
    """The deterministic GraphDef bytes inside deterministic MetaGraphDef bytes: field 2,
    after field 1 (``meta_info_def``) if present; empty if there is no graph_def."""
    view = memoryview(content)
    pos = 0
    if content[:1] == b"\x0a":
        length, pos = _read_varint(view, 1)
        pos += length
    if content[pos : pos + 1] != b"\x12":
        return b""
    length, pos = _read_varint(view, pos + 1)
    return bytes(view[pos : pos + length])


def _saved_model_bytes(content: bytes) -> bytes:
    return b"".join(
        (b"\x08", _varint(SAVED_MODEL_SCHEMA_VERSION), b"\x12", _varint(len(content)), content)
    )


# --------------------------------------------------------------------------------------------
# Deltas


def encode(original: bytes, ref: bytes) -> bytes | None:
    """The delta that gives ``original`` back from ``ref``: None when they are equal, else
    chunked zlib with ``ref`` as preset dictionary, or plain zlib if that is smaller (tried
    only when the chunked delta is over 1/25 of the bytes)."""
    if original == ref:
        return None
    if not ref:
        return _PLAIN + _deflate(original, None)
    chunked = _chunked(original, ref)
    if len(chunked) * _GOOD_ENOUGH < len(original):
        return chunked
    plain = _PLAIN + _deflate(original, None)
    return chunked if len(chunked) < len(plain) else plain


def decode(delta: bytes, ref: bytes, size: int) -> bytes:
    """The original bytes from a delta and its reference (:func:`encode`); ``size`` is the
    original's recorded length, which bounds the output. DeltaError if it does not decode."""
    try:
        if delta[:1] == _PLAIN:
            out = _inflate(memoryview(delta)[1:], b"", size)
        elif delta[:1] == _CHUNKED:
            out = b"".join(_chunks_decoded(memoryview(delta), ref, size))
        else:
            raise DeltaError("unknown coding")
    except (zlib.error, IndexError) as exc:
        raise DeltaError(str(exc)) from None
    if len(out) != size:
        raise DeltaError(f"decodes to {len(out)} bytes, not {size}")
    return out


def _chunked(original: bytes, ref: bytes) -> bytes:
    """Each chunk of ``original`` deflated with the part of ``ref`` it most likely repeats
    as its dictionary, or, where it equals the reference at the place found for it, that
    place. Header: count, then (dictionary start, dictionary length, stream length) per chunk,
    a stream length of 0 meaning "the dictionary is the chunk"; then the streams."""
    header, streams = [_CHUNKED, _varint((len(original) + _CHUNK - 1) // _CHUNK)], []
    drift: int | None = None  # where the previous chunk was found, relative to its offset
    for start in range(0, len(original), _CHUNK):
        chunk = original[start : start + _CHUNK]
        guess = start + drift if drift is not None else start * len(ref) // len(original)
        found = _place(original, start, len(chunk), ref, guess)
        if found is not None:
            drift = found - start
        at = found if found is not None else guess
        # The dictionary covers the chunk's likely source and a margin before it; deflate
        # reaches the last _WINDOW bytes, so it ends where the chunk's source ends.
        end = min(len(ref), max(0, at) + len(chunk) + (_WINDOW - _CHUNK) // 2)
        begin = max(0, end - _WINDOW)
        if found is not None and found >= 0 and ref[found : found + len(chunk)] == chunk:
            # The chunk repeats the reference: its place and length say it all.
            header += [_varint(found), _varint(len(chunk)), _varint(0)]
            continue
        stream = _deflate(chunk, ref[begin:end])
        header += [_varint(begin), _varint(end - begin), _varint(len(stream))]
        streams.append(stream)
    return b"".join(header + streams)


def _place(original: bytes, start: int, length: int, ref: bytes, guess: int) -> int | None:
    """Where in ``ref`` the chunk at ``start`` of ``original`` begins, found by one of its
    anchors: the occurrence nearest ``guess`` (graphs repeat themselves, so the first one
    in reach may be another layer's); None if no anchor is found."""
    for offset in _ANCHOR_OFFSETS:
        if offset + _ANCHOR > length:
            break
        anchor = original[start + offset : start + offset + _ANCHOR]
        at = max(0, guess + offset)
        if ref.startswith(anchor, at):
            return at - offset
        after = ref.find(anchor, at, at + _SEARCH + _ANCHOR)
        before = ref.rfind(anchor, max(0, at - _SEARCH), at + _ANCHOR - 1)
        hits = [hit for hit in (after, before) if hit >= 0]
        if hits:
            return min(hits, key=lambda hit: abs(hit - at)) - offset
    return None


def _chunks_decoded(delta: memoryview, ref: bytes, size: int) -> Iterator[bytes]:
    count, pos = _read_varint(delta, 1)
    spans = []
    for _ in range(count):
        begin, pos = _read_varint(delta, pos)
        length, pos = _read_varint(delta, pos)
        stream, pos = _read_varint(delta, pos)
        spans.append((begin, length, stream))
    left = size
    for begin, length, stream in spans:
        if begin + length > len(ref) or pos + stream > len(delta):
            raise DeltaError("a chunk reaches past its data")
        if stream == 0:
            if length > left:
                raise DeltaError("a chunk reaches past the original's size")
            left -= length
            yield ref[begin : begin + length]
            continue
        out = _inflate(delta[pos : pos + stream], ref[begin : begin + length], left)
        pos += stream
        left -= len(out)
        yield out
    if pos != len(delta):
        raise DeltaError("bytes after the last chunk")


def _deflate(data: bytes, zdict: bytes | None) -> bytes:
    if zdict:
        packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict)
    else:
        packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9)
    return packer.compress(data) + packer.flush()


def _inflate(data: bytes | memoryview, zdict: bytes, limit: int) -> bytes:
    """Raw deflate ``data`` inflated with ``zdict``, at most ``limit`` bytes (a damaged
    stream cannot make it larger than the original was)."""
    unpacker = zlib.decompressobj(-15, zdict) if zdict else zlib.decompressobj(-15)
    out = unpacker.decompress(data, max(limit, 0) + 1)
    if len(out) > limit or not unpacker.eof or unpacker.unused_data:
        raise DeltaError("a stream does not end where it should")
    return out


def _varint(value: int) -> bytes:
    return byte_layout.varint(value)


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    try:
        return byte_layout.read_varint(data, pos)
    except IndexError:
        raise DeltaError("a length is cut short") from None

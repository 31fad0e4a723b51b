"""A graph as stored parts, and MetaGraphDef bytes assembled from them without parsing.

The deterministic serialization of a MetaGraphDef is, field by field::

    [1: meta_info_def] [2: graph_def = [1: node]* [2..5 + unknown]] [3..7 + unknown]

so a version is kept as three framing blobs (``head``, ``graph_tail``, ``tail``) and its NodeDefs,
each serialized on its own and *framed* (a repeated message field on the wire is a tag, a length
and the message's bytes). Writing the MetaGraphDef back is concatenation of byte slices.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mgstore import node_order
from mgstore.graph import (
    GRAPH_DEF_FIELDS,
    META_FIELDS,
    unknown_field_bytes,
)
from mgstore.io import serialize
from mgstore.proto import GraphDebugInfo, GraphDef, MetaGraphDef

_META_TAIL_FIELDS = (
    "saver_def",
    "collection_def",
    "signature_def",
    "asset_file_def",
    "object_graph_def",
)
_REPEATED_META_FIELDS = ("collection_def", "signature_def", "asset_file_def")
_OFFSET_BITS = node_order.OFFSET_BITS  # (pack, offset) as one int
_NODE_TAG = b"\x0a"  # GraphDef.node: field 1, wire type 2
_GRAPH_DEF_TAG = b"\x12"  # MetaGraphDef.graph_def: field 2, wire type 2


@dataclass(frozen=True)
class StoredNodes:
    """A run of a graph's nodes, column by column, in graph order (columns are cheaper than
    objects)."""

    names: list[str]
    ops: list[str]
    devices: list[str]
    framed: list[bytes]  # each NodeDef deterministically serialized, framed as GraphDef.node
    shas: list[bytes]  # SHA-256 of each NodeDef's (unframed) bytes
    inputs: list[tuple[str, ...]]  # each node's input strings

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class StoredGraph:
    """Everything a version stores. Its nodes are encoded (:func:`encode_nodes`) by the
    writer, run by run, so that encoding overlaps the database's work."""

    node_defs: Sequence[Any]  # the GraphDef's NodeDefs
    head: bytes
    graph_tail: bytes
    tail: bytes
    has_graph_def: bool
    debug: bytes | None
    collections: dict[str, Any]  # name -> CollectionDef
    source: Any = None  # the MetaGraphDef split (the import form is computed from it)

    @property
    def debug_hash(self) -> str | None:
        return None if self.debug is None else hashlib.sha256(self.debug).hexdigest()

    def content(self, body: Iterable[bytes | memoryview]) -> tuple[str, int]:
        """The SHA-256 (hex) and the length of the MetaGraphDef's deterministic bytes, given
        its framed nodes in order (in any number of pieces)."""
        digest = hashlib.sha256()
        size = 0
        for piece in _assembled(self, list(body)):
            digest.update(piece)
            size += len(piece)
        return digest.hexdigest(), size


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(meta_graph: MetaGraphDef, debug_info: GraphDebugInfo | None = None) -> StoredGraph:
    """The stored parts of a MetaGraphDef (and its companion debug info, if any)."""
    head = MetaGraphDef()
    if meta_graph.HasField("meta_info_def"):
        head.meta_info_def.CopyFrom(meta_graph.meta_info_def)
    graph_tail = _graph_def_without_nodes(meta_graph.graph_def)
    rest = MetaGraphDef()
    for field in _META_TAIL_FIELDS:
        value = getattr(meta_graph, field)
        if field in _REPEATED_META_FIELDS:
            getattr(rest, field).MergeFrom(value)
        elif meta_graph.HasField(field):
            getattr(rest, field).CopyFrom(value)
    unknown = unknown_field_bytes(meta_graph, MetaGraphDef, META_FIELDS)
    if unknown:
        rest.MergeFromString(unknown)
    return StoredGraph(
        node_defs=meta_graph.graph_def.node,
        head=serialize(head),
        graph_tail=serialize(graph_tail),
        tail=serialize(rest),
        has_graph_def=meta_graph.HasField("graph_def"),
        debug=None if debug_info is None else serialize(debug_info),
        collections=dict(rest.collection_def),
        source=meta_graph,
    )


def encode_nodes(defs: Iterable[Any]) -> StoredNodes:
    """The stored form of these NodeDefs, in one pass (each element access of a repeated
    protobuf field builds a new Python wrapper, the largest cost of a pass)."""
    nodes = StoredNodes([], [], [], [], [], [])
    names, ops, devices = nodes.names.append, nodes.ops.append, nodes.devices.append
    framed, shas, inputs = nodes.framed.append, nodes.shas.append, nodes.inputs.append
    digest = hashlib.sha256
    for node in defs:
        blob = node.SerializeToString(deterministic=True)
        names(node.name)
        ops(node.op)
        devices(node.device)
        inputs(tuple(node.input))  # tuple() is twice as fast as list() here
        framed(_NODE_TAG + _varint(len(blob)) + blob)
        shas(digest(blob).digest())
    return nodes


def _graph_def_without_nodes(graph_def: GraphDef) -> GraphDef:
    out = GraphDef()
    for field in ("library", "versions", "debug_info"):
        if graph_def.HasField(field):
            getattr(out, field).CopyFrom(getattr(graph_def, field))
    out.version = graph_def.version
    unknown = unknown_field_bytes(graph_def, GraphDef, GRAPH_DEF_FIELDS)
    if unknown:
        out.MergeFromString(unknown)
    return out


def frame(node: bytes) -> bytes:
    """A serialized NodeDef as a ``GraphDef.node`` field: tag, length, bytes."""
    return b"".join((_NODE_TAG, _varint(len(node)), node))


def frame_head(length: int) -> bytes:
    """What :func:`frame` puts before a NodeDef of ``length`` bytes (to write it without a
    copy)."""
    return _NODE_TAG + _varint(length)


def unframe(framed: bytes | memoryview) -> memoryview:
    """The NodeDef bytes inside a ``GraphDef.node`` field (the inverse of :func:`frame`);
    ValueError if ``framed`` is not one whole such field."""
    view = memoryview(framed)
    if len(view) < 2 or view[0] != _NODE_TAG[0]:
        raise ValueError("not a framed NodeDef")
    try:
        length, pos = read_varint(view, 1)
    except IndexError:
        raise ValueError("a framed NodeDef's length is cut short") from None
    if pos + length != len(view):
        raise ValueError("a framed NodeDef's length does not match its bytes")
    return view[pos:]


def node_bodies(chunks: Iterable[bytes | memoryview]) -> Iterator[memoryview]:
    """Each NodeDef's bytes, in order, from ``chunks`` of framed NodeDefs (a GraphDef's node
    fields, cut anywhere: :func:`mgstore.db.versions.body_chunks` cuts a patch's frame after
    its head). A node inside one chunk is a view of it; one cut by a chunk's end is copied.
    ValueError if the chunks are not whole frames."""
    carry = bytearray()  # the start of a frame cut by the end of a chunk
    for chunk in chunks:
        view = memoryview(chunk)
        pos = (yield from _finish_frame(carry, view)) if carry else 0
        end = len(view)
        while pos < end:
            if view[pos] != _NODE_TAG[0]:
                raise ValueError("not a framed NodeDef")
            try:
                length, start = read_varint(view, pos + 1)
            except IndexError:  # the head is cut
                start, length = end, 1
            if start + length > end:
                carry += view[pos:]
                break
            pos = start + length
            yield view[start:pos]
    if carry:
        raise ValueError("the last framed NodeDef is cut short")


def _finish_frame(carry: bytearray, view: memoryview) -> Generator[memoryview, None, int]:
    """Complete the frame begun in ``carry`` with the start of ``view`` (yielding its NodeDef
    once whole, and emptying ``carry``); returns how many bytes of ``view`` it took."""
    pos = 0
    while True:
        try:
            length, start = read_varint(memoryview(bytes(carry[:11])), 1)
        except IndexError:  # the head is still cut
            if len(carry) > 10:
                raise ValueError("a framed NodeDef's length is not a varint") from None
            if pos == len(view):
                return pos
            carry.append(view[pos])
            pos += 1
            continue
        if len(carry) == start and len(view) - pos >= length:  # the body is whole in ``view``
            carry.clear()
            yield view[pos : pos + length]
            return pos + length
        take = min(start + length - len(carry), len(view) - pos)
        carry += view[pos : pos + take]
        if len(carry) < start + length:
            return pos + take
        body = bytes(carry[start:])
        carry.clear()
        yield memoryview(body)
        return pos + take


def assemble(
    head: bytes, graph_tail: bytes, tail: bytes, has_graph_def: bool, body: bytes
) -> bytes:
    """The deterministic MetaGraphDef bytes from its parts; ``body`` is the framed nodes."""
    stored = StoredGraph((), head, graph_tail, tail, has_graph_def, None, {})
    return b"".join(_assembled(stored, [body]))


def _assembled(stored: StoredGraph, body: list[bytes | memoryview]) -> list[bytes | memoryview]:
    """The pieces of the deterministic MetaGraphDef bytes, in order."""
    size = sum(map(len, body)) + len(stored.graph_tail)
    if not (stored.has_graph_def or size):
        return [stored.head, stored.tail]
    return [stored.head, _GRAPH_DEF_TAG + _varint(size), *body, stored.graph_tail, stored.tail]


def pack_locations(locations: Iterable[tuple[int, int, int]]) -> bytes:
    """A compact encoding of (pack, offset, length) per node, in order (deltas, zlib): the
    whole encoding of :mod:`mgstore.node_order`.

    Consecutive nodes of one pack give zero deltas, so a version costs a few bytes per node.
    """
    return node_order.encode(node_order.flat(locations))


def unpack_locations(data: bytes) -> list[tuple[int, int, int]]:
    """The (pack, offset, length) of each node, in order: the inverse of pack_locations."""
    return node_order.locations(node_order.decode(data))


def positions(data: bytes, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The positions in the order of the nodes at ``wanted`` (pack, offset) locations.

    The order's index (location to position) is built in C (iterators over the decoded
    array) and kept for the few versions read last, so that a query that keeps a few nodes
    of a large version costs in proportion to those nodes once the version was read.
    """
    return positions_in(_position_index(bytes(data)), wanted)


def positions_in(
    index: dict[int, int], wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The positions of the ``wanted`` (pack, offset) locations in an order's index
    (:func:`mgstore.node_order.position_index`); locations not in it are left out."""
    found = {}
    for pack, offset in wanted:
        position = index.get((pack << _OFFSET_BITS) | offset)
        if position is not None:
            found[(pack, offset)] = position
    return found


@functools.lru_cache(maxsize=4)
def _position_index(data: bytes) -> dict[int, int]:
    """(pack << _OFFSET_BITS | offset) -> position, for an encoded order (pack_locations).
    Cached by the encoded bytes themselves: a version's order never changes, and a changed
    order is another key."""
    return node_order.position_index(node_order.decode(data))


def unpack_runs(data: bytes) -> list[tuple[int, int, int]]:
    """Like :func:`unpack_locations`, with nodes that lie back to back merged into one run.

    A checkout then joins a few slices instead of one per node.
    """
    return node_order.runs(node_order.decode(data))


def insert_graph_def(
    meta_graph: bytes, graph_def: Sequence[bytes | memoryview]
) -> list[bytes | memoryview]:
    """Deterministic MetaGraphDef bytes, in chunks, with a graph_def (field 2, given as the
    chunks of its bytes) inserted after field 1 (meta_info_def, which must come first)."""
    if not meta_graph.startswith(b"\x0a"):
        raise ValueError("expected a MetaGraphDef whose first field is meta_info_def")
    length, pos, shift = 0, 1, 0
    while True:
        byte = meta_graph[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if byte < 0x80:
            break
    end = pos + length
    size = sum(len(chunk) for chunk in graph_def)
    return [meta_graph[:end], _GRAPH_DEF_TAG + _varint(size), *graph_def, meta_graph[end:]]


def varint(value: int) -> bytes:
    """The protobuf varint encoding of a non-negative ``value``."""
    return _varint(value)


def _varint(value: int) -> bytes:
    if value < len(_SMALL_VARINTS):
        return _SMALL_VARINTS[value]
    return _encode_varint(value)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [_encode_varint(i) for i in range(1 << 14)]


def fields(data: bytes | memoryview) -> list[tuple[int, int, int]] | None:
    """The top-level fields of a serialized message: (field number, start of its value, end),
    in their order; a length-delimited value is its bytes, other values their encoding. None
    if ``data`` is not a well-formed sequence of fields (or holds groups)."""
    view = memoryview(data)
    found, pos, end = [], 0, len(view)
    try:
        while pos < end:
            tag, pos = read_varint(view, pos)
            number, kind = tag >> 3, tag & 7
            if kind == 0:
                start = pos
                _, pos = read_varint(view, pos)
            elif kind == 2:
                length, start = read_varint(view, pos)
                pos = start + length
            elif kind in (1, 5):
                start, pos = pos, pos + (8 if kind == 1 else 4)
            else:
                return None
            if number == 0 or pos > end:
                return None
            found.append((number, start, pos))
    except IndexError:
        return None
    return found


def without_fields(data: bytes, drop: Callable[[int, memoryview], bool]) -> bytes:
    """A serialized message without the top-level fields for which ``drop(number, value)`` is
    true (the others byte for byte, in their order); ``data`` itself when it is not well
    formed (its parser will say so) or nothing is dropped."""
    found = fields(data)
    if found is None:
        return data
    view = memoryview(data)
    kept: list[bytes | memoryview] = []
    field_start, dropped = 0, False
    for number, start, end in found:
        if drop(number, view[start:end]):
            dropped = True
        else:
            kept.append(view[field_start:end])
        field_start = end
    return b"".join(kept) if dropped else data


def read_varint(view: memoryview, pos: int) -> tuple[int, int]:
    """The protobuf varint at ``pos`` and the position after it; IndexError if it runs past
    the end or is longer than 10 bytes."""
    value = shift = 0
    while True:
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError("a varint longer than 10 bytes")

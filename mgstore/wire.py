"""A graph as stored parts, and MetaGraphDef bytes assembled from them without parsing.

The deterministic serialization of a MetaGraphDef is, field by field::

    [1: meta_info_def] [2: graph_def = [1: node]* [2..5 + unknown]] [3..7 + unknown]

so a version is kept as three framing blobs (``head``, ``graph_tail``, ``tail``) and its NodeDefs,
each serialized on its own. Writing the MetaGraphDef back is concatenation: a repeated message
field on the wire is a tag, a length and the message's bytes.
"""

from __future__ import annotations

import hashlib
import zlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from mgstore.graph import from_networkx, node_def, parse_input
from mgstore.io import serialize
from mgstore.proto import GraphDef, MetaGraphDef

_NODE_TAG = b"\x0a"  # GraphDef.node: field 1, wire type 2
_GRAPH_DEF_TAG = b"\x12"  # MetaGraphDef.graph_def: field 2, wire type 2


@dataclass(frozen=True)
class StoredNode:
    name: str
    op: str
    device: str
    data: bytes  # the NodeDef, deterministically serialized
    sha256: bytes
    inputs: tuple[tuple[str, int, bool], ...]  # (producer, output, control) per input slot


@dataclass(frozen=True)
class StoredGraph:
    """Everything a version stores, ready for the tables."""

    nodes: list[StoredNode]
    head: bytes
    graph_tail: bytes
    tail: bytes
    has_graph_def: bool
    debug: bytes | None
    collections: dict[str, Any]  # name -> CollectionDef
    content_hash: str  # SHA-256 of the MetaGraphDef's deterministic bytes
    size: int  # length of those bytes

    @property
    def debug_hash(self) -> str | None:
        return None if self.debug is None else hashlib.sha256(self.debug).hexdigest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split(g: nx.MultiDiGraph) -> StoredGraph:
    """The stored parts of a graph in the networkx form of :mod:`mgstore.graph`."""
    nodes = []
    for name, data in g.nodes(data=True):
        node = node_def(name, data, g)
        blob = node.SerializeToString(deterministic=True)
        nodes.append(
            StoredNode(
                name=name,
                op=node.op,
                device=node.device,
                data=blob,
                sha256=sha256(blob),
                inputs=tuple(parse_input(text) for text in node.input),
            )
        )
    frame = from_networkx(_without_nodes(g))
    head = MetaGraphDef()
    if frame.HasField("meta_info_def"):
        head.meta_info_def.CopyFrom(frame.meta_info_def)
    graph_tail = GraphDef()
    graph_tail.CopyFrom(frame.graph_def)
    rest = MetaGraphDef()
    rest.CopyFrom(frame)
    rest.ClearField("meta_info_def")
    rest.ClearField("graph_def")
    debug_info = g.graph.get("debug_info")
    has_graph_def = bool(g.graph.get("has_graph_def", True)) or len(g) > 0
    parts = (serialize(head), serialize(graph_tail), serialize(rest))
    content = assemble(parts[0], parts[1], parts[2], has_graph_def, (n.data for n in nodes))
    return StoredGraph(
        nodes=nodes,
        head=parts[0],
        graph_tail=parts[1],
        tail=parts[2],
        has_graph_def=has_graph_def,
        debug=None if debug_info is None else serialize(debug_info),
        collections=dict(frame.collection_def),
        content_hash=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )


def assemble(
    head: bytes, graph_tail: bytes, tail: bytes, has_graph_def: bool, nodes: Iterable[bytes]
) -> bytes:
    """The deterministic MetaGraphDef bytes of the stored parts (see the module docstring)."""
    body = b"".join(b"".join((_NODE_TAG, _varint(len(n)), n)) for n in nodes) + graph_tail
    graph_def = _GRAPH_DEF_TAG + _varint(len(body)) + body if has_graph_def or body else b""
    return b"".join((head, graph_def, tail))


def pack_ids(ids: Sequence[int]) -> bytes:
    """A compact, order-preserving encoding of node row ids (deltas, zlib-compressed)."""
    deltas = array("q", (b - a for a, b in zip((0, *ids), ids, strict=False)))
    return zlib.compress(deltas.tobytes(), 6)


def unpack_ids(data: bytes) -> list[int]:
    deltas = array("q")
    deltas.frombytes(zlib.decompress(data))
    total, out = 0, []
    for d in deltas:
        total += d
        out.append(total)
    return out


def _without_nodes(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    frame = nx.MultiDiGraph()
    frame.graph.update(g.graph)
    return frame


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)

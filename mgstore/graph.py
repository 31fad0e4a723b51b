"""MetaGraphDef ⇄ networkx, without loss.

A graph is a ``networkx.MultiDiGraph`` whose nodes are keyed by op name, in the GraphDef's order.
Each node carries:

==========================  ===============================================================
``op``                      the op type (str)
``device``                  the device string as stored (str, may be empty)
``inputs``                  the input strings, in order, exactly as stored (``a``, ``a:1``, ``^c``)
``attr``                    dict of attribute name → ``AttrValue``
``experimental_debug_info`` ``NodeDef.ExperimentalDebugInfo`` or None
``experimental_type``       ``FullTypeDef`` or None
``unknown_fields``          serialized fields this protobuf schema does not know (usually b"")
==========================  ===============================================================

An edge runs from producer to consumer for every input that names a node of the graph, keyed
by the input's position; its data is ``input`` (that position), ``output`` (the producer's output
index, -1 for a control input) and ``control`` (bool). ``inputs`` is the source of truth: the
edges mirror it for graph algorithms. A node without ``inputs`` (one a user added) gets its
inputs from its in-edges, ordered by ``input``; :func:`add_op` keeps both in step.

The graph-level parts of the MetaGraphDef live in ``g.graph`` under the keys of
:data:`GRAPH_KEYS`; messages are None when absent, so "present but empty" survives the trip.
``g.graph["debug_info"]`` holds the companion GraphDebugInfo, if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
from google.protobuf import unknown_fields as _unknown_fields
from google.protobuf.message import DecodeError, Message

from mgstore.errors import ArgumentTypeError, FormatError, InvalidGraphError
from mgstore.io import DECODE_DEPTH_LIMIT
from mgstore.proto import AttrValue, GraphDebugInfo, GraphDef, MetaGraphDef, NodeDef, copy_of

#: Keys of ``g.graph`` and what each holds (None = absent).
GRAPH_KEYS: dict[str, str] = {
    "meta_info_def": "MetaGraphDef.MetaInfoDef or None",
    "has_graph_def": "whether the MetaGraphDef has a graph_def field at all (bool)",
    "library": "FunctionDefLibrary or None",
    "versions": "VersionDef or None",
    "graph_def_version": "GraphDef.version, the deprecated field 3 (int)",
    "graph_def_debug_info": "GraphDef.debug_info (GraphDebugInfo or None)",
    "graph_def_unknown_fields": "unknown fields of the GraphDef (bytes)",
    "saver_def": "SaverDef or None",
    "collection_def": "dict of collection name -> CollectionDef",
    "signature_def": "dict of signature key -> SignatureDef",
    "asset_file_def": "list of AssetFileDef",
    "object_graph_def": "SavedObjectGraph or None",
    "unknown_fields": "unknown fields of the MetaGraphDef (bytes)",
    "debug_info": "the companion GraphDebugInfo (the .debug file) or None",
}

NODE_FIELDS = (
    "name",
    "op",
    "input",
    "device",
    "attr",
    "experimental_debug_info",
    "experimental_type",
)
GRAPH_DEF_FIELDS = ("node", "library", "version", "versions", "debug_info")
META_FIELDS = (
    "meta_info_def",
    "graph_def",
    "saver_def",
    "collection_def",
    "signature_def",
    "asset_file_def",
    "object_graph_def",
)


def parse_input(text: str) -> tuple[str, int, bool]:
    """Split an input string into ``(node name, output index, is_control)``.

    ``"^c"`` → ``("c", -1, True)``; ``"a:1"`` → ``("a", 1, False)``; ``"a"`` → ``("a", 0, False)``.
    """
    if text.startswith("^"):
        return text[1:], -1, True
    if ":" not in text:
        return text, 0, False
    name, sep, index = text.rpartition(":")
    if sep and index.isascii() and index.isdigit():  # not "²", which int() refuses
        return name, int(index), False
    return text, 0, False


def format_input(name: str, output: int, control: bool) -> str:
    """The input string for an edge: the inverse of :func:`parse_input` (``a:0`` is ``a``)."""
    if control:
        return "^" + name
    return name if output == 0 else f"{name}:{output}"


def to_networkx(
    meta_graph: MetaGraphDef, debug_info: GraphDebugInfo | None = None
) -> nx.MultiDiGraph:
    """The networkx form of a MetaGraphDef (see the module docstring); the input is not shared."""
    if not isinstance(meta_graph, MetaGraphDef):
        raise ArgumentTypeError(
            f"expected an mgstore.proto.MetaGraphDef; got {type(meta_graph).__name__} "
            "(mgstore.io.load reads paths, bytes and TensorFlow's messages)"
        )
    meta = MetaGraphDef()
    meta.CopyFrom(meta_graph)  # one copy in C; the graph then refers into it
    return networkx_of(meta, debug_info)


def networkx_of(meta: MetaGraphDef, debug_info: GraphDebugInfo | None = None) -> nx.MultiDiGraph:
    """:func:`to_networkx` of a MetaGraphDef the caller hands over: the graph refers into
    ``meta`` (not copied), which the caller leaves alone from then on (a query's result, made
    from bytes it has just parsed)."""
    graph_def = meta.graph_def
    g = nx.MultiDiGraph()
    g.graph.update(
        meta_info_def=meta.meta_info_def if meta.HasField("meta_info_def") else None,
        has_graph_def=meta.HasField("graph_def"),
        library=graph_def.library if graph_def.HasField("library") else None,
        versions=graph_def.versions if graph_def.HasField("versions") else None,
        graph_def_version=graph_def.version,
        graph_def_debug_info=graph_def.debug_info if graph_def.HasField("debug_info") else None,
        graph_def_unknown_fields=unknown_field_bytes(graph_def, GraphDef, GRAPH_DEF_FIELDS),
        saver_def=meta.saver_def if meta.HasField("saver_def") else None,
        collection_def=dict(meta.collection_def),
        signature_def=dict(meta.signature_def),
        asset_file_def=list(meta.asset_file_def),
        object_graph_def=meta.object_graph_def if meta.HasField("object_graph_def") else None,
        unknown_fields=unknown_field_bytes(meta, MetaGraphDef, META_FIELDS),
        debug_info=None if debug_info is None else copy_of(debug_info),
    )
    nodes = graph_def.node
    g.add_nodes_from((node.name, _node_data(node)) for node in nodes)
    if len(g) != len(nodes):
        check_unique_names([node.name for node in nodes])
    add_edge = g.add_edge
    for src, dst, slot, data in _edges(g):
        add_edge(src, dst, slot, **data)
    return g


def check_unique_names(names: Iterable[str], seen: set[str] | None = None) -> None:
    """Raise InvalidGraphError naming the first node name that occurs twice.

    ``seen`` holds the names met before (in earlier runs of one graph); ``names`` are added.
    """
    seen = set() if seen is None else seen
    for name in names:
        if name in seen:
            raise InvalidGraphError(f"node {name!r} is not unique; node names must be")
        seen.add(name)


def from_networkx(g: nx.MultiDiGraph) -> MetaGraphDef:
    """The MetaGraphDef of a graph in the form of :func:`to_networkx` (graph parts optional)."""
    if not isinstance(g, nx.MultiDiGraph):
        raise ArgumentTypeError(f"expected a networkx.MultiDiGraph; got {type(g).__name__}")
    attrs = g.graph
    meta = MetaGraphDef()
    if attrs.get("meta_info_def") is not None:
        meta.meta_info_def.CopyFrom(attrs["meta_info_def"])
    graph_def = meta.graph_def
    try:  # extend copies each NodeDef through its bytes, so the decoder's limit applies
        graph_def.node.extend(node_def(name, data, g) for name, data in g.nodes(data=True))
    except DecodeError:
        raise _too_deep("a node") from None
    for field in ("library", "versions"):
        if attrs.get(field) is not None:
            getattr(graph_def, field).CopyFrom(attrs[field])
    graph_def.version = attrs.get("graph_def_version", 0)
    if attrs.get("graph_def_debug_info") is not None:
        graph_def.debug_info.CopyFrom(attrs["graph_def_debug_info"])
    if attrs.get("graph_def_unknown_fields"):
        graph_def.MergeFromString(attrs["graph_def_unknown_fields"])
    if not attrs.get("has_graph_def", True) and len(g) == 0 and graph_def.ByteSize() == 0:
        meta.ClearField("graph_def")
    if attrs.get("saver_def") is not None:
        meta.saver_def.CopyFrom(attrs["saver_def"])
    for key, value in (attrs.get("collection_def") or {}).items():
        meta.collection_def[key].CopyFrom(value)
    for key, value in (attrs.get("signature_def") or {}).items():
        meta.signature_def[key].CopyFrom(value)
    meta.asset_file_def.extend(attrs.get("asset_file_def") or ())
    if attrs.get("object_graph_def") is not None:
        meta.object_graph_def.CopyFrom(attrs["object_graph_def"])
    if attrs.get("unknown_fields"):
        meta.MergeFromString(attrs["unknown_fields"])
    return meta


def node_def(name: str, data: Mapping[str, Any], g: nx.MultiDiGraph | None = None) -> NodeDef:
    """The NodeDef of one node of the networkx form (its in-edges in ``g`` if it has no inputs)."""
    op = data.get("op")
    if not isinstance(op, str):
        raise InvalidGraphError(f"node {name!r} has no op (a str under the key 'op')")
    inputs = data.get("inputs")
    if inputs is None:
        inputs = inputs_from_edges(g, name) if g is not None else ()
    try:
        node = NodeDef(
            name=name,
            op=op,
            input=inputs,
            device=data.get("device") or "",
            attr=data.get("attr") or {},
        )
    except (TypeError, ValueError) as exc:
        raise InvalidGraphError(f"node {name!r}: {exc}") from None
    except DecodeError:  # the constructor copies attrs through their bytes
        raise _too_deep(f"node {name!r}") from None
    for field in ("experimental_debug_info", "experimental_type"):
        if data.get(field) is not None:
            getattr(node, field).CopyFrom(data[field])
    if data.get("unknown_fields"):
        node.MergeFromString(data["unknown_fields"])
    return node


def _too_deep(what: str) -> FormatError:
    return FormatError(
        f"{what}: its attrs nest messages deeper than protobuf's decoder reads back "
        f"({DECODE_DEPTH_LIMIT} levels)"
    )


def inputs_from_edges(g: nx.MultiDiGraph, name: str) -> list[str]:
    """A node's input strings rebuilt from its in-edges, in the order of their ``input`` slot."""
    edges = sorted(g.in_edges(name, data=True), key=lambda e: e[2].get("input", 0))
    return [format_input(src, d.get("output", 0), bool(d.get("control"))) for src, _, d in edges]


def add_op(
    g: nx.MultiDiGraph,
    name: str,
    op: str,
    inputs: Iterable[str] = (),
    *,
    device: str = "",
    attr: Mapping[str, AttrValue] | None = None,
) -> None:
    """Add (or replace) a node with its inputs and the edges that mirror them."""
    # Check everything before touching ``g``, so a refused call leaves it as it was.
    texts = [] if isinstance(inputs, (str, bytes)) else list(inputs)
    if isinstance(inputs, (str, bytes)) or not all(isinstance(t, str) for t in texts):
        raise ArgumentTypeError(f"inputs of {name!r} must be an iterable of str; got {inputs!r}")
    attrs = {k: _attr_value(v) for k, v in (attr or {}).items()}
    if name in g:
        g.remove_edges_from(list(g.in_edges(name, keys=True)))
    g.add_node(
        name,
        op=op,
        device=device,
        inputs=texts,
        attr=attrs,
        experimental_debug_info=None,
        experimental_type=None,
        unknown_fields=b"",
    )
    for slot, text in enumerate(g.nodes[name]["inputs"]):
        src, output, control = parse_input(text)
        if src in g:
            g.add_edge(src, name, key=slot, input=slot, output=output, control=control)


def _attr_value(value: object) -> AttrValue:
    if isinstance(value, AttrValue):
        return value
    raise ArgumentTypeError(
        f"attr values must be mgstore.proto.AttrValue; got {type(value).__name__}"
    )


def _node_data(node: NodeDef) -> dict[str, Any]:
    return {
        "op": node.op,
        "device": node.device,
        "inputs": list(node.input),
        # items(): dict(map) looks each key up again, three times the cost on protobuf's upb
        "attr": dict(node.attr.items()),
        "experimental_debug_info": (
            node.experimental_debug_info if node.HasField("experimental_debug_info") else None
        ),
        "experimental_type": (
            node.experimental_type if node.HasField("experimental_type") else None
        ),
        "unknown_fields": unknown_field_bytes(node, NodeDef, NODE_FIELDS),
    }


def _edges(g: nx.MultiDiGraph) -> Iterable[tuple[str, str, int, dict[str, Any]]]:
    for name, inputs in g.nodes(data="inputs"):
        for slot, text in enumerate(inputs):
            src, output, control = parse_input(text)
            if src in g:
                yield src, name, slot, {"input": slot, "output": output, "control": control}


def unknown_field_bytes(message: Message, cls: type[Message], known: tuple[str, ...]) -> bytes:
    """The serialized unknown fields of ``message`` (b"" in the usual case, cheaply)."""
    if not len(_unknown_fields.UnknownFieldSet(message)):
        return b""
    rest = cls()
    rest.CopyFrom(message)
    for field in known:
        rest.ClearField(field)
    data: bytes = rest.SerializeToString()
    return data

"""The graph TensorFlow holds after importing a stored MetaGraphDef (spec section 2).

:func:`import_meta_graph` runs the steps of :mod:`mgstore.export.normalize` in TensorFlow's
order and keeps what every export reads: the nodes in import order with their attrs, devices
and ``_output_shapes`` as an export emits them, the merged versions, the function library in
both export orders, and the restored collections. It depends only on the stored version, so
one result serves any number of exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mgstore.export import normalize as nz
from mgstore.export.registry import load_registry
from mgstore.proto import (
    AttrValue,
    FunctionDefLibrary,
    GraphDebugInfo,
    MetaGraphDef,
    NodeDef,
    OpDef,
    VersionDef,
)

__all__ = ["ImportedGraph", "import_meta_graph", "num_outputs"]

_OUTPUT_SHAPES = "_output_shapes"


@dataclass(frozen=True)
class ImportedGraph:
    """What ``import_scoped_meta_graph(S)`` leaves in a fresh graph, as export reads it.

    ``nodes`` are in import order (2.2) with the stored input strings (path R's form), attrs
    normalised (2.3), final devices (2.5, 2.6) and the ``_output_shapes`` an export adds: the
    stored shapes for a node with outputs, none otherwise (2.4; no shape inference).
    ``held_sizes`` are the byte sizes TensorFlow's 2 GB check sums (the node without
    ``_output_shapes``). ``library_p``/``library_r`` are the function library in path P's
    and path R's order (None: absent). ``collections`` are in restoration order.
    """

    nodes: tuple[NodeDef, ...]
    held_sizes: tuple[int, ...]
    versions: VersionDef
    library_p: FunctionDefLibrary | None
    library_r: FunctionDefLibrary | None
    collections: Mapping[str, nz.RestoredCollection]
    debug_info: GraphDebugInfo | None = None


def import_meta_graph(
    meta_graph: MetaGraphDef,
    debug_info: GraphDebugInfo | None = None,
    registry: Mapping[str, OpDef] | None = None,
) -> ImportedGraph:
    """Import ``meta_graph`` as TensorFlow 2.21 does, raising its errors in its order.

    Every failure is an :class:`~mgstore.errors.InvalidGraphError` (a ``ValueError``) with
    TensorFlow's message where it has one. ``meta_graph`` is not modified.
    """
    registry = registry if registry is not None else load_registry()
    graph_def = meta_graph.graph_def
    library = graph_def.library if graph_def.HasField("library") else None
    # 1. a non-empty unbound_inputs collection fails first (12.1)
    unbound = nz.UNBOUND_INPUTS_KEY
    if unbound in meta_graph.collection_def:
        nz.restore_collections({unbound: meta_graph.collection_def[unbound]})
    # 2. versions, 3. names, ops, inputs and (as nodes are created) colocation targets
    versions = nz.merged_versions(
        graph_def.versions if graph_def.HasField("versions") else None, library
    )
    stored = list(graph_def.node)
    order = nz.import_order(stored, versions=graph_def.versions)
    # 4. the function library
    library_r = nz.path_r_library(library)
    functions = {f.signature.name: f.signature for f in (library_r.function if library_r else ())}
    # 5. registered ops and stored shapes, in import order
    producer_ops = (
        meta_graph.meta_info_def.stripped_op_list
        if meta_graph.meta_info_def.HasField("stripped_op_list")
        else None
    )
    normal: list[NodeDef] = []
    for i in order:
        node = stored[i]
        op_def = registry.get(node.op) or functions.get(node.op)
        if op_def is None:
            raise nz.import_error(
                f"Op type not registered '{node.op}' in TensorFlow 2.21 (node '{node.name}'): "
                "TensorFlow's import fails with NotFoundError",
                graph_def.versions,
            )
        out = nz.normalize_attrs(node, registry, producer_ops, remove_output_shapes=True)
        _set_output_shapes(out, node, op_def, graph_def.versions)
        normal.append(out)
    # 6. devices and colocation, then collections
    devices = nz.colocated_devices(stored, order)
    for out, i in zip(normal, order, strict=True):
        out.device = devices[i]
    library_p = nz.path_p_library(library) if library_r is not None else None
    collections = nz.restore_collections(
        meta_graph.collection_def, meta_graph.meta_info_def.tensorflow_version
    )
    return ImportedGraph(
        nodes=tuple(normal),
        held_sizes=tuple(_held_size(n) for n in normal),
        versions=versions,
        library_p=library_p,
        library_r=library_r,
        collections=collections,
        debug_info=debug_info,
    )


def num_outputs(node: NodeDef, op_def: OpDef) -> int | None:
    """How many outputs ``node`` has under ``op_def``; None if its attrs leave it unknown."""
    count = 0
    for arg in op_def.output_arg:
        if arg.number_attr:
            value = node.attr.get(arg.number_attr)
            if value is None or value.WhichOneof("value") != "i":
                return None
            count += value.i
        elif arg.type_list_attr:
            value = node.attr.get(arg.type_list_attr)
            if value is None or value.WhichOneof("value") not in ("list", None):
                return None
            count += len(value.list.type)
        else:
            count += 1
    return count


def _set_output_shapes(out: NodeDef, stored: NodeDef, op_def: OpDef, versions: VersionDef) -> None:
    """Give ``out`` the ``_output_shapes`` an export adds (2.4), from the stored ones."""
    outputs = num_outputs(out, op_def)
    if not outputs:
        return  # no outputs: TensorFlow ignores stored shapes and adds none
    value = stored.attr.get(_OUTPUT_SHAPES)
    if value is None or _OUTPUT_SHAPES in out.attr:
        return  # no stored shapes (TensorFlow would infer them), or not a list of shapes
    if len(value.list.shape) != outputs:
        raise nz.import_error(
            f"Node '{stored.name}' has {outputs} outputs but the _output_shapes attribute "
            f"specifies shapes for {len(value.list.shape)} outputs",
            versions,
        )
    out.attr[_OUTPUT_SHAPES].CopyFrom(AttrValue(list=AttrValue.ListValue(shape=value.list.shape)))


def _held_size(node: NodeDef) -> int:
    """``node.ByteSize()`` without its ``_output_shapes`` entry (what the 2 GB check sums)."""
    size: int = node.ByteSize()
    value = node.attr.get(_OUTPUT_SHAPES)
    if value is None:
        return size
    value_size: int = value.ByteSize()
    entry = 1 + 1 + len(_OUTPUT_SHAPES) + 1 + _varint_size(value_size) + value_size
    return size - (1 + _varint_size(entry) + entry)


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)

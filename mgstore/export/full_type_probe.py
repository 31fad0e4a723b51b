"""Probes of TensorFlow 2.21's full-type constructors, for ``generate_registry`` (imports TF).

TF 2.21's importer types a node when its op has a constructor (docs/old-producers.md). Most
constructors show in the OpDef (their output args' ``experimental_full_type``, bundled with the
registry); two things do not, and are measured here by importing small probe graphs:

* the FullTypeId each DataType becomes when a type variable is substituted (TF's
  ``map_dtype_to_tensor``): read off ``RaggedTensorToVariant``, whose type is
  ``TFT_RAGGED[VAR Tvalues]``;
* constructors that leave the OpDef as it was: an op without outputs whose nodes are typed
  at import (``MakeIterator``: ``TFT_PRODUCT``). Every op without outputs is probed.

Only :mod:`mgstore.export.generate_registry` and the golden generator use this module.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

FUNC_NAME = "old_fn"  # the function every func attr of a probe names


def probe_attr_value(attr_def: Any, overrides: dict[str, Any], attr_value_pb2: Any) -> Any:
    """A valid value for ``attr_def`` (its default where it has one; TF 1.x writes them all)."""
    if attr_def.name in overrides:
        return overrides[attr_def.name]
    if attr_def.HasField("default_value"):
        return attr_def.default_value
    value = attr_value_pb2.AttrValue()
    if attr_def.type in _SINGLE_KINDS:
        _fill_single(value, attr_def)
    else:
        _fill_list(value, attr_def)
    return value


_SINGLE_KINDS = frozenset({
    "type", "list(type)", "int", "string", "float", "bool", "shape", "list(shape)", "tensor",
    "func",
})  # fmt: skip


def _fill_single(value: Any, attr_def: Any) -> None:
    """A probe value of one of the :data:`_SINGLE_KINDS` (lists of types and shapes too)."""
    kind = attr_def.type
    count = max(int(attr_def.minimum), 1) if attr_def.has_minimum else 1
    allowed_types = list(attr_def.allowed_values.list.type)
    dtype = 1 if not allowed_types or 1 in allowed_types else allowed_types[0]  # DT_FLOAT
    if kind == "type":
        value.type = dtype
    elif kind == "list(type)":
        value.list.type.extend([dtype] * count)
    elif kind == "int":
        value.i = count
    elif kind == "string":
        allowed = attr_def.allowed_values.list.s
        value.s = allowed[0] if allowed else b""
    elif kind == "float":
        value.f = 0.0
    elif kind == "bool":
        value.b = False
    elif kind == "shape":
        value.shape.unknown_rank = True
    elif kind == "list(shape)":
        value.list.shape.add().unknown_rank = True
    elif kind == "tensor":
        value.tensor.dtype = 1
        value.tensor.tensor_shape.SetInParent()
        value.tensor.float_val.append(0.0)
    elif kind == "func":
        value.func.name = FUNC_NAME


def _fill_list(value: Any, attr_def: Any) -> None:
    """A probe value of any other kind: a list of the attr's minimum length."""
    kind = attr_def.type
    value.list.SetInParent()
    least = int(attr_def.minimum) if attr_def.has_minimum else 0
    if kind == "list(int)":
        value.list.i.extend([1] * least)
    elif kind == "list(string)":
        value.list.s.extend([b"/job:localhost/replica:0/task:0/device:CPU:0"] * least)
    elif kind == "list(func)":
        for _ in range(least):
            value.list.func.add().name = FUNC_NAME


def probe_meta_graph(op_def: Any, overrides: dict[str, Any] | None = None) -> Any:
    """A MetaGraphDef as TF 1.x writes it (no ``experimental_type``, producer 27) holding a
    node ``op`` of ``op_def`` on a device, fed by placeholders (ref inputs by variables)."""
    attr_value_pb2 = importlib.import_module("tensorflow.core.framework.attr_value_pb2")
    meta_graph_pb2 = importlib.import_module("tensorflow.core.protobuf.meta_graph_pb2")
    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.tensorflow_version = "1.15.0"
    meta.meta_info_def.tensorflow_git_version = "v1.15.0-rc3-22-g590d6eef7e"
    graph = meta.graph_def
    graph.versions.producer = 27
    node = graph.node.add()
    node.name, node.op, node.device = "op", op_def.name, "/job:w/task:0/cpu:0"
    for attr_def in op_def.attr:
        node.attr[attr_def.name].CopyFrom(
            probe_attr_value(attr_def, overrides or {}, attr_value_pb2)
        )
    feeds = []
    for k, arg in enumerate(op_def.input_arg):
        if arg.number_attr:
            types = [arg.type or node.attr[arg.type_attr].type] * node.attr[arg.number_attr].i
        elif arg.type_list_attr:
            types = list(node.attr[arg.type_list_attr].list.type)
        else:
            types = [arg.type or node.attr[arg.type_attr].type]
        for j, dtype in enumerate(types):
            feed = graph.node.add()
            feed.name, feed.op = f"in{k}_{j}", "VariableV2" if arg.is_ref else "Placeholder"
            feed.attr["dtype"].type = dtype
            feed.attr["shape"].shape.unknown_rank = True
            if arg.is_ref:
                feed.attr["container"].s = b""
                feed.attr["shared_name"].s = b""
            node.input.append(feed.name)
            feeds.append(feed)
    graph.node.append(graph.node.pop(0))  # feeds first, as TF 1.x writes them
    if any(a.type in ("func", "list(func)") for a in op_def.attr):
        graph.library.function.add().CopyFrom(_function())
    return meta


def _function() -> Any:
    tf = importlib.import_module("tensorflow")

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])  # type: ignore[untyped-decorator]
    def old_fn(x: Any) -> Any:
        return x

    fdef = old_fn.get_concrete_function().function_def
    fdef.signature.name = FUNC_NAME
    return fdef


def imported_node(meta: Any) -> Any:
    """Node ``op`` of ``meta`` as TF 2.21's importer leaves it (import into a fresh graph)."""
    tf = importlib.import_module("tensorflow")
    meta_graph = importlib.import_module("tensorflow.python.framework.meta_graph")
    graph = tf.Graph()
    with graph.as_default():
        meta_graph.import_scoped_meta_graph(meta)
    return graph.get_operation_by_name("op").node_def


def full_type_data() -> bytes:
    """``data/full_types.json``: DataType -> FullTypeId, and the hidden constructors."""
    tf = importlib.import_module("tensorflow")
    registry = importlib.import_module("tensorflow.python.framework.op_def_registry")
    types_pb2 = importlib.import_module("tensorflow.core.framework.types_pb2")
    attr_value_pb2 = importlib.import_module("tensorflow.core.framework.attr_value_pb2")
    c_api = importlib.import_module("tensorflow.python.client.pywrap_tf_session")
    op_def_pb2 = importlib.import_module("tensorflow.core.framework.op_def_pb2")
    ragged = registry.get("RaggedTensorToVariant")
    dtype_map: dict[str, int] = {}
    for name, value in sorted(types_pb2.DataType.items(), key=lambda kv: kv[1]):
        if value == 0 or name.endswith("_REF"):
            continue
        meta = probe_meta_graph(ragged, {"Tvalues": attr_value_pb2.AttrValue(type=value)})
        node = imported_node(meta)
        dtype_map[str(value)] = int(node.experimental_type.args[0].args[0].type_id)
    everything = op_def_pb2.OpList()
    everything.ParseFromString(c_api.TF_GetBuffer(c_api.TF_GetAllOpList()))
    hidden, unprobed = [], []
    for name in sorted({op.name for op in everything.op}):
        op_def = registry.get(name)
        if op_def.output_arg:
            continue
        try:
            node = imported_node(probe_meta_graph(op_def))
        except Exception:  # noqa: BLE001  (an op the probe cannot build: listed as unprobed)
            unprobed.append(name)
            continue
        if node.HasField("experimental_type"):
            hidden.append(name)
    data = {
        "tensorflow_version": tf.__version__,
        "dtype_full_type": dtype_map,
        "hidden_constructors": hidden,
        "unprobed_ops_without_outputs": unprobed,
    }
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

"""Low-level helpers to write TensorFlow NodeDefs the way TensorFlow's graph builder does.

``bench/generate.py`` describes model patterns (layers, gradients, optimizer, saver); this module
holds the model-independent parts: cached ``AttrValue`` builders (attrs repeat a lot, and copying
a cached message is much faster than building it again), and ``GraphWriter``, which appends nodes
in creation order, writes TF1 ref variables, ``tf.tuple``/``tf.group`` and the Saver subgraph, and
records what the MetaGraphDef's collections and op list need.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from google.protobuf import text_format
from opdefs import stripped_op_list

from mgstore.proto import AttrValue, DataType, GraphDef, NodeDef, OpList, SaverDef, VariableDef

PRODUCER = 2474  # GraphDef version TensorFlow 2.21 writes

FLOAT, INT32, INT64, STRING = (
    int(DataType.Value(name)) for name in ("DT_FLOAT", "DT_INT32", "DT_INT64", "DT_STRING")
)
Shape = tuple[int, ...] | None  # None: unknown rank; -1: unknown dimension

# TensorFlow attaches this full type to every Shape node it creates.
_SHAPE_NODE = NodeDef()
text_format.Parse(
    "experimental_type { type_id: TFT_PRODUCT"
    " args { type_id: TFT_SHAPE_TENSOR args { type_id: TFT_INT32 } } }",
    _SHAPE_NODE,
)


@cache
def a_shapes(*outputs: Shape) -> AttrValue:
    """An ``_output_shapes`` value: one shape per output."""
    value = AttrValue()
    for dims in outputs:
        proto = value.list.shape.add()
        if dims is None:
            proto.unknown_rank = True
        for size in dims or ():
            proto.dim.add(size=size)
    return value


@cache
def a_shape(*dims: int) -> AttrValue:
    """A ``shape`` attr value (fully known rank)."""
    value = AttrValue()
    value.shape.CopyFrom(a_shapes(dims).list.shape[0])
    return value


@cache
def a_type(dtype: int) -> AttrValue:
    """A ``type`` attr value (``T``, ``dtype``...)."""
    return AttrValue(type=dtype)


@cache
def a_bool(flag: bool) -> AttrValue:
    """A ``bool`` attr value."""
    return AttrValue(b=flag)


@cache
def a_int(number: int) -> AttrValue:
    """An ``int`` attr value."""
    return AttrValue(i=number)


@cache
def a_str(text: str) -> AttrValue:
    """A ``string`` attr value."""
    return AttrValue(s=text.encode())


def a_class(op_name: str) -> AttrValue:
    """The ``_class`` attr TensorFlow writes on an op colocated with ``op_name``."""
    value = AttrValue()
    value.list.s.append(b"loc:@" + op_name.encode())
    return value


def a_tensor(dtype: int, dims: tuple[int, ...], **fields: Iterable[object] | bytes) -> AttrValue:
    """A Const ``value``; ``fields`` fills TensorProto fields (``float_val=[0.0]``...)."""
    value = AttrValue()
    proto = value.tensor
    proto.dtype = dtype
    proto.tensor_shape.CopyFrom(a_shape(*dims).shape)
    for field, content in fields.items():
        if field == "tensor_content":
            proto.tensor_content = content
        else:
            getattr(proto, field).extend(content)
    return value


def a_int32s(*numbers: int) -> AttrValue:
    """An int32 vector Const ``value``, packed into ``tensor_content`` as TensorFlow does."""
    packed = struct.pack(f"<{len(numbers)}i", *numbers)
    return a_tensor(INT32, (len(numbers),), tensor_content=packed)


TRUE, FALSE = a_bool(True), a_bool(False)


@dataclass
class Var:
    """A ref variable, as the Saver, the optimizer and the collections need it."""

    name: str
    dims: tuple[int, ...]
    dtype: int
    device: str
    initial_value: str  # the initializer's output op
    trainable: bool = True


class GraphWriter:
    """Appends NodeDefs in creation order, as TensorFlow serializes a graph."""

    def __init__(self) -> None:
        self.graph = GraphDef()
        self.graph.versions.producer = PRODUCER
        self.ops: set[str] = set()
        self.variables: list[Var] = []

    def add(
        self, name: str, op: str, inputs: Iterable[str] = (), device: str = "", **attrs: AttrValue
    ) -> NodeDef:
        """Append one node; control inputs (``^x``) come last, sorted, as TensorFlow writes."""
        node = self.graph.node.add(name=name, op=op, input=inputs, device=device)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        self.ops.add(op)
        return node

    def const(
        self, name: str, dtype: int, value: AttrValue, device: str = "", **attrs: AttrValue
    ) -> str:
        """A Const node; its ``_output_shapes`` follows from the tensor."""
        dims = tuple(d.size for d in value.tensor.tensor_shape.dim)
        self.add(
            name,
            "Const",
            (),
            device,
            value=value,
            dtype=a_type(dtype),
            _output_shapes=a_shapes(dims),
            **attrs,
        )
        return name

    def shape_of(self, name: str, source: str, device: str = "", **attrs: AttrValue) -> None:
        """A ``Shape`` node (int32), with the full type TensorFlow gives it."""
        node = self.add(name, "Shape", [source], device, out_type=a_type(INT32), **attrs)
        node.experimental_type.CopyFrom(_SHAPE_NODE.experimental_type)

    def variable(
        self,
        name: str,
        dims: tuple[int, ...],
        dtype: int,
        device: str,
        initializer: str,
        cls: AttrValue,
        trainable: bool = True,
    ) -> None:
        """A VariableV2 with its ``/Assign`` and ``/read``, as ``tf.compat.v1.get_variable``."""
        out, t = a_shapes(dims), a_type(dtype)
        self.add(
            name,
            "VariableV2",
            (),
            device,
            shape=a_shape(*dims),
            dtype=t,
            container=a_str(""),
            shared_name=a_str(""),
            _output_shapes=out,
            _class=cls,
        )
        self.add(
            f"{name}/Assign",
            "Assign",
            [name, initializer],
            device,
            T=t,
            validate_shape=TRUE,
            use_locking=TRUE,
            _output_shapes=out,
            _class=cls,
        )
        self.add(f"{name}/read", "Identity", [name], device, T=t, _output_shapes=out, _class=cls)
        self.variables.append(Var(name, dims, dtype, device, initializer, trainable))

    def tuple_(
        self,
        scope: str,
        outputs: list[str],
        shapes: list[Shape],
        classes: list[AttrValue],
        device: str,
    ) -> list[str]:
        """``tf.tuple`` as gradient functions use it: group_deps, then one Identity per output."""
        group = f"{scope}/tuple/group_deps"
        self.add(
            group,
            "NoOp",
            sorted("^" + o for o in outputs),
            device,
            _has_manual_control_dependencies=TRUE,
        )
        names = []
        for k, (output, dims, cls) in enumerate(zip(outputs, shapes, classes, strict=True)):
            name = f"{scope}/tuple/control_dependency" + (f"_{k}" if k else "")
            self.add(
                name,
                "Identity",
                [output, "^" + group],
                device,
                T=a_type(FLOAT),
                _output_shapes=a_shapes(dims),
                _class=cls,
            )
            names.append(name)
        return names

    def group(self, name: str, ops_by_device: dict[str, list[str]], **attrs: AttrValue) -> None:
        """``tf.group``: one NoOp per device (sorted), then NoOp ``name`` over those."""
        parts = []
        for k, device in enumerate(sorted(ops_by_device)):
            part = f"{name}/NoOp" + (f"_{k}" if k else "")
            inputs = sorted("^" + op for op in ops_by_device[device])
            self.add(part, "NoOp", inputs, device, _has_manual_control_dependencies=TRUE)
            parts.append("^" + part)
        self.add(name, "NoOp", parts, **attrs)

    def op_list(self) -> OpList:
        """The ``stripped_op_list`` for the ops written so far."""
        return stripped_op_list(self.ops)

    def saver(self) -> SaverDef:
        """``tf.compat.v1.train.Saver()`` over all variables (V2 format, sorted by name)."""
        variables = sorted(self.variables, key=lambda v: v.name)
        n, s = len(variables), a_type(STRING)
        names = [v.name.encode() for v in variables]
        dtypes = AttrValue()
        dtypes.list.type.extend(v.dtype for v in variables)
        self.const("save/filename/input", STRING, a_tensor(STRING, (), string_val=[b"model"]))
        for name, source in (("filename", "filename/input"), ("Const", "filename")):
            self.add(
                f"save/{name}",
                "PlaceholderWithDefault",
                [f"save/{source}"],
                dtype=s,
                shape=a_shape(),
                _output_shapes=a_shapes(()),
            )
        for op, device in (("SaveV2", ""), ("RestoreV2", "/device:CPU:0")):
            self.const(
                f"save/{op}/tensor_names", STRING, a_tensor(STRING, (n,), string_val=names), device
            )
            self.const(
                f"save/{op}/shape_and_slices",
                STRING,
                a_tensor(STRING, (n,), string_val=[b""] * n),
                device,
            )
            inputs = ["save/Const", f"save/{op}/tensor_names", f"save/{op}/shape_and_slices"]
            if op == "SaveV2":
                self.add(
                    "save/SaveV2",
                    op,
                    inputs + [v.name for v in variables],
                    dtypes=dtypes,
                    _has_manual_control_dependencies=TRUE,
                )
                self.add(
                    "save/control_dependency",
                    "Identity",
                    ["save/Const", "^save/SaveV2"],
                    T=s,
                    _output_shapes=a_shapes(()),
                    _class=a_class("save/Const"),
                )
            else:
                self.add(
                    "save/RestoreV2",
                    op,
                    inputs,
                    device,
                    dtypes=dtypes,
                    _output_shapes=a_shapes(*[None] * n),
                )
        assigns: dict[str, list[str]] = {}
        for k, var in enumerate(variables):
            name, port = ("save/Assign", "") if k == 0 else (f"save/Assign_{k}", f":{k}")
            self.add(
                name,
                "Assign",
                [var.name, "save/RestoreV2" + port],
                var.device,
                T=a_type(var.dtype),
                validate_shape=TRUE,
                use_locking=TRUE,
                _output_shapes=a_shapes(var.dims),
                _has_manual_control_dependencies=TRUE,
                _class=a_class(var.name),
            )
            assigns.setdefault(var.device, []).append(name)
        self.group("save/restore_all", assigns)
        return SaverDef(
            filename_tensor_name="save/Const:0",
            restore_op_name="save/restore_all",
            save_tensor_name="save/control_dependency:0",
            max_to_keep=5,
            keep_checkpoint_every_n_hours=10000.0,
            version=SaverDef.CheckpointFormatVersion.Value("V2"),
        )


def variable_def(var: Var) -> bytes:
    """A ``variables`` collection entry: a serialized VariableDef for a TF1 ref variable."""
    proto = VariableDef(
        variable_name=f"{var.name}:0",
        initializer_name=f"{var.name}/Assign",
        snapshot_name=f"{var.name}/read:0",
        initial_value_name=f"{var.initial_value}:0",
        trainable=var.trainable,
    )
    if not var.trainable:
        proto.aggregation = 3  # ONLY_FIRST_REPLICA, as global_step
    return bytes(proto.SerializeToString(deterministic=True))

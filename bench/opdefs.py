"""TensorFlow 2.21 OpDefs for the ops the benchmark generator emits, without importing TensorFlow.

A real ``MetaGraphDef`` carries ``meta_info_def.stripped_op_list``: the registry's OpDefs (minus
docs) of every op its graph uses. To make generated graphs look exactly like TensorFlow's, each
OpDef is written here in a compact one-line form transcribed from TensorFlow 2.21's registry and
expanded into ``mgstore.proto.OpDef`` messages. ``bench/validate_with_tf.py`` checks, once, that
the expansion equals TensorFlow's own OpDefs field for field.

Spec form: ``Name | inputs | outputs | attrs | flags``, fields separated by `` | ``.

* An argument is ``name:TYPE``: ``TYPE`` names an attr (``type`` -> ``type_attr``,
  ``list(type)`` -> ``type_list_attr``) or a dtype (``string`` -> ``DT_STRING``); ``N*T`` adds
  ``number_attr``; a leading ``&`` marks a ref argument.
* An attr is ``name:kind[{a,b}][=default][>=minimum]``; ``$set`` inside braces expands a named
  dtype set below; ``=?`` is an unknown-rank shape default; a bare ``=`` is the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from google.protobuf import text_format

from mgstore.proto import AttrValue, DataType, OpDef, OpList

_SETS: dict[str, str] = {
    "number": "float,double,int32,uint8,int16,int8,complex64,int64,qint8,quint8,qint32,bfloat16"
    ",qint16,quint16,uint16,complex128,half,uint32,uint64",
    "addv2": "bfloat16,half,float,double,uint8,uint16,uint32,uint64,int8,int16,int32,int64"
    ",complex64,complex128",
    "matmul": "bfloat16,half,float,double,int32,int64,uint8,uint16,uint32,uint64,complex64"
    ",complex128",
    "mul": "bfloat16,half,float,double,uint8,int8,uint16,int16,int32,uint32,uint64,int64"
    ",complex64,complex128",
    "sub": "bfloat16,half,float,double,uint8,int8,uint16,int16,int32,int64,complex64,complex128"
    ",uint32,uint64",
    "relu": "float,double,int32,uint8,int16,int8,int64,bfloat16,uint16,half,uint32,uint64",
    "floormod": "int8,int16,int32,int64,uint8,uint16,uint32,uint64,bfloat16,half,float,double",
    "index": "int32,int64",
}

_REDUCE = "keep_dims:bool=false T:type{$number} Tidx:type{$index}=int32"
_BIAS = "T:type{$number} data_format:string{NHWC,NCHW}=NHWC"
_RESTORE_IN = "prefix:string tensor_names:string shape_and_slices:string"

_SPECS: tuple[str, ...] = (
    "AddN | inputs:N*T | sum:T | N:int>=1 T:type{$number,variant} | is_aggregate is_commutative",
    "AddV2 | x:T y:T | z:T | T:type{$addv2} | is_aggregate is_commutative",
    "ApplyGradientDescent | var:&T alpha:T delta:T | out:&T | T:type{$number}"
    " use_locking:bool=false |",
    "Assign | ref:&T value:T | output_ref:&T | T:type validate_shape:bool=true"
    " use_locking:bool=true | allows_uninitialized_input",
    "AssignAdd | ref:&T value:T | output_ref:&T | T:type{$number} use_locking:bool=false |",
    f"BiasAdd | value:T bias:T | output:T | {_BIAS} |",
    f"BiasAddGrad | out_backprop:T | output:T | {_BIAS} |",
    "BroadcastGradientArgs | s0:T s1:T | r0:T r1:T | T:type{$index}=int32 |",
    "Cast | x:SrcT | y:DstT | SrcT:type DstT:type Truncate:bool=false |",
    "Const | | output:dtype | value:tensor dtype:type |",
    "Fill | dims:index_type value:T | output:T | T:type index_type:type{$index}=int32 |",
    "FloorMod | x:T y:T | z:T | T:type{$floormod} |",
    "GatherV2 | params:Tparams indices:Tindices axis:Taxis | output:Tparams | batch_dims:int=0"
    " Tparams:type Tindices:type{int16,int32,int64} Taxis:type{$index} |",
    "Identity | input:T | output:T | T:type |",
    "MatMul | a:T b:T | product:T | transpose_a:bool=false transpose_b:bool=false"
    " T:type{$matmul} grad_a:bool=false grad_b:bool=false |",
    f"Mean | input:T reduction_indices:Tidx | output:T | {_REDUCE} |",
    "Mul | x:T y:T | z:T | T:type{$mul} | is_commutative",
    "NoOp | | | |",
    "Placeholder | | output:dtype | dtype:type shape:shape=? |",
    "PlaceholderWithDefault | input:dtype | output:dtype | dtype:type shape:shape |",
    f"Prod | input:T reduction_indices:Tidx | output:T | {_REDUCE} |",
    "RandomUniform | shape:T | output:dtype | seed:int=0 seed2:int=0"
    " dtype:type{half,bfloat16,float,double} T:type{$index} | is_stateful",
    "RealDiv | x:T y:T | z:T | T:type{$mul} |",
    "Relu | features:T | activations:T | T:type{$relu,qint8} |",
    "ReluGrad | gradients:T features:T | backprops:T | T:type{$relu} |",
    "Reshape | tensor:T shape:Tshape | output:T | T:type Tshape:type{$index}=int32 |",
    f"RestoreV2 | {_RESTORE_IN} | tensors:dtypes | dtypes:list(type)>=1 | is_stateful",
    f"SaveV2 | {_RESTORE_IN} tensors:dtypes | | dtypes:list(type)>=1 | is_stateful",
    "Shape | input:T | output:out_type | T:type out_type:type{$index}=int32 |",
    "Sub | x:T y:T | z:T | T:type{$sub} |",
    f"Sum | input:T reduction_indices:Tidx | output:T | {_REDUCE} |",
    "Tile | input:T multiples:Tmultiples | output:T | T:type Tmultiples:type{$index}=int32 |",
    "VariableV2 | | ref:&dtype | shape:shape dtype:type container:string= shared_name:string="
    " | is_stateful",
)

_ATTR_RE = re.compile(r"(\w+):(\w+|list\(type\))(?:\{([^}]*)\})?(?:=([^\s>]*))?(?:>=(\d+))?$")
# Shape's output carries a full type in the registry; no other op here has one.
_SHAPE_FULL_TYPE = 'type_id: TFT_SHAPE_TENSOR args { type_id: TFT_VAR s: "out_type" }'


def _dtype(name: str) -> int:
    """Map a lower-case dtype name (``float``) to its ``DataType`` number (``DT_FLOAT``)."""
    return int(DataType.Value("DT_" + name.upper()))


def _set_value(value: AttrValue, kind: str, text: str) -> None:
    """Store the default ``text`` of an attr of ``kind`` into ``value``."""
    if kind == "bool":
        value.b = text == "true"
    elif kind == "int":
        value.i = int(text)
    elif kind == "string":
        value.s = text.encode()
    elif kind == "type":
        value.type = _dtype(text)
    elif kind == "shape" and text == "?":
        value.shape.unknown_rank = True
    else:
        raise ValueError(f"unsupported default {text!r} for kind {kind}")


def _parse(spec: str) -> OpDef:
    """Expand one compact spec line into an ``OpDef``."""
    name, inputs, outputs, attrs, flags = (part.strip() for part in spec.split("|", 4))
    op = OpDef(name=name)
    kinds: dict[str, str] = {}
    for text in attrs.split():
        match = _ATTR_RE.match(text)
        if match is None:
            raise ValueError(f"bad attr {text!r} in {name}")
        attr_name, kind, allowed, default, minimum = match.groups()
        kinds[attr_name] = kind
        attr = op.attr.add(name=attr_name, type=kind)
        if default is not None:
            _set_value(attr.default_value, kind, default)
        if minimum is not None:
            attr.has_minimum = True
            attr.minimum = int(minimum)
        for item in allowed.split(",") if allowed else ():
            for leaf in _SETS[item[1:]].split(",") if item.startswith("$") else (item,):
                if kind == "type":
                    attr.allowed_values.list.type.append(_dtype(leaf))
                else:
                    attr.allowed_values.list.s.append(leaf.encode())
    for args, field in ((inputs, op.input_arg), (outputs, op.output_arg)):
        for text in args.split():
            arg_name, _, type_text = text.partition(":")
            arg = field.add(name=arg_name)
            if type_text.startswith("&"):
                arg.is_ref = True
                type_text = type_text[1:]
            number, _, type_text = type_text.rpartition("*")
            if number:
                arg.number_attr = number
            if kinds.get(type_text) == "type":
                arg.type_attr = type_text
            elif kinds.get(type_text) == "list(type)":
                arg.type_list_attr = type_text
            else:
                arg.type = _dtype(type_text)
    if name == "Shape":
        text_format.Parse(_SHAPE_FULL_TYPE, op.output_arg[0].experimental_full_type)
    for flag in flags.split():
        setattr(op, flag, True)
    return op


@cache
def _registry() -> dict[str, OpDef]:
    """All specs, expanded once, by op name."""
    ops = (_parse(spec) for spec in _SPECS)
    return {op.name: op for op in ops}


def known_ops() -> list[str]:
    """Names of the ops this module can describe, sorted."""
    return sorted(_registry())


def stripped_op_list(op_names: Iterable[str]) -> OpList:
    """The ``stripped_op_list`` TensorFlow would write for a graph using ``op_names``.

    Like TensorFlow's, it lists each op once, sorted by name. Raises ``KeyError`` for an op
    with no spec here, so a generator change cannot silently produce an incomplete list.
    """
    registry = _registry()
    result = OpList()
    for name in sorted(set(op_names)):
        result.op.add().CopyFrom(registry[name])
    return result

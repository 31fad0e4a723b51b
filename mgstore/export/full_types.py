"""The full type TF 2.21's importer gives a node (``NodeDef.experimental_type``).

Files written by TensorFlow 1.x and early 2.x have no ``experimental_type``. When TF 2.21
creates a node (``Graph::AddNode``) that has none, and its op has a full-type constructor, it
sets the node's type to the constructor's template specialised with the node's attrs
(``full_type::SpecializeType``); a type already stored, even an empty one, is kept. Export
writes it. See docs/old-producers.md for the evidence.

The templates are the ``experimental_full_type`` of the output args in the bundled registry
snapshot (TensorFlow applies each constructor to the OpDef when the op is registered); what
the OpDefs do not show comes from ``data/full_types.json`` (``generate_registry``): the
FullTypeId of each DataType, and the constructors that leave the OpDef unchanged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, cast

from mgstore.errors import InvalidGraphError
from mgstore.proto import AttrValue, FullTypeDef, NodeDef, OpDef

if TYPE_CHECKING:
    from mgstore.proto.tensorflow.core.framework.full_type_pb2 import FullTypeId

__all__ = ["FullTypeRules", "constructed_type", "has_constructor", "load_rules"]

TFT_UNSET = 0
TFT_VAR = 1
TFT_PRODUCT = 3
TFT_FOR_EACH = 20
TFT_TENSOR = 1000
TFT_LEGACY_VARIANT = 10203


@dataclass(frozen=True)
class FullTypeRules:
    """What the OpDefs do not say: DataType -> FullTypeId, and the hidden constructors."""

    dtype_full_type: Mapping[int, int]
    hidden_constructors: frozenset[str]


_lock = threading.Lock()
_rules: FullTypeRules | None = None


def load_rules() -> FullTypeRules:
    """The bundled ``data/full_types.json`` (read once, cached)."""
    global _rules
    with _lock:
        if _rules is None:
            text = resources.files("mgstore.export").joinpath("data/full_types.json").read_text()
            data = json.loads(text)
            _rules = FullTypeRules(
                dtype_full_type={int(k): int(v) for k, v in data["dtype_full_type"].items()},
                hidden_constructors=frozenset(data["hidden_constructors"]),
            )
        return _rules


def has_constructor(op_def: OpDef, rules: FullTypeRules | None = None) -> bool:
    """Whether TF 2.21 registers a full-type constructor for ``op_def``'s op."""
    rules = rules or load_rules()
    return op_def.name in rules.hidden_constructors or any(
        arg.HasField("experimental_full_type") for arg in op_def.output_arg
    )


def constructed_type(
    node: NodeDef, op_def: OpDef, rules: FullTypeRules | None = None
) -> FullTypeDef | None:
    """The type the importer gives ``node`` (attrs as normalised), or None if it gives none.

    None when the node already has a type (kept as stored) or its op has no constructor.
    Raises TensorFlow's ``type error`` (an :class:`InvalidGraphError`) where the
    specialisation fails, e.g. a type variable bound to a list of several types.
    """
    rules = rules or load_rules()
    if node.HasField("experimental_type") or not has_constructor(op_def, rules):
        return None
    attrs: dict[str, AttrValue] = {
        a.name: a.default_value for a in op_def.attr if a.HasField("default_value")
    }
    attrs.update(node.attr)
    target = FullTypeDef(type_id=cast("FullTypeId", TFT_PRODUCT))
    for arg in op_def.output_arg:
        out = target.args.add()
        out.CopyFrom(arg.experimental_full_type)
        try:
            _substitute(attrs, out, rules)
        except _TypeError as exc:
            raise InvalidGraphError(
                f"type error: {exc} (node '{node.name}', op {node.op}); TensorFlow 2.21 "
                "cannot import the node"
            ) from None
    return target


class _TypeError(Exception):
    """A failed specialisation (TF's InvalidArgument / Unimplemented statuses)."""


def _substitute(attrs: dict[str, AttrValue], t: FullTypeDef, rules: FullTypeRules) -> None:
    if t.type_id == TFT_VAR:
        _substitute_var(attrs, t, rules)
    elif t.type_id == TFT_FOR_EACH:
        _substitute_for_each(attrs, t, rules)
    else:
        for arg in t.args:
            _substitute(attrs, arg, rules)
            # TENSOR[LEGACY_VARIANT] arguments are left unset: the whole args list goes
            if arg.type_id == TFT_TENSOR and arg.args and arg.args[0].type_id == TFT_LEGACY_VARIANT:
                del t.args[:]
                break


def _map_dtype(dtype: int, t: FullTypeDef, rules: FullTypeRules) -> None:
    t.Clear()
    t.type_id = cast("FullTypeId", rules.dtype_full_type.get(dtype, TFT_UNSET))


def _substitute_var(attrs: dict[str, AttrValue], t: FullTypeDef, rules: FullTypeRules) -> None:
    if t.args:
        raise _TypeError(f"Unexpected Var type, expected args_size 0, found {len(t.args)}")
    attr = attrs.get(t.s)
    if attr is None:
        raise _TypeError(f"could not find an attribute for key '{t.s}'")
    kind = attr.WhichOneof("value")
    if kind == "type":
        _map_dtype(attr.type, t, rules)
    elif kind == "list":
        if len(attr.list.type) != 1:
            raise _TypeError(f"lists or other than one type element (key={t.s})")
        _map_dtype(attr.list.type[0], t, rules)
    else:
        raise _TypeError(f"unsupported attribute type {kind} for name {t.s}")


def _substitute_for_each(attrs: dict[str, AttrValue], t: FullTypeDef, rules: FullTypeRules) -> None:
    if len(t.args) != 3:
        raise _TypeError(f"illegal FOR_EACH type, expected 3 args, got {len(t.args)}")
    container, template, var = t.args
    attr = attrs.get(var.s)
    if attr is None:
        raise _TypeError(f"could not find an attribute for key '{var.s}'")
    result = FullTypeDef(type_id=container.type_id)
    kind = attr.WhichOneof("value")
    if kind == "type":
        target = result.args.add()
        target.CopyFrom(template)
        _substitute(attrs, target, rules)
    elif kind == "list":
        if not attr.list.type:
            raise _TypeError(f"unsupported list attribute type (key={var.s})")
        saved = attrs[var.s]
        for dtype in attr.list.type:
            attrs[var.s] = AttrValue(type=dtype)
            target = result.args.add()
            target.CopyFrom(template)
            _substitute(attrs, target, rules)
        attrs[var.s] = saved
    else:
        raise _TypeError(f"unsupported attribute type {kind} for name {var.s}")
    t.CopyFrom(result)

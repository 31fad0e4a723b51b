"""TensorFlow 2.21's check of an imported node against its op's definition.

After adding default attrs, TensorFlow's importer validates every node whose op is registered
(``ValidateNodeDef``): each attr the OpDef declares must hold a value of the declared type,
within its minimum and allowed values, every declared attr must be there, and the number of
data inputs must match the signature. Attrs the OpDef does not declare are ignored, and so
are private ones (``_...``) and placeholders. The failures are ``ValueError``\\ s whose messages
summarise the OpDef (``Op<name=...; signature=...; attr=...>``); this module writes them as
TensorFlow does, checked on every op of the registry against TensorFlow 2.21.

Several missing attrs are listed in the order of the C++ hash map TensorFlow collects them
in (:func:`_unordered_map_order`). When several present attrs are wrong, TensorFlow names the
first in its protobuf map's order, which changes from process to process; here the first by
name, one of TensorFlow's possible answers.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

from mgstore.export.function_order import hash64
from mgstore.proto import AttrValue, DataType, NodeDef, OpDef, TensorProto, TensorShapeProto

__all__ = [
    "Check",
    "NodeValidator",
    "VALID_TYPES",
    "compile_checks",
    "data_type_string",
    "fits",
    "num_outputs",
    "summarize_op_def",
    "validation_error",
]

_FIELDS = (
    ("s", "string", "s"),
    ("i", "int", "i"),
    ("f", "float", "f"),
    ("b", "bool", "b"),
    ("type", "type", "type"),
    ("shape", "shape", "shape"),
    ("tensor", "tensor", "tensor"),
    ("func", "func", "func"),
)
_REF_OFFSET = 100


def data_type_string(value: int) -> str:
    """``DataTypeString``: ``float``, ``int32``, ``float_ref``..."""
    if value > _REF_OFFSET:
        return f"{data_type_string(value - _REF_OFFSET)}_ref"
    if value == DataType.DT_INVALID:
        return "INVALID"
    try:
        return str(DataType.Name(value))[3:].lower()
    except ValueError:
        return f"unknown dtype enum ({value})"


def _float(value: float) -> str:
    """``StrCat(float)``: the shortest of 6 or 9 significant digits that reads back."""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    text = f"{value:.6g}"
    if struct.unpack("<f", struct.pack("<f", float(text)))[0] != value:
        text = f"{value:.9g}"
    return text


def _string(data: bytes) -> str:
    """``SummarizeString``: C-escaped and quoted, the middle elided from 80 characters on."""
    escaped = "".join(_escape(b) for b in data)
    if len(escaped) >= 80:
        return f'"{escaped[:10]}...{escaped[-10:]}"'
    return f'"{escaped}"'


def _escape(byte: int) -> str:
    special = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x27: "\\'", 0x5C: "\\\\"}
    if byte in special:
        return special[byte]
    if byte < 0x20 or byte >= 0x7F:
        return f"\\{byte:03o}"
    return chr(byte)


def _shape(shape: TensorShapeProto) -> str:
    if shape.unknown_rank:
        return "<unknown>"
    return "[" + ",".join("?" if d.size < 0 else str(d.size) for d in shape.dim) + "]"


def _tensor(tensor: TensorProto) -> str:
    """``Tensor::DebugString()`` of a small tensor given by its typed values (as the OpDefs'
    defaults are): at most three values, the last one repeated to fill the shape."""
    count = math.prod(max(d.size, 0) for d in tensor.tensor_shape.dim)
    values: list[str] = []
    for field in ("int_val", "int64_val", "float_val", "double_val", "bool_val"):
        given = list(getattr(tensor, field))
        if given:
            given += given[-1:] * (count - len(given))
            if field == "float_val":
                values = [_float(v) for v in given[:3]]
            else:
                values = [str(int(v)) if field == "bool_val" else str(v) for v in given[:3]]
            break
    shape = "[" + ",".join(str(d.size) for d in tensor.tensor_shape.dim) + "]"
    more = "..." if count > 3 else ""
    return (
        f"Tensor<type: {data_type_string(tensor.dtype)} shape: {shape} "
        f"values: {' '.join(values)}{more}>"
    )


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _type_name(value: int) -> str:
    return str(DataType.Name(value))


# How SummarizeAttrValue writes a value of each field, in the order it looks at a list's fields.
_SUMMARIES: dict[str, Callable[[Any], str]] = {
    "s": _string, "i": str, "f": _float, "b": _bool, "type": _type_name, "shape": _shape,
    "tensor": _tensor,
}  # fmt: skip


def _summarize(value: AttrValue) -> str:
    """``SummarizeAttrValue`` for the values OpDefs declare as defaults and allowed values."""
    which = value.WhichOneof("value")
    if which == "list":
        for field, summary in _SUMMARIES.items():
            items = getattr(value.list, field)
            if items:
                return "[" + ", ".join(map(summary, items)) + "]"
        return "[]"
    if which == "func":
        return value.func.name
    scalar = _SUMMARIES.get(which or "")
    return "<Unknown AttrValue type>" if scalar is None else scalar(getattr(value, which))


def _args(args: Sequence[OpDef.ArgDef]) -> str:
    out = []
    for arg in args:
        text = f"{arg.name}:"
        text += "Ref(" if arg.is_ref else ""
        text += f"{arg.number_attr}*" if arg.number_attr else ""
        text += data_type_string(arg.type) if arg.type else arg.type_attr
        out.append(text + (")" if arg.is_ref else ""))
    return ", ".join(out)


def summarize_op_def(op_def: OpDef) -> str:
    """``SummarizeOpDef``: the one-line summary TensorFlow's messages quote."""
    out = f"Op<name={op_def.name}; signature={_args(op_def.input_arg)} -> "
    out += _args(op_def.output_arg)
    for attr in op_def.attr:
        out += f"; attr={attr.name}:{attr.type}"
        if attr.HasField("default_value"):
            out += f",default={_summarize(attr.default_value)}"
        if attr.has_minimum:
            out += f",min={attr.minimum}"
        if attr.HasField("allowed_values"):
            out += f",allowed={_summarize(attr.allowed_values)}"
    if op_def.is_commutative:
        out += "; is_commutative=true"
    if op_def.is_aggregate:
        out += "; is_aggregate=true"
    if op_def.is_stateful:
        out += "; is_stateful=true"
    if op_def.allows_uninitialized_input:
        out += "; allows_uninitialized_input=true"
    if op_def.is_distributed_communication:
        out += "; is_distributed_communication=true"
    return out + ">"


def _has_type(value: AttrValue, expected: str) -> str | None:
    """``AttrValueHasType``: None, or why ``value`` is not of type ``expected``."""
    which = value.WhichOneof("value")
    count = 0
    for field, name, oneof in _FIELDS:
        if which == "list":
            if len(getattr(value.list, field)):
                if expected != f"list({name})":
                    return (
                        f"AttrValue had value with type 'list({name})' when '{expected}' expected"
                    )
                count += 1
        elif which == oneof:
            if expected != name:
                return f"AttrValue had value with type '{name}' when '{expected}' expected"
            count += 1
    if which == "placeholder":
        return "AttrValue had value with unexpected type 'placeholder'"
    if expected.startswith("list(") and which != "list":
        if count:
            return f"AttrValue missing value with expected type '{expected}'"
        count += 1
    if count == 0 and not expected.startswith("list("):
        return f"AttrValue missing value with expected type '{expected}'"
    types = (
        [value.type] if expected == "type" else value.list.type if expected == "list(type)" else []
    )
    for t in types:
        if t not in DataType.values() and t - _REF_OFFSET not in DataType.values():
            return f"AttrValue has invalid DataType enum: {t}"
        if t > _REF_OFFSET:
            return f"AttrValue must not have reference type value of {data_type_string(t)}"
        if t == DataType.DT_INVALID:
            return "AttrValue has invalid DataType"
    return None


def _constraint(value: AttrValue, attr: OpDef.AttrDef) -> str | None:
    """The minimum and allowed-values checks of ``ValidateAttrValue``."""
    if attr.has_minimum:
        if attr.type == "int":
            if value.i < attr.minimum:
                return (
                    f"Value for attr '{attr.name}' of {value.i} must be at least minimum "
                    f"{attr.minimum}"
                )
        else:
            field = {"list(string)": "s", "list(int)": "i", "list(float)": "f"}.get(attr.type)
            field = field or {"list(bool)": "b", "list(type)": "type"}.get(attr.type)
            field = field or {"list(shape)": "shape", "list(tensor)": "tensor"}.get(attr.type)
            field = field or {"list(func)": "func"}.get(attr.type)
            length = len(getattr(value.list, field)) if field else -1
            if length < attr.minimum:
                return (
                    f"Length for attr '{attr.name}' of {length} must be at least minimum "
                    f"{attr.minimum}"
                )
    if not attr.HasField("allowed_values"):
        return None
    allowed = attr.allowed_values.list
    if attr.type in ("type", "list(type)"):
        for t in [value.type] if attr.type == "type" else list(value.list.type):
            if t not in allowed.type:
                names = ", ".join(data_type_string(a) for a in allowed.type)
                return (
                    f"Value for attr '{attr.name}' of {data_type_string(t)} is not in the list "
                    f"of allowed values: {names}"
                )
    elif attr.type in ("string", "list(string)"):
        for s in [value.s] if attr.type == "string" else list(value.list.s):
            if s not in allowed.s:
                names = ", ".join(f'"{a.decode("utf-8", "replace")}"' for a in allowed.s)
                return (
                    f"Value for attr '{attr.name}' of \"{s.decode('utf-8', 'replace')}\" is not "
                    f"in the list of allowed values: {names}"
                )
    return None


def _input_types(node: NodeDef, op_def: OpDef) -> list[str]:
    """The data input types the signature asks for, as ``DataTypeString``\\ s."""
    out: list[str] = []
    for arg in op_def.input_arg:
        if arg.type_list_attr:
            types = list(node.attr[arg.type_list_attr].list.type)
        else:
            single = arg.type or node.attr[arg.type_attr].type
            types = [single] * (node.attr[arg.number_attr].i if arg.number_attr else 1)
        out += [data_type_string(t + (_REF_OFFSET if arg.is_ref else 0)) for t in types]
    return out


def _unordered_map_order(keys: Sequence[str]) -> list[str]:
    """The iteration order of a libstdc++ ``std::unordered_map<std::string, ...>`` into which
    ``keys`` were inserted in this order (as TensorFlow lists an OpDef's missing attrs).

    ``std::hash<std::string>`` is MurmurHash2-64A with seed ``0xc70f6907``; the table starts
    with 13 buckets and grows to the next prime of at least twice as many when the elements
    would outnumber the buckets; a key whose bucket is empty goes to the front of the list,
    any other to the front of its bucket's run; growing re-inserts the list in its order.
    """
    order: list[tuple[str, int]] = []
    buckets = 13
    for key in keys:
        if len(order) + 1 > buckets:
            buckets = next(p for p in _PRIMES if p >= max(len(order) + 2, 2 * buckets))
            old, order = order, []
            for entry in old:
                _insert_front_of_bucket(order, entry[0], entry[1], buckets)
        _insert_front_of_bucket(order, key, hash64(key.encode(), 0xC70F6907), buckets)
    return [key for key, _ in order]


def _insert_front_of_bucket(order: list[tuple[str, int]], key: str, h: int, buckets: int) -> None:
    bucket = h % buckets
    for i, (_, other) in enumerate(order):
        if other % buckets == bucket:
            order.insert(i, (key, h))
            return
    order.insert(0, (key, h))


_PRIMES = (17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 103, 109,
           113, 127, 137, 139, 149, 157, 167, 179, 193, 199, 211, 227, 241, 257)  # fmt: skip


def validation_error(node: NodeDef, op_def: OpDef) -> str | None:
    """TensorFlow's ``ValidateNodeDef`` message for ``node`` (defaults added), or None."""
    where = f"{{{{node {node.name}}}}}"
    declared = {attr.name: attr for attr in op_def.attr}
    for name in sorted(node.attr):
        attr = declared.get(name)
        if name.startswith("_") or attr is None:
            continue
        value = node.attr[name]
        if value.WhichOneof("value") == "placeholder" and value.placeholder:
            continue
        problem = _has_type(value, attr.type)
        if problem is not None:
            problem += f"\n\t for attr '{name}'"
        else:
            problem = _constraint(value, attr)
        if problem is not None:
            return f"{problem}\n\t; NodeDef: {where}; {summarize_op_def(op_def)}"
    absent = {a.name for a in op_def.attr if a.name not in node.attr}
    missing = [
        name for name in _unordered_map_order([a.name for a in op_def.attr]) if name in absent
    ]
    if missing:
        quoted = "', '".join(missing)
        return (
            f"NodeDef missing attr{'s' if len(missing) > 1 else ''} '{quoted}' "
            f"from {summarize_op_def(op_def)}; NodeDef: {where}"
        )
    expected = _input_types(node, op_def)
    given = sum(1 for text in node.input if not text.startswith("^"))
    if given != len(expected):
        return (
            f"NodeDef expected inputs '{', '.join(expected)}' do not match {given} inputs "
            f"specified; {summarize_op_def(op_def)}; NodeDef: {where}"
        )
    return None


_SCALARS = {name: oneof for _, name, oneof in _FIELDS}
_LISTS = {f"list({name})": field for field, name, _ in _FIELDS}
VALID_TYPES = frozenset(t for t in DataType.values() if 0 < t < _REF_OFFSET)


#: Per attr of an OpDef: name, kind, the AttrValue field for it, minimum (or None), the
#: allowed types or strings (or None).
Check = tuple[str, str, str, "int | None", "frozenset[int] | frozenset[bytes] | None"]


class NodeValidator:
    """:func:`validation_error` with a fast path: per op, the checks are compiled once into
    plain tuples, so that a node that certainly passes (nearly all) costs a few lookups per
    attr; any other is handed to :func:`validation_error` for TensorFlow's verdict and
    message."""

    def __init__(self) -> None:
        self._ops: dict[str, tuple[list[Check], list[tuple[str, str]]]] = {}

    def error(self, node: NodeDef, op_def: OpDef) -> str | None:
        """TensorFlow's message if ``node`` does not match ``op_def``, else None."""
        compiled = self._ops.get(op_def.name)
        if compiled is None:
            compiled = self._ops[op_def.name] = compile_checks(op_def)
        checks, args = compiled
        given = node.attr
        for check in checks:
            value = given.get(check[0])
            if value is None or not fits(value, check):
                return validation_error(node, op_def)
        expected = 0
        for number, type_list in args:
            if number:
                expected += given[number].i
            elif type_list:
                expected += len(given[type_list].list.type)
            else:
                expected += 1
        count = 0
        for text in node.input:
            if not text.startswith("^"):
                count += 1
        return None if count == expected else validation_error(node, op_def)


def compile_checks(op_def: OpDef) -> tuple[list[Check], list[tuple[str, str]]]:
    """``op_def``'s attrs as :data:`Check` tuples, and its input args' (number attr, type
    list attr): what :class:`NodeValidator` tests a node against, compiled once per op."""
    checks: list[Check] = []
    for attr in op_def.attr:
        kind = attr.type
        field = _SCALARS.get(kind) or _LISTS.get(kind, "")
        allowed: frozenset[int] | frozenset[bytes] | None = None
        if attr.HasField("allowed_values"):
            lst = attr.allowed_values.list
            allowed = frozenset(lst.type) if "type" in kind else frozenset(lst.s)
        checks.append((attr.name, kind, field, attr.minimum if attr.has_minimum else None, allowed))
    return checks, [(a.number_attr, a.type_list_attr) for a in op_def.input_arg]


def fits(value: AttrValue, check: Check) -> bool:
    """Whether ``value`` certainly passes ``ValidateAttrValue`` (False: let the full check
    decide). Placeholders pass."""
    _, kind, field, minimum, allowed = check
    which = value.WhichOneof("value")
    if which == "placeholder":
        return True
    if not kind.startswith("list("):
        if which != field:
            return False
        if kind == "type":
            return value.type in VALID_TYPES and (allowed is None or value.type in allowed)
        if kind == "int":
            return minimum is None or value.i >= minimum
        if kind == "string":
            return allowed is None or value.s in allowed
        return allowed is None and minimum is None
    return which == "list" and _fits_list(value, field, minimum, allowed)


def _fits_list(
    value: AttrValue,
    field: str,
    minimum: int | None,
    allowed: frozenset[int] | frozenset[bytes] | None,
) -> bool:
    """:func:`fits` for a list value of a list attr (``field``: the list's field)."""
    if not field:
        return False
    if not all(f.name == field for f, _ in value.list.ListFields()):
        return False
    items = getattr(value.list, field)
    if minimum is not None and len(items) < minimum:
        return False
    if field == "type":
        return all(t in VALID_TYPES and (allowed is None or t in allowed) for t in items)
    return allowed is None or (field == "s" and all(x in allowed for x in items))


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

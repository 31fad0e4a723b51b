"""Values shown for people: attr values in TensorFlow's text format, and the fields in which
two protobuf messages differ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf import text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor

from mgstore.diff.entities import ValueChange
from mgstore.proto import DataType

_LIST_KINDS = ("s", "i", "f", "b", "type", "shape", "tensor", "func")


def text(message: Any) -> str:
    """A message as one line of TensorFlow's text format."""
    return str(text_format.MessageToString(message, as_one_line=True)).strip()


def quoted(value: bytes) -> str:
    """Bytes as a text-format string literal: ``"relu"``."""
    return '"' + str(text_encoding.CEscape(value, as_utf8=True)) + '"'


def shape(proto: Any) -> str:
    """A TensorShapeProto as ``[-1,16]`` (``[]`` a scalar, ``<unknown>`` unknown rank)."""
    if proto.unknown_rank:
        return "<unknown>"
    return "[" + ",".join(str(dim.size) for dim in proto.dim) + "]"


def dtype(value: int) -> str:
    try:
        return str(DataType.Name(value))
    except ValueError:
        return str(value)


def attr(value: Any) -> str:
    """An AttrValue as people read it: ``[-1,16]``, ``DT_FLOAT``, ``"SAME"``, ``[1, 2]``..."""
    kind = value.WhichOneof("value")
    if kind is None:
        return "<empty>"
    if kind == "list":
        items: list[str] = []
        for name in _LIST_KINDS:
            items.extend(_scalar(name, item) for item in getattr(value.list, name))
        return "[" + ", ".join(items) + "]"
    if kind == "placeholder":
        return "$" + str(value.placeholder)
    return _scalar(kind, getattr(value, kind))


def _scalar(kind: str, value: Any) -> str:
    if kind == "s":
        return quoted(value)
    if kind == "b":
        return "true" if value else "false"
    if kind == "f":
        return repr(value)
    if kind == "type":
        return dtype(value)
    if kind == "shape":
        return shape(value)
    if kind in ("tensor", "func"):
        return text(value)
    return str(value)


def field_changes(old: Any, new: Any, prefix: str = "") -> list[ValueChange]:
    """The fields of two messages of one type that differ, each with both values as text.

    Map fields are compared key by key (``inputs[x]``), repeated messages with a ``name``
    field name by name (``node_def[add]``), other fields whole.
    """
    changes: list[ValueChange] = []
    for field in old.DESCRIPTOR.fields:
        a, b = getattr(old, field.name), getattr(new, field.name)
        label = prefix + field.name
        if _is_map(field):
            changes.extend(_keyed(label, dict(a), dict(b), field))
        elif field.is_repeated:
            if list(a) == list(b):
                continue
            message = field.message_type
            if message is not None and "name" in message.fields_by_name:
                keyed_a, keyed_b = {x.name: x for x in a}, {x.name: x for x in b}
                if len(keyed_a) == len(a) and len(keyed_b) == len(b):
                    changes.extend(_keyed(label, keyed_a, keyed_b, None))
                    continue
            changes.append(ValueChange(label, _repeated(field, a), _repeated(field, b)))
        elif field.message_type is not None:
            has_a, has_b = old.HasField(field.name), new.HasField(field.name)
            if (has_a, has_b) != (False, False) and a != b:
                changes.append(
                    ValueChange(label, text(a) if has_a else None, text(b) if has_b else None)
                )
        elif a != b:
            changes.append(ValueChange(label, _value(field, a), _value(field, b)))
    return changes


def _keyed(label: str, a: dict[Any, Any], b: dict[Any, Any], field: Any) -> Iterator[ValueChange]:
    value_field = field.message_type.fields_by_name["value"] if field is not None else None
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if x != y:
            yield ValueChange(f"{label}[{key}]", _item(value_field, x), _item(value_field, y))


def _item(field: Any, value: Any) -> str | None:
    if value is None:
        return None
    if field is None or field.message_type is not None:
        return text(value)
    return _value(field, value)


def _repeated(field: Any, values: Any) -> str:
    return "[" + ", ".join(_item(field, v) or "" for v in values) + "]"


def _value(field: Any, value: Any) -> str:
    if field.message_type is not None:
        return text(value)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return quoted(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return quoted(value.encode())
    if field.enum_type is not None:
        number = field.enum_type.values_by_number.get(value)
        return str(number.name) if number is not None else str(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    return str(value)


def _is_map(field: Any) -> bool:
    message = field.message_type
    return bool(field.is_repeated and message is not None and message.GetOptions().map_entry)

"""A TensorFlow 1.x-style writer for tests and benchmarks: valid protobuf bytes that are not
the deterministic serialization.

TensorFlow's C++ writer puts fields in field-number order but map entries (``NodeDef.attr``,
``MetaGraphDef.collection_def``, ``signature_def``...) in its hash map's order. This writer
does the same with a fixed, visibly different order: map entries in reverse key order (or
shuffled by ``seed``). Parsing its output gives the same message back.
"""

from __future__ import annotations

import random
from typing import Any

from google.protobuf.descriptor import FieldDescriptor


def writer_order(message: Any, seed: int | None = None) -> bytes:
    """``message`` serialized with every map's entries reversed (or shuffled with ``seed``)."""
    rng = None if seed is None else random.Random(seed)
    return _serialize(message, rng)


def _serialize(message: Any, rng: random.Random | None) -> bytes:
    out = []
    for field, value in message.ListFields():  # in field-number order
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            keys = sorted(value, reverse=True)
            if rng is not None:
                rng.shuffle(keys)
            for key in keys:
                out.append(_tag(field.number) + _framed(_map_entry(field, key, value[key], rng)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            items = value if _repeated(field) else [value]
            out.extend(_tag(field.number) + _framed(_serialize(item, rng)) for item in items)
        else:
            single = type(message)()
            if _repeated(field):
                getattr(single, field.name).extend(value)
            else:
                setattr(single, field.name, value)
            out.append(single.SerializeToString(deterministic=True))
    out.append(_unknown(message))
    return b"".join(out)


def _map_entry(field: Any, key: Any, value: Any, rng: random.Random | None) -> bytes:
    entry = field.message_type._concrete_class()
    entry.key = key
    value_field = field.message_type.fields_by_name["value"]
    if value_field.type == FieldDescriptor.TYPE_MESSAGE:
        return (
            entry.SerializeToString(deterministic=True) + b"\x12" + _framed(_serialize(value, rng))
        )
    entry.value = value
    return entry.SerializeToString(deterministic=True)


def _unknown(message: Any) -> bytes:
    """The message's unknown fields, as parsed (kept after the known ones, as protobuf does)."""
    probe = type(message)()
    probe.MergeFrom(message)
    for field, _ in probe.ListFields():
        probe.ClearField(field.name)
    return bytes(probe.SerializeToString(deterministic=True))


def _repeated(field: Any) -> bool:
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _tag(number: int) -> bytes:
    return _varint((number << 3) | 2)


def _framed(data: bytes) -> bytes:
    return _varint(len(data)) + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)

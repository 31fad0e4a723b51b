"""TensorFlow 2.21's op registry, as bundled data, and TensorFlow's attr-value equality.

``export_meta_graph`` consults TensorFlow's *current* op registry in three places: default attrs
added at import (§2.3), ``stripped_op_list`` (§3.9) and ``strip_default_attrs`` (§8). mgstore
never imports TensorFlow, so it ships a snapshot of the 2.21 registry
(``data/op_registry.binpb``, written by ``python -m mgstore.export.generate_registry``): every
registered op as ``op_def_registry.get`` returns it, without documentation.

:func:`attr_values_equal` is TensorFlow's C++ ``AreAttrValuesEqual`` (the comparison behind
``strip_default_attrs``), including its value-based comparison of tensors.

The OpDef and AttrValue messages handed out here are shared by every caller: treat them as
read-only (copy before modifying).

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from types import MappingProxyType
from typing import NamedTuple

from google.protobuf.message import Message

from mgstore.proto import AttrValue, DataType, OpDef, OpList, TensorProto, TensorShapeProto

__all__ = [
    "attr_defaults",
    "attr_values_equal",
    "load_registry",
    "op_def",
    "stripped_op_list",
    "tensors_equal",
]

_DATA_PACKAGE = "mgstore.export"
_DATA_FILE = "data/op_registry.binpb"

_lock = threading.Lock()
_registry: Mapping[str, OpDef] | None = None


def load_registry() -> Mapping[str, OpDef]:
    """TensorFlow 2.21's op registry: op name -> OpDef (read once from package data, cached).

    The mapping is read-only and iterates in name order (code-point order, as TensorFlow sorts
    ``stripped_op_list``). The OpDefs carry no ``summary``/``description``.
    """
    global _registry
    registry = _registry
    if registry is not None:
        return registry
    with _lock:
        if _registry is None:
            resource = resources.files(_DATA_PACKAGE).joinpath(_DATA_FILE)
            op_list = OpList.FromString(resource.read_bytes())
            _registry = MappingProxyType({op.name: op for op in op_list.op})
        return _registry


def op_def(name: str) -> OpDef | None:
    """The registered OpDef of op ``name``, or None if TensorFlow 2.21 has no such op."""
    return load_registry().get(name)


def attr_defaults(op_name: str) -> dict[str, AttrValue]:
    """Attr name -> declared ``default_value`` for the attrs of ``op_name`` that have one.

    Attrs without a default are left out; an op unknown to the registry has none (``{}``; use
    :func:`op_def` to tell the two apart). The dict is new on every call, its AttrValues are
    the registry's own (read-only).
    """
    definition = op_def(op_name)
    if definition is None:
        return {}
    return {
        attr.name: attr.default_value for attr in definition.attr if attr.HasField("default_value")
    }


def stripped_op_list(op_names: Iterable[str]) -> OpList:
    """An OpList as TensorFlow writes ``meta_info_def.stripped_op_list`` for these ops (§3.9).

    Registered ops only (unknown names, e.g. function names, are skipped), each once, sorted by
    name in code-point order. The OpDefs are copies.
    """
    registry = load_registry()
    out = OpList()
    for name in sorted(set(op_names)):
        definition = registry.get(name)
        if definition is not None:
            out.op.add().CopyFrom(definition)
    return out


# ------------------------------------------------------------------------------------------
# AreAttrValuesEqual (tensorflow/core/framework/attr_value_util.cc), allow_false_negatives=false


def _serialized(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


def attr_values_equal(a: AttrValue, b: AttrValue) -> bool:
    """Whether TensorFlow's C++ ``AreAttrValuesEqual(a, b)`` is true.

    * ``type``: equal iff the same (non-invalid) DataType.
    * ``tensor``: compared by value (:func:`tensors_equal`).
    * ``func``: same name and the same attr keys with pairwise equal values (recursively),
      whatever the map order.
    * everything else (scalars, strings, bools, shapes, every ``list``, even lists of tensors
      or funcs, placeholders, unset values): equal iff the serialized AttrValues are identical,
      so ``f: 0.0`` differs from ``f: -0.0``, ``nan`` equals the same ``nan``, list order and
      shape dim names matter, and ``shape {unknown_rank: true}`` differs from ``shape {}``.
    """
    if a.type != b.type:
        return False
    if a.type != DataType.DT_INVALID:
        return True
    a_tensor, b_tensor = a.HasField("tensor"), b.HasField("tensor")
    if a_tensor != b_tensor:
        return False
    if a_tensor:
        return tensors_equal(a.tensor, b.tensor)
    a_func, b_func = a.HasField("func"), b.HasField("func")
    if a_func != b_func:
        return False
    if a_func:
        if a.func.name != b.func.name:
            return False
        a_attr, b_attr = a.func.attr, b.func.attr
        if len(a_attr) != len(b_attr):
            return False
        for key, value in b_attr.items():
            if key not in a_attr or not attr_values_equal(a_attr[key], value):
                return False
        return True
    return _serialized(a) == _serialized(b)


# ------------------------------------------------------------------------------------------
# AreTensorProtosEqual: Tensor::FromProto on both sides, then AsProtoTensorContent, compared as
# serialized protos, i.e. equal dtype, equal dim sizes, equal element bytes.

_MAX_DIMS = 254  # TensorShape::MaxDimensions()
_INT64_MAX = (1 << 63) - 1

# Element width in bytes (DataTypeSize) of the fixed-width dtypes Tensor::FromProto accepts.
_WIDTH: dict[int, int] = {
    DataType.DT_FLOAT: 4,
    DataType.DT_DOUBLE: 8,
    DataType.DT_INT32: 4,
    DataType.DT_UINT8: 1,
    DataType.DT_INT16: 2,
    DataType.DT_INT8: 1,
    DataType.DT_COMPLEX64: 8,
    DataType.DT_INT64: 8,
    DataType.DT_BOOL: 1,
    DataType.DT_QINT8: 1,
    DataType.DT_QUINT8: 1,
    DataType.DT_QINT32: 4,
    DataType.DT_BFLOAT16: 2,
    DataType.DT_QINT16: 2,
    DataType.DT_QUINT16: 2,
    DataType.DT_UINT16: 2,
    DataType.DT_COMPLEX128: 16,
    DataType.DT_HALF: 2,
    DataType.DT_UINT32: 4,
    DataType.DT_UINT64: 8,
    DataType.DT_FLOAT8_E5M2: 1,
    DataType.DT_FLOAT8_E4M3FN: 1,
    DataType.DT_FLOAT8_E4M3FNUZ: 1,
    DataType.DT_FLOAT8_E4M3B11FNUZ: 1,
    DataType.DT_FLOAT8_E5M2FNUZ: 1,
    DataType.DT_INT4: 1,  # one element per byte in memory and in tensor_content
    DataType.DT_UINT4: 1,
    DataType.DT_INT2: 1,
    DataType.DT_UINT2: 1,
    DataType.DT_FLOAT4_E2M1FN: 1,
}

# Which repeated field holds the values when tensor_content is empty, and how one proto value
# becomes one element: "int" fields are truncated to the element width (static_cast), "raw"
# fields are packed float/double fields whose wire bytes are the element bytes (complex: pairs).
_INT_FIELD: dict[int, str] = {
    DataType.DT_INT32: "int_val",
    DataType.DT_UINT8: "int_val",
    DataType.DT_INT16: "int_val",
    DataType.DT_INT8: "int_val",
    DataType.DT_QINT8: "int_val",
    DataType.DT_QUINT8: "int_val",
    DataType.DT_QINT32: "int_val",
    DataType.DT_QINT16: "int_val",
    DataType.DT_QUINT16: "int_val",
    DataType.DT_UINT16: "int_val",
    DataType.DT_INT4: "int_val",
    DataType.DT_UINT4: "int_val",
    DataType.DT_INT2: "int_val",
    DataType.DT_UINT2: "int_val",
    DataType.DT_INT64: "int64_val",
    DataType.DT_UINT32: "uint32_val",
    DataType.DT_UINT64: "uint64_val",
    DataType.DT_BOOL: "bool_val",
    DataType.DT_HALF: "half_val",  # the 16 bits of each value
    DataType.DT_BFLOAT16: "half_val",
}
_RAW_FIELD: dict[int, tuple[str, int]] = {  # field, proto values per element
    DataType.DT_FLOAT: ("float_val", 1),
    DataType.DT_DOUBLE: ("double_val", 1),
    DataType.DT_COMPLEX64: ("scomplex_val", 2),
    DataType.DT_COMPLEX128: ("dcomplex_val", 2),
}
_FLOAT8_TYPES = frozenset(
    {
        DataType.DT_FLOAT8_E5M2,
        DataType.DT_FLOAT8_E4M3FN,
        DataType.DT_FLOAT8_E4M3FNUZ,
        DataType.DT_FLOAT8_E4M3B11FNUZ,
        DataType.DT_FLOAT8_E5M2FNUZ,
        DataType.DT_FLOAT4_E2M1FN,
    }
)
# Accepted by Tensor::FromProto but not decoded here: compared as serialized TensorProtos.
_OPAQUE_TYPES = frozenset({DataType.DT_RESOURCE, DataType.DT_VARIANT})


class _Elements(NamedTuple):
    """The ``length`` elements of a tensor: ``head`` given explicitly, then ``fill`` repeated.

    Fixed-width elements: ``head`` is their concatenated bytes. Strings: a tuple of bytes.
    Repetition stays implicit, so a tiny proto with a huge shape costs nothing to compare.
    """

    head: bytes | tuple[bytes, ...]
    fill: bytes
    length: int
    width: int  # bytes per element; 0 for strings


def tensors_equal(a: TensorProto, b: TensorProto) -> bool:
    """Whether TensorFlow's C++ ``AreTensorProtosEqual(a, b)`` (no false negatives) is true.

    Both protos are decoded as ``Tensor::FromProto`` does; equal iff both decode and have the
    same dtype, the same dim sizes and the same element bytes. So ``tensor_content`` equals a
    ``*_val`` list of the same numbers; a ``*_val`` list shorter than the shape is padded with
    its last value (no values: zeros / empty strings) and a longer one is truncated; dim names
    and ``version_number`` are ignored; ``-0.0`` differs from ``0.0``; a NaN equals the same NaN
    bits; ints in ``int_val`` are truncated to the element width (``uint8`` 256 == 0). A proto
    that does not decode (no dtype, reference dtype, invalid shape, wrong ``tensor_content``
    size, a bool byte other than 0 or 1) is unequal to everything, itself included, except
    through TensorFlow's fast path: a proto under 512 bytes describing more than 4096 bytes of
    tensor equals an identical proto.

    Resource and variant tensors are not decoded but compared as serialized protos: this can
    differ from TensorFlow, which e.g. rejects a variant value of an unregistered type even
    against itself. Neither occurs as an attr default.
    """
    a_bytes, b_bytes = _tensor_byte_size(a), _tensor_byte_size(b)
    if a_bytes != b_bytes:
        return False
    if a.ByteSize() < 512 and a_bytes > 4096 and _serialized(a) == _serialized(b):
        return True
    a_dims, b_dims = _valid_dims(a), _valid_dims(b)
    if a_dims is None or b_dims is None:  # FromProto fails
        return False
    if a.dtype != b.dtype or a_dims != b_dims:  # the canonical protos differ
        return False
    if a.dtype in _OPAQUE_TYPES:
        return _serialized(a) == _serialized(b)
    a_elements, b_elements = _elements(a, a_dims), _elements(b, b_dims)
    if a_elements is None or b_elements is None:
        return False
    return _same_elements(a_elements, b_elements)


def _partial_num_elements(shape: TensorShapeProto) -> int:
    """PartialTensorShape(proto).num_elements(): -1 if unknown or invalid."""
    if shape.unknown_rank or len(shape.dim) > _MAX_DIMS:
        return -1
    count = 1
    for dim in shape.dim:
        if dim.size < 0:
            return -1
        count *= dim.size
        if count > _INT64_MAX:
            return -1
    return count


def _tensor_byte_size(t: TensorProto) -> int:
    """TensorByteSize(): elements times DataTypeSize (0 for strings, resources, variants)."""
    count = _partial_num_elements(t.tensor_shape)
    return -1 if count < 0 else count * _WIDTH.get(t.dtype, 0)


def _valid_dims(t: TensorProto) -> tuple[int, ...] | None:
    """The dim sizes if FromProto accepts the shape and dtype, else None.

    TensorShape::IsValid ignores ``unknown_rank`` (a proto with it set is read by its dims).
    """
    if t.dtype not in _WIDTH and t.dtype != DataType.DT_STRING and t.dtype not in _OPAQUE_TYPES:
        return None  # DT_INVALID, reference types, unknown enum values
    dims = tuple(d.size for d in t.tensor_shape.dim)
    if len(dims) > _MAX_DIMS:
        return None
    count = 1
    for size in dims:
        if size < 0:
            return None
        count *= size
        if count > _INT64_MAX:
            return None
    return dims


def _elements(t: TensorProto, dims: tuple[int, ...]) -> _Elements | None:
    """The elements FromProto builds, or None if it fails (Helper::Decode / FromProtoField)."""
    count = 1
    for size in dims:
        count *= size
    dtype = t.dtype
    if dtype == DataType.DT_STRING:
        return _string_elements(t, count)
    width = _WIDTH[dtype]
    zero = bytes(width)
    if count == 0:
        return _Elements(b"", zero, 0, width)
    content: bytes = t.tensor_content
    if content:
        if len(content) != count * width:
            return None
        if dtype == DataType.DT_BOOL and content.strip(b"\x00\x01"):
            return None  # TensorFlow rejects bool bytes other than 0 and 1
        return _Elements(content, zero, count, width)
    if dtype in _RAW_FIELD:
        field, per_element = _RAW_FIELD[dtype]
        given = len(getattr(t, field)) // per_element
        raw = _packed_field_bytes(t, field)[: given * width]
    elif dtype in _FLOAT8_TYPES:
        raw = t.float8_val
        given = len(raw)
    else:
        values: Sequence[int] = getattr(t, _INT_FIELD[dtype])
        given = len(values)
        mask = (1 << (8 * width)) - 1
        raw = b"".join((int(v) & mask).to_bytes(width, "little") for v in values[:count])
    if given == 0:
        return _Elements(b"", zero, count, width)
    kept = min(given, count)
    head = raw[: kept * width]
    return _Elements(head, head[-width:], count, width)


def _string_elements(t: TensorProto, count: int) -> _Elements | None:
    if count == 0:
        return _Elements((), b"", 0, 0)
    content: bytes = t.tensor_content
    if content:
        strings = _decode_string_list(content, count)
        if strings is None:
            return None
        return _Elements(strings, b"", count, 0)
    values: Sequence[bytes] = t.string_val
    if not values:
        return _Elements((), b"", count, 0)
    head = tuple(values[:count])
    return _Elements(head, head[-1], count, 0)


def _decode_string_list(content: bytes, count: int) -> tuple[bytes, ...] | None:
    """port::DecodeStringList: ``count`` varint32 lengths, then exactly that many bytes."""
    if count > len(content):  # each length takes at least one byte
        return None
    sizes: list[int] = []
    pos = 0
    for _ in range(count):
        value = 0
        for shift in range(0, 35, 7):  # GetVarint32: at most 5 bytes, high bits dropped
            if pos >= len(content):
                return None
            byte = content[pos]
            pos += 1
            value = (value | ((byte & 0x7F) << shift)) & 0xFFFFFFFF
            if not byte & 0x80:
                break
        else:
            return None
        sizes.append(value)
    if sum(sizes) != len(content) - pos:
        return None
    strings = []
    for size in sizes:
        strings.append(content[pos : pos + size])
        pos += size
    return tuple(strings)


def _packed_field_bytes(t: TensorProto, field: str) -> bytes:
    """The exact wire bytes of a packed float/double field (no round trip through Python floats,
    which would alter signalling-NaN bits)."""
    only = TensorProto()
    only.CopyFrom(t)
    only.DiscardUnknownFields()  # they would be serialized after the field
    for descriptor, _ in only.ListFields():
        if descriptor.name != field:
            only.ClearField(descriptor.name)
    data = only.SerializeToString()
    item = 4 if field in ("float_val", "scomplex_val") else 8
    size = len(getattr(t, field)) * item
    return data[len(data) - size :] if size else b""


def _same_elements(a: _Elements, b: _Elements) -> bool:
    """Whether two element sequences of the same length and width are identical."""
    if a.length != b.length:
        return False
    width = max(a.width, 1)  # strings: one tuple item per element
    a_known, b_known = len(a.head) // width, len(b.head) // width
    if a_known > b_known:
        a, b = b, a
        a_known, b_known = b_known, a_known
    # positions [0, a_known): both explicit
    if a.head != b.head[: a_known * width]:
        return False
    # positions [a_known, b_known): a's fill against b's explicit elements
    extra = b.head[a_known * width :]
    if extra:
        expected = a.fill * (b_known - a_known) if a.width else (a.fill,) * (b_known - a_known)
        if extra != expected:
            return False
    # positions [b_known, length): both fills
    return b_known >= a.length or a.fill == b.fill

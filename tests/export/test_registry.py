"""The bundled TensorFlow 2.21 op registry and TensorFlow's attr-value equality.

Without TensorFlow: the snapshot's shape and well-known defaults, and ``attr_values_equal`` on
the cases of §8. With TensorFlow (``tf`` marker): the snapshot is what TensorFlow's
registry is now, and ``attr_values_equal`` agrees with TensorFlow's own C++
``AreAttrValuesEqual`` (reached through ``EqualAttrValueWrapper``, the function
``strip_default_attrs`` calls) on several thousand pairs, and end to end through
``export_meta_graph(strip_default_attrs=True)``.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mgstore.export import registry
from mgstore.export.registry import (
    attr_defaults,
    attr_values_equal,
    load_registry,
    op_def,
    stripped_op_list,
    tensors_equal,
)
from mgstore.proto import AttrValue, DataType, NameAttrList, OpList, TensorProto

OP_COUNT = 1908  # TensorFlow 2.21.0, after `import tensorflow`

# ------------------------------------------------------------------------------------------
# Building AttrValues


def shape_attr(*dims: int, unknown_rank: bool = False, names: tuple[str, ...] = ()) -> AttrValue:
    v = AttrValue()
    v.shape.SetInParent()
    v.shape.unknown_rank = unknown_rank
    for i, size in enumerate(dims):
        v.shape.dim.add(size=size, name=names[i] if i < len(names) else "")
    return v


def tensor(dtype: int, shape: tuple[int, ...] | None = (), **fields: Any) -> TensorProto:
    """A TensorProto; ``shape=None`` leaves tensor_shape unset; list values extend fields."""
    t = TensorProto(dtype=dtype)
    if shape is not None:
        t.tensor_shape.SetInParent()
        for size in shape:
            t.tensor_shape.dim.add(size=size)
    for name, value in fields.items():
        if isinstance(value, list):
            getattr(t, name).extend(value)
        else:
            setattr(t, name, value)
    return t


def tensor_attr(t: TensorProto) -> AttrValue:
    v = AttrValue()
    v.tensor.CopyFrom(t)
    return v


def func_attr(name: str, items: list[tuple[str, AttrValue]]) -> AttrValue:
    v = AttrValue()
    v.func.name = name
    for key, value in items:
        v.func.attr[key].CopyFrom(value)
    return v


def f32_bits(bits: int) -> AttrValue:
    """``f`` with exact float32 bits (a signalling NaN survives only on the wire)."""
    return AttrValue.FromString(b"\x25" + struct.pack("<I", bits))


def le(values: list[int], width: int) -> bytes:
    mask = (1 << (8 * width)) - 1
    return b"".join((v & mask).to_bytes(width, "little") for v in values)


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def string_content(values: list[bytes]) -> bytes:
    return b"".join(varint(len(v)) for v in values) + b"".join(values)


I32, U8, F32 = DataType.DT_INT32, DataType.DT_UINT8, DataType.DT_FLOAT
NAN = float("nan")


def spec_cases() -> list[tuple[str, AttrValue, AttrValue, bool]]:
    """§8's table and examples: (label, a, b, expected)."""
    bad_color = tensor(U8, (4,), int_val=[255, 0, 0, 255])
    four_sevens = tensor(I32, (4,), int_val=[7, 7, 7, 7])
    return [
        ("f 0.0 vs -0.0", AttrValue(f=0.0), AttrValue(f=-0.0), False),
        ("f nan vs nan", AttrValue(f=NAN), AttrValue(f=NAN), True),
        ("f 1.5 vs 1.5", AttrValue(f=1.5), AttrValue(f=1.5), True),
        ("i 3 vs 3", AttrValue(i=3), AttrValue(i=3), True),
        ("i 0 vs unset", AttrValue(i=0), AttrValue(), False),
        ("s same", AttrValue(s=b"NHWC"), AttrValue(s=b"NHWC"), True),
        ("s differs", AttrValue(s=b"NHWC"), AttrValue(s=b"NCHW"), False),
        ("b false vs false", AttrValue(b=False), AttrValue(b=False), True),
        ("b false vs i 0", AttrValue(b=False), AttrValue(i=0), False),
        ("type same", AttrValue(type=F32), AttrValue(type=F32), True),
        ("type differs", AttrValue(type=F32), AttrValue(type=I32), False),
        (
            "list order",
            AttrValue(list=AttrValue.ListValue(i=[1, 2])),
            AttrValue(list=AttrValue.ListValue(i=[2, 1])),
            False,
        ),
        (
            "list same",
            AttrValue(list=AttrValue.ListValue(i=[1, 2])),
            AttrValue(list=AttrValue.ListValue(i=[1, 2])),
            True,
        ),
        ("empty list vs empty list", AttrValue(list={}), AttrValue(list={}), True),
        ("unknown_rank vs shape{}", shape_attr(unknown_rank=True), shape_attr(), False),
        ("unknown_rank vs [-1]", shape_attr(unknown_rank=True), shape_attr(-1), False),
        (
            "unknown_rank vs unknown_rank",
            shape_attr(unknown_rank=True),
            shape_attr(unknown_rank=True),
            True,
        ),
        ("dim names matter", shape_attr(2, names=("x",)), shape_attr(2), False),
        (
            "tensor_content vs int_val",
            tensor_attr(bad_color),
            tensor_attr(tensor(U8, (4,), tensor_content=bytes([255, 0, 0, 255]))),
            True,
        ),
        (
            "int_val 7 broadcast",
            tensor_attr(tensor(I32, (4,), int_val=[7])),
            tensor_attr(four_sevens),
            True,
        ),
        (
            "int_val 7 vs content of four 7s",
            tensor_attr(tensor(I32, (4,), int_val=[7])),
            tensor_attr(tensor(I32, (4,), tensor_content=le([7] * 4, 4))),
            True,
        ),
        (
            "different values",
            tensor_attr(tensor(I32, (4,), int_val=[7])),
            tensor_attr(tensor(I32, (4,), int_val=[7, 7, 7, 8])),
            False,
        ),
        (
            "different shape",
            tensor_attr(tensor(I32, (4,), int_val=[7])),
            tensor_attr(tensor(I32, (2, 2), int_val=[7])),
            False,
        ),
        (
            "tensor float -0.0",
            tensor_attr(tensor(F32, (1,), float_val=[0.0])),
            tensor_attr(tensor(F32, (1,), float_val=[-0.0])),
            False,
        ),
        (
            "tensor no values vs zeros",
            tensor_attr(tensor(F32, (2,))),
            tensor_attr(tensor(F32, (2,), tensor_content=bytes(8))),
            True,
        ),
        (
            "func map order",
            func_attr("f", [("a", AttrValue(i=1)), ("b", AttrValue(s=b"x"))]),
            func_attr("f", [("b", AttrValue(s=b"x")), ("a", AttrValue(i=1))]),
            True,
        ),
        (
            "func nested tensors by value",
            func_attr("f", [("t", tensor_attr(tensor(I32, (2,), int_val=[7])))]),
            func_attr("f", [("t", tensor_attr(tensor(I32, (2,), tensor_content=le([7, 7], 4))))]),
            True,
        ),
        (
            "func name",
            func_attr("f", [("a", AttrValue(i=1))]),
            func_attr("g", [("a", AttrValue(i=1))]),
            False,
        ),
        (
            "func extra key",
            func_attr("f", [("a", AttrValue(i=1))]),
            func_attr("f", [("a", AttrValue(i=1)), ("b", AttrValue(i=1))]),
            False,
        ),
    ]


# ------------------------------------------------------------------------------------------
# Without TensorFlow


def test_registry_loads_once_with_every_op() -> None:
    ops = load_registry()
    assert load_registry() is ops
    assert len(ops) == OP_COUNT
    assert list(ops) == sorted(ops)
    assert all(name == definition.name for name, definition in ops.items())
    with pytest.raises(TypeError):
        ops["MatMul"] = ops["MatMul"]  # type: ignore[index]


def test_registry_has_no_documentation() -> None:
    for definition in load_registry().values():
        assert not definition.summary and not definition.description, definition.name
        for arg in (*definition.input_arg, *definition.output_arg, *definition.attr):
            assert not arg.description, (definition.name, arg.name)


def test_code_point_order() -> None:
    names = list(load_registry())
    assert names.index("VarHandleOp") < names.index("VarIsInitializedOp")
    assert names.index("VarIsInitializedOp") < names.index("VariableV2")
    assert names.index("Zeta") < names.index("_Arg")  # "_" sorts after capitals


def test_well_known_defaults() -> None:
    matmul = attr_defaults("MatMul")
    assert set(matmul) == {"transpose_a", "transpose_b", "grad_a", "grad_b"}
    assert all(v == AttrValue(b=False) for v in matmul.values())
    assert "T" not in matmul
    assert attr_defaults("Placeholder") == {"shape": shape_attr(unknown_rank=True)}
    assert attr_defaults("Squeeze")["squeeze_dims"] == AttrValue(list={})
    bad_color = attr_defaults("ImageSummary")["bad_color"]
    assert bad_color.tensor == tensor(U8, (4,), int_val=[255, 0, 0, 255])
    assert attr_defaults("Conv2D")["data_format"] == AttrValue(s=b"NHWC")
    assert attr_defaults("NoSuchOp") == {}


def test_op_def() -> None:
    matmul = op_def("MatMul")
    assert matmul is not None
    assert [a.name for a in matmul.input_arg] == ["a", "b"]
    assert op_def("NoSuchOp") is None


def test_defaults_by_attr_type() -> None:
    """TensorFlow's counts by type are over tf.raw_ops (1462 ops); the full registry has more."""
    counts: dict[str, int] = {}
    for definition in load_registry().values():
        for attr in definition.attr:
            if attr.HasField("default_value"):
                counts[attr.type] = counts.get(attr.type, 0) + 1
    assert counts["tensor"] == 2  # ImageSummary.bad_color, DefaultAttrs.tensor_val (a test op)
    assert counts["bool"] == 602 and counts["string"] == 624


def test_stripped_op_list() -> None:
    ops = stripped_op_list(["VariableV2", "MatMul", "my_function", "VarHandleOp", "MatMul"])
    assert isinstance(ops, OpList)
    assert [o.name for o in ops.op] == ["MatMul", "VarHandleOp", "VariableV2"]
    ops.op[0].name = "changed"
    assert op_def("MatMul") is not None  # copies, not the registry's own messages


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [pytest.param(a, b, e, id=label) for label, a, b, e in spec_cases()],
)
def test_attr_values_equal_spec_cases(a: AttrValue, b: AttrValue, expected: bool) -> None:
    assert attr_values_equal(a, b) is expected
    assert attr_values_equal(b, a) is expected


def test_attr_values_equal_edge_cases() -> None:
    snan, qnan = f32_bits(0x7F800001), f32_bits(0x7FC00001)
    assert attr_values_equal(snan, snan) and not attr_values_equal(snan, qnan)
    unset_type = AttrValue()
    invalid_type = AttrValue(type=DataType.DT_INVALID)  # set, so it is serialized
    assert not attr_values_equal(unset_type, invalid_type)
    assert attr_values_equal(unset_type, AttrValue())
    # a tensor that does not decode equals nothing, not even itself
    no_dtype = tensor_attr(TensorProto())
    assert not attr_values_equal(no_dtype, no_dtype)
    wrong_size = tensor_attr(tensor(I32, (2,), tensor_content=b"\x01"))
    assert not attr_values_equal(wrong_size, wrong_size)
    ref = tensor_attr(tensor(DataType.DT_FLOAT_REF, (1,), float_val=[1.0]))
    assert not attr_values_equal(ref, ref)
    # ... except through TensorFlow's fast path for small protos of large tensors
    big_wrong = tensor_attr(tensor(I32, (5000,), tensor_content=b"\x01"))
    assert attr_values_equal(big_wrong, big_wrong)


def test_tensor_value_decoding() -> None:
    def eq(a: TensorProto, b: TensorProto) -> bool:
        return tensors_equal(a, b) and tensors_equal(b, a)

    assert eq(tensor(U8, (1,), int_val=[256]), tensor(U8, (1,), int_val=[0]))  # static_cast
    assert eq(tensor(I32, (2,), int_val=[1, 2, 3]), tensor(I32, (2,), int_val=[1, 2]))
    assert eq(
        tensor(I32, (2,), int_val=[5], tensor_content=le([1, 1], 4)), tensor(I32, (2,), int_val=[1])
    )  # tensor_content wins
    assert not eq(tensor(I32, (2,), int_val=[1]), tensor(DataType.DT_INT64, (2,), int64_val=[1]))
    assert eq(
        tensor(DataType.DT_HALF, (2,), half_val=[0x3C00]),
        tensor(DataType.DT_HALF, (2,), tensor_content=b"\x00\x3c\x00\x3c"),
    )
    assert eq(
        tensor(DataType.DT_COMPLEX64, (2,), scomplex_val=[1.0, 2.0]),
        tensor(DataType.DT_COMPLEX64, (2,), tensor_content=struct.pack("<4f", 1, 2, 1, 2)),
    )
    s = DataType.DT_STRING
    assert eq(
        tensor(s, (3,), string_val=[b"ab", b"c"]),
        tensor(s, (3,), tensor_content=string_content([b"ab", b"c", b"c"])),
    )
    assert not eq(tensor(s, (1,), tensor_content=b"\x02abc"), tensor(s, (1,), string_val=[b"ab"]))
    b = DataType.DT_BOOL
    assert eq(tensor(b, (2,), tensor_content=b"\x00\x01"), tensor(b, (2,), bool_val=[False, True]))
    invalid_bool = tensor(b, (1,), tensor_content=b"\x02")  # TensorFlow rejects it
    assert not eq(invalid_bool, invalid_bool)
    # unknown_rank is ignored by FromProto, but not by the byte-size pre-check
    unknown = tensor(I32, None, int_val=[1])
    unknown.tensor_shape.unknown_rank = True
    assert eq(unknown, unknown)
    assert not eq(unknown, tensor(I32, (), int_val=[1]))
    # a huge broadcast is never materialised
    huge = 1 << 40
    assert eq(tensor(I32, (huge,), int_val=[1]), tensor(I32, (huge,), int_val=[1, 1]))
    assert not eq(tensor(I32, (huge,), int_val=[1]), tensor(I32, (huge,), int_val=[1, 2]))


def test_package_data_is_found() -> None:
    from importlib import resources

    data = resources.files("mgstore.export").joinpath("data/op_registry.binpb").read_bytes()
    ops = OpList.FromString(data)
    assert ops.SerializeToString(deterministic=True) == data  # deterministic, canonical
    assert list(registry.load_registry().values()) == list(ops.op)


# ------------------------------------------------------------------------------------------
# Pairs for the comparison against TensorFlow


def _dtype_cases() -> list[
    tuple[int, list[Any], Callable[[list[Any]], dict[str, Any]], Callable[[list[Any]], bytes]]
]:
    """(dtype, candidate values, values -> *_val fields, values -> tensor_content)."""
    D = DataType

    def ints(
        field: str, width: int
    ) -> tuple[Callable[[list[Any]], dict[str, Any]], Callable[[list[Any]], bytes]]:
        return (lambda vs: {field: list(vs)}), (lambda vs: le(list(vs), width))

    cases: list[
        tuple[int, list[Any], Callable[[list[Any]], dict[str, Any]], Callable[[list[Any]], bytes]]
    ] = []
    small = [0, 1, -1, 7, 127, 128, 255, 256, -129, 300]
    for dtype, width in [
        (D.DT_INT32, 4),
        (D.DT_UINT8, 1),
        (D.DT_INT8, 1),
        (D.DT_INT16, 2),
        (D.DT_UINT16, 2),
        (D.DT_QINT8, 1),
        (D.DT_QUINT8, 1),
        (D.DT_QINT16, 2),
        (D.DT_QUINT16, 2),
        (D.DT_QINT32, 4),
        (D.DT_INT4, 1),
        (D.DT_UINT4, 1),
        (D.DT_INT2, 1),
        (D.DT_UINT2, 1),
    ]:
        cases.append((dtype, small, *ints("int_val", width)))
    cases.append((D.DT_INT64, [0, 1, -1, 1 << 40, -(1 << 62)], *ints("int64_val", 8)))
    cases.append((D.DT_UINT32, [0, 1, 7, (1 << 32) - 1], *ints("uint32_val", 4)))
    cases.append((D.DT_UINT64, [0, 1, 7, (1 << 64) - 1], *ints("uint64_val", 8)))
    cases.append((D.DT_BOOL, [False, True], *ints("bool_val", 1)))
    for dtype in (D.DT_HALF, D.DT_BFLOAT16):
        cases.append((dtype, [0, 0x3C00, 0x8000, 0x7E00, 0xFFFF], *ints("half_val", 2)))
    floats = [0.0, -0.0, 1.5, NAN, float("inf"), 3.0]
    cases.append(
        (
            D.DT_FLOAT,
            floats,
            (lambda vs: {"float_val": list(vs)}),
            (lambda vs: struct.pack(f"<{len(vs)}f", *vs)),
        )
    )
    cases.append(
        (
            D.DT_DOUBLE,
            floats,
            (lambda vs: {"double_val": list(vs)}),
            (lambda vs: struct.pack(f"<{len(vs)}d", *vs)),
        )
    )
    pairs = [(0.0, 0.0), (1.0, -0.0), (NAN, 2.0)]
    cases.append(
        (
            D.DT_COMPLEX64,
            pairs,
            (lambda vs: {"scomplex_val": [x for p in vs for x in p]}),
            (lambda vs: struct.pack(f"<{2 * len(vs)}f", *[x for p in vs for x in p])),
        )
    )
    cases.append(
        (
            D.DT_COMPLEX128,
            pairs,
            (lambda vs: {"dcomplex_val": [x for p in vs for x in p]}),
            (lambda vs: struct.pack(f"<{2 * len(vs)}d", *[x for p in vs for x in p])),
        )
    )
    for dtype in (D.DT_FLOAT8_E5M2, D.DT_FLOAT8_E4M3FN, D.DT_FLOAT4_E2M1FN):
        cases.append(
            (
                dtype,
                [0, 1, 0x80, 0xFF],
                (lambda vs: {"float8_val": bytes(vs)}),
                (lambda vs: bytes(vs)),
            )
        )
    cases.append(
        (
            D.DT_STRING,
            [b"", b"a", b"bc", b"x" * 200],
            (lambda vs: {"string_val": list(vs)}),
            string_content,
        )
    )
    return cases


def _representations(rng: random.Random) -> Iterator[tuple[TensorProto, TensorProto]]:
    """Pairs of tensors, mostly different encodings of the same values."""
    shapes: list[tuple[int, ...]] = [(), (0,), (1,), (3,), (2, 2), (1, 3), (4,)]
    for dtype, candidates, to_fields, to_content in _dtype_cases():
        for _ in range(40):
            shape = rng.choice(shapes)
            n = math.prod(shape)
            values = [rng.choice(candidates) for _ in range(n)]
            if rng.random() < 0.5 and n:
                values = values[:1] * n  # one repeated value
            encodings = [
                tensor(dtype, shape, tensor_content=to_content(values))
                if n
                else tensor(dtype, shape)
            ]
            encodings.append(tensor(dtype, shape, **to_fields(values)))
            short = list(values)
            while len(short) > 1 and short[-1] == short[-2]:
                short.pop()
            encodings.append(tensor(dtype, shape, **to_fields(short)))
            encodings.append(tensor(dtype, shape, **to_fields(values + [rng.choice(candidates)])))
            if n:
                other = list(values)
                other[rng.randrange(n)] = rng.choice(candidates)
                encodings.append(tensor(dtype, shape, **to_fields(other)))
                encodings.append(tensor(dtype, shape, tensor_content=to_content(values)[:-1]))
            encodings.append(tensor(dtype, shape))
            named = tensor(dtype, shape, version_number=3, **to_fields(values))
            for dim in named.tensor_shape.dim:
                dim.name = "d"
            encodings.append(named)
            other_shape = tensor(dtype, rng.choice(shapes), **to_fields(values))
            encodings.append(other_shape)
            for _ in range(12):
                yield rng.choice(encodings), rng.choice(encodings)


def _odd_tensors() -> list[TensorProto]:
    D = DataType
    unknown = tensor(I32, None, int_val=[1])
    unknown.tensor_shape.unknown_rank = True
    unknown_dims = tensor(I32, (2,), int_val=[1])
    unknown_dims.tensor_shape.unknown_rank = True
    no_shape = tensor(I32, None, int_val=[3])
    return [
        TensorProto(),
        tensor(D.DT_FLOAT_REF, (1,), float_val=[1.0]),
        tensor(D.DT_STRING_REF, (0,)),
        tensor(77, (0,)),  # not a DataType
        tensor(I32, (-1,), int_val=[1]),
        tensor(I32, (-5,), int_val=[1]),
        tensor(I32, (2,) * 255, int_val=[1]),
        tensor(I32, (1 << 40, 1 << 40), int_val=[1]),
        tensor(I32, (5000,), tensor_content=b"\x01"),
        tensor(I32, (5000,), int_val=[1]),
        tensor(I32, (5000,), int_val=[1, 1]),
        tensor(D.DT_STRING, (5000,), tensor_content=b"\x01"),
        tensor(D.DT_STRING, (1,), tensor_content=b"\x82\x80\x80\x80\x10ab"),
        tensor(D.DT_STRING, (1,), tensor_content=b"\x82\x80\x80\x80\x80\x01ab"),
        tensor(D.DT_STRING, (1,), tensor_content=b"\x80\x80\x80\x80\x80"),
        tensor(D.DT_STRING, (1,), string_val=[b"ab"]),
        tensor(D.DT_COMPLEX64, (2,), scomplex_val=[1.0, 2.0, 3.0]),
        tensor(D.DT_COMPLEX64, (2,), scomplex_val=[1.0, 2.0]),
        tensor(D.DT_COMPLEX64, (1,), scomplex_val=[1.0]),
        tensor(D.DT_COMPLEX64, (1,)),
        tensor(D.DT_BOOL, (1,), tensor_content=b"\x02"),
        tensor(D.DT_BOOL, (2,), tensor_content=b"\x00\x01"),
        tensor(D.DT_BOOL, (2,), tensor_content=b"\x01\x02"),
        tensor(D.DT_BOOL, (2,), bool_val=[False, True]),
        tensor(D.DT_BOOL, (5000,), tensor_content=b"\x02"),
        tensor(D.DT_RESOURCE, (1,)),
        tensor(D.DT_RESOURCE, (0,)),
        tensor(D.DT_VARIANT, (1,)),
        tensor(D.DT_VARIANT, (0,)),
        tensor(D.DT_BOOL, (1,), bool_val=[True]),
        tensor(D.DT_BOOL, (1,), int_val=[1]),
        tensor(D.DT_BOOL, (1,)),
        tensor(I32, (1,), float_val=[1.0]),
        tensor(I32, (1,)),
        unknown,
        unknown_dims,
        tensor(I32, (), int_val=[1]),
        tensor(I32, (2,), int_val=[1, 1]),
        no_shape,
        tensor(I32, (), int_val=[3]),
        tensor(F32, (1,), tensor_content=struct.pack("<I", 0x7F800001)),
        tensor(F32, (1,), tensor_content=struct.pack("<I", 0x7FC00001)),
        TensorProto.FromString(
            tensor(F32, (1,)).SerializeToString() + b"\x2a\x04" + struct.pack("<I", 0x7F800001)
        ),
    ]


def _scalar_attrs() -> list[AttrValue]:
    list_value = AttrValue.ListValue
    t1 = tensor(I32, (2,), int_val=[7])
    t2 = tensor(I32, (2,), tensor_content=le([7, 7], 4))
    return [
        AttrValue(),
        AttrValue(s=b""),
        AttrValue(s=b"a"),
        AttrValue(i=0),
        AttrValue(i=-1),
        AttrValue(i=1 << 40),
        AttrValue(f=0.0),
        AttrValue(f=-0.0),
        AttrValue(f=NAN),
        AttrValue(f=1.0),
        f32_bits(0x7F800001),
        f32_bits(0x7FC00001),
        f32_bits(0xFFC00000),
        AttrValue(b=False),
        AttrValue(b=True),
        AttrValue(type=F32),
        AttrValue(type=I32),
        AttrValue(type=DataType.DT_INVALID),
        AttrValue(type=DataType.DT_FLOAT_REF),
        AttrValue(placeholder="T"),
        AttrValue(placeholder=""),
        shape_attr(),
        shape_attr(unknown_rank=True),
        shape_attr(-1),
        shape_attr(2),
        shape_attr(2, names=("x",)),
        shape_attr(2, 3),
        AttrValue(list=list_value()),
        AttrValue(list=list_value(i=[1, 2])),
        AttrValue(list=list_value(i=[2, 1])),
        AttrValue(list=list_value(f=[0.0])),
        AttrValue(list=list_value(f=[-0.0])),
        AttrValue(list=list_value(s=[b"a", b"b"])),
        AttrValue(list=list_value(b=[True, False])),
        AttrValue(list=list_value(type=[F32, I32])),
        AttrValue(list=list_value(shape=[shape_attr(unknown_rank=True).shape])),
        AttrValue(list=list_value(shape=[shape_attr().shape])),
        AttrValue(list=list_value(tensor=[t1])),
        AttrValue(list=list_value(tensor=[t2])),
        AttrValue(list=list_value(func=[NameAttrList(name="f")])),
        func_attr("f", []),
        func_attr("g", []),
        func_attr("f", [("a", AttrValue(i=1)), ("b", tensor_attr(t1))]),
        func_attr("f", [("b", tensor_attr(t2)), ("a", AttrValue(i=1))]),
        func_attr("f", [("a", AttrValue(i=1))]),
        func_attr("f", [("a", AttrValue(i=2)), ("b", tensor_attr(t1))]),
        func_attr("f", [("n", func_attr("g", [("x", AttrValue(f=-0.0))]))]),
        func_attr("f", [("n", func_attr("g", [("x", AttrValue(f=0.0))]))]),
        tensor_attr(t1),
        tensor_attr(t2),
    ]


def _map_order_pairs() -> Iterator[tuple[AttrValue, AttrValue]]:
    """Lists of funcs (compared serialized) whose attr maps were filled in different orders."""
    keys = [f"k{i}" for i in range(12)]
    rng = random.Random(7)
    for _ in range(10):
        shuffled = keys[:]
        rng.shuffle(shuffled)
        pair = []
        for order in (keys, shuffled):
            v = AttrValue()
            f = v.list.func.add(name="f")
            for k in order:
                f.attr[k].i = len(k)
            pair.append(v)
        yield pair[0], pair[1]


def all_pairs() -> list[tuple[AttrValue, AttrValue]]:
    rng = random.Random(2021)
    pairs = [(a, b) for _, a, b, _ in spec_cases()]
    scalars = _scalar_attrs()
    pairs += [(a, b) for a in scalars for b in scalars]
    odd = [tensor_attr(t) for t in _odd_tensors()]
    pairs += [(a, b) for a in odd for b in odd]
    pairs += [(tensor_attr(a), tensor_attr(b)) for a, b in _representations(rng)]
    pairs += list(_map_order_pairs())
    pairs += [
        (v.default_value, v.default_value)
        for d in load_registry().values()
        for v in d.attr
        if v.HasField("default_value")
    ]
    return pairs


# ------------------------------------------------------------------------------------------
# With TensorFlow


@pytest.mark.tf
def test_snapshot_is_tensorflows_registry(tf: Any) -> None:
    from mgstore.export import generate_registry

    assert tf.__version__ == generate_registry.TF_VERSION
    fresh = generate_registry.registry_from_tensorflow()
    assert fresh == generate_registry.DATA_FILE.read_bytes(), (
        "the bundled registry is stale: run python -m mgstore.export.generate_registry"
    )
    assert len(OpList.FromString(fresh).op) == OP_COUNT
    assert generate_registry.main(["--check"]) == 0


@pytest.mark.tf
def test_defaults_match_op_def_registry(tf: Any) -> None:
    from tensorflow.python.framework import op_def_registry

    for name in ("MatMul", "Placeholder", "Squeeze", "ImageSummary", "Conv2D", "VariableV2"):
        theirs = op_def_registry.get(name)
        expected = {
            a.name: a.default_value.SerializeToString(deterministic=True)
            for a in theirs.attr
            if a.HasField("default_value")
        }
        mine = {k: v.SerializeToString(deterministic=True) for k, v in attr_defaults(name).items()}
        assert mine == expected, name


@pytest.mark.tf
def test_attr_values_equal_matches_tensorflow(tf: Any) -> None:
    from tensorflow.python.client import pywrap_tf_session as c_api

    pairs = all_pairs()
    assert len(pairs) > 5000
    wrong = []
    for a, b in pairs:
        a_bytes, b_bytes = a.SerializeToString(), b.SerializeToString()
        theirs = c_api.EqualAttrValueWrapper(a_bytes, b_bytes) == ""
        if attr_values_equal(a, b) != theirs:
            wrong.append(f"{a} vs {b}: TensorFlow says {theirs}")
    assert not wrong, f"{len(wrong)} of {len(pairs)} differ:\n" + "\n".join(wrong[:10])


@pytest.mark.tf
def test_strip_default_attrs_end_to_end(tf: Any) -> None:
    """export_meta_graph(strip_default_attrs=True) removes exactly the attrs we call equal."""
    from tensorflow.core.framework import attr_value_pb2

    bad_color = attr_defaults("ImageSummary")["bad_color"]
    candidates = [
        tensor_attr(tensor(U8, (4,), int_val=[255, 0, 0, 255])),
        tensor_attr(tensor(U8, (4,), tensor_content=bytes([255, 0, 0, 255]))),
        tensor_attr(tensor(U8, (4,), int_val=[255, 0, 0, 255, 9])),
        tensor_attr(tensor(U8, (4,), int_val=[255, 0, 0, -1])),
        tensor_attr(tensor(U8, (4,), int_val=[255, 256, 0, 255])),
        tensor_attr(tensor(U8, (4,), int_val=[255, 0, 0])),
        tensor_attr(tensor(U8, (4,), tensor_content=bytes([255, 0, 0, 254]))),
        tensor_attr(tensor(U8, (2, 2), int_val=[255, 0, 0, 255])),
        tensor_attr(tensor(DataType.DT_INT8, (4,), int_val=[-1, 0, 0, -1])),
    ]
    for candidate in candidates:
        graph = tf.Graph()
        with graph.as_default():
            images = tf.compat.v1.placeholder(tf.float32, shape=[1, 2, 2, 3], name="images")
            op = tf.compat.v1.summary.image("img", images).op
            op._set_attr(
                "bad_color", attr_value_pb2.AttrValue.FromString(candidate.SerializeToString())
            )
            exported = tf.compat.v1.train.export_meta_graph(graph=graph, strip_default_attrs=True)
        node = next(n for n in exported.graph_def.node if n.op == "ImageSummary")
        stripped = "bad_color" not in node.attr
        assert stripped == attr_values_equal(candidate, bad_color), candidate
        assert stripped == (candidate in candidates[:5])


def test_no_tensorflow_import() -> None:
    """Loading the registry (or the generator module) never imports TensorFlow."""
    import subprocess
    import sys

    code = (
        "import sys, mgstore.export.registry as r, mgstore.export.generate_registry\n"
        "r.load_registry(); r.attr_defaults('MatMul')\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""Property tests: random MetaGraphDefs survive bytes, text, networkx and the stored parts.

The strategies cover what real graphs hold (scoped and non-ASCII names, data and control inputs,
inputs naming no node, devices, attrs of every AttrValue kind, collections of every kind,
functions, SavedModel parts) and what a newer TensorFlow may add (unknown fields, numbered above
everything this schema declares, at several levels).
"""

from __future__ import annotations

import hashlib
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, example, given, settings

from mgstore import byte_layout, io
from mgstore import graph as mg
from mgstore.proto import (
    AssetFileDef,
    AttrValue,
    CollectionDef,
    DataType,
    FunctionDef,
    FunctionDefLibrary,
    GradientDef,
    GraphDebugInfo,
    MetaGraphDef,
    NameAttrList,
    NodeDef,
    OpDef,
    OpList,
    SavedObjectGraph,
    SaverDef,
    SignatureDef,
    TensorInfo,
    TensorProto,
    TensorShapeProto,
    VersionDef,
)

PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
FLOAT32 = st.floats(width=32, allow_nan=False)  # -0.0 and infinities included
SMALL = {"max_size": 3}
NAME_ALPHABET = "ab/_09:ßé日²"
names = st.text(alphabet=NAME_ALPHABET, min_size=1, max_size=6)
texts = st.text(max_size=8)  # any Unicode but surrogates: quotes, newlines, control characters
data_types = st.one_of(
    st.sampled_from(sorted(DataType.values())),
    st.integers(0, 2**31 - 1),  # open enum: values this version does not name survive
)
devices = st.sampled_from(
    ["", "/cpu:0", "/device:GPU:1", "/job:worker/replica:0/task:1/device:CPU:0", "/gpu:*"]
)
ops = st.one_of(
    st.sampled_from(["NoOp", "Const", "Identity", "AddV2", "MatMul", "Switch", "Merge", "If"]),
    st.text(alphabet="ABCxyz_0", min_size=1, max_size=6),
)


# --------------------------------------------------------------------------------------------
# Unknown fields: numbered far above every field this schema declares


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@st.composite
def unknown_fields(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(0, 2))):
        number = draw(st.integers(1000, 18999) | st.integers(20000, 2**29 - 1))
        wire_type = draw(st.sampled_from([0, 1, 2, 5]))
        out += _varint(number << 3 | wire_type)
        if wire_type == 0:
            out += _varint(draw(st.integers(0, 2**64 - 1)))
        elif wire_type == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire_type == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        else:
            payload = draw(st.binary(max_size=10))
            out += _varint(len(payload)) + payload
    return out


def _with_unknown(draw: st.DrawFn, message: Any) -> Any:
    if draw(st.integers(0, 4)) == 0:
        message.MergeFromString(draw(unknown_fields()))
    return message


# --------------------------------------------------------------------------------------------
# Values


@st.composite
def shapes(draw: st.DrawFn) -> Any:
    shape = TensorShapeProto(unknown_rank=draw(st.booleans()))
    for size, name in draw(st.lists(st.tuples(st.integers(-1, 2**40), texts), **SMALL)):
        shape.dim.add(size=size, name=name)
    return shape


@st.composite
def tensors(draw: st.DrawFn) -> Any:
    tensor = TensorProto(dtype=draw(data_types), version_number=draw(INT32))
    if draw(st.booleans()):
        tensor.tensor_shape.CopyFrom(draw(shapes()))
    tensor.tensor_content = draw(st.binary(max_size=16))
    tensor.float_val.extend(draw(st.lists(FLOAT32, **SMALL)))
    tensor.double_val.extend(draw(st.lists(st.floats(allow_nan=False), **SMALL)))
    tensor.int_val.extend(draw(st.lists(INT32, **SMALL)))
    tensor.int64_val.extend(draw(st.lists(INT64, **SMALL)))
    tensor.string_val.extend(draw(st.lists(st.binary(max_size=6), **SMALL)))
    tensor.bool_val.extend(draw(st.lists(st.booleans(), **SMALL)))
    tensor.uint64_val.extend(draw(st.lists(st.integers(0, 2**64 - 1), **SMALL)))
    return tensor


@st.composite
def funcs(draw: st.DrawFn, depth: int = 0) -> Any:
    func = NameAttrList(name=draw(names))
    for key in draw(st.lists(texts, unique=True, **SMALL)):
        func.attr[key].CopyFrom(draw(attr_values(depth + 1)))
    return func


@st.composite
def list_values(draw: st.DrawFn, depth: int) -> Any:
    value = AttrValue()
    lst = value.list
    lst.SetInParent()  # an empty list is a value of its own
    lst.s.extend(draw(st.lists(st.binary(max_size=6), **SMALL)))
    lst.i.extend(draw(st.lists(INT64, **SMALL)))
    lst.f.extend(draw(st.lists(FLOAT32, **SMALL)))
    lst.b.extend(draw(st.lists(st.booleans(), **SMALL)))
    lst.type.extend(draw(st.lists(data_types, **SMALL)))
    lst.shape.extend(draw(st.lists(shapes(), max_size=2)))
    lst.tensor.extend(draw(st.lists(tensors(), max_size=1)))
    if depth < 1:
        lst.func.extend(draw(st.lists(funcs(depth), max_size=1)))
    return value


@st.composite
def attr_values(draw: st.DrawFn, depth: int = 0) -> Any:
    kinds = ["s", "i", "f", "b", "type", "shape", "tensor", "list", "placeholder", "empty"]
    if depth < 1:
        kinds.append("func")
    kind = draw(st.sampled_from(kinds))
    if kind == "s":
        value = AttrValue(s=draw(st.binary(max_size=12)))
    elif kind == "i":
        value = AttrValue(i=draw(INT64))
    elif kind == "f":
        value = AttrValue(f=draw(FLOAT32))
    elif kind == "b":
        value = AttrValue(b=draw(st.booleans()))
    elif kind == "type":
        value = AttrValue(type=draw(data_types))
    elif kind == "shape":
        value = AttrValue(shape=draw(shapes()))
    elif kind == "tensor":
        value = AttrValue(tensor=draw(tensors()))
    elif kind == "list":
        value = draw(list_values(depth))
    elif kind == "func":
        value = AttrValue(func=draw(funcs(depth)))
    elif kind == "placeholder":
        value = AttrValue(placeholder=draw(texts))
    else:
        value = AttrValue()
    return _with_unknown(draw, value)


attr_maps = st.dictionaries(
    st.one_of(st.sampled_from(["T", "dtype", "value", "_class", "shape"]), texts),
    attr_values(),
    max_size=3,
)


@st.composite
def packable(draw: st.DrawFn) -> Any:
    """A message for an Any: of a type the pool knows (text expands it), without maps."""
    return draw(
        st.one_of(
            st.builds(
                VersionDef,
                producer=INT32,
                min_consumer=INT32,
                bad_consumers=st.lists(INT32, **SMALL),
            ),
            shapes(),
            st.builds(NodeDef, name=names, op=ops, input=st.lists(names, **SMALL)),
            st.builds(SaverDef, filename_tensor_name=texts, max_to_keep=INT32),
        )
    )


@st.composite
def anys(draw: st.DrawFn) -> Any:
    from mgstore.proto.tensorflow.core.protobuf.meta_graph_pb2 import (
        MetaGraphDef as _MetaGraphDef,
    )

    holder = _MetaGraphDef.MetaInfoDef()
    if draw(st.booleans()):
        holder.any_info.Pack(draw(packable()), deterministic=True)
    else:  # a type nobody here knows: kept as bytes
        holder.any_info.type_url = "type.googleapis.com/unknown." + draw(
            st.text(alphabet="ABCdef", min_size=1, max_size=5)
        )
        holder.any_info.value = draw(st.binary(max_size=12))
    return holder.any_info


# --------------------------------------------------------------------------------------------
# Graph parts


@st.composite
def input_strings(draw: st.DrawFn, node_names: list[str]) -> str:
    target = draw(st.sampled_from(node_names) if node_names else names)
    if draw(st.integers(0, 5)) == 0:
        target = draw(names)  # may name no node: a dangling input
    form = draw(st.sampled_from(["plain", "index", "control", "zero"]))
    if form == "index":
        return f"{target}:{draw(st.integers(1, 12))}"
    if form == "control":
        return "^" + target
    if form == "zero":
        return target + ":0"
    return target


@st.composite
def node_defs(draw: st.DrawFn, name: str, node_names: list[str]) -> Any:
    node = NodeDef(
        name=name,
        op=draw(ops),
        device=draw(devices),
        input=draw(st.lists(input_strings(node_names), max_size=4)),
    )
    for key, value in draw(attr_maps).items():
        node.attr[key].CopyFrom(value)
    if draw(st.integers(0, 5)) == 0:
        node.experimental_debug_info.original_node_names.extend(draw(st.lists(names, **SMALL)))
    if draw(st.integers(0, 7)) == 0:
        node.experimental_type.type_id = draw(st.integers(0, 10_000))
        node.experimental_type.args.add(type_id=draw(st.integers(0, 100)))
    return _with_unknown(draw, node)


@st.composite
def functions(draw: st.DrawFn) -> Any:
    fname = draw(names)
    function = FunctionDef(signature=OpDef(name=fname))
    for arg in draw(st.lists(names, unique=True, **SMALL)):
        function.signature.input_arg.add(name=arg, type=draw(data_types))
    body_names = draw(st.lists(names, unique=True, max_size=3))
    for name in body_names:
        function.node_def.append(draw(node_defs(name, body_names)))
    for key in draw(st.lists(names, unique=True, max_size=2)):
        function.ret[key] = draw(names)
    for key, value in draw(st.dictionaries(texts, attr_values(), max_size=1)).items():
        function.attr[key].CopyFrom(value)
    return function


@st.composite
def libraries(draw: st.DrawFn) -> Any:
    library = FunctionDefLibrary()
    library.function.extend(draw(st.lists(functions(), max_size=2)))
    for fname, grad in draw(st.lists(st.tuples(names, names), max_size=2)):
        library.gradient.append(GradientDef(function_name=fname, gradient_func=grad))
    return library


@st.composite
def meta_info_defs(draw: st.DrawFn) -> Any:
    meta = MetaGraphDef()
    info = meta.meta_info_def
    info.SetInParent()
    info.meta_graph_version = draw(texts)
    info.tags.extend(draw(st.lists(st.sampled_from(["serve", "train", "gpu", "tpu"]) | texts)))
    info.tensorflow_version = draw(st.sampled_from(["", "2.21.0", "1.15.5"]))
    info.tensorflow_git_version = draw(texts)
    info.stripped_default_attrs = draw(st.booleans())
    if draw(st.booleans()):
        info.any_info.CopyFrom(draw(anys()))
    if draw(st.booleans()):
        info.stripped_op_list.CopyFrom(OpList(op=[OpDef(name=n) for n in draw(st.lists(ops))]))
    for key, value in draw(st.dictionaries(names, names, max_size=2)).items():
        info.function_aliases[key] = value
    _with_unknown(draw, info)
    return info


@st.composite
def collection_defs(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["node", "bytes", "int64", "float", "any", "empty"]))
    collection = CollectionDef()
    if kind == "node":
        collection.node_list.value.extend(draw(st.lists(names, **SMALL)))
    elif kind == "bytes":
        collection.bytes_list.value.extend(draw(st.lists(st.binary(max_size=8), **SMALL)))
    elif kind == "int64":
        collection.int64_list.value.extend(draw(st.lists(INT64, **SMALL)))
    elif kind == "float":
        collection.float_list.value.extend(draw(st.lists(FLOAT32, **SMALL)))
    elif kind == "any":
        collection.any_list.value.extend(draw(st.lists(anys(), max_size=2)))
    return collection


@st.composite
def tensor_infos(draw: st.DrawFn) -> Any:
    info = TensorInfo(name=draw(names) + ":0", dtype=draw(data_types))
    if draw(st.booleans()):
        info.tensor_shape.CopyFrom(draw(shapes()))
    return info


@st.composite
def signature_defs(draw: st.DrawFn) -> Any:
    signature = SignatureDef(method_name=draw(texts))
    for key in draw(st.lists(texts, unique=True, max_size=2)):
        signature.inputs[key].CopyFrom(draw(tensor_infos()))
    for key in draw(st.lists(texts, unique=True, max_size=2)):
        signature.outputs[key].CopyFrom(draw(tensor_infos()))
    return signature


@st.composite
def saver_defs(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return SaverDef()  # present but empty
    return SaverDef(
        filename_tensor_name=draw(texts),
        save_tensor_name=draw(texts),
        restore_op_name=draw(texts),
        max_to_keep=draw(INT32),
        sharded=draw(st.booleans()),
        keep_checkpoint_every_n_hours=draw(FLOAT32),
        version=draw(st.sampled_from([0, 1, 2])),
    )


@st.composite
def meta_graphs(draw: st.DrawFn) -> Any:
    meta = MetaGraphDef()
    if draw(st.booleans()):
        meta.meta_info_def.CopyFrom(draw(meta_info_defs()))
    node_names = draw(st.lists(names, unique=True, max_size=8))
    # an empty graph may have a graph_def or none at all
    if node_names or draw(st.booleans()):
        graph_def = meta.graph_def
        graph_def.SetInParent()
        for name in node_names:
            graph_def.node.append(draw(node_defs(name, node_names)))
        if draw(st.booleans()):
            graph_def.versions.CopyFrom(
                VersionDef(
                    producer=draw(INT32),
                    min_consumer=draw(INT32),
                    bad_consumers=draw(st.lists(INT32, **SMALL)),
                )
            )
        if draw(st.integers(0, 4)) == 0:
            graph_def.version = draw(INT32)
        if draw(st.integers(0, 2)) == 0:
            graph_def.library.CopyFrom(draw(libraries()))
        if draw(st.integers(0, 5)) == 0:
            graph_def.debug_info.CopyFrom(GraphDebugInfo(files=draw(st.lists(texts, **SMALL))))
        _with_unknown(draw, graph_def)
    if draw(st.integers(0, 2)) == 0:
        meta.saver_def.CopyFrom(draw(saver_defs()))
    for key, value in draw(st.dictionaries(texts, collection_defs(), max_size=5)).items():
        meta.collection_def[key].CopyFrom(value)
    for key, value in draw(st.dictionaries(texts, signature_defs(), max_size=2)).items():
        meta.signature_def[key].CopyFrom(value)
    for filename in draw(st.lists(texts, max_size=2)):
        meta.asset_file_def.append(
            AssetFileDef(filename=filename, tensor_info=draw(tensor_infos()))
        )
    if draw(st.integers(0, 4)) == 0:
        meta.object_graph_def.CopyFrom(SavedObjectGraph())
        for _ in range(draw(st.integers(0, 2))):
            meta.object_graph_def.nodes.add().children.add(node_id=draw(st.integers(0, 9)))
    return _with_unknown(draw, meta)


def _without_unknown_fields(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    copy.DiscardUnknownFields()
    return copy


def _only_unknown_fields() -> Any:
    """A MetaGraphDef holding nothing this schema knows: no byte of it is below 0x20."""
    meta = MetaGraphDef()
    meta.MergeFromString(_varint(1000 << 3) + _varint(100))
    return meta


def _tricky_names() -> Any:
    """Names with colons and non-ASCII digits, inputs to them, a self loop, dangling inputs."""
    meta = MetaGraphDef()
    nodes = meta.graph_def.node
    nodes.add(name="a:²", op="NoOp")
    nodes.add(name="b:1", op="Identity", input=["a:²", "^a:²", "b:1:1", "b:1", "gone:3", "^x"])
    nodes.add(name="日/ß_0", op="Merge", input=["日/ß_0:2", "a:²:0", "b:1:0"])
    return meta


EXAMPLES = (_only_unknown_fields(), _tricky_names())


def _examples(test: Any) -> Any:
    for meta in EXAMPLES:
        test = example(meta)(test)
    return test


# --------------------------------------------------------------------------------------------
# Properties


@PROPERTY_SETTINGS
@_examples
@given(meta_graphs())
def test_binary_round_trip(meta: Any) -> None:
    data = io.serialize(meta)
    kind, parsed, fmt = io.parse(data)
    assert (kind, fmt) == ("MetaGraphDef", "binary")
    assert parsed == meta
    assert io.serialize(parsed) == data
    loaded = io.load(data)
    assert loaded.format == "MetaGraphDef/binary"
    assert io.serialize(loaded.meta_graph) == data


@PROPERTY_SETTINGS
@_examples
@given(meta_graphs())
def test_text_round_trip(meta: Any) -> None:
    """Text has no place for unknown fields (TensorFlow's drops them too); all else survives."""
    text = io.serialize(meta, as_text=True)
    kind, parsed, fmt = io.parse(text)
    assert kind == "MetaGraphDef"
    assert fmt == ("text" if text else "binary")  # no bytes at all are read as binary
    expected = _without_unknown_fields(meta)
    assert parsed == expected
    assert io.serialize(parsed) == io.serialize(expected)
    assert io.serialize(parsed, as_text=True) == text


@PROPERTY_SETTINGS
@_examples
@given(meta_graphs())
def test_networkx_round_trip(meta: Any) -> None:
    data = io.serialize(meta)
    g = mg.to_networkx(meta)
    assert list(g) == [n.name for n in meta.graph_def.node]
    again = mg.from_networkx(g)
    assert io.serialize(again) == data
    # the edges mirror the inputs that name nodes of the graph
    expected = sum(
        1 for node in meta.graph_def.node for t in node.input if mg.parse_input(t)[0] in g
    )
    assert g.number_of_edges() == expected


@PROPERTY_SETTINGS
@_examples
@given(meta_graphs())
def test_wire_split_and_assemble(meta: Any) -> None:
    data = io.serialize(meta)
    stored = byte_layout.split(meta)
    nodes = meta.graph_def.node
    blobs = [io.serialize(node) for node in nodes]
    encoded = byte_layout.encode_nodes(nodes)
    framed = encoded.framed
    assembled = byte_layout.assemble(
        stored.head, stored.graph_tail, stored.tail, stored.has_graph_def, b"".join(framed)
    )
    assert assembled == data
    # the content hash and size, from the framed nodes in any number of pieces
    expected = (hashlib.sha256(data).hexdigest(), len(data))
    assert stored.content([b"".join(framed)]) == expected
    assert stored.content(framed) == expected
    assert stored.content(framed[:1] + [b"".join(framed[1:])]) == expected
    assert stored.has_graph_def == meta.HasField("graph_def")
    assert list(stored.node_defs) == list(nodes)
    assert len(encoded) == len(nodes)
    assert encoded.names == [n.name for n in nodes]
    assert encoded.ops == [n.op for n in nodes]
    assert encoded.devices == [n.device for n in nodes]
    assert encoded.inputs == [tuple(n.input) for n in nodes]
    assert framed == [byte_layout.frame(blob) for blob in blobs]
    assert encoded.shas == [hashlib.sha256(blob).digest() for blob in blobs]
    assert stored.collections == dict(meta.collection_def)
    # the networkx form gives the same parts
    g = mg.to_networkx(meta)
    via_graph = byte_layout.split(mg.from_networkx(g), g.graph.get("debug_info"))
    assert byte_layout.encode_nodes(via_graph.node_defs).framed == framed
    assert (via_graph.head, via_graph.graph_tail, via_graph.tail) == (
        stored.head,
        stored.graph_tail,
        stored.tail,
    )


LOCATION = st.tuples(
    st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**31)
)  # (pack, offset, length)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(LOCATION, max_size=50),  # any order: packs and offsets go back and forth
        st.lists(
            st.tuples(
                st.integers(-(2**60), 2**60),
                st.integers(-(2**60), 2**60),
                st.integers(-(2**60), 2**60),
            ),
            max_size=20,
        ),  # negative values and deltas
        st.lists(st.tuples(*[st.integers(-3, 3)] * 3), max_size=100),  # small, repeated
    )
)
def test_pack_locations_round_trip(locations: list[tuple[int, int, int]]) -> None:
    packed = byte_layout.pack_locations(locations)
    assert isinstance(packed, bytes)
    assert byte_layout.unpack_locations(packed) == locations


def test_pack_locations_is_compact_for_consecutive_nodes() -> None:
    locations = []
    offset = 0
    for length in range(100, 10_100):
        locations.append((7, offset, length % 300))
        offset += length % 300
    packed = byte_layout.pack_locations(locations)
    assert len(packed) < 3_000
    assert byte_layout.unpack_locations(packed) == locations
    assert byte_layout.unpack_locations(byte_layout.pack_locations([])) == []
    back_and_forth = [(5, 100, 3), (2, 0, 0), (2, 50, 7), (9, 2**40, 1), (0, 0, 0)]
    assert (
        byte_layout.unpack_locations(byte_layout.pack_locations(back_and_forth)) == back_and_forth
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.integers(0, 50), st.integers(1, 30)), max_size=40).map(
        lambda xs: [(p, o * 10, n) for p, o, n in xs]
    )
)
def test_runs_cover_exactly_the_locations(locations: list[tuple[int, int, int]]) -> None:
    """Merged runs select the same bytes, in the same order, as one slice per location."""
    packs = {p: bytes(range(256)) * 4 for p in range(1, 5)}
    data = byte_layout.pack_locations(locations)
    by_location = b"".join(packs[p][o : o + n] for p, o, n in byte_layout.unpack_locations(data))
    by_run = b"".join(packs[p][o : o + n] for p, o, n in byte_layout.unpack_runs(data))
    assert by_run == by_location == b"".join(packs[p][o : o + n] for p, o, n in locations)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(0, 400), st.integers(1, 30)),
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_positions_of_wanted_locations(locations: list[tuple[int, int, int]]) -> None:
    packed = byte_layout.pack_locations(locations)
    every = {(p, o): i for i, (p, o, _) in enumerate(locations)}
    assert byte_layout.positions(packed, every) == every
    some = dict(list(every.items())[::3])
    assert byte_layout.positions(packed, list(some) + [(9, 999)]) == some

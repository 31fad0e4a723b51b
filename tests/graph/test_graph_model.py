"""The networkx form of a MetaGraphDef: lossless, with the node data and edges documented."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import networkx as nx
import pytest
from fixture_catalog import FIXTURES, MANIFEST

from mgstore import graph as mg
from mgstore import io
from mgstore.errors import ArgumentTypeError, InvalidGraphError
from mgstore.proto import (
    AttrValue,
    CollectionDef,
    DataType,
    FunctionDef,
    GraphDebugInfo,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    SavedObjectGraph,
    SaverDef,
    TensorShapeProto,
    VersionDef,
)

_GRAPH_FORMATS = ("meta-binary", "meta-text", "graphdef-binary", "graphdef-text")
# (fixture, tags) for every MetaGraphDef among the fixtures
GRAPHS = sorted(
    [(n, None) for n, e in MANIFEST.items() if e["format"] in _GRAPH_FORMATS]
    + [
        (n, tuple(mg_["tags"]))
        for n, e in MANIFEST.items()
        if e["format"] == "saved-model"
        for mg_ in e["meta_graphs"]
    ],
    key=str,
)
NODE_KEYS = {
    "op",
    "device",
    "inputs",
    "attr",
    "experimental_debug_info",
    "experimental_type",
    "unknown_fields",
}
FLOAT = DataType.Value("DT_FLOAT")


def _load(name: str, tags: tuple[str, ...] | None) -> Any:
    return io.load(FIXTURES / name, tags=tags)


def _round_trip(meta: Any) -> Any:
    return mg.from_networkx(mg.to_networkx(meta))


def _expected_input(text: str) -> tuple[str, int, bool]:
    """TensorFlow's reading of an input string, written independently of mgstore."""
    if text.startswith("^"):
        return text[1:], -1, True
    match = re.fullmatch(r"(.*):([0-9]+)", text, flags=re.DOTALL)
    if match:
        return match[1], int(match[2]), False
    return text, 0, False


def _unknown(number: int, payload: bytes) -> bytes:
    """A length-delimited field ``number`` that no schema here declares."""
    tag = (number << 3) | 2
    out = bytearray()
    for value in (tag, len(payload)):
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + payload


# --------------------------------------------------------------------------------------------
# Every fixture


@pytest.mark.parametrize(("name", "tags"), GRAPHS)
def test_fixture_round_trips_byte_for_byte(name: str, tags: tuple[str, ...] | None) -> None:
    loaded = _load(name, tags)
    meta = loaded.meta_graph
    g = mg.to_networkx(meta, loaded.debug_info)
    again = mg.from_networkx(g)
    assert io.serialize(again) == io.serialize(meta)
    assert again == meta
    assert type(again) is MetaGraphDef
    # and once more, from the graph rebuilt
    assert io.serialize(_round_trip(again)) == io.serialize(meta)
    if loaded.debug_info is not None:
        assert g.graph["debug_info"] == loaded.debug_info
        assert g.graph["debug_info"] is not loaded.debug_info


@pytest.mark.parametrize(("name", "tags"), GRAPHS)
def test_fixture_node_data_and_edges(name: str, tags: tuple[str, ...] | None) -> None:
    meta = _load(name, tags).meta_graph
    g = mg.to_networkx(meta)
    assert set(g.graph) == set(mg.GRAPH_KEYS)
    nodes = meta.graph_def.node
    assert list(g.nodes) == [n.name for n in nodes]
    expected_edges = []
    for node in nodes:
        data = g.nodes[node.name]
        assert set(data) == NODE_KEYS
        assert data["op"] == node.op
        assert data["device"] == node.device
        assert data["inputs"] == list(node.input)
        assert data["attr"] == dict(node.attr)
        assert data["unknown_fields"] == b""
        assert (data["experimental_debug_info"] is None) != node.HasField("experimental_debug_info")
        assert (data["experimental_type"] is None) != node.HasField("experimental_type")
        for slot, text in enumerate(node.input):
            src, output, control = _expected_input(text)
            if src in g:
                expected_edges.append(
                    (src, node.name, slot, {"input": slot, "output": output, "control": control})
                )
    assert sorted(g.edges(keys=True, data=True), key=repr) == sorted(expected_edges, key=repr)
    for name_ in g:
        assert mg.inputs_from_edges(g, name_) == [
            mg.format_input(*_expected_input(t))
            for t in g.nodes[name_]["inputs"]
            if _expected_input(t)[0] in g
        ]


def test_control_flow_has_every_kind_of_edge() -> None:
    g = mg.to_networkx(_load("control_flow.meta", None).meta_graph)
    edges = list(g.edges(data=True))
    assert any(d["control"] and d["output"] == -1 for _, _, d in edges)
    assert any(not d["control"] and d["output"] > 0 for _, _, d in edges)
    assert all(d["control"] == (d["output"] == -1) for _, _, d in edges)
    # a v1 while_loop closes a cycle (NextIteration -> Merge): the edges say so
    assert not nx.is_directed_acyclic_graph(g)
    assert any(
        g.nodes[v]["op"] == "Merge" and g.nodes[u]["op"] == "NextIteration" for u, v in g.edges()
    )


def test_graph_parts_of_a_fixture() -> None:
    meta = _load("dense.meta", None).meta_graph
    g = mg.to_networkx(meta)
    assert g.graph["has_graph_def"] is True
    assert g.graph["meta_info_def"] == meta.meta_info_def
    assert g.graph["saver_def"] == meta.saver_def
    assert g.graph["versions"] == meta.graph_def.versions
    assert g.graph["collection_def"] == dict(meta.collection_def)
    assert g.graph["library"] is None
    assert g.graph["object_graph_def"] is None
    assert g.graph["unknown_fields"] == b""
    assert g.graph["graph_def_unknown_fields"] == b""
    assert g.graph["debug_info"] is None


def test_graph_is_not_shared_with_the_message() -> None:
    meta = _load("collections.meta", None).meta_graph
    before = io.serialize(meta)
    g = mg.to_networkx(meta)
    first = next(iter(g))
    g.nodes[first]["attr"].setdefault("x", AttrValue(i=1))
    for value in g.nodes[first]["attr"].values():
        value.s = b"changed"
    g.graph["collection_def"]["my_nodes"].node_list.value.append("changed")
    g.graph["meta_info_def"].tags.append("changed")
    assert io.serialize(meta) == before
    out = mg.from_networkx(g)
    out.graph_def.node[0].name = "renamed"
    out.meta_info_def.tags.append("again")
    assert first in g and "again" not in g.graph["meta_info_def"].tags


# --------------------------------------------------------------------------------------------
# Edges and inputs


def _hand_written() -> Any:
    meta = MetaGraphDef()
    nodes = meta.graph_def.node
    nodes.add(name="a", op="Placeholder")
    nodes.add(name="b", op="Identity", input=["a"])
    nodes.add(name="c", op="AddV2", input=["a", "b:0"], device="/device:CPU:0")
    nodes.add(name="split", op="Split", input=["c"])
    nodes.add(
        name="d",
        op="Foo",
        input=["split:2", "^b", "missing", "^gone", "missing:3", "a", "split:1", "split:10"],
    )
    nodes.add(name="weird:7", op="NoOp", input=["weird:7:0", "^weird:7", "x:²", "a:"])
    nodes.add(name="x:²", op="NoOp")
    nodes.add(name="self", op="Merge", input=["self:1", "^self"])
    return meta


def test_edges_mirror_inputs() -> None:
    meta = _hand_written()
    g = mg.to_networkx(meta)
    edges = {(u, v, k): d for u, v, k, d in g.edges(keys=True, data=True)}
    assert edges[("a", "b", 0)] == {"input": 0, "output": 0, "control": False}
    assert edges[("a", "c", 0)] == {"input": 0, "output": 0, "control": False}
    assert edges[("b", "c", 1)] == {"input": 1, "output": 0, "control": False}
    assert edges[("split", "d", 0)] == {"input": 0, "output": 2, "control": False}
    assert edges[("b", "d", 1)] == {"input": 1, "output": -1, "control": True}
    assert edges[("a", "d", 5)] == {"input": 5, "output": 0, "control": False}
    assert edges[("split", "d", 6)] == {"input": 6, "output": 1, "control": False}
    assert edges[("split", "d", 7)] == {"input": 7, "output": 10, "control": False}
    # two edges between the same pair, told apart by their keys
    assert g.number_of_edges("split", "d") == 3
    # dangling inputs stay in `inputs` but make no edge (and no node)
    assert g.nodes["d"]["inputs"] == list(meta.graph_def.node[4].input)
    assert "missing" not in g and "gone" not in g
    assert {k for _, _, k in g.in_edges("d", keys=True)} == {0, 1, 5, 6, 7}
    # names with colons, and indices that are not ASCII digits
    assert edges[("weird:7", "weird:7", 0)] == {"input": 0, "output": 0, "control": False}
    assert edges[("weird:7", "weird:7", 1)] == {"input": 1, "output": -1, "control": True}
    assert edges[("x:²", "weird:7", 2)] == {"input": 2, "output": 0, "control": False}
    assert ("weird:7", 3) not in {(v, k) for _, v, k in g.edges(keys=True)}  # "a:" is no "a"
    # self loops
    assert edges[("self", "self", 0)] == {"input": 0, "output": 1, "control": False}
    assert edges[("self", "self", 1)] == {"input": 1, "output": -1, "control": True}
    # inputs are kept as written: "b:0" is not rewritten as "b"
    assert g.nodes["c"]["inputs"] == ["a", "b:0"]
    assert io.serialize(mg.from_networkx(g)) == io.serialize(meta)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a", ("a", 0, False)),
        ("a:0", ("a", 0, False)),
        ("a:1", ("a", 1, False)),
        ("scope/a_1:12", ("scope/a_1", 12, False)),
        ("^a", ("a", -1, True)),
        ("^scope/a", ("scope/a", -1, True)),
        ("a:b:3", ("a:b", 3, False)),
        ("a:", ("a:", 0, False)),
        ("a:x", ("a:x", 0, False)),
        ("a:²", ("a:²", 0, False)),
        ("a:-1", ("a:-1", 0, False)),
        ("", ("", 0, False)),
        ("ünï/cödé:4", ("ünï/cödé", 4, False)),
    ],
)
def test_parse_input(text: str, expected: tuple[str, int, bool]) -> None:
    assert mg.parse_input(text) == expected
    assert mg.parse_input(text) == _expected_input(text)


@pytest.mark.parametrize(
    ("edge", "text"),
    [(("a", 0, False), "a"), (("a", 3, False), "a:3"), (("a", -1, True), "^a")],
)
def test_format_input(edge: tuple[str, int, bool], text: str) -> None:
    assert mg.format_input(*edge) == text
    assert mg.parse_input(text) == edge


# --------------------------------------------------------------------------------------------
# Errors


def test_duplicate_node_names() -> None:
    meta = MetaGraphDef()
    meta.graph_def.node.add(name="a", op="NoOp")
    meta.graph_def.node.add(name="tower_1/dup", op="NoOp")
    meta.graph_def.node.add(name="b", op="NoOp")
    meta.graph_def.node.add(name="tower_1/dup", op="Const")
    with pytest.raises(InvalidGraphError, match="'tower_1/dup'") as info:
        mg.to_networkx(meta)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "value",
    [GraphDef(), NodeDef(), b"\x12\x00", None, {"graph_def": {}}, nx.MultiDiGraph()],
    ids=["GraphDef", "NodeDef", "bytes", "None", "dict", "graph"],
)
def test_to_networkx_wrong_type(value: object) -> None:
    with pytest.raises(ArgumentTypeError, match="MetaGraphDef") as info:
        mg.to_networkx(value)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    "value",
    [nx.DiGraph(), nx.Graph(), nx.MultiGraph(), MetaGraphDef(), {}, None],
    ids=["DiGraph", "Graph", "MultiGraph", "MetaGraphDef", "dict", "None"],
)
def test_from_networkx_wrong_type(value: object) -> None:
    with pytest.raises(ArgumentTypeError, match="MultiDiGraph"):
        mg.from_networkx(value)  # type: ignore[arg-type]


def test_add_op_wrong_attr_type_leaves_graph_alone() -> None:
    g = nx.MultiDiGraph()
    mg.add_op(g, "a", "Placeholder", attr={"dtype": AttrValue(type=FLOAT)})
    mg.add_op(g, "b", "Identity", ["a"], attr={"T": AttrValue(type=FLOAT)})
    before = (dict(g.nodes(data=True)), list(g.edges(keys=True, data=True)))
    for bad in ({"T": 1}, {"T": "DT_FLOAT"}, {"T": NodeDef()}):
        with pytest.raises(ArgumentTypeError, match="AttrValue"):
            mg.add_op(g, "b", "Identity", ["a"], attr=bad)
    with pytest.raises(ArgumentTypeError, match="inputs"):
        mg.add_op(g, "b", "Identity", "a")
    with pytest.raises(ArgumentTypeError, match="inputs"):
        mg.add_op(g, "b", "Identity", ["a", 1])  # type: ignore[list-item]
    assert (dict(g.nodes(data=True)), list(g.edges(keys=True, data=True))) == before


def test_node_without_op_is_invalid() -> None:
    g = nx.MultiDiGraph()
    g.add_node("a", device="/cpu:0")
    with pytest.raises(InvalidGraphError, match="'a'.*op"):
        mg.from_networkx(g)
    g.nodes["a"]["op"] = 3
    with pytest.raises(InvalidGraphError, match="op"):
        mg.from_networkx(g)


def test_bad_node_data_is_invalid() -> None:
    g = nx.MultiDiGraph()
    g.add_node("a", op="NoOp", inputs=[1])
    with pytest.raises(InvalidGraphError, match="'a'"):
        mg.from_networkx(g)
    g.add_node("a", op="NoOp", inputs=[], attr={"x": 1})
    with pytest.raises(InvalidGraphError, match="'a'"):
        mg.from_networkx(g)


# --------------------------------------------------------------------------------------------
# Presence: "absent" and "present but empty" both survive


def _presence_cases() -> dict[str, Any]:
    cases: dict[str, Any] = {}
    cases["empty"] = MetaGraphDef()
    m = MetaGraphDef()
    m.graph_def.SetInParent()
    cases["empty graph_def"] = m
    m = MetaGraphDef()
    m.graph_def.versions.SetInParent()
    cases["empty versions"] = m
    m = MetaGraphDef()
    m.graph_def.versions.CopyFrom(VersionDef(producer=0, min_consumer=0))
    m.graph_def.node.add(name="a", op="NoOp")
    cases["empty versions with nodes"] = m
    m = MetaGraphDef()
    m.saver_def.SetInParent()
    cases["empty saver_def"] = m
    m = MetaGraphDef()
    m.saver_def.CopyFrom(SaverDef(version=SaverDef.V1))
    cases["saver_def V1 (0)"] = m
    m = MetaGraphDef()
    m.meta_info_def.SetInParent()
    cases["empty meta_info_def"] = m
    m = MetaGraphDef()
    m.graph_def.library.SetInParent()
    cases["empty library"] = m
    m = MetaGraphDef()
    m.graph_def.debug_info.SetInParent()
    cases["empty graph_def.debug_info"] = m
    m = MetaGraphDef()
    m.object_graph_def.SetInParent()
    cases["empty object_graph_def"] = m
    m = MetaGraphDef()
    m.object_graph_def.CopyFrom(SavedObjectGraph())
    m.collection_def["empty"].SetInParent()
    m.signature_def["empty"].SetInParent()
    m.asset_file_def.add()
    cases["empty map and list entries"] = m
    m = MetaGraphDef()
    m.graph_def.version = 17
    cases["deprecated GraphDef.version"] = m
    m = MetaGraphDef()
    node = m.graph_def.node.add(name="n", op="NoOp")
    node.experimental_debug_info.SetInParent()
    node.experimental_type.SetInParent()
    node.attr["empty"].SetInParent()
    node.attr["list"].list.SetInParent()
    cases["empty node parts"] = m
    m = MetaGraphDef()
    m.graph_def.node.add()
    cases["node with no name and no op"] = m
    return cases


PRESENCE = _presence_cases()


@pytest.mark.parametrize("case", sorted(PRESENCE))
def test_presence_is_kept(case: str) -> None:
    meta = PRESENCE[case]
    again = _round_trip(meta)
    assert io.serialize(again) == io.serialize(meta)
    assert [f.name for f, _ in again.ListFields()] == [f.name for f, _ in meta.ListFields()]
    for part in ("meta_info_def", "graph_def", "saver_def", "object_graph_def"):
        assert again.HasField(part) == meta.HasField(part), part
    for part in ("library", "versions", "debug_info"):
        assert again.graph_def.HasField(part) == meta.graph_def.HasField(part), part


def test_absent_and_empty_graph_def_differ() -> None:
    absent, empty = MetaGraphDef(), PRESENCE["empty graph_def"]
    assert io.serialize(absent) == b"" and io.serialize(empty) == b"\x12\x00"
    assert mg.to_networkx(absent).graph["has_graph_def"] is False
    assert mg.to_networkx(empty).graph["has_graph_def"] is True
    assert io.serialize(_round_trip(absent)) == b""
    assert io.serialize(_round_trip(empty)) == b"\x12\x00"


def test_graph_without_graph_keys_gets_a_graph_def() -> None:
    """A graph built by hand has no ``has_graph_def``: it gets a graph_def, even when empty."""
    assert io.serialize(mg.from_networkx(nx.MultiDiGraph())) == b"\x12\x00"


def test_nodes_added_to_a_graph_without_graph_def() -> None:
    g = mg.to_networkx(MetaGraphDef())
    mg.add_op(g, "a", "NoOp")
    meta = mg.from_networkx(g)
    assert meta.HasField("graph_def")
    assert [n.name for n in meta.graph_def.node] == ["a"]


# --------------------------------------------------------------------------------------------
# Unknown fields (a newer TensorFlow's) survive


def test_unknown_fields_survive_at_every_level() -> None:
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    node = meta.graph_def.node.add(name="a", op="NoOp", input=["^b"])
    node.MergeFromString(_unknown(100, b"node-level"))
    meta.graph_def.node.add(name="b", op="NoOp")
    meta.graph_def.versions.producer = 1
    meta.graph_def.MergeFromString(_unknown(101, b"graph-level"))
    meta.meta_info_def.MergeFromString(_unknown(102, b"meta-info-level"))
    meta.graph_def.node[1].attr["x"].MergeFromString(_unknown(103, b"attr-level"))
    meta.collection_def["c"].node_list.value.append("a")
    meta.MergeFromString(_unknown(104, b"meta-level") + _unknown(105, b"and another"))
    data = io.serialize(meta)
    g = mg.to_networkx(meta)
    assert g.graph["unknown_fields"] == _unknown(104, b"meta-level") + _unknown(105, b"and another")
    assert g.graph["graph_def_unknown_fields"] == _unknown(101, b"graph-level")
    assert g.nodes["a"]["unknown_fields"] == _unknown(100, b"node-level")
    assert g.nodes["b"]["unknown_fields"] == b""
    assert io.serialize(mg.from_networkx(g)) == data
    # and they come back through the bytes
    kind, parsed, fmt = io.parse(data)
    assert (kind, fmt) == ("MetaGraphDef", "binary")
    assert io.serialize(_round_trip(parsed)) == data


def test_unknown_fields_of_a_node_added_by_hand() -> None:
    g = nx.MultiDiGraph()
    g.add_node("a", op="NoOp", unknown_fields=_unknown(200, b"x"))
    meta = mg.from_networkx(g)
    assert meta.graph_def.node[0].SerializeToString() == (
        NodeDef(name="a", op="NoOp").SerializeToString() + _unknown(200, b"x")
    )


# --------------------------------------------------------------------------------------------
# Graphs built by hand


def _float(**kwargs: Any) -> dict[str, Any]:
    return {"T": AttrValue(type=FLOAT), **kwargs}


def _built_by_hand() -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1), TensorShapeProto.Dim(size=2)])
    mg.add_op(
        g,
        "x",
        "Placeholder",
        attr={"dtype": AttrValue(type=FLOAT), "shape": AttrValue(shape=shape)},
    )
    mg.add_op(g, "scope/y", "Identity", ["x"], device="/device:CPU:0", attr=_float())
    mg.add_op(g, "init", "NoOp")
    # a node added the plain networkx way: no `inputs`, its inputs come from the in-edges
    g.add_node("scope/z", op="AddV2", attr=_float())
    g.add_edge("x", "scope/z", input=1, output=0)
    g.add_edge("scope/y", "scope/z", input=0)
    g.add_edge("init", "scope/z", input=2, output=-1, control=True)
    mg.add_op(g, "out", "Identity", ["scope/z", "^init"], attr=_float())
    return g


def test_built_by_hand_gives_a_valid_meta_graph() -> None:
    g = _built_by_hand()
    assert "inputs" not in g.nodes["scope/z"]
    assert mg.inputs_from_edges(g, "scope/z") == ["scope/y", "x", "^init"]
    meta = mg.from_networkx(g)
    assert type(meta) is MetaGraphDef
    assert meta.HasField("graph_def")
    nodes = {n.name: n for n in meta.graph_def.node}
    assert [n.name for n in meta.graph_def.node] == ["x", "scope/y", "init", "scope/z", "out"]
    assert list(nodes["scope/z"].input) == ["scope/y", "x", "^init"]
    assert list(nodes["out"].input) == ["scope/z", "^init"]
    assert nodes["scope/y"].device == "/device:CPU:0"
    assert nodes["x"].attr["shape"].shape.dim[0].size == -1
    # every input names a node of the graph, and the bytes parse back
    names = set(nodes)
    for node in meta.graph_def.node:
        for text in node.input:
            assert _expected_input(text)[0] in names
    kind, parsed, _ = io.parse(io.serialize(meta))
    assert kind == "MetaGraphDef" and parsed == meta
    # the graph read back has `inputs` for every node and the same edges
    g2 = mg.to_networkx(meta)
    assert g2.nodes["scope/z"]["inputs"] == ["scope/y", "x", "^init"]
    assert io.serialize(mg.from_networkx(g2)) == io.serialize(meta)


def test_add_op_edges_and_replacement() -> None:
    g = nx.MultiDiGraph()
    mg.add_op(g, "a", "Const")
    mg.add_op(g, "b", "Identity", ["a", "^a", "a:1", "nowhere"])
    assert sorted(g.in_edges("b", keys=True, data=True), key=repr) == sorted(
        [
            ("a", "b", 0, {"input": 0, "output": 0, "control": False}),
            ("a", "b", 1, {"input": 1, "output": -1, "control": True}),
            ("a", "b", 2, {"input": 2, "output": 1, "control": False}),
        ],
        key=repr,
    )
    assert g.nodes["b"]["inputs"] == ["a", "^a", "a:1", "nowhere"]
    assert set(g.nodes["b"]) == NODE_KEYS
    mg.add_op(g, "b", "Identity", ["a:3"])
    assert list(g.in_edges("b", keys=True, data=True)) == [
        ("a", "b", 0, {"input": 0, "output": 3, "control": False})
    ]
    assert g.nodes["b"]["inputs"] == ["a:3"]
    # out-edges of a replaced node stay
    mg.add_op(g, "c", "Identity", ["b"])
    mg.add_op(g, "b", "Identity", [])
    assert list(g.out_edges("b")) == [("b", "c")]
    meta = mg.from_networkx(g)
    assert [(n.name, list(n.input)) for n in meta.graph_def.node] == [
        ("a", []),
        ("b", []),
        ("c", ["b"]),
    ]


def test_add_op_with_node_data_of_to_networkx() -> None:
    """add_op on a graph read from a fixture: the rest of the graph is kept byte for byte."""
    meta = _load("graph.pb", None).meta_graph
    g = mg.to_networkx(meta)
    mg.add_op(g, "extra", "Identity", [next(iter(g))], attr=_float())
    out = mg.from_networkx(g)
    assert len(out.graph_def.node) == len(meta.graph_def.node) + 1
    del out.graph_def.node[-1]
    assert io.serialize(out) == io.serialize(meta)


@pytest.mark.tf
def test_built_by_hand_imports_into_tensorflow(tf: ModuleType) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = mg.from_networkx(_built_by_hand())
    theirs = meta_graph_pb2.MetaGraphDef.FromString(io.serialize(meta))
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(theirs.graph_def, name="")
    assert [op.name for op in graph.get_operations()] == [
        "x",
        "scope/y",
        "init",
        "scope/z",
        "out",
    ]
    z = graph.get_operation_by_name("scope/z")
    assert [t.name for t in z.inputs] == ["scope/y:0", "x:0"]
    assert [op.name for op in z.control_inputs] == ["init"]


def test_debug_info_is_carried_and_copied() -> None:
    debug = GraphDebugInfo(files=["a.py"])
    g = mg.to_networkx(MetaGraphDef(), debug)
    assert g.graph["debug_info"] == debug and g.graph["debug_info"] is not debug
    debug.files.append("b.py")
    assert list(g.graph["debug_info"].files) == ["a.py"]


def test_library_functions_are_kept() -> None:
    meta = _load("functions.meta", None).meta_graph
    g = mg.to_networkx(meta)
    assert g.graph["library"] == meta.graph_def.library
    assert all(isinstance(f, FunctionDef) for f in g.graph["library"].function)
    assert isinstance(g.graph["collection_def"].get("variables"), CollectionDef)

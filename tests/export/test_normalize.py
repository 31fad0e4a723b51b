"""What importing a MetaGraphDef does (§2), in mgstore.export.normalize.

Without TensorFlow: the examples of §2 and the behaviours observed in TensorFlow 2.21 (node
order, errors, devices, colocation, inputs, versions, library order, attrs, collections).
TensorFlow's own pipeline, compared with these functions, is in test_normalize_live.py.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from mgstore.errors import InvalidGraphError
from mgstore.export import normalize as nz
from mgstore.export import restored_collections
from mgstore.proto import (
    AttrValue,
    CollectionDef,
    CondContextDef,
    FunctionDefLibrary,
    NodeDef,
    OpDef,
    OpList,
    QueueRunnerDef,
    SaverDef,
    VariableDef,
    VersionDef,
    WhileContextDef,
)


def node(name: str, op: str = "NoOp", inputs: tuple[str, ...] = (), device: str = "",
         coloc: tuple[str, ...] | None = None) -> NodeDef:  # fmt: skip
    n = NodeDef(name=name, op=op, input=list(inputs), device=device)
    if coloc is not None:
        n.attr["_class"].list.s.extend(c.encode() for c in coloc)
    return n


def names(nodes: list[NodeDef], order: list[int]) -> list[str]:
    return [nodes[i].name for i in order]


def raises(message: str) -> Any:
    return pytest.raises(InvalidGraphError, match=f"^{re.escape(message)}$")


# ------------------------------------------------------------------------------------------
# §2.2 order and §2.13 errors

SPEC_ORDER = [node("c", "Identity", ("b",)), node("b", "Identity", ("a",)), node("z", "Const"),
              node("a", "Const"), node("p", "Const"), node("q", "Identity", ("p",)),
              node("d", "AddN", ("c", "z")), node("y")]  # fmt: skip


def test_spec_order_example() -> None:
    assert names(SPEC_ORDER, nz.import_order(SPEC_ORDER)) == list("zabcpqdy")


def test_order_is_a_fixed_point() -> None:
    ordered = [SPEC_ORDER[i] for i in nz.import_order(SPEC_ORDER)]
    assert nz.import_order(ordered) == list(range(len(ordered)))


def test_duplicate_inputs_are_counted() -> None:
    nodes = [node("d", "AddN", ("a", "a")), node("a", "Const"), node("b", "Const")]
    assert names(nodes, nz.import_order(nodes)) == ["a", "d", "b"]


@pytest.mark.parametrize(
    ("merge_inputs", "expected"),
    [
        (("en", "ni"), ["x", "en", "m", "body", "ni"]),
        (("ni", "en"), ["x", "en", "m", "body", "ni"]),
        (("en", "ni", "^y"), ["x", "en", "y", "m", "body", "ni"]),
    ],
)
def test_merge_waits_for_one_input_besides_next_iteration(
    merge_inputs: tuple[str, ...], expected: list[str]
) -> None:
    nodes = [node("ni", "NextIteration", ("body",)), node("body", "Identity", ("m",)),
             node("m", "Merge", merge_inputs), node("en", "Enter", ("x",)), node("x", "Const"),
             node("y")]  # fmt: skip
    if "^y" not in merge_inputs:
        nodes.pop()
    assert names(nodes, nz.import_order(nodes)) == expected


def test_next_iteration_never_counts_for_a_merge() -> None:
    # NextIteration -> Merge edges are skipped, so the Merge still waits for its Enter
    nodes = [node("ni", "NextIteration", ("x",)), node("x", "Const"),
             node("m", "Merge", ("en", "ni")), node("en", "Enter", ("x2",)),
             node("x2", "Const")]  # fmt: skip
    assert names(nodes, nz.import_order(nodes)) == ["x", "ni", "x2", "en", "m"]


def test_merge_with_two_entries_crashes_tensorflow() -> None:
    nodes = [node("ni", "NextIteration", ("body",)), node("body", "Identity", ("m",)),
             node("m", "Merge", ("en", "en2", "ni")), node("en", "Enter", ("x",)),
             node("en2", "Enter", ("x",)), node("x", "Const")]  # fmt: skip
    with pytest.raises(InvalidGraphError, match="aborts the process"):
        nz.import_order(nodes)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        ([node("a", inputs=("^b",)), node("b", inputs=("^a",))], "2 nodes in a cycle"),
        ([node("a", inputs=("^a",)), node("b")], "1 nodes in a cycle"),
        ([node("a", inputs=("^missing",))], "Node 'a': Unknown input node '^missing'"),
        ([node("a"), node("a")], "Node 'a' is not unique"),
        ([node("x"), node("i", "NoOp", ("^x", "x"))],
         "Node 'i': Control dependencies must come after regular dependencies"),
        ([node("a\\b")], "Node 'a\\b': Node name contains invalid characters"),
        ([node("_a")], "Node '_a': Node name contains invalid characters"),
        ([node("a:b")], "Node 'a:b': Node name contains invalid characters"),
        ([node("")], "Node '': Node name contains invalid characters"),
        ([node("a", "")], "Node 'a' does not specify an operation"),
        ([node("x"), node("b", inputs=("^x:1",))], "Node 'b': Unknown input node '^x:1'"),
        ([node("x"), node("b", inputs=("",))], "Node 'b': Unknown input node ''"),
        # checked per node in stored order: the duplicate after the unknown input wins
        ([node("a", inputs=("^zz",)), node("b"), node("b")], "Node 'b' is not unique"),
        ([node("a", inputs=("^b",)), node("b", inputs=("^a",)), node("c", coloc=("loc:@ghost",))],
         "Node 'c' expects to be colocated with unknown node 'ghost'"),
        ([node("c", inputs=("^d",), coloc=("loc:@g1",)), node("d", coloc=("loc:@g2",))],
         "Node 'd' expects to be colocated with unknown node 'g2'"),
        ([node("a", coloc=("loc:@",))], "Node 'a' expects to be colocated with unknown node ''"),
    ],
)  # fmt: skip
def test_import_errors(nodes: list[NodeDef], message: str) -> None:
    with raises(message):
        nz.import_order(nodes)


def test_valid_names() -> None:
    nodes = [node("a>b"), node("0.x/y-z_1"), node(".")]
    assert nz.import_order(nodes) == [0, 1, 2]


def test_forward_compatibility_note() -> None:
    cycle = [node("a", inputs=("^b",)), node("b", inputs=("^a",))]
    with raises("2 nodes in a cycle"):
        nz.import_order(cycle, versions=VersionDef(producer=2495))
    with pytest.raises(InvalidGraphError) as info:
        nz.import_order(cycle, versions=VersionDef(producer=3000))
    assert str(info.value) == (
        "Converting GraphDef to Graph has failed with an error: '2 nodes in a cycle' The binary "
        "trying to import the GraphDef was built when GraphDef version was 2474. The GraphDef "
        "was produced by a binary built when GraphDef version was 3000. The difference between "
        "these versions is larger than TensorFlow's forward compatibility guarantee, and might "
        "be the root cause for failing to import the GraphDef."
    )


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("a", ("a", 0)), ("a:0", ("a", 0)), ("a:01", ("a", 1)), ("a:12", ("a", 12)),
     ("^a", ("a", -1)), ("^a:1", ("^a", 1)), ("a:", ("a:", 0)), (":1", (":1", 0)),
     ("", ("", 0)), ("a:4294967297", ("a", 1)), ("a:" + "0" * 32, ("a:" + "0" * 32, 0))],
)  # fmt: skip
def test_parse_tensor_name(text: str, parsed: tuple[str, int]) -> None:
    assert nz.parse_tensor_name(text) == parsed


# ------------------------------------------------------------------------------------------
# §2.5 devices, §2.6 colocation

DEVICES = {
    "": "", "/cpu:0": "/device:CPU:0", "cpu:0": "/device:CPU:0", "/CPU:0": "/device:CPU:0",
    "/device:cpu:0": "/device:CPU:0", "/gpu:*": "/device:GPU:*", "gpu": "/device:GPU:*",
    "/task:1/job:ps": "/job:ps/task:1",
    "/job:w/replica:0/task:1/gpu:2": "/job:w/replica:0/task:1/device:GPU:2",
    "/device:TPU:3": "/device:TPU:3", "/device:FOO:1": "/device:FOO:1", "/job:ps": "/job:ps",
    "/replica:2": "/replica:2", "/tpu:0": "/device:TPU:0", "/device:tpu:0": "/device:tpu:0",
    "custom": "/device:CUSTOM:*", "/epu:1": "/device:EPU:1", "/Cpu:0": "/device:CPU:0",
    "/device:Cpu:0": "/device:Cpu:0", "/task:01": "/task:1", "/replica:+3": "/replica:3",
    "/job:": "/job:", "/": "", "//": "", "/job:a/job:b": "/job:b",
    "job:ps/task:1/": "/job:ps/task:1", "/task:1_0": "/task:10", "/device:CPU:-1": "/device:CPU:-1",
    "/job:ps/replica:1/task:2/device:XLA_CPU:0": "/job:ps/replica:1/task:2/device:XLA_CPU:0",
}  # fmt: skip
BAD_DEVICES = {
    "/foo:1": "Unknown attribute 'foo' is encountered while parsing the device spec: '/foo:1'.",
    "/device:CPU": "Unknown attribute 'device' is encountered while parsing the device spec: "
    "'/device:CPU'.",
    "/cpu:x": "invalid literal for int() with base 10: 'x'",
    "/gpu:0/cpu:0": "Multiple device types are not allowed while parsing the device spec: "
    "/gpu:0/cpu:0.",
    "/cpu:0:1": "Unknown attribute 'cpu' is encountered while parsing the device spec: '/cpu:0:1'.",
    "/XLA_CPU:0": "Unknown attribute 'XLA_CPU' is encountered while parsing the device spec: "
    "'/XLA_CPU:0'.",
    "/task:x/foo:1": "Unknown attribute 'foo' is encountered while parsing the device spec: "
    "'/task:x/foo:1'.",
}


@pytest.mark.parametrize(("stored", "canonical"), DEVICES.items())
def test_canonical_device(stored: str, canonical: str) -> None:
    assert nz.canonical_device(stored) == canonical


@pytest.mark.parametrize(("stored", "message"), BAD_DEVICES.items())
def test_bad_device(stored: str, message: str) -> None:
    with raises(message):
        nz.canonical_device(stored)


COLOCATION = [  # §2.6, plus chains: nodes, expected devices by position
    ([node("a", device="/cpu:0", coloc=("loc:@t",)), node("t", device="/gpu:1")],
     ["/device:GPU:1", "/device:GPU:1"]),
    ([node("a", device="/cpu:0", coloc=("loc:@t",)), node("t")], ["", ""]),
    ([node("a", coloc=("loc:@nodev", "loc:@t")), node("t", device="/gpu:1"), node("nodev")],
     ["/device:GPU:1", "/device:GPU:1", ""]),
    ([node("a", device="/cpu:0", coloc=("loc:@a",))], ["/device:CPU:0"]),
    ([node("a", device="/cpu:0", coloc=("foo",))], ["/device:CPU:0"]),
    ([node("a", device="/cpu:0", coloc=("loc:@a", "loc:@t")), node("t", device="/job:ps")],
     ["/job:ps", "/job:ps"]),
    ([node("a", device="/foo:1", coloc=("loc:@t",)), node("t", device="gpu")],  # own device unread
     ["/device:GPU:*", "/device:GPU:*"]),
    ([node("a", device="/cpu:0", coloc=("loc:@b",)), node("b", device="/cpu:1", coloc=("loc:@c",)),
      node("c", device="/gpu:0")], ["", "/device:GPU:0", "/device:GPU:0"]),
    ([node("c", device="/gpu:0"), node("b", device="/cpu:1", coloc=("loc:@c",)),
      node("a", device="/cpu:0", coloc=("loc:@b",))], ["/device:GPU:0"] * 3),
    ([node("b", inputs=("^a",), device="/cpu:1", coloc=("loc:@c",)),
      node("a", device="/cpu:0", coloc=("loc:@b",)), node("c", device="/gpu:0")],
     ["/device:GPU:0", "", "/device:GPU:0"]),
]  # fmt: skip


@pytest.mark.parametrize(("nodes", "devices"), COLOCATION)
def test_colocated_devices(nodes: list[NodeDef], devices: list[str]) -> None:
    assert nz.colocated_devices(nodes) == devices


def test_class_values() -> None:
    n = node("a", device="/cpu:0")
    n.attr["_class"].CopyFrom(AttrValue())
    assert nz.colocation_targets(n) == []
    n.attr["_class"].s = b""
    assert nz.colocation_targets(n) == []
    n.attr["_class"].list.SetInParent()
    assert nz.colocation_targets(n) == []
    n.attr["_class"].list.s.append(b"loc:@t")
    n.attr["_class"].list.i.append(3)  # TensorFlow reads the strings only
    assert nz.colocation_targets(n) == ["t"]
    for bad in (AttrValue(s=b"loc:@t"), AttrValue(i=3), AttrValue(list=AttrValue.ListValue(i=[3]))):
        n.attr["_class"].CopyFrom(bad)
        with pytest.raises(InvalidGraphError, match="must be a list of strings"):
            nz.colocation_targets(n)
    n.attr["_class"].CopyFrom(AttrValue(list=AttrValue.ListValue(s=[b"\xff"])))
    with pytest.raises(InvalidGraphError, match="not UTF-8"):
        nz.colocation_targets(n)


# ------------------------------------------------------------------------------------------
# §2.7 inputs, §2.8 versions


@pytest.mark.parametrize(
    ("stored", "as_imported"),
    [(["a:0", "^c", "^c"], ["a", "^c"]), (["a:0", "^c", "^b"], ["a", "^b", "^c"]),
     (["a", "^a"], ["a", "^a"]), (["a:0", "^c", "^c", "^b"], ["a", "^b", "^c"]),
     (["a:1", "a", "a:01"], ["a:1", "a", "a:1"]),
     (["x", "^b9", "^b10", "^B"], ["x", "^B", "^b10", "^b9"])],
)  # fmt: skip
def test_as_imported_inputs(stored: list[str], as_imported: list[str]) -> None:
    assert nz.as_imported_inputs(stored) == as_imported


@pytest.mark.parametrize(
    ("stored", "merged"),
    [(None, VersionDef()), (VersionDef(), VersionDef()),
     (VersionDef(producer=3000, min_consumer=5, bad_consumers=[2, 1]),
      VersionDef(producer=2474, min_consumer=5, bad_consumers=[1, 2])),
     (VersionDef(producer=21, min_consumer=12), VersionDef(producer=21, min_consumer=12)),
     (VersionDef(bad_consumers=[9, 9]), VersionDef(bad_consumers=[9]))],
)  # fmt: skip
def test_merged_versions(stored: VersionDef | None, merged: VersionDef) -> None:
    assert nz.merged_versions(stored) == merged


def test_functions_need_consumer_12() -> None:
    lib = library(["f"])
    assert nz.merged_versions(None, lib) == VersionDef(min_consumer=12)
    assert nz.merged_versions(VersionDef(producer=5, min_consumer=20), lib).min_consumer == 20
    assert nz.merged_versions(None, library([], (("x", "y"),))) == VersionDef()


@pytest.mark.parametrize(
    ("stored", "message"),
    [(VersionDef(min_consumer=3000), "GraphDef min consumer version 3000 above current version "
      "2474 for TensorFlow 2.21.0.  Please upgrade TensorFlow."),
     (VersionDef(producer=-1), "GraphDef producer version -1 below min producer 0 supported by "
      "TensorFlow 2.21.0.  Please regenerate your graph."),
     (VersionDef(bad_consumers=[5, 2474]), "GraphDef disallows consumer version 2474.  Please "
      "upgrade TensorFlow: this version is likely buggy.")],
)  # fmt: skip
def test_version_errors(stored: VersionDef, message: str) -> None:
    with raises(message):
        nz.merged_versions(stored)


# ------------------------------------------------------------------------------------------
# §2.9 library


def library(functions: list[str], grads: tuple[tuple[str, str], ...] = (),
            registered: tuple[tuple[str, str], ...] = ()) -> FunctionDefLibrary:  # fmt: skip
    lib = FunctionDefLibrary()
    for name in functions:
        lib.function.add().signature.name = name
    for f, g in grads:
        lib.gradient.add(function_name=f, gradient_func=g)
    for g, op in registered:
        lib.registered_gradients.add(gradient_func=g, registered_op_type=op)
    return lib


def r_order(lib: FunctionDefLibrary | None) -> list[str]:
    return [f.signature.name for f in nz.rebuilt_library_order(lib)]


SPEC_LIBRARY = ["f09", "f11", "f10", "my_grad", "f02", "f07", "f03", "f08", "f06", "f05", "f00",
                "f01", "f04"]  # fmt: skip


def test_spec_library_order() -> None:
    lib = library(SPEC_LIBRARY, (("f07", "my_grad"),))
    expected = ["f04", "f01", "f00", "f05", "f06", "f08", "f03", "f02", "my_grad", "f07", "f10",
                "f11", "f09"]  # fmt: skip
    assert r_order(lib) == expected
    r = nz.rebuilt_library(lib)
    assert r is not None and [f.signature.name for f in r.function] == expected
    assert [(g.function_name, g.gradient_func) for g in r.gradient] == [("f07", "my_grad")]
    p = nz.as_imported_library(lib)  # TensorFlow 2.21's order: its C++ tables' (function_order)
    assert p is not None and [f.signature.name for f in p.function] == [
        "f10", "f01", "f07", "f11", "my_grad", "f02", "f08", "f05", "f09", "f03", "f00", "f06",
        "f04"]  # fmt: skip


@pytest.mark.parametrize(
    ("lib", "order"),
    [(library(["a1", "b1", "c1"], (("a1", "c1"), ("b1", "c1"))), ["c1", "b1", "a1"]),
     (library(["h", "g", "f"], (("f", "g"), ("g", "h"))), ["h", "g", "f"]),
     (library(["a1", "b1", "c1"], (("a1", "b1"), ("b1", "a1"))), ["c1"]),  # a1, b1 unreachable
     (library(["a1", "a1"]), ["a1"]), (library(["x", "y"], (("x", "y"), ("x", "y"))), ["y", "x"]),
     (library([], (), (("gf", "Foo"),)), []), (library([], (("x", "y"),)), []), (None, [])],
)  # fmt: skip
def test_library_orders(lib: FunctionDefLibrary | None, order: list[str]) -> None:
    assert r_order(lib) == order
    if not order:
        assert nz.rebuilt_library(lib) is None and nz.as_imported_library(lib) is None


def test_registered_gradients_are_dropped() -> None:
    lib = library(["a1"], (), (("gf", "Foo"),))
    assert nz.rebuilt_library(lib) == library(["a1"]) == nz.as_imported_library(lib)


def test_unreachable_functions_fail_the_as_imported_order() -> None:
    with pytest.raises(InvalidGraphError, match="KeyError: 'a1'"):
        nz.as_imported_library(library(["a1", "b1", "c1"], (("a1", "b1"), ("b1", "a1"))))


def test_library_errors() -> None:
    lib = library(["a1", "b1"], (("a1", "b1"), ("b1", "a1")))
    with raises(f"FunctionDefLibrary contains cyclic gradient functions!\n{lib}"):
        nz.rebuilt_library_order(lib)
    lib = library(["x"], (("x", "y"),))
    with raises(f"FunctionDefLibrary missing 'y' FunctionDef\n{lib}"):
        nz.rebuilt_library_order(lib)
    with raises("Cannot assign gradient function 'z' to 'x' because it already has gradient "
                "function 'y'"):  # fmt: skip
        nz.rebuilt_library_order(library(["x", "y", "z"], (("x", "y"), ("x", "z"))))
    lib = library(["a1", "a1"])
    lib.function[1].attr["x"].i = 1
    with raises("Cannot add function 'a1' because a different function with the same name "
                "already exists."):  # fmt: skip
        nz.rebuilt_library_order(lib)
    lib = library(["p"])
    lib.function[0].signature.input_arg.add(name="x", type_attr="T")
    with raises("Cannot convert the argument `type_value`: 0 to a TensorFlow DType."):
        nz.rebuilt_library_order(lib)


# ------------------------------------------------------------------------------------------
# §2.3 attributes

BOOL_FALSE = AttrValue(b=False)
UNKNOWN_SHAPE = AttrValue()
UNKNOWN_SHAPE.shape.unknown_rank = True


def op(name: str, **attrs: AttrValue | None) -> OpDef:
    o = OpDef(name=name)
    for attr_name, default in attrs.items():
        a = o.attr.add(name=attr_name, type="x")
        if default is not None:
            a.default_value.CopyFrom(default)
    return o


REGISTRY = {
    "MatMul": op("MatMul", transpose_a=BOOL_FALSE, transpose_b=BOOL_FALSE, T=None,
                 grad_a=BOOL_FALSE, grad_b=BOOL_FALSE),
    "Placeholder": op("Placeholder", dtype=None, shape=UNKNOWN_SHAPE),
    "NoOp": op("NoOp"),
}  # fmt: skip


def attrs(n: NodeDef) -> dict[str, AttrValue]:
    return dict(n.attr)


def test_defaults_are_added() -> None:
    m = node("m", "MatMul", ("x", "x"))
    m.attr["T"].type = 1
    m.attr["transpose_a"].CopyFrom(AttrValue())  # no value set: gets the default
    m.attr["transpose_b"].b = True
    out = nz.normalize_attrs(m, REGISTRY)
    assert attrs(out) == {"T": AttrValue(type=1), "transpose_a": BOOL_FALSE,
                          "transpose_b": AttrValue(b=True), "grad_a": BOOL_FALSE,
                          "grad_b": BOOL_FALSE}  # fmt: skip
    assert "grad_a" not in m.attr  # the input is not modified
    p = nz.normalize_attrs(node("x", "Placeholder"), REGISTRY)
    assert attrs(p) == {"shape": UNKNOWN_SHAPE}
    custom = node("f", "MyFunction")
    custom.attr["bogus"].i = 3
    assert nz.normalize_attrs(custom, REGISTRY) == custom


def test_producer_defaults_are_removed() -> None:
    n = node("n")
    stored = {"bogus": AttrValue(i=3), "foo": AttrValue(i=3), "_foo": AttrValue(i=3),
              "fz": AttrValue(f=-0.0), "fn": AttrValue(f=float("nan"))}  # fmt: skip
    for key, value in stored.items():
        n.attr[key].CopyFrom(value)
    producer = OpList(op=[op("NoOp", foo=AttrValue(i=3), bogus=AttrValue(i=4), _foo=AttrValue(i=3),
                             fz=AttrValue(f=0.0), fn=AttrValue(f=float("nan")))])  # fmt: skip
    assert sorted(nz.normalize_attrs(n, REGISTRY, producer).attr) == ["bogus", "fz"]
    assert sorted(nz.normalize_attrs(n, REGISTRY, None).attr) == sorted(n.attr)
    # several ops of one name: the last wins; several attrs of one name: the first wins
    two_ops = OpList(op=[op("NoOp", foo=AttrValue(i=3)), op("NoOp", foo=AttrValue(i=4))])
    assert "foo" in nz.normalize_attrs(n, REGISTRY, two_ops).attr
    two_attrs = op("NoOp", foo=AttrValue(i=4))
    two_attrs.attr.add(name="foo", type="int").default_value.i = 3
    assert "foo" in nz.normalize_attrs(n, REGISTRY, OpList(op=[two_attrs])).attr
    unregistered = node("u", "Unknown")
    unregistered.attr["foo"].i = 3
    producer = OpList(op=[op("Unknown", foo=AttrValue(i=3))])
    assert "foo" in nz.normalize_attrs(unregistered, REGISTRY, producer).attr


def test_output_shapes() -> None:
    n = node("n")
    n.attr["_output_shapes"].list.shape.add().dim.add(size=3)
    assert "_output_shapes" in nz.normalize_attrs(n, REGISTRY).attr
    assert "_output_shapes" not in nz.normalize_attrs(n, REGISTRY, remove_output_shapes=True).attr
    n.attr["_output_shapes"].CopyFrom(AttrValue(s=b"x"))  # not a list of shapes: kept
    assert "_output_shapes" in nz.normalize_attrs(n, REGISTRY, remove_output_shapes=True).attr


def test_bundled_registry_is_the_default() -> None:
    out = nz.normalize_attrs(node("m", "MatMul", ("x", "x")))
    assert {"transpose_a", "transpose_b", "grad_a", "grad_b"} <= set(out.attr)


# ------------------------------------------------------------------------------------------
# §2.10 / §2.11 collections


def bytes_col(*values: bytes) -> CollectionDef:
    c = CollectionDef()
    c.bytes_list.value.extend(values)
    return c


def test_collection_order_and_drops() -> None:
    empty = CollectionDef()
    empty.int64_list.SetInParent()
    cols = {"zeta": bytes_col(b"z"), "trainable_variables": bytes_col(), "alpha": bytes_col(b"a"),
            "nokind": CollectionDef(), "empty": empty,
            "unbound_inputs": CollectionDef(node_list=CollectionDef.NodeList()),
            "local_variables": CollectionDef(node_list=CollectionDef.NodeList(value=["v:00"])),
            }  # fmt: skip
    restored = nz.restore_collections(cols)
    assert list(restored) == ["alpha", "local_variables", "zeta"]
    local = restored["local_variables"]
    assert local.items == (nz.NodeRef("v:0"),) and not local.exportable
    assert nz.exported_collection_def(local) is None
    assert nz.exported_collection_def(restored["zeta"]) == bytes_col(b"z")


def test_collection_kinds_are_copied() -> None:
    cols = {"i": CollectionDef(int64_list=CollectionDef.Int64List(value=[3, -1])),
            "f": CollectionDef(float_list=CollectionDef.FloatList(value=[1 / 3])),
            "n": CollectionDef(node_list=CollectionDef.NodeList(value=["a:0", "b", "c:01"])),
            }  # fmt: skip
    cols["a"] = CollectionDef()
    cols["a"].any_list.value.add().Pack(VersionDef(producer=3))
    restored = nz.restore_collections(cols)
    assert list(restored) == ["a", "f", "i", "n"]
    n = cols["n"]
    n.node_list.value[2] = "c:1"
    for key, expected in {**cols, "n": n}.items():
        assert nz.exported_collection_def(restored[key]) == expected


def test_unbound_inputs_fail_the_import() -> None:
    cols = {"unbound_inputs": bytes_col(b"$unbound_inputs_x", b"$unbound_inputs_x")}
    with raises("Graph contains unbound inputs: $unbound_inputs_x,$unbound_inputs_x. Must "
                "provide these inputs through input_map."):  # fmt: skip
        nz.restore_collections(cols)
    assert nz.restore_collections(cols, unbound_inputs_col_name=None)["unbound_inputs"].items == (
        b"$unbound_inputs_x", b"$unbound_inputs_x")  # fmt: skip


def test_variable_defs() -> None:
    rv = VariableDef(variable_name="rv:0", initializer_name="rv/Assign", is_resource=True,
                     trainable=True, initial_value_name="rv/init:00")  # fmt: skip
    ref = VariableDef(variable_name="v:0", initializer_name="v/Assign", snapshot_name="v/read:0",
                      trainable=True)  # fmt: skip
    ref.save_slice_info_def.full_name = "v"
    step = VariableDef(variable_name="s:0", initializer_name="s/Assign", snapshot_name="s/read:0",
                       trainable=True)  # fmt: skip
    cols = {"variables": bytes_col(rv.SerializeToString(), ref.SerializeToString()),
            "trainable_variables": bytes_col(rv.SerializeToString()),
            "global_step": bytes_col(step.SerializeToString())}  # fmt: skip
    for version, ref_trainable in (("", True), ("2.21.0", True), ("1.8.0", False)):
        restored = nz.restore_collections(cols, version)
        assert list(restored) == ["trainable_variables", "global_step", "variables"]
        new_rv, new_ref = restored["variables"].items
        assert new_rv is restored["trainable_variables"].items[0]  # one object
        assert isinstance(new_rv, VariableDef) and isinstance(new_ref, VariableDef)
        assert new_rv.snapshot_name == "rv/Read/ReadVariableOp:0"
        assert new_rv.initial_value_name == "rv/init:0" and new_rv.trainable
        assert new_ref.trainable is ref_trainable and new_ref.save_slice_info_def.full_name == "v"
        assert restored["global_step"].items[0] == step  # never forced
    bad = VariableDef(variable_name="v:0", synchronization=7)
    with raises("Invalid variable synchronization mode: 7 for variable: v:0"):
        nz.restore_collections({"variables": bytes_col(bad.SerializeToString())})
    with raises("Invalid version: 'abc'"):
        nz.restore_collections(cols, "abc")


def test_other_payloads() -> None:
    qr = QueueRunnerDef(
        queue_name="q", enqueue_op_name=["e"], close_op_name="c", cancel_op_name="k"
    )
    saver = SaverDef(save_tensor_name="save/Const:0", restore_op_name="save/restore_all")
    cond = CondContextDef(context_name="cond/ctx", pred_name="p:0", pivot_name="s:1")
    cond.values_def.values.extend(["b:0", "a:0", "b:0"])
    cond.values_def.external_values["a:0"] = "x:00"
    loop = WhileContextDef(context_name="while/ctx", pivot_name="w:0", loop_exit_names=["e:00"])
    loop.nested_contexts.add().cond_ctxt.CopyFrom(cond)
    cols = {"queue_runners": bytes_col(qr.SerializeToString()),
            "savers": bytes_col(saver.SerializeToString()),
            "cond_context": bytes_col(cond.SerializeToString()),
            "while_context": bytes_col(loop.SerializeToString())}  # fmt: skip
    restored = nz.restore_collections(cols)
    assert list(restored["queue_runners"].items[0].queue_closed_exception_types) == [11]  # type: ignore[union-attr]
    assert restored["savers"].items == (saver,)
    new_cond = restored["cond_context"].items[0]
    assert isinstance(new_cond, CondContextDef)
    assert list(new_cond.values_def.values) == ["a:0", "b:0"]
    assert dict(new_cond.values_def.external_values) == {"a:0": "x:0"}
    new_loop = restored["while_context"].items[0]
    assert isinstance(new_loop, WhileContextDef)
    assert list(new_loop.loop_exit_names) == ["e:0"]
    assert new_loop.nested_contexts[0].cond_ctxt == new_cond
    with raises(f"saver_def must specify the save_tensor_name: {SaverDef()}"):
        nz.restore_collections({"savers": bytes_col(b"")})


@pytest.mark.parametrize(
    ("version", "at_least"),
    [("1.8.0", False), ("1.9", True), ("1.9.0", True), ("1.9.0rc1", False), ("1.9.post1", True),
     ("1.9.dev0", False), ("1!0.1", True), ("1.9+abc", True), (" 1.10 ", True), ("v1.9", True),
     ("2.21.0-rc1", True), ("1.8.0-dev20180101", False), ("1.9.0.dev", False), ("0.12", False)],
)  # fmt: skip
def test_version_comparison(version: str, at_least: bool) -> None:
    assert restored_collections.at_least_1_9(version) is at_least

"""``export_scope`` on nodes (§4.1-§4.6), in mgstore.export.scope.

Without TensorFlow: every example of §4.1, §4.2, §4.3 (worked example), §4.4 and
§4.5, and the errors that replace TensorFlow's crashes. With TensorFlow (``tf`` marker): a live
graph exported by ``export_meta_graph(export_scope=...)`` compared node by node with
:func:`rewrite_node`, and TensorFlow's crashes on the same inputs.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from mgstore.errors import InputError, InvalidGraphError
from mgstore.export import scope as sc
from mgstore.proto import AttrValue, NodeDef


def _node(name: str, op: str = "Identity", inputs: tuple[str, ...] = (), **attrs: Any) -> NodeDef:
    node = NodeDef(name=name, op=op, input=list(inputs), device="/device:CPU:0")
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def _strings(*entries: str) -> AttrValue:
    return AttrValue(list=AttrValue.ListValue(s=[e.encode() for e in entries]))


# ------------------------------------------------------------------------------------------
# §4.1 node selection

SELECTION = ["tower_1/a", "tower_10/d", "tower_1_1", "tower_1", "x"]


@pytest.mark.parametrize(
    ("scope", "kept", "names"),
    [
        ("tower_1", [True, True, True, True, False], ["a", "tower_10/d", "tower_1_1", "tower_1"]),
        ("tower_1/", [True, False, False, False, False], ["a"]),
    ],
)
def test_selection_table(scope: str, kept: list[bool], names: list[str]) -> None:
    assert [sc.in_scope(n, scope) for n in SELECTION] == kept
    selected = [sc.rewrite_node(_node(n), scope) for n in SELECTION if sc.in_scope(n, scope)]
    assert [n.name for n in selected] == names


def test_empty_scope_selects_all() -> None:
    assert all(sc.in_scope(n, "") for n in SELECTION)


# ------------------------------------------------------------------------------------------
# §4.2 stripping


@pytest.mark.parametrize(
    ("text", "scope", "expected"),
    [
        ("tower_1/x", "tower_1", "x"),
        ("tower_1/x", "tower_1/", "x"),
        ("tower_1/x:1", "tower_1", "x:1"),
        ("^tower_1/x", "tower_1", "^x"),
        ("loc:@tower_1/x", "tower_1", "loc:@x"),
        ("tower_1//x", "tower_1", "x"),
        ("tower_1/tower_1/x", "tower_1", "tower_1/x"),
        ("tower_10/x", "tower_1", "tower_10/x"),
        ("tower_1", "tower_1", "tower_1"),
        ("a/tower_1/x", "tower_1", "a/tower_1/x"),
        ("towerX1/x", "tower.1", "x"),
        ("tower_1/x", "tower_1//", "tower_1/x"),
        (b"tower_1/x", "tower_1", "x"),
        ("tower_1/x", "", "tower_1/x"),
        (b"tower_1/x", "", "tower_1/x"),
    ],
)
def test_strip_table(text: str | bytes, scope: str, expected: str) -> None:
    result = sc.strip_scope(text, scope)
    assert result == expected
    assert isinstance(result, str)


def test_strip_invalid_regex_scope() -> None:
    with pytest.raises(InputError, match="not a valid regular expression") as info:
        sc.strip_scope("tower_1/x", "tower_1(")
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------------
# §4.3 inputs, unbound inputs: the worked example

EXAMPLE = [
    ("x", "Placeholder", ()),
    ("ext", "Identity", ("x",)),
    ("tower_1/a", "Identity", ("x",)),
    ("tower_1/b", "AddV2", ("tower_1/a", "x", "^ext")),
    ("tower_1/stack", "Pack", ("x", "x")),
    ("tower_1/split/split_dim", "Const", ()),
    ("tower_1/split", "Split", ("tower_1/split/split_dim", "tower_1/stack")),
    ("tower_1/c", "Identity", ("tower_1/split:1",)),
    ("tower_10/d", "Identity", ("tower_1/b",)),
    ("tower_1_1", "Identity", ("x",)),
]
EXPECTED_TOWER_1 = [
    ("a", ["$unbound_inputs_x"]),
    ("b", ["a", "$unbound_inputs_x", "^$unbound_inputs_ext"]),
    ("stack", ["$unbound_inputs_x", "$unbound_inputs_x"]),
    ("split/split_dim", []),
    ("split", ["split/split_dim", "stack"]),
    ("c", ["split:1"]),
    ("tower_10/d", ["b"]),
    ("tower_1_1", ["$unbound_inputs_x"]),
]


def _example() -> list[NodeDef]:
    return [_node(name, op, inputs) for name, op, inputs in EXAMPLE]


def test_worked_example() -> None:
    nodes = _example()
    out = [sc.rewrite_node(n, "tower_1") for n in nodes if sc.in_scope(n.name, "tower_1")]
    assert [(n.name, list(n.input)) for n in out] == EXPECTED_TOWER_1
    assert sc.unbound_inputs(nodes, "tower_1") == ["$unbound_inputs_x"] * 5
    assert [(n.name, n.op, tuple(n.input)) for n in nodes] == EXAMPLE  # not modified


def test_worked_example_trailing_slash() -> None:
    nodes = _example()
    out = [sc.rewrite_node(n, "tower_1/") for n in nodes if sc.in_scope(n.name, "tower_1/")]
    assert [n.name for n in out] == ["a", "b", "stack", "split/split_dim", "split", "c"]
    assert sc.unbound_inputs(nodes, "tower_1/") == ["$unbound_inputs_x"] * 4
    _, unbound = sc.rewrite_inputs(["tower_10/d", "tower_1/a"], "tower_1/")
    assert unbound == ["$unbound_inputs_tower_10/d"]


def test_rewrite_inputs_records_control_and_duplicates() -> None:
    new, unbound = sc.rewrite_inputs(["x", "^ext", "x", "sp:1", "tower_1/a"], "tower_1")
    assert new == [
        "$unbound_inputs_x",
        "^$unbound_inputs_ext",
        "$unbound_inputs_x",
        "$unbound_inputs_sp:1",
        "a",
    ]
    assert unbound == new[:4]


def test_rewrite_inputs_without_scope() -> None:
    assert sc.rewrite_inputs(["x", "^tower_1/a"], "") == (["x", "^tower_1/a"], [])


def test_unbound_name_multiple_carets() -> None:
    # TF tests lstrip("^") but inserts the prefix after one "^" only
    assert sc.rewrite_inputs(["^^x"], "tower_1") == (["^$unbound_inputs_^x"],) * 2


# ------------------------------------------------------------------------------------------
# §4.4 _class


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["loc:@out"], []),
        (["loc:@tower_1/t", "loc:@out", "loc:@tower_10/t"], ["loc:@t", "loc:@tower_10/t"]),
        ([], []),
    ],
)
def test_class_table(before: list[str], after: list[str]) -> None:
    node = _node("tower_1/n", _class=_strings(*before))
    out = sc.rewrite_node(node, "tower_1")
    assert out.attr["_class"] == _strings(*after)
    assert out.attr["_class"].WhichOneof("value") == "list"


def test_class_without_at_sign() -> None:
    node = _node("tower_1/n", _class=_strings("foo"))
    with pytest.raises(InvalidGraphError, match="has no '@'") as info:
        sc.rewrite_node(node, "tower_1")
    assert isinstance(info.value, ValueError)
    assert sc.rewrite_node(node, "").attr["_class"] == _strings("foo")  # no scope: copied


def test_class_without_scope_rebuilt_as_string_list() -> None:
    value = AttrValue(list=AttrValue.ListValue(s=[b"loc:@tower_1/t"], i=[3]))
    out = sc.rewrite_node(_node("tower_1/n", _class=value), "")
    assert out.attr["_class"] == _strings("loc:@tower_1/t")


# ------------------------------------------------------------------------------------------
# §4.5 frame_name, §4.6 the rest


def test_enter_frame_name() -> None:
    for op in ("Enter", "RefEnter"):
        node = _node("tower_1/e", op, ("tower_1/x",), frame_name=AttrValue(s=b"tower_1/while/wc"))
        assert sc.rewrite_node(node, "tower_1").attr["frame_name"].s == b"while/wc"
        assert sc.rewrite_node(node, "").attr["frame_name"].s == b"tower_1/while/wc"
        node.attr["frame_name"].s = b"other/while/wc"
        with pytest.raises(InvalidGraphError, match="outside export_scope") as info:
            sc.rewrite_node(node, "tower_1")
        assert isinstance(info.value, ValueError)
    ident = _node("tower_1/i", frame_name=AttrValue(s=b"other"))
    assert sc.rewrite_node(ident, "tower_1").attr["frame_name"].s == b"other"  # not Enter


def test_other_fields_untouched() -> None:
    node = _node(
        "tower_1/rv",
        "VarHandleOp",
        shared_name=AttrValue(s=b"tower_1/rv"),
        container=AttrValue(s=b"tower_1/c"),
    )
    node.experimental_debug_info.original_node_names.append("tower_1/rv")
    out = sc.rewrite_node(node, "tower_1")
    expected = NodeDef()
    expected.CopyFrom(node)
    expected.name = "rv"
    assert out == expected
    assert node.name == "tower_1/rv"


# ------------------------------------------------------------------------------------------
# Live: TensorFlow's export_meta_graph with export_scope


def _build(tf: Any) -> Any:
    from tensorflow.core.framework import attr_value_pb2

    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [2], name="x")
        ext = tf.identity(x, name="ext")
        with g.name_scope("tower_1"):
            a = tf.identity(x, name="a")
            with g.control_dependencies([ext]):
                b = tf.add(a, x, name="b")
            stack = tf.stack([x, x], name="stack")
            split = tf.split(stack, 2, axis=0, name="split")
            tf.identity(split[1], name="c")
        tf.identity(b, name="tower_10/d")
        assert tf.identity(x, name="tower_1").op.name == "tower_1_1"
        with g.colocate_with(x):
            tf.identity(a, name="tower_1/e")  # _class [loc:@x] -> list { }
        tf.identity(x, name="tower_10/t")
        f = tf.identity(a, name="tower_1/f")
        entries = [b"loc:@tower_1/a", b"loc:@x", b"loc:@tower_10/t"]
        f.op._set_attr("_class", attr_value_pb2.AttrValue(list={"s": entries}))
        tf.raw_ops.Enter(data=a, frame_name="tower_1/while/while_context", name="tower_1/enter")
    return g


def _export(tf: Any, g: Any, scope: str) -> Any:
    with g.as_default():
        return tf.compat.v1.train.export_meta_graph(graph=g, export_scope=scope)


@pytest.mark.tf
@pytest.mark.parametrize("scope", ["tower_1", "tower_1/"])
def test_live_export_scope(tf: Any, scope: str) -> None:
    g = _build(tf)
    nodes = [NodeDef.FromString(n.SerializeToString()) for n in g.as_graph_def().node]
    exported = _export(tf, g, scope)
    theirs = []
    for raw in exported.graph_def.node:
        node = NodeDef.FromString(raw.SerializeToString())
        del node.attr["_output_shapes"]
        theirs.append(node)
    ours = [sc.rewrite_node(n, scope) for n in nodes if sc.in_scope(n.name, scope)]
    assert ours == theirs
    assert len(ours) == (12 if scope == "tower_1" else 9)
    expected_unbound = [
        v.decode() for v in exported.collection_def["unbound_inputs"].bytes_list.value
    ]
    assert sc.unbound_inputs(nodes, scope) == expected_unbound
    assert len(expected_unbound) == (6 if scope == "tower_1" else 4)


def _bad_graph(tf: Any, kind: str) -> Any:
    from tensorflow.core.framework import attr_value_pb2

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2], name="x")
        if kind == "class":
            y = tf.identity(x, name="tower_1/y")
            y.op._set_attr("_class", attr_value_pb2.AttrValue(list={"s": [b"foo"]}))
        else:
            tf.raw_ops.Enter(data=x, frame_name="other/while", name="tower_1/enter")
    return g


@pytest.mark.tf
@pytest.mark.parametrize(
    ("kind", "tf_error"), [("class", IndexError), ("enter", UnboundLocalError)]
)
def test_live_crashes_become_errors(tf: Any, kind: str, tf_error: type[Exception]) -> None:
    g = _bad_graph(tf, kind)
    with pytest.raises(tf_error):
        _export(tf, g, "tower_1")
    nodes = [NodeDef.FromString(n.SerializeToString()) for n in g.as_graph_def().node]
    with pytest.raises(InvalidGraphError):
        for node in nodes:
            if sc.in_scope(node.name, "tower_1"):
                sc.rewrite_node(node, "tower_1")


@pytest.mark.tf
def test_live_invalid_regex_scope(tf: Any) -> None:
    import re

    from tensorflow.python.framework import ops

    for scope in ("tower_1(", "a**", "a)", "tower_1(/"):
        with pytest.raises(re.error):
            ops.strip_name_scope("tower_1/x", scope)
        with pytest.raises(InputError):
            sc.strip_scope("tower_1/x", scope)
    for text, scope in [("towerX1/x", "tower.1"), ("a^tower_1/b", "tower_1"), ("/x", "/")]:
        assert sc.strip_scope(text, scope) == ops.strip_name_scope(text, scope)

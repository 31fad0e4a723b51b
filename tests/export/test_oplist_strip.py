"""``stripped_op_list`` (§3.9) and ``strip_default_attrs`` (§8) of an export.

Without TensorFlow: the examples of §3.9, §8 on hand-built graphs. With TensorFlow (``tf`` marker):
every fixture goes through TensorFlow's pipeline (import into a fresh graph, export with and
without ``strip_default_attrs``) and our functions must give TensorFlow's op list and stripped
graph byte for byte; likewise a graph built in TensorFlow for §3.9 and §8.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixture_catalog import fixture_graphs

from mgstore.export.oplist import ops_used_by_graph_def, stripped_op_list_for
from mgstore.export.registry import load_registry, stripped_op_list
from mgstore.export.strip import strip_default_attrs, strip_node_default_attrs
from mgstore.proto import AttrValue, DataType, GraphDef, MetaGraphDef, NodeDef, OpList

F32 = DataType.DT_FLOAT

# ------------------------------------------------------------------------------------------
# Building graphs


def node(name: str, op: str, **attrs: AttrValue) -> NodeDef:
    n = NodeDef(name=name, op=op)
    for key, value in attrs.items():
        n.attr[key].CopyFrom(value)
    return n


def func_attr(name: str) -> AttrValue:
    v = AttrValue()
    v.func.name = name
    return v


def type_attr(t: int = F32) -> AttrValue:
    return AttrValue(type=t)  # type: ignore[arg-type]


def bool_attr(b: bool) -> AttrValue:
    return AttrValue(b=b)


def shape_attr(*dims: int, unknown_rank: bool = False) -> AttrValue:
    v = AttrValue()
    v.shape.SetInParent()
    if unknown_rank:
        v.shape.unknown_rank = True
    for d in dims:
        v.shape.dim.add(size=d)
    return v


def empty_list_attr() -> AttrValue:
    v = AttrValue()
    v.list.SetInParent()
    return v


def add_function(g: GraphDef, name: str, *nodes: NodeDef) -> None:
    f = g.library.function.add()
    f.signature.name = name
    f.node_def.extend(nodes)


def op_names(ops: OpList) -> list[str]:
    return [o.name for o in ops.op]


def serialized(message: Any) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data


# ------------------------------------------------------------------------------------------
# stripped_op_list (§3.9)


def tf2_cond_graph() -> GraphDef:
    """The shape of a TF2 ``tf.cond`` with Sin/Cos branches inside a called tf.function."""
    g = GraphDef()
    g.node.extend(
        [
            node("c", "Const"),
            node("call", "PartitionedCall", f=func_attr("outer")),
            node("t", "Tan"),
        ]
    )
    add_function(
        g,
        "outer",
        node("p", "Placeholder"),
        node("gt", "Greater"),
        node(
            "if", "StatelessIf", then_branch=func_attr("true_fn"), else_branch=func_attr("false_fn")
        ),
        node("id", "Identity"),
    )
    add_function(g, "true_fn", node("s", "Sin"), node("i", "Identity"))
    add_function(g, "false_fn", node("c", "Cos"), node("i", "Identity"))
    return g


def test_tf2_cond_branches_not_traversed() -> None:
    """§3.9: then_branch/else_branch are not followed, so no Sin, no Cos."""
    ops = stripped_op_list_for(tf2_cond_graph())
    assert op_names(ops) == [
        "Const", "Greater", "Identity", "PartitionedCall", "Placeholder", "StatelessIf", "Tan"
    ]  # fmt: skip


def test_functions_reached_by_name_and_by_f_recursively() -> None:
    g = GraphDef()
    g.node.extend([node("a", "direct"), node("b", "StatefulPartitionedCall", f=func_attr("viaf"))])
    add_function(g, "direct", node("x", "Sqrt"), node("y", "nested"))
    add_function(g, "nested", node("x", "Exp"), node("y", "direct"))  # a cycle: visited once
    add_function(g, "viaf", node("x", "Log"), node("y", "PartitionedCall", f=func_attr("deep")))
    add_function(g, "deep", node("x", "Abs"))
    add_function(g, "unreached", node("x", "Neg"))
    w = node("w", "While", body=func_attr("unreached"), cond=func_attr("unreached"))
    add_function(g, "loop_user", w)  # unreached as well
    g.node.append(node("m", "MapDataset", f=func_attr("unreached")))  # dataset `f`: not followed
    assert ops_used_by_graph_def(g) == {
        "Sqrt", "Exp", "Log", "Abs", "PartitionedCall", "StatefulPartitionedCall", "MapDataset"
    }  # fmt: skip
    assert op_names(stripped_op_list_for(g)) == [
        "Abs", "Exp", "Log", "MapDataset", "PartitionedCall", "Sqrt", "StatefulPartitionedCall"
    ]  # fmt: skip


def test_function_names_excluded_unknown_ops_skipped() -> None:
    g = GraphDef()
    g.node.extend(
        [
            node("a", "my_fn"),
            node("b", "NoSuchOpAnywhere"),
            node("c", "PartitionedCall", f=func_attr("missing_fn")),  # not in the library
            node("d", "PartitionedCall"),  # no `f` at all
        ]
    )
    add_function(g, "my_fn", node("x", "AddV2"))
    before = serialized(g)
    used = ops_used_by_graph_def(g)
    assert "my_fn" not in used and "NoSuchOpAnywhere" in used and "missing_fn" in used
    assert op_names(stripped_op_list_for(g)) == ["AddV2", "PartitionedCall"]
    assert serialized(g) == before  # the input is never modified (no `f` attr inserted)


def test_code_point_order_registry_defs_without_docs() -> None:
    g = GraphDef()
    g.node.extend(
        node(op, op) for op in ["VariableV2", "VarIsInitializedOp", "VarHandleOp", "_Arg"]
    )
    g.node.extend(node(f"{op}_2", op) for op in ["VarHandleOp", "VariableV2"])  # duplicates
    ops = stripped_op_list_for(g)
    assert op_names(ops) == ["VarHandleOp", "VarIsInitializedOp", "VariableV2", "_Arg"]
    registry = load_registry()
    for o in ops.op:
        assert not o.summary and not o.description
        assert serialized(o) == serialized(registry[o.name])
    assert serialized(ops) == serialized(stripped_op_list(op_names(ops)))


def test_empty_graph() -> None:
    assert serialized(stripped_op_list_for(GraphDef())) == b""


def test_duplicate_function_names_last_wins() -> None:
    g = GraphDef()
    g.node.append(node("a", "fn"))
    add_function(g, "fn", node("x", "Sin"))
    add_function(g, "fn", node("x", "Cos"))
    assert op_names(stripped_op_list_for(g)) == ["Cos"]


# ------------------------------------------------------------------------------------------
# strip_default_attrs (8)


def spec_example_graph() -> GraphDef:
    shapes = AttrValue()
    shapes.list.shape.add().dim.add(size=2)
    g = GraphDef()
    g.node.extend(
        [
            node("bare", "Placeholder", dtype=type_attr(), shape=shape_attr(unknown_rank=True)),
            node("vec", "Placeholder", dtype=type_attr(), shape=shape_attr(-1)),
            node("scalar", "Placeholder", dtype=type_attr(), shape=shape_attr()),
            node("mm", "MatMul", T=type_attr(), transpose_a=bool_attr(False),
                 transpose_b=bool_attr(True), grad_a=bool_attr(False), grad_b=bool_attr(False),
                 _output_shapes=shapes),
            node("sq", "Squeeze", T=type_attr(), squeeze_dims=empty_list_attr()),
            node("call", "fn", transpose_a=bool_attr(False)),
            node("odd", "NotAnOp", transpose_a=bool_attr(False)),
        ]
    )  # fmt: skip
    add_function(
        g,
        "fn",
        node("inner_mm", "MatMul", T=type_attr(), transpose_a=bool_attr(False),
             transpose_b=bool_attr(False), _class=AttrValue()),
        node("inner_sq", "Squeeze", T=type_attr(), squeeze_dims=empty_list_attr()),
    )  # fmt: skip
    return g


def attrs(n: NodeDef) -> set[str]:
    return set(n.attr)


def test_strip_spec_examples() -> None:
    """The examples of §8."""
    g = spec_example_graph()
    strip_default_attrs(g)
    by_name = {n.name: n for n in g.node}
    assert attrs(by_name["bare"]) == {"dtype"}  # shape {unknown_rank: true} is the default
    assert attrs(by_name["vec"]) == {"dtype", "shape"}  # shape {dim {size: -1}} is not
    assert attrs(by_name["scalar"]) == {"dtype", "shape"}  # shape {} is not either
    assert attrs(by_name["mm"]) == {"T", "transpose_b", "_output_shapes"}
    assert by_name["mm"].attr["transpose_b"].b is True
    assert attrs(by_name["sq"]) == {"T"}
    assert attrs(by_name["call"]) == {"transpose_a"}  # a function call: left alone
    assert attrs(by_name["odd"]) == {"transpose_a"}  # unknown op: left alone
    inner = {n.name: n for n in g.library.function[0].node_def}
    assert attrs(inner["inner_mm"]) == {"T", "_class"}  # function bodies stripped too
    assert attrs(inner["inner_sq"]) == {"T"}


def test_strip_is_idempotent_and_keeps_other_fields() -> None:
    g = spec_example_graph()
    g.node[3].device = "/device:CPU:0"
    g.node[3].input.extend(["bare", "^vec"])
    strip_default_attrs(g)
    once = serialized(g)
    strip_default_attrs(g)
    assert serialized(g) == once
    assert g.node[3].device == "/device:CPU:0" and list(g.node[3].input) == ["bare", "^vec"]


@pytest.mark.parametrize(
    ("value", "stripped"),
    [
        (AttrValue(f=0.0), True),
        (AttrValue(f=-0.0), False),  # serialized bytes differ
        (AttrValue(f=1e-10), False),
        (AttrValue(i=0), False),  # a different type than the default
    ],
)
def test_float_default_compared_bytewise(value: AttrValue, stripped: bool) -> None:
    """BlockLSTMV2.cell_clip defaults to 0.0: -0.0 is not equal to it (§8)."""
    default = next(a for a in load_registry()["BlockLSTMV2"].attr if a.name == "cell_clip")
    assert serialized(default.default_value) == serialized(AttrValue(f=0.0))
    n = node("n", "BlockLSTMV2", cell_clip=value)
    strip_node_default_attrs(n)
    assert ("cell_clip" not in n.attr) is stripped


def test_tensor_default_compared_by_value() -> None:
    """ImageSummary.bad_color (red, uint8 [4]) as tensor_content instead of int_val."""
    v = AttrValue()
    v.tensor.dtype = DataType.DT_UINT8
    v.tensor.tensor_shape.dim.add(size=4)
    v.tensor.tensor_content = bytes([255, 0, 0, 255])
    n = node("img", "ImageSummary", bad_color=v, max_images=AttrValue(i=3))
    strip_node_default_attrs(n)
    assert attrs(n) == set()
    v.tensor.tensor_content = bytes([255, 0, 0, 254])
    n = node("img", "ImageSummary", bad_color=v, max_images=AttrValue(i=4))
    strip_node_default_attrs(n)
    assert attrs(n) == {"bad_color", "max_images"}


# ------------------------------------------------------------------------------------------
# Live: TensorFlow's export against these functions


FIXTURE_GRAPHS = fixture_graphs()


def export_both(tf: Any, graph: Any) -> tuple[MetaGraphDef, MetaGraphDef]:
    """TensorFlow's export of ``graph``, plain and with ``strip_default_attrs=True``."""
    with graph.as_default():
        plain, stripped = (
            tf.compat.v1.train.export_meta_graph(graph=graph, strip_default_attrs=flag)
            for flag in (False, True)
        )
    return (
        MetaGraphDef.FromString(plain.SerializeToString()),
        MetaGraphDef.FromString(stripped.SerializeToString()),
    )


def check_export(plain: MetaGraphDef, stripped: MetaGraphDef) -> None:
    """Our op list and our stripping reproduce TensorFlow's."""
    for e in (plain, stripped):
        assert serialized(stripped_op_list_for(e.graph_def)) == serialized(
            e.meta_info_def.stripped_op_list
        )
    assert not plain.meta_info_def.stripped_default_attrs
    assert stripped.meta_info_def.stripped_default_attrs
    mine = GraphDef()
    mine.CopyFrom(plain.graph_def)
    strip_default_attrs(mine)
    assert [serialized(n) for n in mine.node] == [serialized(n) for n in stripped.graph_def.node]
    assert serialized(mine.library) == serialized(stripped.graph_def.library)
    assert serialized(mine) == serialized(stripped.graph_def)


@pytest.mark.tf
@pytest.mark.parametrize(("name", "s"), FIXTURE_GRAPHS, ids=[name for name, _ in FIXTURE_GRAPHS])
def test_fixture_pipeline(tf: Any, name: str, s: MetaGraphDef) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    tf_s = meta_graph_pb2.MetaGraphDef.FromString(s.SerializeToString())
    graph = tf.Graph()
    with graph.as_default():
        if s.HasField("saver_def") or not {"variables", "trainable_variables"} & set(
            s.collection_def
        ):
            tf.compat.v1.train.import_meta_graph(tf_s)
        else:
            meta_graph.import_scoped_meta_graph(tf_s)
    plain, stripped = export_both(tf, graph)
    check_export(plain, stripped)
    removed = sum(len(n.attr) for n in plain.graph_def.node) - sum(
        len(n.attr) for n in stripped.graph_def.node
    )
    assert (removed > 0) is (
        name not in ("collections.meta", "empty.meta", "noop.meta.txt")
    )  # not vacuous
    if s.meta_info_def.stripped_default_attrs:  # §2.3: defaults reappear
        count = sum(len(n.attr) for n in plain.graph_def.node)
        assert count > sum(len(n.attr) for n in s.graph_def.node)


@pytest.mark.tf
def test_built_graph(tf: Any) -> None:
    """§3.9 and §8, on a graph built in TensorFlow, exported directly and via import."""
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, shape=[2, 2], name="a")
        tf.compat.v1.placeholder(tf.float32, name="bare")
        tf.compat.v1.placeholder(tf.float32, shape=[None], name="vec")
        tf.linalg.matmul(a, a, transpose_b=True, name="mm")
        tf.squeeze(a, name="sq")

        @tf.function(autograph=False)
        def f(p: Any) -> Any:
            inner = tf.linalg.matmul(tf.reshape(p, [1, 1]), tf.reshape(p, [1, 1]))
            q = tf.reshape(inner, [])
            return tf.cond(q > 0.0, lambda: tf.sin(q), lambda: tf.cos(q))

        tf.tan(f(tf.constant(1.0)), name="t")
    plain, stripped = export_both(tf, graph)
    check_export(plain, stripped)

    names = op_names(plain.meta_info_def.stripped_op_list)
    assert "Sin" not in names and "Cos" not in names
    assert {"MatMul", "Placeholder", "Squeeze", "StatelessIf", "Tan", "Greater"} <= set(names)
    nodes = {n.name: n for n in stripped.graph_def.node}
    assert {"T", "transpose_b"} <= attrs(nodes["mm"])
    assert not {"transpose_a", "grad_a", "grad_b"} & attrs(nodes["mm"])
    assert "shape" not in nodes["bare"].attr
    assert list(nodes["vec"].attr["shape"].shape.dim)[0].size == -1
    assert "squeeze_dims" not in nodes["sq"].attr
    bodies = [n for fn in stripped.graph_def.library.function for n in fn.node_def]
    inner_mm = [n for n in bodies if n.op == "MatMul"]
    assert inner_mm and all("transpose_a" not in n.attr for n in inner_mm)

    # The same through the pipeline: import the plain export into a fresh graph, export again.
    from tensorflow.core.protobuf import meta_graph_pb2

    again = tf.Graph()
    with again.as_default():
        tf.compat.v1.train.import_meta_graph(
            meta_graph_pb2.MetaGraphDef.FromString(plain.SerializeToString())
        )
    check_export(*export_both(tf, again))


@pytest.mark.tf
def test_tf2_cond_exact_op_list(tf: Any) -> None:
    """§3.9, on its example graph: exactly these ops, no Sin, no Cos."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, shape=[], name="x")

        @tf.function(autograph=False)
        def f(p: Any) -> Any:
            return tf.cond(p > 0.0, lambda: tf.sin(p), lambda: tf.cos(p))

        tf.tan(f(x), name="t")
    plain, stripped = export_both(tf, graph)
    check_export(plain, stripped)
    assert op_names(stripped_op_list_for(plain.graph_def)) == [
        "Const", "Greater", "Identity", "PartitionedCall", "Placeholder", "StatelessIf", "Tan"
    ]  # fmt: skip

"""TensorFlow's own pipeline against mgstore.export.normalize (``tf`` marker).

Import into a fresh graph and export plain (the as-imported export) and with ``clear_devices=True``
(the rebuilt one), on every fixture graph, on perturbed copies of them (shuffled nodes,
non-canonical devices and inputs, stripped defaults), and on synthetic graphs, compared with what
the functions predict.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from fixture_catalog import FIXTURES, fixture_graphs

from mgstore import io
from mgstore.errors import InvalidGraphError
from mgstore.export import normalize as nz
from mgstore.proto import (
    AttrValue,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    QueueRunnerDef,
    VariableDef,
    VersionDef,
)
from tests.export.test_normalize import (
    BAD_DEVICES,
    COLOCATION,
    DEVICES,
    SPEC_LIBRARY,
    SPEC_ORDER,
    library,
    names,
    node,
    op,
)


def pipeline(tf: Any, s: MetaGraphDef) -> tuple[MetaGraphDef, MetaGraphDef]:
    """The as-imported (no option) and the rebuilt (clear_devices=True) export, from a fresh graph
    (§1.2)."""
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    tf_s = meta_graph_pb2.MetaGraphDef.FromString(s.SerializeToString())
    with tf.Graph().as_default() as g:
        if s.HasField("saver_def") or not {"variables", "trainable_variables"} & set(
            s.collection_def
        ):
            tf.compat.v1.train.import_meta_graph(tf_s)
        else:
            meta_graph.import_scoped_meta_graph(tf_s)
        p, r = (tf.compat.v1.train.export_meta_graph(graph=g, **kw).SerializeToString()
                for kw in ({}, {"clear_devices": True}))  # fmt: skip
    return MetaGraphDef.FromString(p), MetaGraphDef.FromString(r)


def optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def check_pipeline(tf: Any, s: MetaGraphDef) -> None:
    """Assert that these functions predict TensorFlow's export of the stored graph, as imported and
    rebuilt."""
    p, r = pipeline(tf, s)
    nodes = list(s.graph_def.node)
    order = nz.import_order(nodes, versions=s.graph_def.versions)
    assert [n.name for n in p.graph_def.node] == names(nodes, order)
    assert [n.name for n in r.graph_def.node] == names(nodes, order)
    devices = nz.colocated_devices(nodes, order)
    assert [n.device for n in p.graph_def.node] == [devices[i] for i in order]
    assert all(n.device == "" for n in r.graph_def.node)
    for i, n_p, n_r in zip(order, p.graph_def.node, r.graph_def.node, strict=True):
        assert list(n_p.input) == nz.as_imported_inputs(nodes[i].input), n_p.name
        assert list(n_r.input) == list(nodes[i].input), n_r.name
        producer_ops = optional(s.meta_info_def, "stripped_op_list")
        expected = dict(
            nz.normalize_attrs(nodes[i], None, producer_ops, remove_output_shapes=True).attr
        )
        for exported in (n_p, n_r):
            got = dict(exported.attr)
            got.pop("_output_shapes", None)
            assert got == expected, exported.name
    lib = optional(s.graph_def, "library")
    versions = nz.merged_versions(optional(s.graph_def, "versions"), lib)
    assert p.graph_def.versions == versions == r.graph_def.versions
    assert optional(r.graph_def, "library") == nz.rebuilt_library(lib)
    assert optional(p.graph_def, "library") == nz.as_imported_library(lib)
    restored = nz.restore_collections(s.collection_def, s.meta_info_def.tensorflow_version)
    exported = {k: nz.exported_collection_def(v) for k, v in restored.items()}
    expected_cols = {k: v for k, v in exported.items() if v is not None}
    for e in (p, r):
        assert set(e.collection_def) == set(expected_cols)
        for key, col in expected_cols.items():
            proto = nz.PROTO_KEYS.get(key)
            if proto is None:
                assert e.collection_def[key] == col, key
            else:  # payload bytes may be non-deterministic (§2.11): compare parsed
                parse = [proto.FromString(b) for b in e.collection_def[key].bytes_list.value]
                assert parse == [proto.FromString(b) for b in col.bytes_list.value], key


@pytest.mark.tf
@pytest.mark.parametrize("s", [pytest.param(s, id=name) for name, s in fixture_graphs()])
def test_fixture_pipeline(tf: Any, s: MetaGraphDef) -> None:
    check_pipeline(tf, s)


_CANONICAL = re.compile(r"(/job:[^/]*)?(/replica:\d+)?(/task:\d+)?(?:/device:(CPU|GPU):(\d+|\*))?")


def perturb(s: MetaGraphDef, seed: int) -> MetaGraphDef:
    """S with shuffled nodes and functions, devices and inputs in other spellings, defaults
    stripped, and devices on colocated nodes: none of it survives the import."""
    from mgstore.export.registry import attr_defaults

    rng = random.Random(seed)
    out = MetaGraphDef()
    out.CopyFrom(s)
    for field in (out.graph_def.node, out.graph_def.library.function):
        items = list(field)
        rng.shuffle(items)
        del field[:]
        field.extend(items)
    for n in out.graph_def.node:
        m = _CANONICAL.fullmatch(n.device)
        if n.device and m:
            parts = [p for p in m.groups()[:3] if p]
            if m[4]:
                parts.append(f"/{m[4].lower() if rng.random() < 0.5 else m[4]}:{m[5]}")
            rng.shuffle(parts)
            n.device = "".join(parts)
        if "_class" in n.attr:
            n.device = rng.choice(["", "/cpu:7", "/job:elsewhere"])
        data = [i for i in n.input if not i.startswith("^")]
        controls = [i for i in n.input if i.startswith("^")]
        data = [f"{i}:0" if ":" not in i and rng.random() < 0.5 else i for i in data]
        controls = controls + rng.sample(controls, len(controls) // 2)
        rng.shuffle(controls)
        n.ClearField("input")
        n.input.extend(data + controls)
        for key, default in attr_defaults(n.op).items():
            if key in n.attr and n.attr[key] == default and rng.random() < 0.5:
                del n.attr[key]
    return out


@pytest.mark.tf
@pytest.mark.parametrize(
    "name", ["control_flow.meta", "dense.meta", "functions.meta", "variables.meta"]
)
def test_perturbed_fixture_pipeline(tf: Any, name: str) -> None:
    s = io.read_meta_graph(FIXTURES / name)
    for seed in range(2):
        changed = perturb(s, seed)
        assert nz.import_order(list(changed.graph_def.node)) != list(
            range(len(changed.graph_def.node))
        )
        check_pipeline(tf, changed)


def prefixed(nodes: list[NodeDef], prefix: str) -> list[NodeDef]:
    """Copies of ``nodes`` with every name, input and ``loc:@`` target prefixed."""
    out = []
    for n in nodes:
        c = NodeDef()
        c.CopyFrom(n)
        c.name = prefix + n.name
        c.input[:] = [f"^{prefix}{i[1:]}" if i.startswith("^") else prefix + i for i in n.input]
        if "_class" in c.attr:
            c.attr["_class"].list.s[:] = [
                b"loc:@" + prefix.encode() + v[5:] if v.startswith(b"loc:@") else v
                for v in c.attr["_class"].list.s
            ]
        out.append(c)
    return out


def typed(nodes: list[NodeDef]) -> list[NodeDef]:
    """Give Const and Identity nodes the attrs TensorFlow requires."""
    for n in nodes:
        if n.op == "Const":
            n.attr["dtype"].type = 1
            n.attr["value"].tensor.dtype = 1
            n.attr["value"].tensor.float_val.append(1.0)
        elif n.op in ("Identity", "AddN", "MatMul", "Merge", "Enter", "NextIteration"):
            n.attr["T"].type = 1
            if n.op in ("AddN", "Merge"):
                n.attr["N"].i = sum(1 for i in n.input if not i.startswith("^"))
            if n.op == "Enter":
                n.attr["frame_name"].s = b"frame"
        elif n.op == "Placeholder":
            n.attr["dtype"].type = 1
    return nodes


@pytest.mark.tf
def test_synthetic_pipeline(tf: Any) -> None:
    """The examples of §2 in one graph: order, devices, colocation, inputs, library, attrs."""
    nodes = typed(prefixed(SPEC_ORDER, "order/"))
    for k, (case, _) in enumerate(COLOCATION):
        nodes += prefixed(case, f"coloc{k}/")
    nodes += [node(f"dev{k}", device=d) for k, d in enumerate(DEVICES)]
    nodes += [node("in/a", "Const"), node("in/b"), node("in/c")]
    nodes += [node("in/x", "Identity", ("in/a:0", "^in/c", "^in/c", "^in/b"))]
    for k, merge_inputs in enumerate([("en", "ni"), ("ni", "en"), ("en", "ni", "^y")]):
        loop = [node("ni", "NextIteration", ("body",)), node("body", "Identity", ("m",)),
                node("m", "Merge", merge_inputs), node("en", "Enter", ("x",)), node("x", "Const"),
                node("y")]  # fmt: skip
        nodes += prefixed(loop, f"loop{k}/")
    nodes += prefixed([node("ni", "NextIteration", ("x",)), node("x", "Const"),
                       node("m", "Merge", ("en", "ni")), node("en", "Enter", ("x2",)),
                       node("x2", "Const")], "skip/")  # fmt: skip
    nodes += [node("attr/x", "Placeholder"), node("attr/m", "MatMul", ("attr/x", "attr/x:0"))]
    nodes += [node("attr/n"), node("attr/call", "f07")]
    nodes[-2].attr["foo"].i = 3
    nodes[-2].attr["bar"].i = 3
    s = MetaGraphDef(graph_def=GraphDef(node=typed(nodes)))
    s.graph_def.library.CopyFrom(library(SPEC_LIBRARY, (("f07", "my_grad"),)))
    s.meta_info_def.stripped_op_list.op.add().CopyFrom(
        op("NoOp", foo=AttrValue(i=3), bar=AttrValue(i=4))
    )
    check_pipeline(tf, s)


@pytest.mark.tf
@pytest.mark.parametrize(
    "versions",
    [None, VersionDef(), VersionDef(producer=3000, min_consumer=5, bad_consumers=[2, 1]),
     VersionDef(producer=21, min_consumer=12), VersionDef(bad_consumers=[9, 9])],
)  # fmt: skip
def test_versions_pipeline(tf: Any, versions: VersionDef | None) -> None:
    s = MetaGraphDef(graph_def=GraphDef(node=[node("a")]))
    if versions is not None:
        s.graph_def.versions.CopyFrom(versions)
    check_pipeline(tf, s)


def tf_import_error(tf: Any, s: MetaGraphDef) -> str:
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    with tf.Graph().as_default(), pytest.raises(ValueError) as info:
        meta_graph.import_scoped_meta_graph(
            meta_graph_pb2.MetaGraphDef.FromString(s.SerializeToString())
        )
    return str(info.value)


@pytest.mark.tf
def test_import_errors_match_tensorflow(tf: Any) -> None:
    cycle = MetaGraphDef(
        graph_def=GraphDef(node=[node("a", inputs=("^b",)), node("b", inputs=("^a",))])
    )
    cycle.graph_def.versions.producer = 3000
    with pytest.raises(InvalidGraphError) as info:
        nz.import_order(list(cycle.graph_def.node), versions=cycle.graph_def.versions)
    assert str(info.value) == tf_import_error(tf, cycle)
    for stored, message in BAD_DEVICES.items():
        assert (
            tf_import_error(tf, MetaGraphDef(graph_def=GraphDef(node=[node("a", device=stored)])))
            == message
        )
    old = MetaGraphDef(graph_def=GraphDef(node=[node("a")]))
    old.meta_info_def.tensorflow_version = "abc"
    with pytest.raises(InvalidGraphError) as info:
        nz.restore_collections(old.collection_def, old.meta_info_def.tensorflow_version)
    assert str(info.value) == tf_import_error(tf, old)
    lib = MetaGraphDef(graph_def=GraphDef(node=[node("a")], library=library(["x"], (("x", "y"),))))
    with pytest.raises(InvalidGraphError) as info:
        nz.rebuilt_library_order(lib.graph_def.library)
    assert str(info.value) == tf_import_error(tf, lib)


@pytest.mark.tf
def test_collections_pipeline(tf: Any) -> None:
    """Regenerated payloads and the old-TensorFlow rules of §2.10 and §2.11."""
    with tf.Graph().as_default():
        v1 = tf.compat.v1
        v1.Variable(1.0, name="rv", use_resource=True)
        v1.Variable(2.0, name="v", use_resource=False)  # trainable, but see below
        queue = v1.FIFOQueue(4, tf.float32, name="queue")
        v1.train.add_queue_runner(v1.train.QueueRunner(queue, [queue.enqueue([1.0])]))
        v1.add_to_collection("my_nodes", tf.constant(3.0, name="c"))
        s = MetaGraphDef.FromString(v1.train.export_meta_graph().SerializeToString())
    qr = QueueRunnerDef.FromString(s.collection_def["queue_runners"].bytes_list.value[0])
    del qr.queue_closed_exception_types[:]
    s.collection_def["queue_runners"].bytes_list.value[0] = qr.SerializeToString()
    for key in ("variables", "trainable_variables"):
        values = s.collection_def[key].bytes_list.value
        for i, raw in enumerate(values):
            var = VariableDef.FromString(raw)
            if var.is_resource:
                var.snapshot_name = ""
                values[i] = var.SerializeToString()
    trainable = s.collection_def["trainable_variables"].bytes_list.value
    trainable[:] = [b for b in trainable if VariableDef.FromString(b).is_resource]  # v: only in
    s.collection_def["local_variables"].node_list.value.append("v:0")  # variables, trainable
    s.collection_def["my_nodes"].node_list.value.append("c:00")
    s.collection_def["nokind"].SetInParent()
    s.collection_def["empty"].int64_list.SetInParent()
    for version, v_trainable in (("2.21.0", True), ("1.8.0", False)):
        s.meta_info_def.tensorflow_version = version
        check_pipeline(tf, s)
        restored = nz.restore_collections(s.collection_def, version)["variables"].items
        assert [v.trainable for v in restored if v.variable_name == "v:0"] == [v_trainable]  # type: ignore[union-attr]

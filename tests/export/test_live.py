"""Live round trips through TensorFlow: what mgstore exports, TensorFlow imports and runs.

* A small model (placeholder ``x`` outside, two dense layers of ref variables under the
  name scope ``tower`` on ``/cpu:0``, a loss, a Momentum train op, a Saver) is trained one
  step and saved (checkpoint and ``.meta``) by TensorFlow, then ingested. mgstore exports it
  (a) by scope ``tower`` with ``clear_devices``, (b) whole with no option, (c) whole with
  ``clear_devices`` and the Saver's ``saver_def``. Each export equals TensorFlow's own
  pipeline on the ``.meta`` (§1.1), and TensorFlow imports the written file
  (``input_map`` binds the scoped export's unbound input, §13), restores the checkpoint
  and infers exactly what the original model inferred; (b) and (c) then resume training and
  take exactly the step the original took.
* A closure query exported with no option against ``extract_sub_graph``, on every fixture
  graph: same nodes, in the same order where the stored order is already the order
  TensorFlow's import gives; and NodeDef for NodeDef what TensorFlow's pipeline (import,
  export, ``extract_sub_graph``) keeps.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fixture_catalog import fixture_graphs

from mgstore.proto import MetaGraphDef

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def np(tf: Any) -> Any:
    """NumPy, which TensorFlow brings (imported here so the module imports without either)."""
    import numpy

    return numpy


@pytest.fixture(scope="module")
def batches(np: Any) -> dict[str, Any]:
    """The training and evaluation inputs."""
    return {
        "x_train": np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4),
        "y_train": np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32),
        "x_eval": np.array([[0.5, -0.25, 1.5, 2.0], [-1.0, 0.75, 0.0, 0.3]], dtype=np.float32),
    }


def to_tf(tf: Any, message: Any) -> Any:
    """mgstore's MetaGraphDef as TensorFlow's class."""
    from tensorflow.core.protobuf import meta_graph_pb2

    return meta_graph_pb2.MetaGraphDef.FromString(message.SerializeToString())


def tf_pipeline(tf: Any, s: Any, **options: Any) -> Any:
    """TensorFlow's reference (§1.2): import S into a fresh graph without a new Saver, export."""
    from tensorflow.python.framework import meta_graph

    with tf.Graph().as_default() as g:
        meta_graph.import_scoped_meta_graph(s)
        return tf.compat.v1.train.export_meta_graph(graph=g, **options)


# ------------------------------------------------------------------------------------------
# A trained model, saved by TensorFlow


def _dense(tf: Any, x: Any, units: int, name: str, relu: bool = True) -> Any:
    v1 = tf.compat.v1
    with v1.name_scope(name):
        fan_in = int(x.shape[-1])
        init = v1.random_normal([fan_in, units], stddev=0.5, seed=1)
        kernel = v1.Variable(init, name="kernel", use_resource=False)
        bias = v1.Variable(v1.random_normal([units], stddev=0.1, seed=2), name="bias",
                           use_resource=False)  # fmt: skip
        y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
        return tf.nn.relu(y) if relu else y


@pytest.fixture(scope="module")
def trained(
    tf: Any, batches: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Train one step, save, and record what the model computes then and after one more step."""
    v1 = tf.compat.v1
    prefix = str(tmp_path_factory.mktemp("model") / "model")
    with tf.Graph().as_default() as g:
        v1.set_random_seed(1234)
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        labels = v1.placeholder(tf.float32, [None, 2], name="labels")
        with v1.name_scope("tower"), tf.device("/cpu:0"):
            hidden = _dense(tf, x, 8, "dense")
            output = tf.identity(_dense(tf, hidden, 2, "dense_1", relu=False), name="output")
        loss = tf.reduce_mean(tf.square(output - labels), name="loss")
        train = v1.train.MomentumOptimizer(0.05, 0.9).minimize(loss, name="train")
        saver = v1.train.Saver()
        train_feed = {x: batches["x_train"], labels: batches["y_train"]}
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(train, train_feed)
            saver.save(sess, prefix)  # writes model.meta too
            inferred = sess.run(output, {x: batches["x_eval"]})
            loss_saved = sess.run(loss, train_feed)
            sess.run(train, train_feed)
            loss_resumed = sess.run(loss, train_feed)
            inferred_resumed = sess.run(output, {x: batches["x_eval"]})
    assert loss_resumed != loss_saved
    return {
        "prefix": prefix,
        "meta": prefix + ".meta",
        "saver_def": saver.as_saver_def(),
        "inferred": inferred,
        "loss_saved": loss_saved,
        "loss_resumed": loss_resumed,
        "inferred_resumed": inferred_resumed,
        "checkpoint_names": sorted(name for name, _ in tf.train.list_variables(prefix)),
    }


@pytest.fixture
def model_ref(store: Any, trained: dict[str, Any]) -> str:
    ref: str = store.ingest(trained["meta"], name="model").ref
    return ref


def stored_meta(tf: Any, trained: dict[str, Any]) -> Any:
    from tensorflow.core.protobuf import meta_graph_pb2

    return meta_graph_pb2.MetaGraphDef.FromString(Path(trained["meta"]).read_bytes())


def test_scoped_export_infers_as_the_original(
    tf: Any,
    np: Any,
    batches: dict[str, Any],
    store: Any,
    model_ref: str,
    trained: dict[str, Any],
    tmp_path: Path,
) -> None:
    v1 = tf.compat.v1
    path = tmp_path / "tower.meta"
    e = store.export_meta_graph(path, graph=model_ref, export_scope="tower", clear_devices=True)
    assert to_tf(tf, e) == tf_pipeline(
        tf, stored_meta(tf, trained), export_scope="tower", clear_devices=True
    )
    assert list(e.collection_def["unbound_inputs"].bytes_list.value) == [b"$unbound_inputs_x"]
    assert all(not n.name.startswith("tower") and n.device == "" for n in e.graph_def.node)
    assert not e.HasField("saver_def")

    with tf.Graph().as_default() as g:
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        v1.train.import_meta_graph(str(path), input_map={"$unbound_inputs_x": x})
        assert list(g.get_operation_by_name("dense/MatMul").inputs)[0] is x
        # the checkpoint names the variables under the scope the export stripped
        var_list = {f"tower/{v.op.name}": v for v in v1.global_variables()}
        assert sorted(var_list) == trained["checkpoint_names"]
        with v1.Session(graph=g) as sess:
            v1.train.Saver(var_list).restore(sess, trained["prefix"])
            inferred = sess.run("output:0", {x: batches["x_eval"]})
    assert np.array_equal(inferred, trained["inferred"])


@pytest.mark.parametrize("clear_devices", [False, True], ids=["plain", "clear_devices"])
def test_full_export_infers_and_resumes_training(
    tf: Any, np: Any, batches: dict[str, Any], store: Any, model_ref: str,
    trained: dict[str, Any], tmp_path: Path, clear_devices: bool,
) -> None:  # fmt: skip
    v1 = tf.compat.v1
    path = tmp_path / "full.meta"
    # plain: no option at all, so no saver_def (import_meta_graph builds a Saver of its own);
    # clear_devices: the model's saver_def is exported and restores through the graph's ops
    options: dict[str, Any] = (
        {"clear_devices": True, "saver_def": trained["saver_def"]} if clear_devices else {}
    )
    e = store.export_meta_graph(path, graph=model_ref, **options)
    assert to_tf(tf, e) == tf_pipeline(tf, stored_meta(tf, trained), **options)
    devices = {n.device for n in e.graph_def.node if n.name.startswith("tower/")}
    assert devices == ({""} if clear_devices else {"/device:CPU:0"})
    assert e.HasField("saver_def") == clear_devices

    with tf.Graph().as_default() as g:
        saver = v1.train.import_meta_graph(str(path))
        if clear_devices:
            assert saver.saver_def.restore_op_name == "save/restore_all"
        assert all(op.device == "" for op in g.get_operations()) == clear_devices
        (train,) = g.get_collection(v1.GraphKeys.TRAIN_OP)
        assert train.name == "train"
        feed = {"x:0": batches["x_train"], "labels:0": batches["y_train"]}
        with v1.Session(graph=g) as sess:
            saver.restore(sess, trained["prefix"])
            inferred = sess.run("tower/output:0", {"x:0": batches["x_eval"]})
            loss_saved = sess.run("loss:0", feed)
            sess.run(train, feed)
            loss_resumed = sess.run("loss:0", feed)
            inferred_resumed = sess.run("tower/output:0", {"x:0": batches["x_eval"]})
    assert np.array_equal(inferred, trained["inferred"])
    assert loss_saved == trained["loss_saved"]
    assert loss_resumed != loss_saved
    assert loss_resumed == trained["loss_resumed"]
    assert np.array_equal(inferred_resumed, trained["inferred_resumed"])


# ------------------------------------------------------------------------------------------
# Closure queries against extract_sub_graph, on the fixtures

# The stored order of control_flow.meta is not the order TensorFlow's import gives (§2.2):
# v1 cond creates an op before the Switch it reads (tower_1/loop/even_or_odd/mul after
# .../mul/Switch), so the import reorders them. extract_sub_graph keeps the order of the
# GraphDef it is given, and mgstore's export (the import's order) differs from it on the
# stored GraphDef, but not on the GraphDef TensorFlow exports after importing.
REORDERED_BY_IMPORT = {"control_flow.meta"}
# Bare GraphDefs carry no _output_shapes; TensorFlow's export adds inferred ones, mgstore
# cannot (§12.4).
NO_OUTPUT_SHAPES = {"graph.pb", "graph.pbtxt"}


def destinations(s: MetaGraphDef) -> list[str]:
    """The last node, and the node with the most ancestors (data and control edges)."""
    inputs = {n.name: [i.lstrip("^").split(":")[0] for i in n.input] for n in s.graph_def.node}
    ancestors: dict[str, set[str]] = {}
    for name in inputs:
        seen: set[str] = set()
        todo = list(inputs[name])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(inputs[current])
        ancestors[name] = seen
    widest = max(inputs, key=lambda n: len(ancestors[n]))  # the first one on ties
    last = s.graph_def.node[-1].name
    return [last] if widest == last else [last, widest]


GRAPHS = [(name, s) for name, s in fixture_graphs() if s.graph_def.node]


@pytest.fixture(scope="module")
def tf_exports(tf: Any) -> dict[str, Any]:
    """TensorFlow's pipeline export (as imported) of each fixture graph, by fixture name."""
    return {name: tf_pipeline(tf, to_tf(tf, s)) for name, s in GRAPHS}


def without_output_shapes(nodes: Any) -> list[Any]:
    out = []
    for n in nodes:
        n = type(n).FromString(n.SerializeToString())
        n.attr.pop("_output_shapes", None)
        out.append(n)
    return out


@pytest.mark.parametrize(("name", "s"), [pytest.param(n, s, id=n) for n, s in GRAPHS])
def test_closure_export_equals_extract_sub_graph(
    tf: Any, store: Any, tf_exports: dict[str, Any], name: str, s: MetaGraphDef
) -> None:
    from tensorflow.core.framework import node_def_pb2

    extract = tf.compat.v1.graph_util.extract_sub_graph
    ref = store.ingest(s, name="fixture").ref
    stored = to_tf(tf, s).graph_def
    tf_export = tf_exports[name]
    in_import_order = [n.name for n in tf_export.graph_def.node] == [n.name for n in stored.node]
    assert in_import_order == (name not in REORDERED_BY_IMPORT)
    for dest in destinations(s):
        selection = store.query(ref, name_regex=f"^{re.escape(dest)}$", closure="ancestors")
        e = store.export_meta_graph(graph=selection)
        names = [n.name for n in e.graph_def.node]

        kept = [n.name for n in extract(stored, [dest]).node]
        assert sorted(names) == sorted(kept), dest
        assert (names == kept) == in_import_order, dest

        expected = list(extract(tf_export.graph_def, [dest]).node)
        got = [node_def_pb2.NodeDef.FromString(n.SerializeToString()) for n in e.graph_def.node]
        if name in NO_OUTPUT_SHAPES:
            expected, got = without_output_shapes(expected), without_output_shapes(got)
        assert [n.name for n in got] == [n.name for n in expected], dest
        assert got == expected, dest
        with tf.Graph().as_default():  # the query result's export imports in TensorFlow
            tf.compat.v1.train.import_meta_graph(to_tf(tf, e))

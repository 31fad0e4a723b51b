"""Live: the ``inference`` closure of a trained model imports in TensorFlow and restores from
the original checkpoint, giving bit-identical outputs.

Three tf.compat.v1 models, each with ref and resource variables in two name scopes
(``encoder``, ``head``): ``dense``, ``control_flow`` (a v1 while loop in ``head`` reading a
variable in its body) and ``partitioned`` (a variable in two partitions). Each is trained one
step and saved by TensorFlow, then ingested; the inference closure of its output (and of
``head/`` with ``strict_scope``) is exported, imported into a fresh graph (and a fresh process) with
``import_meta_graph``, restored from the original checkpoint with the saver it returns, and
run. Open selections are refused, with nothing written and the export recorded as failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mgstore.errors import IncompleteSubgraphError

pytestmark = pytest.mark.tf

KINDS = ("dense", "control_flow", "partitioned")


def _build(tf: Any, kind: str) -> tuple[Any, Any]:
    """The model's input placeholder and output tensor, in the default graph."""
    v1 = tf.compat.v1
    v1.set_random_seed(7)
    x = v1.placeholder(tf.float32, [None, 4], name="x")
    with v1.variable_scope("encoder"):
        if kind == "partitioned":
            kernel = v1.get_variable(
                "kernel", [4, 6], partitioner=v1.fixed_size_partitioner(2), use_resource=False
            )
        else:
            kernel = v1.get_variable("kernel", [4, 6], use_resource=False)
        bias = v1.get_variable("bias", [6], use_resource=True, initializer=v1.ones_initializer())
        hidden = tf.nn.relu(tf.matmul(x, kernel) + bias)
    with v1.variable_scope("head"):
        weights = v1.get_variable("weights", [6, 3], use_resource=True)
        scale = v1.get_variable("scale", [], use_resource=False, initializer=v1.ones_initializer())
        if kind == "control_flow":
            square = v1.get_variable("square", [6, 6], use_resource=False)

            def body(i: Any, h: Any) -> tuple[Any, Any]:
                return i + 1, tf.tanh(tf.matmul(h, square))

            _, hidden = v1.while_loop(lambda i, h: i < 3, body, [tf.constant(0), hidden])
        logits = tf.matmul(hidden, weights) * scale
        out = tf.identity(tf.nn.softmax(logits), name="prob")
    return x, out


@pytest.fixture(scope="module")
def models(tf: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each model trained one step and saved (checkpoint + .meta), with its output then."""
    import numpy as np

    v1 = tf.compat.v1
    data = np.random.RandomState(0).uniform(-1, 1, (5, 4)).astype(np.float32)
    made: dict[str, dict[str, Any]] = {}
    v1.disable_control_flow_v2()
    try:
        for kind in KINDS:
            prefix = str(tmp_path_factory.mktemp(kind) / "model")
            with tf.Graph().as_default() as g:
                x, out = _build(tf, kind)
                loss = tf.reduce_mean(tf.square(out - 0.25))
                train = v1.train.GradientDescentOptimizer(0.5).minimize(loss)
                saver = v1.train.Saver()
                with v1.Session(graph=g) as sess:
                    sess.run(v1.global_variables_initializer())
                    sess.run(train, {x: data})
                    saver.save(sess, prefix)
                    expected = sess.run(out, {x: data})
                ops = {op.type for op in g.get_operations()}
            assert kind != "control_flow" or {"Enter", "Exit", "NextIteration"} <= ops
            made[kind] = {"prefix": prefix, "meta": prefix + ".meta", "data": data,
                          "expected": expected, "output": out.name}  # fmt: skip
    finally:
        v1.enable_control_flow_v2()
    return made


def _restored_output(tf: Any, path: Path, model: dict[str, Any]) -> Any:
    v1 = tf.compat.v1
    with tf.Graph().as_default() as g:
        saver = v1.train.import_meta_graph(str(path))
        assert saver is not None, "import_meta_graph made no saver: no variables imported"
        with v1.Session(graph=g) as sess:
            saver.restore(sess, model["prefix"])
            return sess.run(model["output"], {"x:0": model["data"]})


@pytest.mark.parametrize("kind", KINDS)
def test_the_inference_closure_imports_and_restores_bit_identical_outputs(
    tf: Any, store: Any, models: dict[str, dict[str, Any]], kind: str, tmp_path: Path
) -> None:
    model = models[kind]
    ref = store.ingest(model["meta"], name=kind).ref
    queries = {
        "output": {"name_regex": "^head/prob$", "closure": "inference"},
        "head": {"scope": "head/", "strict_scope": True, "closure": "inference"},
    }
    for label, query in queries.items():
        result = store.query(ref, **query)
        assert not any(n.startswith(("gradients", "GradientDescent", "save/")) for n in result)
        path = tmp_path / f"{label}.meta"
        record = store.export(path, result)
        assert record.ok
        got = _restored_output(tf, path, model)
        assert got.dtype == model["expected"].dtype and got.shape == model["expected"].shape
        assert got.tobytes() == model["expected"].tobytes(), (kind, label)


@pytest.mark.parametrize("kind", KINDS)
def test_open_selections_are_refused_and_nothing_is_written(
    tf: Any, store: Any, models: dict[str, dict[str, Any]], kind: str, tmp_path: Path
) -> None:
    ref = store.ingest(models[kind]["meta"], name=kind).ref
    for query in ({"scope": "head/", "strict_scope": True},
                  {"scope": "head/prob", "closure": "descendants"}):  # fmt: skip
        path = tmp_path / "open.meta"
        with pytest.raises(IncompleteSubgraphError, match="reads '.*', which is not selected"):
            store.export(path, store.query(ref, **query))
        assert not path.exists()
        assert store.exports()[0].status == "failed"
    # What the ancestors closure writes imports, with the variables TensorFlow can rebuild.
    path = tmp_path / "ancestors.meta"
    store.export(path, store.query(ref, name_regex="^head/prob$", closure="ancestors"))
    with tf.Graph().as_default():
        tf.compat.v1.train.import_meta_graph(str(path))


_FRESH_PROCESS = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
meta, prefix, data, output, out = sys.argv[1:]
v1 = tf.compat.v1
with tf.Graph().as_default() as g:
    saver = v1.train.import_meta_graph(meta)
    with v1.Session(graph=g) as sess:
        saver.restore(sess, prefix)
        np.save(out, sess.run(output, {"x:0": np.load(data)}))
"""


@pytest.mark.parametrize("kind", KINDS)
def test_a_fresh_tensorflow_process_restores_the_inference_closure_bit_identically(
    tf: Any, store: Any, models: dict[str, dict[str, Any]], kind: str, tmp_path: Path
) -> None:
    import subprocess
    import sys

    import numpy as np

    model = models[kind]
    ref = store.ingest(model["meta"], name=kind).ref
    path = tmp_path / "inference.meta"
    store.export(path, store.query(ref, scope="head/", strict_scope=True, closure="inference"))
    np.save(tmp_path / "data.npy", model["data"])
    argv = [str(path), model["prefix"], str(tmp_path / "data.npy"), model["output"],
            str(tmp_path / "out.npy")]  # fmt: skip
    subprocess.run([sys.executable, "-c", _FRESH_PROCESS, *argv], check=True, timeout=300)
    got = np.load(tmp_path / "out.npy")
    assert got.tobytes() == model["expected"].tobytes() and got.shape == model["expected"].shape

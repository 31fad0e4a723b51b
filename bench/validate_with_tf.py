"""One-off check of generated graphs against TensorFlow, and the TF import-time baseline.

``bench/generate.py`` writes MetaGraphDefs without TensorFlow; this script proves TensorFlow takes
them as its own. For each file it

1. times ``tf.compat.v1.train.import_meta_graph`` in a fresh ``tf.Graph`` (the baseline the
   ingest benchmark compares with) and checks ``len(graph.get_operations())`` equals the node
   count;
2. re-exports the imported graph with TensorFlow's shape inference (``add_shapes=True``) and
   compares every node with the file: same op, inputs, device and attrs (``_output_shapes``
   included), so the file is what TensorFlow itself would have written;
3. compares ``meta_info_def.stripped_op_list`` with TensorFlow's registry;
4. with ``--run`` (small graphs only), imports with ``clear_devices=True`` and runs the
   initializers, two training steps and a Saver save/restore round trip.

Usage: ``python bench/validate_with_tf.py FILE.meta [FILE.meta...] [--run]``. Exits non-zero on
any mismatch.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2  # noqa: E402
from tensorflow.python.framework import meta_graph  # noqa: E402

tf1 = tf.compat.v1


def _load(path: Path) -> Any:
    """The file as TensorFlow's own MetaGraphDef."""
    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(path.read_bytes())
    return meta


def _import(path: Path) -> tuple[tf.Graph, float]:
    """Import like a user would (file name in, ``import_meta_graph``); returns graph, seconds."""
    graph = tf.Graph()
    with graph.as_default():
        start = time.perf_counter()
        tf1.train.import_meta_graph(str(path))
        seconds = time.perf_counter() - start
    return graph, seconds


def _colocation_device(node: Any, devices: dict[str, str]) -> str | None:
    """The device of the op ``node`` is colocated with (``_class: loc:@op``), if any.

    ``import_graph_def`` gives a colocated op its target's device; TensorFlow's own exports
    change the same way on import, so such a difference is not a defect of the file.
    """
    if "_class" not in node.attr:
        return None
    targets = [s.decode()[5:] for s in node.attr["_class"].list.s if s.startswith(b"loc:@")]
    return devices.get(targets[0]) if targets else None


def _compare_nodes(meta: Any, graph: tf.Graph) -> list[str]:
    """Differences between the file's nodes and TensorFlow's re-export of the imported graph."""
    exported = {n.name: n for n in graph.as_graph_def(add_shapes=True).node}
    devices = {n.name: n.device for n in meta.graph_def.node}
    problems: list[str] = []
    kinds: Counter[str] = Counter()
    for node in meta.graph_def.node:
        other = exported.get(node.name)
        if other is None:
            problems.append(f"{node.name}: missing after import")
            continue
        if node.op != other.op:
            kinds["op"] += 1
            problems.append(f"{node.name}: op {node.op} -> {other.op}")
        if node.device != other.device:
            if other.device == _colocation_device(node, devices):
                kinds["device taken from the colocated op (importer behaviour)"] += 1
            else:
                kinds["device"] += 1
                problems.append(f"{node.name}: device {node.device!r} -> {other.device!r}")
        if node.experimental_type != other.experimental_type:
            kinds["experimental_type"] += 1
            problems.append(
                f"{node.name}: experimental_type {node.experimental_type} "
                f"-> {other.experimental_type}"
            )
        if list(node.input) != list(other.input):
            kinds["input"] += 1
            problems.append(f"{node.name}: inputs {list(node.input)} -> {list(other.input)}")
        for key in sorted(set(node.attr) | set(other.attr)):
            if key not in node.attr or key not in other.attr or node.attr[key] != other.attr[key]:
                kinds[f"attr {key}"] += 1
                mine, theirs = node.attr.get(key), other.attr.get(key)
                problems.append(f"{node.name} ({node.op}): attr {key}: {mine} -> {theirs}")
    if kinds:
        print("  differences by kind:", dict(kinds))
    return problems


def _compare_ops(meta: Any) -> list[str]:
    """Differences between the file's stripped_op_list and TensorFlow's registry."""
    expected = {op.name: op for op in meta_graph.stripped_op_list_for_graph(meta.graph_def).op}
    mine = {op.name: op for op in meta.meta_info_def.stripped_op_list.op}
    problems = [f"op list: {name} missing" for name in sorted(set(expected) - set(mine))]
    problems += [f"op list: {name} unused" for name in sorted(set(mine) - set(expected))]
    for name in sorted(set(mine) & set(expected)):
        if mine[name] != expected[name]:
            problems.append(f"op list: {name} differs:\n{mine[name]}\nvs TF:\n{expected[name]}")
    return problems


def _run(path: Path, meta: Any) -> None:
    """Execute the graph: initialize, train two steps, save and restore (devices cleared)."""
    width = meta.graph_def.node[[n.name for n in meta.graph_def.node].index("x")]
    dims = [d.size for d in width.attr["shape"].shape.dim]
    with tf.Graph().as_default(), tf1.Session() as session:
        saver = tf1.train.import_meta_graph(str(path), clear_devices=True)
        session.run(tf1.global_variables_initializer())
        batch = np.random.default_rng(0).standard_normal((8, dims[1])).astype(np.float32)
        train_op = tf1.get_collection("train_op")[0]
        step = tf1.train.get_global_step()
        for _ in range(2):
            session.run(train_op, {"x:0": batch})
        loss = session.run("Mean:0", {"x:0": batch})
        with tempfile.TemporaryDirectory() as directory:
            prefix = saver.save(session, os.path.join(directory, "model"))
            session.run(tf1.global_variables_initializer())
            saver.restore(session, prefix)
        print(f"  ran: global_step={session.run(step)} loss={loss:.4g}, save/restore ok")


def check(path: Path, run: bool) -> bool:
    """Validate one file; print timings and findings; return whether it passed."""
    start = time.perf_counter()
    meta = _load(path)
    parse_seconds = time.perf_counter() - start
    nodes = len(meta.graph_def.node)
    print(f"{path}: {nodes} nodes, {path.stat().st_size} bytes (parse {parse_seconds:.2f} s)")
    graph, seconds = _import(path)
    operations = len(graph.get_operations())
    print(f"  import_meta_graph: {seconds:.2f} s, {operations} operations")
    problems = [] if operations == nodes else [f"{operations} operations for {nodes} nodes"]
    problems += _compare_nodes(meta, graph) + _compare_ops(meta)
    for problem in problems[:20]:
        print("  PROBLEM", problem)
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more")
    if run and not problems:
        _run(path, meta)
    print("  OK" if not problems else f"  FAILED ({len(problems)} problems)")
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", type=Path, nargs="+")
    parser.add_argument("--run", action="store_true", help="also execute (small graphs only)")
    args = parser.parse_args()
    results = [check(path, args.run) for path in args.files]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()

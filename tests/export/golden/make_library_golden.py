"""Regenerate ``tests/export/golden/libraries.json.gz``: TensorFlow 2.21's function-library order.

Run from the repository root with the TensorFlow extra installed::

    .venv/bin/python tests/export/golden/make_library_golden.py

An export without options lists the function library in the order of TensorFlow's C++ hash
tables (``mgstore.export.function_order``). Each case is a library, given by its function
names and gradients in stored order; TensorFlow imports it into a fresh graph
(``import_scoped_meta_graph``) and exports it with no option, and the case records the order it
wrote. Only names are kept: signature-only functions are enough for TensorFlow's import, and
the order depends on nothing else. ``tests/export/test_function_order.py`` checks mgstore's
order against every case without TensorFlow.

A case (one JSON object in ``cases``): ``id``; ``functions``: names in stored order (repeats
are repeated FunctionDefs); ``gradients``: ``[function_name, gradient_func]`` in stored order;
``order``: TensorFlow's function order, as positions in ``functions`` (first occurrence);
``gradient_order``: TensorFlow's gradient order, as positions in ``gradients``. Cases:

* sizes 1, 2, 3, 6, 7, 8, 9, 12, 13, 15, 16, 17, 25, 26, 50, 51, 100, 200 (the table's growth
  points among them) in five name styles: short, long, unicode, a common prefix, and TF's
  numbered names (``square``, ``square_1``, ``square_12``); 1,000 functions in three styles;
* the same names inserted in other orders (sorted, reversed, shuffled), and with repeats;
* gradients: 1 to 60 of them (the gradient table's growth points included), repeated
  GradientDefs, gradients of gradients;
* a real graph: ``tf.function``\\ s, a custom gradient, ``cond_v2`` and ``while_v2`` and
  their gradients, exported live by TensorFlow, then imported and exported again.
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is imported)
from __future__ import annotations

import gzip
import json
import os
import random
import string
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import meta_graph, op_def_registry

OUT = Path(__file__).resolve().parent / "libraries.json.gz"
SEED = 1616
SIZES = [1, 2, 3, 6, 7, 8, 9, 12, 13, 15, 16, 17, 25, 26, 50, 51, 100, 200]
GRADIENT_COUNTS = [1, 2, 5, 6, 7, 11, 12, 13, 24, 25, 26, 50, 51, 52]
UNICODE = "äöüßéλπ函数层🙂"


def short_names(rng: random.Random, n: int) -> list[str]:
    names: set[str] = set()
    alphabet = string.ascii_letters + string.digits + "_"
    while len(names) < n:
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        if op_def_registry.get(name) is None:  # a function may not take an op's name
            names.add(name)
    return list(names)


def long_names(rng: random.Random, n: int) -> list[str]:
    return [
        f"{i}_" + "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(40, 120)))
        for i in range(n)
    ]


def unicode_names(rng: random.Random, n: int) -> list[str]:
    return [
        "".join(rng.choice(UNICODE + "ab_") for _ in range(rng.randint(1, 6))) + f"_{i}"
        for i in range(n)
    ]


def prefix_names(rng: random.Random, n: int) -> list[str]:
    kinds = ["while_body", "while_cond", "cond_true", "cond_false", "__inference_call"]
    return [f"model/block/{rng.choice(kinds)}_{i}" for i in range(n)]


def numbered_names(rng: random.Random, n: int) -> list[str]:
    bases = ["square", "affine", "looped", "uses_var", "MySquare"]
    out: list[str] = []
    counters = dict.fromkeys(bases, 0)
    while len(out) < n:
        base = rng.choice(bases)
        k = counters[base]
        counters[base] += 1
        out.append(base if k == 0 else f"{base}_{k}")
    return out


STYLES = {
    "short": short_names,
    "long": long_names,
    "unicode": unicode_names,
    "prefix": prefix_names,
    "numbered": numbered_names,
}


def tf_export(functions: list[str], gradients: list[list[str]]) -> tuple[list[str], list[Any]]:
    """TensorFlow's as-imported library after importing these functions and gradients."""
    s = meta_graph_pb2.MetaGraphDef()
    lib = s.graph_def.library
    for name in functions:
        lib.function.add().signature.name = name
    for function_name, gradient_func in gradients:
        lib.gradient.add(function_name=function_name, gradient_func=gradient_func)
    with tf.Graph().as_default() as g:
        meta_graph.import_scoped_meta_graph(s)
        e = tf.compat.v1.train.export_meta_graph(graph=g)
    library = e.graph_def.library
    return [f.signature.name for f in library.function], [
        [x.function_name, x.gradient_func] for x in library.gradient
    ]


def case(
    case_id: str, functions: list[str], gradients: list[list[str]] | None = None
) -> dict[str, Any]:
    gradients = gradients or []
    names, grads = tf_export(functions, gradients)
    first = {name: i for i, name in reversed(list(enumerate(functions)))}
    first_grad = {tuple(g): i for i, g in reversed(list(enumerate(gradients)))}
    return {
        "id": case_id,
        "functions": functions,
        "gradients": gradients,
        "order": [first[name] for name in names],
        "gradient_order": [first_grad[tuple(g)] for g in grads],
    }


def gradient_case(rng: random.Random, k: int, style: str) -> dict[str, Any]:
    names = STYLES[style](rng, 2 * k + 3)
    gradients = [[names[i], names[k + i]] for i in range(k)]
    if k > 3:  # a gradient of a gradient, and a repeated GradientDef
        gradients.append([names[k], names[2 * k]])
        gradients.append(list(gradients[0]))
    rng.shuffle(names)
    return case(f"gradients-{k}-{style}", names, gradients)


def real_graph_case() -> dict[str, Any]:
    """A graph like the ones users bring: functions, a custom gradient, v2 control flow."""
    tf.compat.v1.enable_control_flow_v2()
    with tf.Graph().as_default() as g:
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
        v = tf.compat.v1.get_variable("v", [3], use_resource=True)

        @tf.custom_gradient
        def my_square(t: Any) -> Any:
            return t * t, lambda dy: 2.0 * t * dy

        @tf.function
        def affine(t: Any) -> Any:
            return t * 2.0 + 1.0

        @tf.function
        def uses_var(t: Any) -> Any:
            return t + v

        @tf.function
        def looped(t: Any) -> Any:
            return tf.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * 1.5), (0, t))[1]

        y = tf.cond(tf.reduce_sum(x) > 0, lambda: affine(x), lambda: uses_var(x))
        y = looped(my_square(y))
        loss = tf.reduce_sum(y)
        tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
        live = tf.compat.v1.train.export_meta_graph(graph=g)
    library = live.graph_def.library
    functions = [f.signature.name for f in library.function]
    gradients = [[x.function_name, x.gradient_func] for x in library.gradient]
    return case("real-graph", functions, gradients)


def main() -> None:
    rng = random.Random(SEED)
    cases: list[dict[str, Any]] = []
    for n in SIZES:
        for style, make in STYLES.items():
            cases.append(case(f"{n}-{style}", make(rng, n)))
    for style in ("short", "prefix", "numbered"):
        cases.append(case(f"1000-{style}", STYLES[style](rng, 1000)))
    for n in (9, 17, 50):  # one set of names, several insertion orders, and repeats
        names = numbered_names(rng, n)
        shuffled = list(names)
        rng.shuffle(shuffled)
        cases.append(case(f"{n}-sorted", sorted(names)))
        cases.append(case(f"{n}-reversed", sorted(names, reverse=True)))
        cases.append(case(f"{n}-shuffled", shuffled))
        cases.append(case(f"{n}-repeats", names + names[: n // 2] + names[:1]))
    for n in (6, 12, 25):  # a repeat at the table's growth point
        names = short_names(rng, n)
        cases.append(case(f"{n}-repeat-at-growth", names + names[:1]))
    for k in GRADIENT_COUNTS:
        cases.append(gradient_case(rng, k, "short" if k % 2 else "numbered"))
    cases.append(real_graph_case())
    data = {"tensorflow": tf.__version__, "cases": cases}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    OUT.write_bytes(gzip.compress(text, 9, mtime=0))
    print(f"{len(cases)} cases, {len(text)} bytes of JSON, {OUT.stat().st_size} gzipped")


if __name__ == "__main__":
    main()

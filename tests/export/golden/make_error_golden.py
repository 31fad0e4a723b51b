"""Regenerate ``tests/export/golden/import_errors.json``: what TensorFlow 2.21's import says.

Run from the repository root with the TensorFlow extra installed::

    .venv/bin/python tests/export/golden/make_error_golden.py

Each case is a small MetaGraphDef (text format) that TensorFlow's reference pipeline (a fresh
graph, ``import_scoped_meta_graph``, ``export_meta_graph`` with no option) either rejects or
accepts. For a rejection the case records TensorFlow's exception class and message (the host
name in ``Op type not registered ... running on HOST`` written as ``{host}``); for an
acceptance, the SHA-256 of the returned MetaGraphDef (deterministic binary) without the
``_output_shapes`` that TensorFlow infers for these bare graphs (mgstore runs no shape
inference), so that mgstore must export these graphs too, and identically.
``tests/export/test_import_errors.py`` checks mgstore against every case without TensorFlow.

The cases: unregistered ops in graph nodes and in the bodies of functions that nodes call
(directly, through ``PartitionedCall`` / ``StatefulPartitionedCall``, nested), which one is
reported first, TensorFlow's note for producers far ahead; unregistered ops where TensorFlow
does not look (uncalled functions, gradients, ``If`` branches, calls with shape inference
disabled); a function named like an op; the version checks of old files; ops removed at the
graph's producer version; nodes that do not match their OpDef (an attr of the wrong type,
missing, or not allowed; the wrong number of inputs); inputs naming an output their source
does not have.
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL must be set before TensorFlow is imported)
from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.framework import meta_graph

OUT = Path(__file__).resolve().parent / "import_errors.json"

BAD_F = """function { signature { name: "f" output_arg { name: "o" type: DT_FLOAT } }
  node_def { name: "c" op: "MyCustomOp" } ret { key: "o" value: "c:y:0" } }"""
OK_H = """function { signature { name: "h" output_arg { name: "o" type: DT_FLOAT } }
  node_def { name: "x" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
    attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape {} float_val: 1 } } } }
  ret { key: "o" value: "x:output:0" } }"""
BAD_G = """function { signature { name: "g" } node_def { name: "c" op: "OtherBadOp" } }"""


def call(name: str, op: str, f: str, extra: str = "") -> str:
    """A call node: ``op`` a call op with ``f``, or (``f`` empty) the function's name."""
    if not f:
        return f'node {{ name: "{name}" op: "{op}" {extra} }}'
    return (
        f'node {{ name: "{name}" op: "{op}" attr {{ key: "f" value {{ func {{ name: "{f}" }} }} }}'
        ' attr { key: "Tin" value { list { } } }'
        f' attr {{ key: "Tout" value {{ list {{ type: DT_FLOAT }} }} }} {extra} }}'
    )


SPC = "StatefulPartitionedCall"
NESTED_SPC = """function { signature { name: "n" output_arg { name: "o" type: DT_FLOAT } }
  node_def { name: "x" op: "StatefulPartitionedCall" attr { key: "f" value { func { name: "f" } } }
    attr { key: "Tin" value { list { } } } attr { key: "Tout" value { list { type: DT_FLOAT } } } }
  ret { key: "o" value: "x:output:0" } }"""
NESTED_OP = """function { signature { name: "n" output_arg { name: "o" type: DT_FLOAT } }
  node_def { name: "x" op: "f" } ret { key: "o" value: "x:o:0" } }"""
PRED = """node { name: "p" op: "Const" attr { key: "dtype" value { type: DT_BOOL } }
  attr { key: "value" value { tensor { dtype: DT_BOOL tensor_shape {} bool_val: true } } } }"""
IF = """node { name: "if" op: "StatelessIf" input: "p"
  attr { key: "then_branch" value { func { name: "f" } } }
  attr { key: "else_branch" value { func { name: "f" } } }
  attr { key: "Tcond" value { type: DT_BOOL } }
  attr { key: "Tin" value { list { } } } attr { key: "Tout" value { list { type: DT_FLOAT } } } }"""
DISABLE = 'attr { key: "_disable_call_shape_inference" value { b: true } }'
BATCH_NORM = """node { name: "x" op: "Placeholder" attr { key: "dtype" value { type: DT_FLOAT } } }
  node { name: "b" op: "BatchNormWithGlobalNormalization" input: "x" input: "x" input: "x"
    input: "x" input: "x" attr { key: "T" value { type: DT_FLOAT } }
    attr { key: "variance_epsilon" value { f: 0.001 } }
    attr { key: "scale_after_normalization" value { b: true } } }
  versions { producer: %d }"""


def placeholder(dtype: str) -> str:
    return f'node {{ name: "x" op: "Placeholder" attr {{ key: "dtype" value {{ {dtype} }} }} }}'


CASES: dict[str, str] = {
    "node-unregistered": 'node { name: "n" op: "MyCustomOp" }',
    "body-direct-call": f"{call('c', 'f', '')} library {{ {BAD_F} }}",
    "body-stateful-partitioned-call": f"{call('c', SPC, 'f')} library {{ {BAD_F} }}",
    "body-partitioned-call": f"{call('c', 'PartitionedCall', 'f')} library {{ {BAD_F} }}",
    "body-nested-call-op": f"{call('c', SPC, 'n')} library {{ {BAD_F} {NESTED_SPC} }}",
    "body-nested-by-name": f"{call('c', 'n', '')} library {{ {BAD_F} {NESTED_OP} }}",
    "body-first-bad-op-wins": f"""{call("c", "f", "")} library {{ function {{
        signature {{ name: "f" }} node_def {{ name: "z" op: "BadZ" }}
        node_def {{ name: "a" op: "BadA" }} }} }}""",
    "body-op-names-a-missing-function": f"""{call("c", "f", "")} library {{ function {{
        signature {{ name: "f" }} node_def {{ name: "z" op: "missing_function" }} }} }}""",
    "call-before-bad-node": f"""{call("c", SPC, "f")} node {{ name: "z" op: "BadNode" }}
        library {{ {BAD_F} }}""",
    "bad-node-before-call": f"""node {{ name: "a" op: "BadNode" }} {call("c", SPC, "f")}
        library {{ {BAD_F} }}""",
    "body-producer-far-ahead": f"""{call("c", SPC, "f")} versions {{ producer: 3000 }}
        library {{ {BAD_F} }}""",
    "node-producer-far-ahead": 'node { name: "n" op: "MyCustomOp" } versions { producer: 2600 }',
    "ok-uncalled-function": f"library {{ {BAD_F} }}",
    "ok-gradient-body": f"""{call("c", "h", "")} library {{ {OK_H} {BAD_G}
        gradient {{ function_name: "h" gradient_func: "g" }} }}""",
    "ok-if-branches": f"{PRED} {IF} library {{ {BAD_F} }}",
    "ok-shape-inference-disabled": f"{call('c', SPC, 'f', DISABLE)} library {{ {BAD_F} }}",
    "ok-call-of-a-missing-function": call("c", SPC, "nothing"),
    "function-named-like-an-op": 'library { function { signature { name: "Add" } } }',
    "min-consumer-above-current": "versions { producer: 10 min_consumer: 3000 }",
    "bad-consumer-is-current": "versions { producer: 10 bad_consumers: 2474 }",
    "negative-producer": "versions { producer: -1 }",
    "removed-op-before-removal": BATCH_NORM % 8,
    "removed-op-at-removal": BATCH_NORM % 9,
    "removed-op-after-removal": BATCH_NORM % 20,
    "removed-op-producer-far-ahead": BATCH_NORM % 3000,
    "removed-op-no-versions": BATCH_NORM.replace("versions { producer: %d }", ""),
    "invalid-output": f"""{placeholder("type: DT_FLOAT")} node {{ name: "y" op: "Identity"
        input: "x:1" attr {{ key: "T" value {{ type: DT_FLOAT }} }} }}""",
    "invalid-output-of-no-op": """node { name: "x" op: "NoOp" } node { name: "y" op: "Identity"
        input: "x" attr { key: "T" value { type: DT_FLOAT } } }""",
    "invalid-output-of-if": f"""{PRED} {IF} node {{ name: "y" op: "Identity" input: "if:1"
        attr {{ key: "T" value {{ type: DT_FLOAT }} }} }} library {{ {OK_H} }}""".replace(
        'name: "f"', 'name: "h"'
    ),
    "invalid-output-before-unregistered-op": """node { name: "x" op: "NoOp" }
        node { name: "y" op: "MyCustomOp" input: "x" }""",
    # each node checked against its OpDef
    "attr-of-the-wrong-type": placeholder('s: "float"'),
    "attr-missing": 'node { name: "x" op: "Placeholder" }',
    "attrs-missing": 'node { name: "x" op: "AllCandidateSampler" }',
    "attrs-missing-many": 'node { name: "x" op: "SnapshotDatasetV2" }',
    "attr-type-not-allowed": f"""{placeholder("type: DT_FLOAT")} node {{ name: "y" op: "MatMul"
        input: "x" input: "x" attr {{ key: "T" value {{ type: DT_BOOL }} }} }}""",
    "inputs-do-not-match": f"""{placeholder("type: DT_FLOAT")} node {{ name: "y" op: "Identity"
        input: "x" input: "x" attr {{ key: "T" value {{ type: DT_FLOAT }} }} }}""",
}


def run(text: str) -> dict[str, Any]:
    s = text_format.Parse(f"graph_def {{ {text} }}", meta_graph_pb2.MetaGraphDef())
    try:
        with tf.Graph().as_default() as g:
            meta_graph.import_scoped_meta_graph(s)
            e = tf.compat.v1.train.export_meta_graph(graph=g)
    except Exception as exc:  # what TensorFlow raises is the expectation
        message = str(exc).replace(f" running on {socket.gethostname()}.", " running on {host}.")
        return {"error": type(exc).__name__, "message": message}
    for node in e.graph_def.node:  # inferred shapes: mgstore runs no shape inference
        node.attr.pop("_output_shapes", None)
    return {"returned": hashlib.sha256(e.SerializeToString(deterministic=True)).hexdigest()}


def main() -> None:
    cases = [{"id": key, "graph_def": text, **run(text)} for key, text in CASES.items()]
    data = {"tensorflow": tf.__version__, "cases": cases}
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases: " + ", ".join(f"{c['id']}={c.get('error', 'ok')}" for c in cases))


if __name__ == "__main__":
    main()

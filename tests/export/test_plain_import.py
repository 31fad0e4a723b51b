"""The few-pass import (mgstore.export.plain_import) against the step-by-step one.

``import_meta_graph(..., plain=False)`` runs TensorFlow's import steps one after the other
on every graph, as before the few-pass path existed; both must give the same nodes, form and
graph-level parts, or the same error, on the golden inputs, the import-error cases and
generated graphs that are plain or nearly so (docs/storage.md §6).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgstore.export.imported import import_meta_graph
from mgstore.proto import POOL, MetaGraphDef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ERRORS = Path(__file__).resolve().parent / "golden" / "import_errors.json"


def outcome(meta: MetaGraphDef, plain: bool) -> tuple[Any, ...]:
    """What an import of a copy of ``meta`` gives: its error, or every part of its result."""
    copy = MetaGraphDef()
    copy.CopyFrom(meta)
    try:
        got = import_meta_graph(copy, plain=plain)
    except Exception as exc:  # noqa: BLE001 - the class and message are compared
        return ("error", type(exc), str(exc))
    assert got.form is not None
    return (
        [node.SerializeToString(deterministic=True) for node in got.nodes],
        got.form.to_bytes(),
        got.size,
        got.versions.SerializeToString(deterministic=True),
        sorted(got.collections),
    )


def same(meta: MetaGraphDef) -> tuple[Any, ...]:
    fast = outcome(meta, True)
    assert fast == outcome(meta, False)
    return fast


def fixture_graphs() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.meta"))


@pytest.mark.parametrize("name", fixture_graphs())
def test_fixture_graphs_import_alike(name: str) -> None:
    same(MetaGraphDef.FromString((FIXTURES / name).read_bytes()))


def test_import_error_cases_import_alike() -> None:
    cases = json.loads(ERRORS.read_text())["cases"]
    errors = 0
    for case in cases:
        meta = text_format.Parse(
            f"graph_def {{ {case['graph_def']} }}", MetaGraphDef(), descriptor_pool=POOL
        )
        errors += same(meta)[0] == "error"
    assert errors == sum("error" in case for case in cases) > 20  # they fail on both paths


NAMES = ["a", "b", "c", "d", "e", "f", "b_1", "x/y", "bad name", "^a", "a:1", ""]
DEVICES = ["", "/cpu:0", "/device:GPU:1", "/job:w/task:01", "gpu", "bad:x", "/cpu:0/gpu:0"]
OPS = {  # op -> its data inputs, attrs that suit it
    "Const": (0, {"dtype": "type: DT_FLOAT", "value": "tensor { dtype: DT_FLOAT }"}),
    "Identity": (1, {"T": "type: DT_FLOAT"}),
    "NoOp": (0, {}),
    "AddN": (2, {"T": "type: DT_FLOAT", "N": "i: 2"}),
    "MatMul": (2, {"T": "type: DT_FLOAT"}),
    "Shape": (1, {"T": "type: DT_FLOAT", "out_type": "type: DT_INT32"}),
    "ShapeN": (2, {"T": "type: DT_FLOAT", "N": "i: 2", "out_type": "type: DT_INT32"}),
    "Placeholder": (0, {"dtype": "type: DT_FLOAT", "shape": "shape { }"}),
    "Merge": (2, {"T": "type: DT_FLOAT", "N": "i: 2"}),
    "NextIteration": (1, {"T": "type: DT_FLOAT"}),
    "Bogus": (1, {}),
}
PLAIN_OPS = ["Const", "NoOp", "Placeholder", "Identity", "AddN", "MatMul", "Shape", "ShapeN"]
ODD_ATTRS = [
    "type: DT_INVALID",
    "type: DT_STRING",
    "i: 1",
    "i: 3",
    "list { }",
    "placeholder: 'x'",
    "",
]
SHAPES = ["list { }", "list { shape { } }", "list { shape { } shape { } }", "list { i: 1 }", "i: 2"]


@st.composite
def graphs(draw: st.DrawFn) -> MetaGraphDef:
    """Graphs of up to 8 nodes, mostly plain, some with one thing or another wrong."""
    count = draw(st.integers(1, 8))
    names = [f"n{k}" for k in range(count)]
    odd = draw(st.booleans())
    lines = []
    ops: list[str] = []
    for k in range(count):
        name = draw(st.sampled_from(NAMES)) if odd and draw(st.integers(0, 9)) == 0 else names[k]
        op = draw(st.sampled_from(sorted(OPS) if odd else PLAIN_OPS[: 3 if k == 0 else None]))
        arity, suits = OPS[op]
        ops.append(op)
        attrs = dict(suits)
        if odd and attrs and draw(st.integers(0, 3)) == 0:
            key = draw(st.sampled_from(sorted(attrs)))
            value = draw(st.sampled_from(ODD_ATTRS))
            if value:
                attrs[key] = value
            else:
                del attrs[key]
        if draw(st.booleans()):
            shapes = "list { " + "shape { } " * (2 if op == "ShapeN" else op != "NoOp") + "}"
            attrs["_output_shapes"] = draw(st.sampled_from(SHAPES)) if odd else shapes
        if draw(st.integers(0, 2)) == 0:
            known = names if odd else names[:k]
            targets = draw(st.lists(st.sampled_from([*known, "zz", name]), max_size=2))
            entries = " ".join(f"s: 'loc:@{t}'" for t in targets)
            bad = ["list { s: '\\377' }", "s: 'x'", "list { i: 1 }"] if odd else []
            attrs["_class"] = draw(st.sampled_from([f"list {{ {entries} }}", *bad]))
        inputs = []
        for _ in range(draw(st.integers(0, 3)) if odd else arity):
            sources = [j for j in range(k) if ops[j] != "NoOp"] or [0]
            source = draw(st.integers(0, count - 1) if odd else st.sampled_from(sources))
            suffix = ["", "", ":0", ":1", ":01", ":2"] if odd else ["", "", ":0", ":00"]
            inputs.append(names[source] + draw(st.sampled_from(suffix)))
        if k and draw(st.integers(0, 3)) == 0:
            inputs.append("^" + names[draw(st.integers(0, k - 1))])
            if draw(st.booleans()):
                inputs.append("^" + names[draw(st.integers(0, k - 1))])
        if odd and draw(st.integers(0, 5)) == 0:
            inputs.insert(0, "^" + names[0])
        device = draw(st.sampled_from(DEVICES if odd else DEVICES[:5]))
        text = f"name: {json.dumps(name)} op: '{op}' device: {json.dumps(device)}"
        text += "".join(f" input: {json.dumps(i)}" for i in inputs)
        text += "".join(f" attr {{ key: '{k}' value {{ {v} }} }}" for k, v in attrs.items())
        lines.append(f"node {{ {text} }}")
    versions = draw(
        st.sampled_from(["", "versions { producer: 27 }", "versions { producer: 2500 }"])
    )
    meta = MetaGraphDef()
    text_format.Parse(f"graph_def {{ {' '.join(lines)} {versions} }}", meta, descriptor_pool=POOL)
    return meta


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_generated_graphs_import_alike(meta: MetaGraphDef) -> None:
    same(meta)


def test_plain_graphs_take_the_few_pass_path() -> None:
    """The generator's plain graphs reach the few-pass path (so the test above compares it)."""
    from mgstore.export import plain_import

    meta = MetaGraphDef.FromString((FIXTURES / "dense.meta").read_bytes())
    assert plain_import.scan(list(meta.graph_def.node)) is not None

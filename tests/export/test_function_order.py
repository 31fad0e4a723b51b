"""TensorFlow's function-library order (mgstore.export.function_order), the as-imported export.

The golden cases (``golden/libraries.json.gz``, written by TensorFlow 2.21 with
``golden/make_library_golden.py``) need no TensorFlow; the property test (``tf`` marker)
compares random libraries with TensorFlow live.
"""

from __future__ import annotations

import gzip
import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgstore
from mgstore.export import normalize as nz
from mgstore.export.function_order import FlatTable, hash64, library_order
from mgstore.export.registry import load_registry
from mgstore.proto import FunctionDefLibrary, MetaGraphDef

GOLDEN = Path(__file__).resolve().parent / "golden" / "libraries.json.gz"


@cache
def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    return data


def build(functions: list[str], gradients: list[list[str]]) -> FunctionDefLibrary:
    lib = FunctionDefLibrary()
    for name in functions:
        lib.function.add().signature.name = name
    for function_name, gradient_func in gradients:
        lib.gradient.add(function_name=function_name, gradient_func=gradient_func)
    return lib


def expected(case: dict[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    functions = [case["functions"][i] for i in case["order"]]
    gradients = [tuple(case["gradients"][i]) for i in case["gradient_order"]]
    return functions, gradients  # type: ignore[return-value]


def p_order(lib: FunctionDefLibrary) -> tuple[list[str], list[tuple[str, str]]]:
    out = nz.as_imported_library(lib)
    assert out is not None
    return [f.signature.name for f in out.function], [
        (g.function_name, g.gradient_func) for g in out.gradient
    ]


def test_golden_covers_the_issue() -> None:
    """Every size and kind of library the goldens promise is there."""
    ids = {case["id"] for case in golden()["cases"]}
    sizes = {len(set(case["functions"])) for case in golden()["cases"]}
    assert {1, 2, 3, 7, 8, 9, 15, 16, 17, 50, 100, 200, 1000} <= sizes
    assert {"real-graph", "9-shuffled", "1000-numbered", "100-unicode", "100-long"} <= ids
    assert sum(1 for case in golden()["cases"] if case["gradients"]) >= 10
    assert golden()["tensorflow"] == "2.21.0"


@pytest.mark.parametrize("case", golden()["cases"], ids=lambda case: case["id"])
def test_golden_library_order(case: dict[str, Any]) -> None:
    assert p_order(build(case["functions"], case["gradients"])) == expected(case)


@pytest.mark.parametrize("case_id", ["real-graph", "gradients-12-numbered", "200-unicode"])
def test_golden_order_in_a_whole_export(case_id: str) -> None:
    """The order reaches the file: an export without options writes it."""
    case = next(c for c in golden()["cases"] if c["id"] == case_id)
    s = MetaGraphDef()
    s.graph_def.library.CopyFrom(build(case["functions"], case["gradients"]))
    e = mgstore.export_meta_graph(graph=s)
    functions, gradients = expected(case)
    assert [f.signature.name for f in e.graph_def.library.function] == functions
    assert [(g.function_name, g.gradient_func) for g in e.graph_def.library.gradient] == gradients


def test_hash64_known_values() -> None:
    """``tsl::Hash64`` of short inputs (every tail length) as TensorFlow computes them."""
    # Values follow from MurmurHash2-64A with seed 0xDECAFCAFFE; the goldens pin them down.
    assert hash64(b"") == hash64(b"", 0xDECAFCAFFE)
    assert len({hash64(b"abcdefgh"[:n]) for n in range(9)}) == 9
    assert hash64("函数".encode()) != hash64("函".encode())


def test_table_growth() -> None:
    table = FlatTable()
    for k in range(6):
        table.insert(f"g{k}")
    assert table.capacity == 8  # 80% of 8 slots: full, not grown yet
    table.insert("g0")  # a name already present leaves the table alone
    assert table.capacity == 8
    table.index("g0")  # operator[] grows first
    assert table.capacity == 16
    assert sorted(table.keys()) == [f"g{k}" for k in range(6)]


def test_a_thousand_functions_are_fast() -> None:
    names = [f"__inference_function_{k}" for k in range(1000)]
    start = time.perf_counter()
    functions, _ = library_order(names, names[:500], names[:500])
    assert time.perf_counter() - start < 0.5
    assert sorted(functions) == sorted(names)


_NAME = st.text(st.sampled_from("abcxyz_019/äλ函🙂"), min_size=1, max_size=12).filter(
    lambda name: name not in load_registry()
)


@st.composite
def libraries(draw: Any) -> tuple[list[str], list[list[str]]]:
    """Unique names in any order, some repeated, with gradients between them."""
    names = draw(st.lists(_NAME, min_size=1, max_size=60, unique=True))
    stored = names + draw(st.lists(st.sampled_from(names), max_size=3))
    k = draw(st.integers(0, len(names) // 2))
    gradients = [[names[i], names[len(names) - 1 - i]] for i in range(k)]
    return stored, gradients


@pytest.mark.tf
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(library=libraries())
def test_property_order_equals_tensorflow(tf: Any, library: Any) -> None:
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework import meta_graph

    functions, gradients = library
    lib = build(functions, gradients)
    s = meta_graph_pb2.MetaGraphDef()
    s.graph_def.library.ParseFromString(lib.SerializeToString())
    with tf.Graph().as_default() as g:
        meta_graph.import_scoped_meta_graph(s)
        e = tf.compat.v1.train.export_meta_graph(graph=g)
    got = FunctionDefLibrary.FromString(e.graph_def.library.SerializeToString())
    assert p_order(lib) == (
        [f.signature.name for f in got.function],
        [(x.function_name, x.gradient_func) for x in got.gradient],
    )

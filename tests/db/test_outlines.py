"""Stored outlines (mgstore.db.outlines): what ingest builds equals what the tables say, the
encoding gives back what it was given, and damaged or foreign parts are told apart."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mgstore import Store
from mgstore.db import engine as db
from mgstore.db import outlines
from mgstore.db.models import metadata
from mgstore.graph import parse_input
from mgstore.proto import MetaGraphDef
from tests.web import hostile

V = metadata.tables["versions"]

NAMES = st.text(
    alphabet=st.sampled_from(["a", "b", "/", "_", ":", "^", "é", "\n", '"', "<", "0", "1"]),
    min_size=1,
    max_size=6,
)


@st.composite
def graphs(draw: Any) -> tuple[list[str], list[str], list[str], list[list[str]], dict[str, Any]]:
    """Node columns and inputs, including inputs with output indexes, control inputs,
    repeated inputs and inputs naming no node; and collections, some naming no node."""
    names = draw(st.lists(NAMES, unique=True, max_size=12))
    ops = [draw(st.sampled_from(["Const", "MatMul", "NoOp"])) for _ in names]
    devices = [draw(st.sampled_from(["", "/cpu:0", "/gpu:0"])) for _ in names]
    texts = st.sampled_from(names) if names else NAMES
    source = st.tuples(texts, st.sampled_from(["", ":1", ":0", "^"]))
    inputs = [
        [f"^{n}" if how == "^" else n + how for n, how in draw(st.lists(source, max_size=4))]
        for _ in names
    ]
    members = draw(st.dictionaries(NAMES, st.frozensets(texts | NAMES, max_size=3), max_size=3))
    return names, ops, devices, inputs, members


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_encoding_gives_back_the_shape(graph: Any) -> None:
    names, ops, devices, inputs, members = graph
    columns = outlines.build(names, ops, devices, inputs, members)
    shape = columns.shape()
    assert outlines.decode(outlines.encode(columns)) == shape
    assert list(shape.names) == sorted(names)
    assert list(shape.edges) == sorted(shape.edges)
    assert all(0 <= i < len(names) for edge in shape.edges for i in edge[:2])
    # One edge per input that names a node of the graph, by its parsed name.
    wanted = sum(parse_input(text)[0] in names for texts in inputs for text in texts)
    assert len(shape.edges) == wanted
    assert shape.collections == {k: tuple(sorted(v)) for k, v in members.items() if v}


def test_equal_shapes_give_equal_parts() -> None:
    one = outlines.build(["b", "a"], ["X", "Y"], ["", ""], [["a"], []], {})
    two = outlines.build(["a", "b"], ["Y", "X"], ["", ""], [[], ["a"]], {})
    assert outlines.encode(one) == outlines.encode(two)


def metas() -> list[Any]:
    dangling = hostile.scoped_meta()
    dangling.graph_def.node.add(name="dangling", op="Identity", input=["not_a_node:1", "input:2"])
    dangling.graph_def.node.add(name="twice", op="Add", input=["input", "input", "^init"])
    dangling.collection_def["variables"].node_list.value.extend(["twice", "gone"])
    return [hostile.scoped_meta(), hostile.hostile_meta(), dangling, MetaGraphDef()]


def test_ingest_stores_what_the_tables_say(store: Store) -> None:
    for k, meta in enumerate(metas()):
        store.ingest(meta, f"g{k}")
    with db.transaction(store.engine) as conn:
        for row in conn.execute(select(V)).all():
            stored = outlines.read(conn, row)
            assert stored is not None and stored == outlines.from_tables(conn, row)


def test_a_part_in_another_format_reads_as_absent() -> None:
    parts = outlines.encode(outlines.build(["a"], ["X"], [""], [[]], {}))
    raw = zlib.decompress(parts["ops"])
    parts["ops"] = zlib.compress(raw.replace(b"-ops 1\n", b"-ops 99\n", 1))
    assert outlines.decode(parts) is None


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        ("edges", lambda data: data[:-3]),  # cut short
        ("names", lambda data: zlib.compress(b"mgstore-outline-names 1\n[1,")),  # not JSON
        ("ops", lambda data: zlib.compress(b"something else\n")),  # not a part
        ("names", lambda data: outlines.encode(ANOTHER)["devices"]),  # another part
        ("edges", lambda data: zlib.compress(zlib.decompress(data) + b"\x00")),  # a byte more
    ],
)
def test_damaged_parts_are_refused(part: str, damage: Any) -> None:
    parts = outlines.encode(outlines.build(["a", "b"], ["X", "Y"], ["", ""], [[], ["a"]], {}))
    parts[part] = damage(parts[part])
    with pytest.raises(ValueError):
        outlines.decode(parts)


ANOTHER = outlines.build(["c"], ["Z"], ["/cpu:0"], [[]], {})


def test_an_edge_naming_no_node_is_refused() -> None:
    small = outlines.build(["a", "b"], ["X", "Y"], ["", ""], [[], ["a"]], {})
    big = outlines.build(["a", "b", "c"], ["X", "Y", "Z"], ["", "", ""], [[], [], ["a"]], {})
    parts = outlines.encode(small)
    parts["edges"] = outlines.encode(big)["edges"]
    with pytest.raises(ValueError, match="names a node"):
        outlines.decode(parts)

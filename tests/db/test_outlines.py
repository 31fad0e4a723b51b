"""Stored outlines (mgstore.db.outlines): what ingest builds equals what the tables say, the
encoding gives back what it was given, and damaged or foreign parts are told apart."""

from __future__ import annotations

import hashlib
import random
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from mgstore import IntegrityError, Store
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


def devices_meta(k: int, nodes: int = 400) -> Any:
    """Version ``k`` of a graph whose nodes sit on scattered devices and where each version
    moves two nodes to the next device (names, ops and inputs never change)."""
    meta = MetaGraphDef()
    spread = random.Random(0)
    for i in range(nodes):
        moves = sum(i in (j * 13 % nodes, j * 29 % nodes) for j in range(2, k + 1))
        node = meta.graph_def.node.add(name=f"s{i // 50}/n{i}", op=("Const", "Add")[i % 2])
        node.device = f"/job:worker/task:0/device:GPU:{(spread.randrange(8) + moves) % 8}"
        if i:
            node.input.append(f"s{(i - 1) // 50}/n{i - 1}")
    return meta


def stored_parts(store: Store, part: str) -> list[bytes]:
    """Each version's stored ``part`` (by version id)."""
    parts, outlines_ = metadata.tables["outline_parts"], metadata.tables["version_outlines"]
    with store.engine.connect() as conn:
        query = (
            select(parts.c.data)
            .join(outlines_, outlines_.c[part] == parts.c.sha256)
            .order_by(outlines_.c.version_id)
        )
        return [bytes(data) for data in conn.execute(query).scalars()]


def test_moved_devices_are_kept_as_deltas_in_bounded_chains(store: Store) -> None:
    """Each version's devices part is a delta against its parent's (a whole one every
    CHAIN-th), its ops are shared, and every outline reads as its tables say."""
    count = 2 * outlines.CHAIN + 2
    for k in range(1, count + 1):
        store.ingest(devices_meta(k), "g")
    devices = stored_parts(store, "devices")
    bases = [outlines.delta_base(data) for data in devices]
    whole = [k for k, base in enumerate(bases, 1) if base is None]
    assert whole == [1, outlines.CHAIN + 1, 2 * outlines.CHAIN + 1]
    assert max(map(len, devices[1 : outlines.CHAIN])) < len(devices[0]) / 2
    assert len(set(stored_parts(store, "ops"))) == 1
    with db.transaction(store.engine) as conn:
        for row in conn.execute(select(V).order_by(V.c.number)).all():
            assert outlines.read(conn, row) == outlines.from_tables(conn, row)
    assert store.outline(f"g@{count}").devices == tuple(
        node.device for node in sorted(devices_meta(count).graph_def.node, key=lambda n: n.name)
    )
    assert store.fsck().ok


def test_a_damaged_or_missing_base_is_refused(store: Store) -> None:
    for k in range(1, 4):
        store.ingest(devices_meta(k), "g")
    parts = metadata.tables["outline_parts"]
    first = stored_parts(store, "devices")[0]
    key = hashlib.sha256(first).digest()
    assert outlines.delta_base(stored_parts(store, "devices")[2]) is not None
    with store.engine.begin() as conn:
        conn.execute(update(parts).where(parts.c.sha256 == key).values(data=first[:-1] + b"x"))
    with pytest.raises(IntegrityError, match="build on does not match"):
        store.outline("g@3")
    assert not store.fsck().ok
    with store.engine.begin() as conn:  # version 1's outline goes, and the part with it
        first_id = conn.execute(select(V.c.id).where(V.c.number == 1)).scalar_one()
        outlines_ = metadata.tables["version_outlines"]
        conn.execute(delete(outlines_).where(outlines_.c.version_id == first_id))
        conn.execute(delete(parts).where(parts.c.sha256 == key))
    with pytest.raises(IntegrityError, match="build on is missing"):
        store.outline("g@3")


def test_gc_keeps_the_parts_a_live_delta_builds_on(store: Store) -> None:
    for k in range(1, 5):
        store.ingest(devices_meta(k), "g")
    before = set(stored_parts(store, "devices"))
    store.delete("g@1")
    store.delete("g@2")
    store.gc()
    parts = metadata.tables["outline_parts"]
    with store.engine.connect() as conn:
        kept = set(map(bytes, conn.execute(select(parts.c.data)).scalars()))
    assert before <= kept  # versions 3 and 4 build on 1's and 2's devices
    assert store.outline("g@4").devices == tuple(
        node.device for node in sorted(devices_meta(4).graph_def.node, key=lambda n: n.name)
    )
    assert store.fsck().ok
    store.delete("g@3")
    store.delete("g@4", force=True)
    store.gc()
    with store.engine.connect() as conn:
        assert conn.execute(select(parts.c.sha256)).first() is None

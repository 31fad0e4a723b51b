"""Store.ingest and the reads: every fixture round-trips, versions are numbered and shared."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from sqlalchemy import select

import mgstore
from mgstore import AmbiguousInputError, Store, io, original
from mgstore.db.models import NAMES, NODES
from mgstore.db.versions import named
from mgstore.proto import CollectionDef, MetaGraphDef, VariableDef

Counts = Callable[[Store], dict[str, int]]


def stored_parts(counts: dict[str, int]) -> int:
    """Rows that hold serialized content: ``blobs``, and ``packs`` of NodeDefs where there are."""
    return counts["blobs"] + counts.get("packs", 0)


# Every graph fixture, with the SavedModel tag set that picks one MetaGraphDef where needed.
FIXTURES: list[tuple[str, tuple[str, ...] | None]] = [
    ("dense.meta", None),
    ("dense.meta.txt", None),
    ("control_flow.meta", None),
    ("variables.meta", None),
    ("functions.meta", None),
    ("collections.meta", None),
    ("graph.pb", None),
    ("graph.pbtxt", None),
    ("saved_model", ("serve",)),
    ("saved_model", ("train",)),
    ("saved_model_tf2", None),
    ("empty.meta", None),
    ("noop.meta.txt", None),
]
IDS = [f"{name}[{','.join(tags)}]" if tags else name for name, tags in FIXTURES]


def assert_same_networkx(got: nx.MultiDiGraph, want: nx.MultiDiGraph) -> None:
    """Equal graphs in the form of mgstore.graph: node order, node data, edges, graph parts."""
    assert list(got.nodes) == list(want.nodes)
    assert dict(got.nodes(data=True)) == dict(want.nodes(data=True))

    def edges(g: nx.MultiDiGraph) -> list[tuple[Any, ...]]:
        return sorted(
            (u, v, k, d["input"], d["output"], d["control"])
            for u, v, k, d in g.edges(keys=True, data=True)
        )

    assert edges(got) == edges(want)
    assert got.graph.keys() == want.graph.keys()
    for key in want.graph:
        assert got.graph[key] == want.graph[key], key


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize(("fixture", "tags"), FIXTURES, ids=IDS)
def test_every_fixture_round_trips(
    store: Store, fixtures_dir: Path, fixture: str, tags: tuple[str, ...] | None
) -> None:
    path = fixtures_dir / fixture
    source = path / "saved_model.pb" if path.is_dir() else path
    loaded = io.load(path, tags=tags)
    want_bytes = io.serialize(loaded.meta_graph)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)

    info = store.ingest(path, "g", saved_model_tags=tags)

    # The content: proto-equal, the file byte-identical, the same networkx graph.
    assert info.number == 1
    assert store.checkout(info.ref) == loaded.meta_graph
    assert store.checkout_bytes(info.ref) == source.read_bytes()
    assert store.checkout_bytes("g") == source.read_bytes()
    data = store.checkout_bytes(info.ref, form="meta")
    assert data == want_bytes
    text = store.checkout_bytes(info.ref, form="meta-text")
    assert io.read_meta_graph(text) == loaded.meta_graph
    assert info.form == original.form_of(loaded.format)
    if source.read_bytes() == want_bytes:  # the canonical bytes: the content hash covers them
        assert (info.form, info.original_sha256, info.original_size) == ("meta", None, None)
    else:
        assert info.original_sha256 == file_sha256(source)
        assert info.original_size == source.stat().st_size
    assert_same_networkx(
        store.graph(info.ref), mgstore.to_networkx(loaded.meta_graph, loaded.debug_info)
    )

    # The record of the version.
    assert info.name == "g"
    assert info.ref == "g@1"
    assert info.content_hash == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.node_count == len(loaded.meta_graph.graph_def.node)
    assert info.source_path is not None
    assert Path(info.source_path).is_absolute()
    assert Path(info.source_path) == source.resolve()
    assert info.source_sha256 == file_sha256(source)
    kinds = {"saved_model.pb": "SavedModel", ".pb": "GraphDef", ".pbtxt": "GraphDef"}
    kind = kinds.get(source.name, kinds.get(source.suffix, "MetaGraphDef"))
    encoding = "text" if source.suffix in (".txt", ".pbtxt") else "binary"
    assert info.source_format == f"{kind}/{encoding}"
    assert before <= info.created_at <= datetime.now(timezone.utc) + timedelta(seconds=5)
    assert "@" in info.created_by
    assert info.message is None
    assert dict(info.tags) == {}
    assert (info.debug_hash is None) == (loaded.debug_info is None)
    assert store.version(info.ref) == info
    assert store.versions("g") == [info]


def test_debug_info_comes_from_the_companion_file(store: Store, fixtures_dir: Path) -> None:
    dense = store.ingest(fixtures_dir / "dense.meta", "dense")
    text = store.ingest(fixtures_dir / "dense.meta.txt", "dense_text")  # no dense.meta.debug

    companion = io.read_debug_info(fixtures_dir / "dense.debug")
    assert store.debug_info(dense.ref) == companion
    assert dense.debug_hash == hashlib.sha256(io.serialize(companion)).hexdigest()
    assert store.graph(dense.ref).graph["debug_info"] == companion
    assert store.debug_info(text.ref) is None
    assert text.debug_hash is None
    # The debug info is not part of the MetaGraphDef: both hold the same graph.
    assert dense.content_hash == text.content_hash
    assert store.checkout_bytes(dense.ref, form="meta") == store.checkout_bytes(
        text.ref, form="meta"
    )


# ------------------------------------------------------------------------------------------
# Numbering


def test_identical_content_returns_the_same_version_and_adds_nothing(
    store: Store, fixtures_dir: Path, counts: Counts
) -> None:
    first = store.ingest(fixtures_dir / "dense.meta", "dense", "first", {"k": "v"})
    before = counts(store)

    again = store.ingest(fixtures_dir / "dense.meta", "dense", "again", {"k": "other"})

    assert again.unchanged and not first.unchanged
    assert replace(again, unchanged=False) == first  # the existing one, its message and tags
    assert counts(store) == before
    assert before["versions"] == 1
    assert [v.number for v in store.versions("dense")] == [1]


def test_the_same_graph_from_another_format_is_the_same_version(
    store: Store, fixtures_dir: Path, counts: Counts
) -> None:
    binary = store.ingest(fixtures_dir / "graph.pb", "g")
    before = counts(store)
    text = store.ingest(fixtures_dir / "graph.pbtxt", "g")
    assert text.unchanged and replace(text, unchanged=False) == binary
    assert counts(store) == before


def test_changed_content_gets_the_next_number(
    store: Store, fixtures_dir: Path, small_meta: Callable[..., Any]
) -> None:
    one = store.ingest(fixtures_dir / "dense.meta", "g")
    two = store.ingest(fixtures_dir / "control_flow.meta", "g")
    three = store.ingest(small_meta("a"), "g")
    assert (one.number, two.number, three.number) == (1, 2, 3)
    assert len({one.content_hash, two.content_hash, three.content_hash}) == 3
    assert store.version("g") == three
    assert store.checkout("g@2") == io.read_meta_graph(fixtures_dir / "control_flow.meta")
    assert store.checkout("g") == small_meta("a")


def test_numbering_is_per_name(store: Store, small_meta: Callable[..., Any]) -> None:
    a1 = store.ingest(small_meta("x"), "a")
    a2 = store.ingest(small_meta("y"), "a")
    b1 = store.ingest(small_meta("z"), "b")
    a3 = store.ingest(small_meta("z"), "a")
    b2 = store.ingest(small_meta("x"), "b")
    assert [v.ref for v in (a1, a2, b1, a3, b2)] == ["a@1", "a@2", "b@1", "a@3", "b@2"]
    assert [v.number for v in store.versions("a")] == [3, 2, 1]
    assert [v.number for v in store.versions("b")] == [2, 1]


def test_a_b_a_makes_three_versions(store: Store, fixtures_dir: Path, counts: Counts) -> None:
    a = fixtures_dir / "control_flow.meta"
    b = fixtures_dir / "functions.meta"
    infos = [store.ingest(a, "g"), store.ingest(b, "g"), store.ingest(a, "g")]

    assert [v.number for v in infos] == [1, 2, 3]
    assert infos[0].content_hash == infos[2].content_hash != infos[1].content_hash
    want_a, want_b = io.serialize(io.read_meta_graph(a)), io.serialize(io.read_meta_graph(b))
    assert [store.checkout_bytes(f"g@{n}") for n in (1, 2, 3)] == [want_a, want_b, want_a]
    assert store.checkout_bytes("g") == want_a
    # Going back to B reuses every part B stored.
    parts = stored_parts(counts(store))
    store.ingest(b, "g")
    assert stored_parts(counts(store)) == parts


def test_message_and_tags_are_kept(store: Store, small_meta: Callable[..., Any]) -> None:
    tags = {"run": "42", "owner": "ml-team", "empty": "", "unicode": "façade ✓"}
    info = store.ingest(small_meta("a"), "g", "first import\nsecond line", tags)
    store.ingest(small_meta("b"), "g")

    assert info.message == "first import\nsecond line"
    assert dict(info.tags) == tags
    stored = store.version("g@1")
    assert stored.message == info.message
    assert dict(stored.tags) == tags
    assert store.version("g@2").message is None
    assert dict(store.version("g@2").tags) == {}
    with pytest.raises(TypeError):
        info.tags["new"] = "x"  # type: ignore[index]


def test_messages_have_no_source_path(store: Store, fixtures_dir: Path) -> None:
    data = (fixtures_dir / "graph.pb").read_bytes()
    from_bytes = store.ingest(data, "bytes")
    from_message = store.ingest(io.read_meta_graph(fixtures_dir / "dense.meta"), "message")
    assert from_bytes.source_path is None
    assert from_bytes.source_sha256 == hashlib.sha256(data).hexdigest()
    assert from_bytes.source_format == "GraphDef/binary"
    assert from_message.source_path is None
    assert from_message.source_sha256 is None
    assert from_message.source_format == "MetaGraphDef/message"


# ------------------------------------------------------------------------------------------
# Listing and refs


def test_graphs_versions_and_refs(
    store: Store, fixtures_dir: Path, small_meta: Callable[..., Any]
) -> None:
    assert store.graphs() == []
    d1 = store.ingest(fixtures_dir / "dense.meta", "dense")
    n1 = store.ingest(small_meta("a"), "noop")
    d2 = store.ingest(fixtures_dir / "dense.meta.txt", "dense")  # same graph, no debug info
    d3 = store.ingest(small_meta("b"), "dense")

    graphs = store.graphs()
    assert [(g.name, g.versions, g.latest) for g in graphs] == [("dense", 3, 3), ("noop", 1, 1)]
    for g in graphs:
        assert g.created_at <= g.updated_at
    assert store.versions("dense") == [d3, d2, d1]
    assert store.versions("noop") == [n1]

    assert store.version("dense") == d3
    assert store.version("dense@1") == d1
    assert store.version("dense@2") == d2
    assert store.version("noop") == n1
    assert store.version(d3.content_hash) == d3
    assert store.version(d3.content_hash[:4]) == d3
    assert store.version(n1.content_hash[:10]) == n1
    assert store.checkout(n1.content_hash[:8]) == small_meta("a")
    assert store.version(d1.ref).ref == "dense@1"


def test_versions_are_newest_first(store: Store, small_meta: Callable[..., Any]) -> None:
    for i in range(5):
        store.ingest(small_meta(f"n{i}"), "g", f"v{i + 1}")
    log = store.versions("g")
    assert [v.number for v in log] == [5, 4, 3, 2, 1]
    assert [v.message for v in log] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v.created_at for v in log] == sorted((v.created_at for v in log), reverse=True)


# ------------------------------------------------------------------------------------------
# SavedModels


def test_saved_model_with_two_tag_sets_needs_tags(
    store: Store, fixtures_dir: Path, counts: Counts
) -> None:
    path = fixtures_dir / "saved_model"
    before = counts(store)
    with pytest.raises(AmbiguousInputError) as raised:
        store.ingest(path, "sm")
    message = str(raised.value)
    assert "{serve}" in message and "{train}" in message
    assert str(path) in message
    assert counts(store) == before

    serve = store.ingest(path, "sm", saved_model_tags=["serve"])
    train = store.ingest(path, "sm", saved_model_tags="train")
    assert (serve.number, train.number) == (1, 2)
    assert store.checkout("sm@1") == io.read_meta_graph(path, tags=["serve"])
    assert store.checkout("sm@2") == io.read_meta_graph(path, tags=["train"])
    assert list(store.checkout("sm@1").meta_info_def.tags) == ["serve"]
    assert serve.node_count == 40 and train.node_count == 109
    assert store.summary("sm@1").signatures == ("lookup", "serving_default")
    assert store.summary("sm@2").signatures == ("train",)


def test_saved_model_with_one_tag_set_needs_none(store: Store, fixtures_dir: Path) -> None:
    info = store.ingest(fixtures_dir / "saved_model_tf2", "tf2")
    assert store.checkout(info.ref) == io.read_meta_graph(fixtures_dir / "saved_model_tf2")
    summary = store.summary(info.ref)
    assert summary.signatures == ("__saved_model_init_op", "serving_default", "vocab")
    assert summary.functions == 6


# ------------------------------------------------------------------------------------------
# Content addressing


def _node_rows(store: Store) -> list[tuple[str, int, int | None]]:
    N = NODES
    with store.engine.connect() as conn:
        return [
            (r.name, r.first_version, r.last_version)
            for r in conn.execute(
                select(NAMES.c.name, N.c.first_version, N.c.last_version).select_from(named())
            )
        ]


def test_changing_one_node_adds_one_node_row_and_one_blob(
    store: Store, fixtures_dir: Path, counts: Counts
) -> None:
    original = io.read_meta_graph(fixtures_dir / "control_flow.meta")
    store.ingest(original, "cf")
    before = counts(store)

    changed = MetaGraphDef()
    changed.CopyFrom(original)
    node = next(n for n in changed.graph_def.node if len(n.input) >= 2)
    node.device = "/job:elsewhere/device:CPU:7"
    two = store.ingest(changed, "cf")
    after = counts(store)

    assert two.number == 2
    assert two.node_count == len(original.graph_def.node)
    delta = {table: after[table] - before[table] for table in after}
    # The changed NodeDef is the one new piece of content: the frame, the collections and every
    # other node are shared with version 1.
    assert stored_parts(after) - stored_parts(before) == 1
    assert delta["nodes"] == 1
    # Its inputs did not change: the new row uses the edge rows of the row it follows
    # (docs/storage.md §3.5).
    assert delta["edges"] == 0
    assert delta["versions"] == 1
    assert delta["collections"] == len(original.collection_def)
    assert delta["graphs"] == 0
    assert delta["version_tags"] == 0
    rows = _node_rows(store)
    assert sorted(r for r in rows if r[0] == node.name) == [(node.name, 1, 1), (node.name, 2, None)]
    assert all(last is None for name, _, last in rows if name != node.name)
    assert store.checkout("cf@1") == original
    assert store.checkout("cf@2") == changed
    assert store.checkout_bytes("cf@2") == io.serialize(changed)


def test_removed_and_added_nodes_close_and_open_rows(
    store: Store, small_meta: Callable[..., Any]
) -> None:
    store.ingest(small_meta("a", "b", "c"), "g")
    store.ingest(small_meta("a", "b"), "g")  # c removed
    store.ingest(small_meta("a", "b", "d"), "g")  # d added
    assert sorted(_node_rows(store)) == [
        ("a", 1, None),
        ("b", 1, None),
        ("c", 1, 1),
        ("d", 3, None),
    ]
    assert store.checkout("g@1") == small_meta("a", "b", "c")
    assert store.checkout("g@2") == small_meta("a", "b")
    assert store.checkout("g@3") == small_meta("a", "b", "d")
    assert [v.node_count for v in store.versions("g")] == [3, 2, 3]


def test_reordered_nodes_are_a_new_version_checked_out_in_order(
    store: Store, small_meta: Callable[..., Any]
) -> None:
    forward = small_meta("a", "b", "c")
    backward = MetaGraphDef()
    backward.CopyFrom(forward)
    nodes = list(backward.graph_def.node)
    del backward.graph_def.node[:]
    backward.graph_def.node.extend(reversed(nodes))
    store.ingest(forward, "g")
    info = store.ingest(backward, "g")
    assert info.number == 2
    assert len(_node_rows(store)) == 3  # no node changed
    assert [n.name for n in store.checkout("g@2").graph_def.node] == ["c", "b", "a"]
    assert [n.name for n in store.checkout("g@1").graph_def.node] == ["a", "b", "c"]


def test_names_sharing_content_share_blobs(
    store: Store, fixtures_dir: Path, counts: Counts
) -> None:
    first = store.ingest(fixtures_dir / "dense.meta", "a")
    before = counts(store)
    second = store.ingest(fixtures_dir / "dense.meta", "b")
    after = counts(store)

    assert second.ref == "b@1"
    assert second.content_hash == first.content_hash
    assert stored_parts(after) == stored_parts(before)  # nodes, frame, collections, debug info
    assert after["nodes"] == 2 * before["nodes"]  # node rows are per graph
    assert after["versions"] == 2
    assert store.checkout_bytes("a") == store.checkout_bytes("b")
    assert store.debug_info("b") == store.debug_info("a")


# ------------------------------------------------------------------------------------------
# Summary


def test_summary_of_dense(store: Store, fixtures_dir: Path) -> None:
    info = store.ingest(fixtures_dir / "dense.meta", "dense", "m", {"k": "v"})
    meta = io.read_meta_graph(fixtures_dir / "dense.meta")
    nodes = meta.graph_def.node

    summary = store.summary("dense")

    assert summary.version == info
    assert dict(summary.op_counts) == dict(Counter(n.op for n in nodes))
    assert list(summary.op_counts.values()) == sorted(summary.op_counts.values(), reverse=True)
    assert sum(summary.op_counts.values()) == 232
    assert summary.op_counts["VariableV2"] == 16
    assert dict(summary.scopes) == dict(Counter(n.name.split("/", 1)[0] for n in nodes))
    assert list(summary.scopes) == sorted(summary.scopes)
    assert {"tower_1", "tower_10", "tower_1_1", "gradients", "save"} <= set(summary.scopes)
    assert dict(summary.devices) == dict(Counter(n.device for n in nodes))
    assert {"/job:ps/task:0", "/device:GPU:0", "/device:CPU:0", ""} <= set(summary.devices)
    assert dict(summary.collections) == {
        "savers": 1,
        "summaries": 2,
        "train_op": 1,
        "trainable_variables": 8,
        "variables": 16,
    }
    assert summary.signatures == ()
    assert summary.functions == 0
    assert summary.has_saver is True
    assert summary.has_debug_info is True
    assert summary.to_dict()["version"]["ref"] == "dense@1"


def test_summary_of_an_old_version_and_of_functions(store: Store, fixtures_dir: Path) -> None:
    store.ingest(fixtures_dir / "functions.meta", "g")
    store.ingest(fixtures_dir / "empty.meta", "g")
    old = store.summary("g@1")
    assert old.functions == 8
    assert sum(old.op_counts.values()) == 23
    assert old.has_debug_info is False
    new = store.summary("g")
    assert new.version.number == 2
    assert dict(new.op_counts) == {}
    assert new.functions == 0
    assert dict(new.collections) == {}


def _graph_with_collection(key: str) -> MetaGraphDef:
    meta = MetaGraphDef()
    for name in ("a", "b", "c"):
        meta.graph_def.node.add(name=name, op="NoOp")
    payload = VariableDef(variable_name="a:0", initializer_name="b", snapshot_name="c:0")
    meta.collection_def[key].CopyFrom(CollectionDef())
    meta.collection_def[key].bytes_list.value.append(payload.SerializeToString())
    return meta


def test_collection_members_depend_on_the_key(store: Store) -> None:
    """The same bytes under an unregistered key first, then under `variables`."""
    store.ingest(_graph_with_collection("my_vars"), "g")
    store.ingest(_graph_with_collection("variables"), "g")
    assert list(store.query("g", collection="variables")) == ["a", "b", "c"]
    assert list(store.query("g@1", collection="my_vars")) == []
    both = _graph_with_collection("variables")
    both.collection_def["other"].CopyFrom(both.collection_def["variables"])
    store.ingest(both, "h")
    assert list(store.query("h", collection="other")) == []
    assert "variables" in store.query("h").graph["collection_def"]


def test_an_in_memory_store_works() -> None:
    with Store("sqlite://") as store:
        store.ingest(_graph_with_collection("x"), "g")
        assert [g.name for g in store.graphs()] == ["g"]

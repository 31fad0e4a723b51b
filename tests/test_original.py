"""mgstore.original: forms, their canonical encodings, and deltas that give back the exact
bytes (docs/storage.md §10). Pure functions: no store."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mgstore import InputError, io, original
from mgstore.proto import GraphDef, MetaGraphDef, SavedModel
from tests.writer_order import writer_order


def dense(fixtures_dir: Path) -> MetaGraphDef:
    meta: MetaGraphDef = io.read_meta_graph(fixtures_dir / "dense.meta")
    return meta


def test_forms_of_formats() -> None:
    assert original.form_of("MetaGraphDef/binary") == "meta"
    assert original.form_of("MetaGraphDef/text") == "meta-text"
    assert original.form_of("GraphDef/binary") == "graphdef"
    assert original.form_of("GraphDef/text") == "graphdef-text"
    assert original.form_of("SavedModel/binary") == "saved-model"
    assert original.form_of("SavedModel/text") == "saved-model-text"
    assert original.form_of("GraphDef/message") == "graphdef"
    assert original.form_of(None) == "meta"  # a networkx graph
    assert set(original.SUFFIXES) == set(original.FORMS)
    with pytest.raises(InputError, match="one of meta, meta-text"):
        original.check_form("pb")


def test_references_are_the_canonical_encodings(fixtures_dir: Path) -> None:
    meta = dense(fixtures_dir)
    content = meta.SerializeToString(deterministic=True)
    graph_def = meta.graph_def.SerializeToString(deterministic=True)
    saved = SavedModel(saved_model_schema_version=1)
    saved.meta_graphs.add().CopyFrom(meta)
    assert original.reference("meta", content) == content
    assert original.reference("graphdef", content) == graph_def
    assert original.reference("saved-model", content) == saved.SerializeToString(deterministic=True)
    assert original.reference("meta-text", content) == io.serialize(meta, as_text=True)
    assert original.reference("graphdef-text", content) == io.serialize(
        meta.graph_def, as_text=True
    )
    assert original.reference("saved-model-text", content) == io.serialize(saved, as_text=True)
    # No graph_def, and no meta_info_def: the GraphDef is empty, or found first.
    assert original.reference("graphdef", MetaGraphDef().SerializeToString()) == b""
    bare = MetaGraphDef()
    bare.graph_def.CopyFrom(meta.graph_def)
    assert original.reference("graphdef", bare.SerializeToString(deterministic=True)) == graph_def


def test_equal_bytes_need_no_delta(fixtures_dir: Path) -> None:
    content = dense(fixtures_dir).SerializeToString(deterministic=True)
    assert original.encode(content, content) is None


@pytest.mark.parametrize("seed", [None, 1, 2])
def test_writer_order_comes_back_from_a_small_delta(fixtures_dir: Path, seed: int | None) -> None:
    meta = dense(fixtures_dir)
    content = meta.SerializeToString(deterministic=True)
    written = writer_order(meta, seed)
    assert written != content and MetaGraphDef.FromString(written) == meta
    delta = original.encode(written, content)
    assert delta is not None and len(delta) < len(written) // 10
    assert original.decode(delta, content, len(written)) == written


def test_shifted_and_appended_bytes_cost_little(fixtures_dir: Path) -> None:
    """A SavedModel with a second MetaGraphDef after the stored one: the stored one's chunks
    are copies of the reference (a few bytes each), the rest is deflated."""
    content = dense(fixtures_dir).SerializeToString(deterministic=True)
    ref = original.reference("saved-model", content)
    extra = MetaGraphDef()
    extra.meta_info_def.tags.append("train")
    file = ref + b"\x12" + bytes([len(extra.SerializeToString())]) + extra.SerializeToString()
    delta = original.encode(file, ref)
    assert delta is not None and len(delta) < 200
    assert original.decode(delta, ref, len(file)) == file


def test_reindented_text_comes_back(fixtures_dir: Path) -> None:
    text = io.serialize(dense(fixtures_dir), as_text=True)
    wide = text.replace(b"  ", b"    ").replace(b"\n", b"\r\n")
    delta = original.encode(wide, text)
    assert delta is not None and len(delta) < len(wide) // 20
    assert original.decode(delta, text, len(wide)) == wide


@pytest.mark.parametrize("damage", ["flip", "truncate", "size", "coding"])
def test_a_damaged_delta_does_not_decode_silently(fixtures_dir: Path, damage: str) -> None:
    meta = dense(fixtures_dir)
    content = meta.SerializeToString(deterministic=True)
    written = writer_order(meta)
    delta = original.encode(written, content)
    assert delta is not None
    size = len(written)
    if damage == "flip":
        delta = delta[:-5] + bytes([delta[-5] ^ 0xFF]) + delta[-4:]
    elif damage == "truncate":
        delta = delta[: len(delta) // 2]
    elif damage == "size":
        size -= 1
    else:
        delta = b"q" + delta[1:]
    try:
        out = original.decode(delta, content, size)
    except original.DeltaError:
        return
    assert out != written  # a flipped bit may still inflate: the recorded hash catches it


@settings(max_examples=200, deadline=None)
@given(
    reference=st.binary(max_size=3000),
    edits=st.lists(
        st.tuples(st.integers(0, 3000), st.integers(0, 40), st.binary(max_size=40)), max_size=8
    ),
    repeat=st.integers(1, 30),
)
def test_any_bytes_come_back_from_their_delta(
    reference: bytes, edits: list[tuple[int, int, bytes]], repeat: int
) -> None:
    """Round trip for any reference and any edit of it (large enough to span chunks)."""
    ref = reference * repeat
    data = bytearray(ref)
    for at, cut, insert in edits:
        at = min(at * repeat, len(data))
        data[at : at + cut] = insert
    delta = original.encode(bytes(data), ref)
    if bytes(data) == ref:
        assert delta is None
    else:
        assert delta is not None
        assert original.decode(delta, ref, len(data)) == bytes(data)


def test_an_anchor_found_before_the_start_of_the_reference() -> None:
    """A chunk whose later anchor lies near the reference's start (so that the chunk would
    begin before it) is deflated, not copied from a negative place."""
    anchor = bytes(range(100, 132))
    ref = b"z" * 10 + anchor + b"q" * 10
    data = b"y" * 512 + anchor + b"w" * 100
    delta = original.encode(data, ref)
    assert delta is not None and original.decode(delta, ref, len(data)) == data


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_map_order_comes_back(seed: int) -> None:
    """Every writer order of a graph with many attrs and collections round-trips."""
    rng = random.Random(seed)
    meta = MetaGraphDef()
    for i in range(rng.randint(1, 60)):
        node = meta.graph_def.node.add(name=f"n{i}", op="Const")
        for k in range(rng.randint(0, 6)):
            node.attr[f"a{k}"].i = rng.randint(0, 1000)
    for k in range(rng.randint(0, 5)):
        meta.collection_def[f"c{k}"].node_list.value.append("n0")
    content = meta.SerializeToString(deterministic=True)
    for form, message in (("meta", meta), ("graphdef", meta.graph_def)):
        written = writer_order(message, seed)
        assert type(message).FromString(written) == message
        ref = original.reference(form, content)
        delta = original.encode(written, ref)
        back = ref if delta is None else original.decode(delta, ref, len(written))
        assert back == written
    assert GraphDef.FromString(original.reference("graphdef", content)) == meta.graph_def

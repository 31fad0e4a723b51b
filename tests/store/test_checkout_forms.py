"""Checkout gives back exactly what went in, for every input form (docs/storage.md §10), on
SQLite and PostgreSQL: binary .meta in a TensorFlow 1.x writer's order, text .meta, binary and
text GraphDefs, SavedModels; conversions only when asked; the exact bytes checked on read,
by fsck, and kept or collected with their version."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from mgstore import IntegrityError, Store, io
from mgstore.db.models import metadata
from mgstore.proto import GraphDef, MetaGraphDef, SavedModel
from tests.writer_order import writer_order

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"
V, B = metadata.tables["versions"], metadata.tables["blobs"]


def dense(fixtures_dir: Path) -> MetaGraphDef:
    meta: MetaGraphDef = io.read_meta_graph(fixtures_dir / "dense.meta")
    return meta


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def gives_back(store: Store, ref: str, file: Path, tmp_path: Path) -> None:
    """checkout_bytes and checkout_files both give back ``file``'s bytes."""
    want = file.read_bytes()
    assert sha(store.checkout_bytes(ref)) == sha(want)
    out = tmp_path / "out" / file.name
    store.checkout_files(ref, out, debug=False)
    assert sha(out.read_bytes()) == sha(want)


def delta_size(store: Store, ref: str) -> int:
    name, _, number = ref.partition("@")
    graphs = metadata.tables["graphs"]
    with store.engine.connect() as conn:
        delta = conn.execute(
            select(V.c.original_delta_sha256)
            .join(graphs, graphs.c.id == V.c.graph_id)
            .where(graphs.c.name == name, V.c.number == int(number))
        ).scalar_one()
        if delta is None:
            return 0
        return len(conn.execute(select(B.c.data).where(B.c.sha256 == delta)).scalar_one())


# ------------------------------------------------------------------------------------------
# Each form, byte for byte


def test_binary_meta_in_writer_order(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    meta = dense(fixtures_dir)
    file = tmp_path / "tf1.meta"
    file.write_bytes(writer_order(meta))
    assert file.read_bytes() != meta.SerializeToString(deterministic=True)
    info = store.ingest(file, "g")
    assert (info.form, info.original_sha256) == ("meta", sha(file.read_bytes()))
    assert info.original_size == file.stat().st_size
    gives_back(store, info.ref, file, tmp_path)
    assert store.checkout(info.ref) == meta  # the message is the stored one
    # Conversions only when asked: the canonical MetaGraphDef bytes.
    assert store.checkout_bytes(info.ref, form="meta") == file.read_bytes()  # its own form
    assert 0 < delta_size(store, info.ref) < file.stat().st_size // 10
    assert store.fsck().ok and store.audit_check().ok


@pytest.mark.parametrize("local", ["serving/half_plus_two_2016-08.meta", "tf2onnx/regression.meta"])
def test_meta_files_written_by_tensorflow_1(store: Store, local: str, tmp_path: Path) -> None:
    """Real TF 1.x files: proto-equal to their re-serialization, same length, other bytes."""
    file = CORPUS / local
    canonical = io.read_meta_graph(file).SerializeToString(deterministic=True)
    assert file.read_bytes() != canonical and len(canonical) == file.stat().st_size
    info = store.ingest(file, "g")
    gives_back(store, info.ref, file, tmp_path)
    assert store.checkout_bytes(info.ref, form="meta") == file.read_bytes()  # its own form
    assert info.content_hash == sha(canonical)


def test_text_meta(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    meta = dense(fixtures_dir)
    text = io.serialize(meta, as_text=True)
    file = tmp_path / "model.meta.txt"
    file.write_bytes(b"# written by hand\n" + text.replace(b"  ", b"    "))
    info = store.ingest(file, "g")
    assert info.form == "meta-text"
    gives_back(store, info.ref, file, tmp_path)
    assert store.checkout_bytes(info.ref, form="meta") == meta.SerializeToString(deterministic=True)
    assert store.checkout_bytes(info.ref, as_text=True) == file.read_bytes()  # already text
    # A text file as TensorFlow writes it needs no delta at all.
    plain = tmp_path / "plain.meta.txt"
    plain.write_bytes(text)
    assert delta_size(store, store.ingest(plain, "h").ref) == 0
    gives_back(store, "h@1", plain, tmp_path)


def test_binary_graph_def(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    graph_def = dense(fixtures_dir).graph_def
    file = tmp_path / "frozen.pb"
    file.write_bytes(writer_order(graph_def))
    info = store.ingest(file, "g")
    assert info.form == "graphdef"
    gives_back(store, info.ref, file, tmp_path)
    assert store.checkout(info.ref).graph_def == graph_def
    converted = store.checkout_bytes(info.ref, form="meta")
    wrapped = MetaGraphDef()
    wrapped.graph_def.CopyFrom(graph_def)
    assert converted == wrapped.SerializeToString(deterministic=True)
    # A deterministic GraphDef needs no delta.
    canonical = tmp_path / "canonical.pb"
    canonical.write_bytes(graph_def.SerializeToString(deterministic=True))
    assert delta_size(store, store.ingest(canonical, "h").ref) == 0
    gives_back(store, "h@1", canonical, tmp_path)


@pytest.mark.parametrize(
    "local", ["openvino/model_tf1_while.pbtxt", "tensorflow/graph-gradient-def.pbtxt"]
)
def test_text_graph_def(store: Store, local: str, tmp_path: Path) -> None:
    file = CORPUS / local
    info = store.ingest(file, "g")
    assert info.form == "graphdef-text"
    gives_back(store, info.ref, file, tmp_path)
    text = store.checkout_bytes(info.ref, form="graphdef-text")
    assert io.parse(text, expected=["GraphDef"])[1] == store.checkout(info.ref).graph_def


def test_saved_model(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    """The TF 1.x fixture (two MetaGraphDefs, serve and train) and the TF 2 one."""
    folder = fixtures_dir / "saved_model"
    for tags, index in ((["serve"], 0), (["train"], 1)):
        info = store.ingest(folder, f"g{index}", saved_model_tags=tags)
        assert (info.form, info.meta_graph_index) == ("saved-model", index)
        gives_back(store, info.ref, folder / "saved_model.pb", tmp_path)
        assert store.checkout(info.ref) == io.read_meta_graph(folder, tags=tags)
    info = store.ingest(fixtures_dir / "saved_model_tf2", "tf2")
    gives_back(store, info.ref, fixtures_dir / "saved_model_tf2" / "saved_model.pb", tmp_path)


def test_saved_model_with_several_meta_graphs(
    store: Store, fixtures_dir: Path, tmp_path: Path
) -> None:
    """The whole saved_model.pb comes back, whichever MetaGraphDef was stored."""
    meta = dense(fixtures_dir)
    saved = SavedModel(saved_model_schema_version=1)
    for tag in ("train", "serve"):
        graph = saved.meta_graphs.add()
        graph.CopyFrom(meta)
        graph.meta_info_def.ClearField("tags")
        graph.meta_info_def.tags.append(tag)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(writer_order(saved))
    info = store.ingest(folder, "g", saved_model_tags=["serve"])
    assert (info.form, info.meta_graph_index) == ("saved-model", 1)
    gives_back(store, info.ref, folder / "saved_model.pb", tmp_path)
    assert list(store.checkout(info.ref).meta_info_def.tags) == ["serve"]
    # Its own form is no conversion; another one holds the stored MetaGraphDef alone.
    assert store.checkout_bytes(info.ref, form="saved-model") == store.checkout_bytes(info.ref)
    text = store.checkout_bytes(info.ref, form="saved-model-text")
    one = io.parse(text, expected=["SavedModel"])[1]
    assert [list(m.meta_info_def.tags) for m in one.meta_graphs] == [["serve"]]


def test_messages_give_back_their_kind(store: Store, fixtures_dir: Path) -> None:
    meta = dense(fixtures_dir)
    assert store.ingest(meta, "m").form == "meta"
    assert store.checkout_bytes("m") == meta.SerializeToString(deterministic=True)
    info = store.ingest(meta.graph_def, "gd")
    assert info.form == "graphdef"
    assert GraphDef.FromString(store.checkout_bytes("gd")) == meta.graph_def


# ------------------------------------------------------------------------------------------
# Conversions


@pytest.mark.parametrize(
    "form", ["meta", "meta-text", "graphdef", "graphdef-text", "saved-model", "saved-model-text"]
)
def test_every_conversion(store: Store, fixtures_dir: Path, tmp_path: Path, form: str) -> None:
    meta = dense(fixtures_dir)
    file = tmp_path / "tf1.meta"
    file.write_bytes(writer_order(meta))
    store.ingest(file, "g")
    data = store.checkout_bytes("g", form=form)
    kind = {"meta": "MetaGraphDef", "graphdef": "GraphDef", "saved-model": "SavedModel"}
    _, message, encoding = io.parse(data, expected=[kind[form.removesuffix("-text")]])
    assert encoding == ("text" if form.endswith("-text") else "binary")
    if form.startswith("meta"):
        assert message == meta
    elif form.startswith("graphdef"):
        assert message == meta.graph_def
    else:
        assert list(message.meta_graphs) == [meta]
    if not form.endswith("-text"):
        assert data == message.SerializeToString(deterministic=True) or form == "meta"
    out = tmp_path / f"converted-{form}"
    store.checkout_files("g", out, form=form)
    assert out.read_bytes() == data


def test_bad_form_arguments(store: Store, fixtures_dir: Path) -> None:
    from mgstore import InputError

    store.ingest(dense(fixtures_dir), "g")
    with pytest.raises(InputError, match="one of meta, meta-text"):
        store.checkout_bytes("g", form="pbtxt")
    with pytest.raises(InputError, match="binary"):
        store.checkout_bytes("g", form="graphdef", as_text=True)
    assert store.checkout_bytes("g", form="graphdef-text", as_text=True)


# ------------------------------------------------------------------------------------------
# Integrity, fsck, gc, audit


def _writer_order_version(store: Store, fixtures_dir: Path, tmp_path: Path) -> Path:
    file = tmp_path / "tf1.meta"
    file.write_bytes(writer_order(dense(fixtures_dir)))
    store.ingest(file, "g")
    return file


def test_a_damaged_delta_fails_the_checkout_and_writes_nothing(
    store: Store, fixtures_dir: Path, tmp_path: Path
) -> None:
    _writer_order_version(store, fixtures_dir, tmp_path)
    with store.engine.begin() as conn:
        key = conn.execute(select(V.c.original_delta_sha256)).scalar_one()
        data = bytearray(conn.execute(select(B.c.data).where(B.c.sha256 == key)).scalar_one())
        data[len(data) // 2] ^= 0x01
        conn.execute(update(B).where(B.c.sha256 == key).values(data=bytes(data)))
    out = tmp_path / "out.meta"
    with pytest.raises(IntegrityError, match="g@1"):
        store.checkout_files("g", out)
    assert not out.exists()
    with pytest.raises(IntegrityError):
        store.checkout_bytes("g")
    # The content itself is intact: conversions and the message still read.
    assert store.checkout("g") == dense(fixtures_dir)
    report = store.fsck()
    assert [(p.ref, p.kind) for p in report.problems] == [("g@1", "original")]


def test_an_edited_original_hash_is_found(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    from tests.tampering import triggers_dropped

    _writer_order_version(store, fixtures_dir, tmp_path)
    with triggers_dropped(store) as conn:
        conn.execute(update(V).values(original_sha256="0" * 64))
    with pytest.raises(IntegrityError, match="recorded hash"):
        store.checkout_bytes("g")
    kinds = {p.kind for p in store.fsck().problems}
    assert {"original", "audit"} <= kinds  # the row differs from its ingest record too
    assert "original_sha256" in str(store.audit_check().problems)


def test_an_edited_form_is_found_by_audit_check(
    store: Store, fixtures_dir: Path, tmp_path: Path
) -> None:
    _writer_order_version(store, fixtures_dir, tmp_path)
    with store.engine.begin() as conn:
        conn.execute(update(V).values(form="graphdef"))
    assert "form" in str(store.audit_check().problems)


def test_ingest_records_what_went_in(store: Store, fixtures_dir: Path, tmp_path: Path) -> None:
    file = _writer_order_version(store, fixtures_dir, tmp_path)
    (record,) = store.audit_log(kind="ingest")
    payload: dict[str, Any] = dict(record.payload)
    assert payload["form"] == "meta"
    assert payload["original_sha256"] == sha(file.read_bytes())
    assert payload["original_size"] == file.stat().st_size
    assert isinstance(payload["original_delta"], str)
    store.ingest(dense(fixtures_dir), "canonical")  # canonical bytes: recorded as before
    assert "form" not in store.audit_log(kind="ingest")[-1].payload


def test_gc_collects_the_delta_with_its_version(
    store: Store, fixtures_dir: Path, tmp_path: Path
) -> None:
    file = _writer_order_version(store, fixtures_dir, tmp_path)
    store.ingest(file, "shared")  # the same delta, named by another version
    store.delete("g@1")
    store.restore("g@1")
    gives_back(store, "g@1", file, tmp_path)
    store.delete("g@1")
    report = store.gc()
    assert report.blobs == 0  # "shared" still names the delta
    gives_back(store, "shared@1", file, tmp_path)
    store.delete("shared@1")
    report = store.gc()
    assert report.blobs >= 1
    with store.engine.connect() as conn:
        assert conn.execute(select(V.c.original_delta_sha256)).scalars().all() == [None, None]
    assert store.audit_check().ok and store.fsck().ok


def test_show_and_version_info_say_the_form(
    store: Store, fixtures_dir: Path, tmp_path: Path
) -> None:
    _writer_order_version(store, fixtures_dir, tmp_path)
    info = store.version("g")
    assert info.to_dict()["form"] == "meta"
    assert info.to_dict()["original_size"] == info.original_size


# ------------------------------------------------------------------------------------------
# A round trip that must hold for any writer order


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["meta", "graphdef", "saved-model"]))
def test_any_writer_order_comes_back(
    store: Store, fixtures_dir: Path, tmp_path: Path, seed: int, kind: str
) -> None:
    meta = dense(fixtures_dir)
    rng = random.Random(seed)
    for node in rng.sample(list(meta.graph_def.node), 5):
        node.attr[f"x{rng.randint(0, 99)}"].i = rng.randint(0, 10**6)
    if kind == "graphdef":
        message: Any = meta.graph_def
        file = tmp_path / f"{seed}.pb"
    elif kind == "saved-model":
        message = SavedModel(saved_model_schema_version=1)
        message.meta_graphs.add().CopyFrom(meta)
        file = tmp_path / str(seed) / "saved_model.pb"
        file.parent.mkdir(exist_ok=True)
    else:
        message, file = meta, tmp_path / f"{seed}.meta"
    file.write_bytes(writer_order(message, seed))
    info = store.ingest(file.parent if kind == "saved-model" else file, f"{kind}{seed}")
    assert info.form == kind
    assert sha(store.checkout_bytes(info.ref)) == sha(file.read_bytes())

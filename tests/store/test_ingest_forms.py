"""Ingest asked to prepare the export computes a version's import form (docs/storage.md §6,
§7), so that its first export does the work of a later one (by default it does not); the form
is the one an export would compute, and a graph TensorFlow cannot import, or content whose form
is stored, costs nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mgstore import Store, exporter
from mgstore.db import engine as db
from mgstore.db import forms
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.export.imported import FORM_VERSION, import_meta_graph
from mgstore.proto import MetaGraphDef
from tests.export.test_normalize_live import perturb

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("not expected to run")


def _forms(store: Store) -> dict[str, bytes]:
    with db.transaction(store.engine) as conn:
        rows = conn.execute(select(F.c.content_hash, F.c.data, F.c.form_version)).all()
    assert {r.form_version for r in rows} <= {FORM_VERSION}
    return {r.content_hash: bytes(r.data) for r in rows}


@pytest.mark.parametrize("name", ["control_flow.meta", "dense.meta", "functions.meta"])
def test_ingest_keeps_the_form_an_export_would_compute(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    meta = perturb(MetaGraphDef.FromString((FIXTURES / name).read_bytes()), seed=3)
    before = meta.SerializeToString(deterministic=True)
    version = store.ingest(meta, "g", prepare_export=True)
    assert meta.SerializeToString(deterministic=True) == before  # the caller's message: as given
    kept = _forms(store)
    recomputed = import_meta_graph(store.checkout("g@1")).form
    assert recomputed is not None
    assert kept == {version.content_hash: recomputed.to_bytes()}

    # The first export uses it; its files equal those of an export that computes the form.
    options = [{}, {"clear_devices": True}, {"export_scope": "tower_1"}]
    with monkeypatch.context() as patched:
        patched.setattr(exporter, "import_meta_graph", _must_not_run)
        firsts = [store.export_meta_graph(graph="g@1", **kw) for kw in options]
        store.export(tmp_path / "first.meta", "g@1")
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(F.delete())
    store.import_cache.clear()
    assert [store.export_meta_graph(graph="g@1", **kw) for kw in options] == firsts
    store.export(tmp_path / "again.meta", "g@1")
    assert (tmp_path / "first.meta").read_bytes() == (tmp_path / "again.meta").read_bytes()


def test_stored_content_and_unimportable_graphs_compute_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = store.ingest(FIXTURES / "dense.meta", "a", prepare_export=True)
    monkeypatch.setattr(forms, "compute", _must_not_run)
    store.ingest(
        FIXTURES / "dense.meta", "b", prepare_export=True
    )  # the same content: its form is stored
    assert list(_forms(store)) == [version.content_hash]
    monkeypatch.undo()

    bad = MetaGraphDef()
    bad.graph_def.node.add(name="a", op="NoOp", input=["ghost"])
    store.ingest(bad, "bad", prepare_export=True)  # stored as given; TensorFlow could not import it
    assert list(_forms(store)) == [version.content_hash]


def test_only_the_latest_and_the_exported_versions_keep_their_forms(
    store: Store, tmp_path: Path
) -> None:
    """A form per version would grow the store by a form per version: the one an ingest
    follows goes, unless its content was exported."""
    meta = MetaGraphDef.FromString((FIXTURES / "dense.meta").read_bytes())
    v1 = store.ingest(perturb(meta, seed=1), "g", prepare_export=True)
    v2 = store.ingest(perturb(meta, seed=2), "g", prepare_export=True)
    assert v1.content_hash != v2.content_hash
    assert list(_forms(store)) == [v2.content_hash]
    store.export(tmp_path / "v2.meta", "g@2")
    v3 = store.ingest(perturb(meta, seed=3), "g", prepare_export=True)
    assert set(_forms(store)) == {v2.content_hash, v3.content_hash}
    # an older version's export computes its form again: the same file as with it stored
    store.export(tmp_path / "v1.meta", "g@1")
    assert v1.content_hash in _forms(store)
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(F.delete().where(F.c.content_hash == v1.content_hash))
    store.import_cache.clear()
    store.export(tmp_path / "v1-again.meta", "g@1")
    assert (tmp_path / "v1.meta").read_bytes() == (tmp_path / "v1-again.meta").read_bytes()


def test_by_default_ingest_leaves_the_form_to_the_first_export(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(forms, "compute", _must_not_run)
    store.ingest(FIXTURES / "dense.meta", "g")
    assert _forms(store) == {}

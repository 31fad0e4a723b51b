"""The imported graph and its stored form (mgstore.export.imported, mgstore.exporter).

An :class:`ImportForm` must rebuild exactly the graph a full import gives, for TensorFlow's
own graphs and for graphs whose order, devices, inputs and attrs the import changes; a store
keeps it so that a later export (another process: another cache) skips the import's work.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest
from sqlalchemy import select, update

from mgstore import IntegrityError, Store, exporter
from mgstore import io as mgstore_io
from mgstore.db import engine as db
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.export import imported
from mgstore.export.imported import (
    FORM_VERSION,
    ImportForm,
    import_meta_graph,
    import_with_form,
)
from mgstore.export.meta_graph import build
from mgstore.export.options import ExportOptions
from mgstore.proto import MetaGraphDef
from tests.export.test_normalize_live import perturb
from tests.fixture_catalog import fixture_graphs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OPTIONS = [
    ExportOptions(),
    ExportOptions(clear_devices=True),
    ExportOptions(export_scope="tower_1", strip_default_attrs=True),
]


def _copy(m: MetaGraphDef) -> MetaGraphDef:
    return MetaGraphDef.FromString(m.SerializeToString())


def _graphs() -> list[tuple[str, MetaGraphDef]]:
    graphs = [(name, m) for name, m in fixture_graphs() if name != "empty.meta"]
    for name, m in list(graphs):
        if name in ("control_flow.meta", "dense.meta", "functions.meta"):
            graphs.append((f"{name}~perturbed", perturb(m, seed=7)))
    return graphs


@pytest.mark.parametrize(("name", "s"), _graphs(), ids=[n for n, _ in _graphs()])
def test_a_form_rebuilds_the_imported_graph(name: str, s: MetaGraphDef) -> None:
    full = import_meta_graph(_copy(s))
    assert full.form is not None
    form = ImportForm.from_bytes(full.form.to_bytes())
    assert form == full.form
    rebuilt = import_with_form(_copy(s), form)
    assert rebuilt.nodes == full.nodes
    assert (rebuilt.rewritten_inputs, rebuilt.versions) == (full.rewritten_inputs, full.versions)
    assert (rebuilt.as_imported_library, rebuilt.rebuilt_library) == (
        full.as_imported_library,
        full.rebuilt_library,
    )
    for options in OPTIONS:
        assert build(rebuilt, options).meta_graph == build(full, options).meta_graph


def test_perturbed_graphs_need_real_patches() -> None:
    s = dict(fixture_graphs())["dense.meta"]
    form = import_meta_graph(perturb(s, seed=7)).form
    assert form is not None and form.order is not None and form.nodes
    assert form.rewritten_inputs
    canonical = import_meta_graph(_copy(s)).form
    assert canonical is not None and canonical.order is None and not canonical.rewritten_inputs


def test_forms_of_another_version_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    form = ImportForm(("NoOp",), (1, 0), {0: b"\n\x01a"}, {1: ["^a"]})
    assert ImportForm.from_bytes(form.to_bytes()) == form
    monkeypatch.setattr(imported, "FORM_VERSION", FORM_VERSION + 1)
    newer = form.to_bytes()
    monkeypatch.undo()
    with pytest.raises(ValueError, match="import form"):
        ImportForm.from_bytes(newer)


def test_a_form_cut_short_is_a_value_error() -> None:
    """A form whose inflated bytes end early (in its header or in a node's patch) is refused
    with ValueError, which every reader takes as "compute it again"."""
    form = ImportForm(("NoOp",), (1, 0), {0: b"\n\x01a"}, {1: ["^a"]})
    raw = zlib.decompress(form.to_bytes())
    for cut in (2, len(raw) - 1, len(raw) - 9):
        with pytest.raises(ValueError, match="cut short"):
            ImportForm.from_bytes(zlib.compress(raw[:cut]))
        with pytest.raises(ValueError, match="cut short"):
            ImportForm.from_bytes(zlib.compress(raw[:cut]), only={0})


def _fresh_cache(store: Store) -> None:
    store.import_cache.clear()  # as a new process (or another Store) would start


def test_the_store_keeps_the_form_and_later_exports_use_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = store.ingest(FIXTURES / "control_flow.meta", "cf")
    first = store.export_meta_graph(graph="cf", export_scope="tower_1")
    with db.transaction(store.engine) as conn:
        kept = conn.execute(select(F.c.content_hash, F.c.form_version)).all()
    assert kept == [(version.content_hash, FORM_VERSION)]

    _fresh_cache(store)
    monkeypatch.setattr(exporter, "import_meta_graph", _must_not_run)
    assert store.export_meta_graph(graph="cf", export_scope="tower_1") == first


def test_a_damaged_form_is_refused_and_computed_again_once_removed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored form that does not match its hash is damage, not a cache miss: the export
    fails (IntegrityError, as every read of damaged bytes; fsck names it). Without the row,
    the next export computes it again."""
    store.ingest(FIXTURES / "dense.meta", "dense")
    first = store.export_meta_graph(graph="dense", clear_devices=True)
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(update(F).values(data=b"not a form"))
    _fresh_cache(store)
    with pytest.raises(IntegrityError, match="import form"):
        store.export_meta_graph(graph="dense", clear_devices=True)
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(F.delete())
    assert store.export_meta_graph(graph="dense", clear_devices=True) == first
    with db.transaction(store.engine) as conn:
        data = conn.execute(select(F.c.data)).scalar_one()
    assert ImportForm.from_bytes(data).order is None  # stored again, readable


def test_a_graph_tensorflow_cannot_import_stores_no_form(store: Store) -> None:
    m = MetaGraphDef()
    m.graph_def.node.add(name="a", op="NoOp", input=["ghost"])
    store.ingest(m, "broken")
    with pytest.raises(ValueError, match="Unknown input node 'ghost'"):
        store.export_meta_graph(graph="broken")
    with db.transaction(store.engine) as conn:
        assert conn.execute(select(F.c.content_hash)).all() == []


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the stored import form should have been used")


@pytest.mark.parametrize(("name", "s"), _graphs(), ids=[n for n, _ in _graphs()])
def test_full_exports_from_stored_bytes_equal_the_message(
    name: str, s: MetaGraphDef, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store.export writes a full export from stored bytes (an imported graph assembled from stored
    bytes) once the version's form is stored: byte for byte what export_meta_graph returns."""
    with Store(sqlite_url) as store:
        store.ingest(_copy(s), "g")
        expected = store.export_meta_graph(graph="g", collection_list=None)
        _fresh_cache(store)
        assembled: list[bool] = []
        real = exporter.from_stored_bytes

        def spy(*args: object) -> object:
            result = real(*args)  # type: ignore[arg-type]
            assembled.append(result is not None)
            return result

        monkeypatch.setattr(exporter, "from_stored_bytes", spy)
        for as_text in (False, True):
            record = store.export(tmp_path / "e.meta", "g", as_text=as_text)
            data = (tmp_path / "e.meta").read_bytes()
            assert data == mgstore_io.serialize(expected, as_text=as_text)
            assert record.sha256 == hashlib.sha256(data).hexdigest()
        again = store.export_meta_graph(graph="g")
        assert again == expected
    assert assembled and all(assembled) == (name not in NEED_THEIR_NODES)


#: Graphs whose full export needs their nodes: the as-imported export rewrites inputs (perturbed
#: graphs), or a call op's function is followed for stripped_op_list (TF2 graphs).
NEED_THEIR_NODES = {
    "control_flow.meta~perturbed",
    "dense.meta~perturbed",
    "functions.meta~perturbed",
    "functions.meta",
    "saved_model_tf2[serve]",
}

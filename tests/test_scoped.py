"""A scoped export read from the scope's rows (mgstore.scoped) against the whole version's.

``Store.export`` under ``export_scope`` reads only the scope's node rows where the
version's import form is stored (docs/export-semantics.md §3.4, docs/export-semantics.md §3.4);
with :func:`mgstore.scoped.scoped_import` turned off it imports the whole version. Both
must write the same files, byte for byte, or fail with the same error: on the fixtures,
their shuffled copies (another import order), generated graphs, scopes that match nothing,
inputs from outside the scope, collections, ``clear_devices``, debug info.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgstore import Store, scoped
from mgstore.export.options import ExportOptions
from mgstore.proto import MetaGraphDef, NodeDef
from tests.export.test_normalize_live import perturb
from tests.export.test_plain_import import graphs
from tests.fixture_catalog import fixture_graphs

GRAPHS = {name: m for name, m in fixture_graphs() if name != "empty.meta"}
OPTIONS: list[dict[str, Any]] = [
    {},
    {"clear_devices": True},
    {"clear_devices": True, "strip_default_attrs": True},
    {"collection_list": ["variables", "train_op", "unbound_inputs"]},
    {"save_debug_info": True, "as_text": True},
]


def scopes_of(meta: MetaGraphDef) -> list[str]:
    """Scopes that select a whole name scope, part of one, one node, nothing, and a
    pattern (the scope is a regular expression where TensorFlow strips it)."""
    names = [node.name for node in meta.graph_def.node]
    found = {"no_such_scope", "$unbound_inputs_", "zz"}
    for name in names[:: max(1, len(names) // 4)]:
        head = name.split("/")[0]
        found |= {head, head + "/", name, name[:2]}
        if len(head) > 2:
            found.add(head[0] + "." + head[2:])
    return sorted(found)


def outcome(store: Store, path: Path, graph: str, **options: Any) -> tuple[Any, ...]:
    """What a cold export writes (its file and debug file), or its error."""
    store.import_cache.clear()
    try:
        store.export(path, graph, **options)
    except ValueError as exc:  # mgstore's input and graph errors
        return ("error", type(exc), str(exc))
    debug = path.with_suffix(".debug")
    written = (path.read_bytes(), debug.read_bytes() if debug.exists() else None)
    debug.unlink(missing_ok=True)
    return written


def compare(
    store: Store, tmp_path: Path, graph: str, scope: str, patch: pytest.MonkeyPatch, **kw: Any
) -> bool:
    """Export ``graph`` under ``scope`` both ways; whether the scope's rows alone served it."""
    served: list[bool] = []
    real = scoped.scoped_import

    def spy(*args: Any) -> Any:
        served.append(True)  # an error raised here is the scope path's
        found = real(*args)
        served[-1] = found is not None
        return found

    with patch.context() as m:
        m.setattr(scoped, "scoped_import", spy)
        fast = outcome(store, tmp_path / "fast.meta", graph, export_scope=scope, **kw)
    with patch.context() as m:
        m.setattr(scoped, "scoped_import", lambda *args: None)
        whole = outcome(store, tmp_path / "whole.meta", graph, export_scope=scope, **kw)
    assert fast == whole, (graph, scope, kw)
    return any(served)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_scoped_exports_read_alone_are_the_whole_versions(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    meta = GRAPHS[name]
    store.ingest(meta, "g")
    store.ingest(perturb(meta, seed=3), "p")  # shuffled: the import reorders the nodes
    for graph in ("g", "p"):  # the first export stores the version's import form
        outcome(store, tmp_path / "first.meta", graph)
    served = 0
    for k, scope in enumerate(scopes_of(meta)):
        for j, graph in enumerate(("g", "p")):  # each scope with two of the options
            kw = OPTIONS[(2 * k + j) % len(OPTIONS)]
            served += compare(store, tmp_path, graph, scope, monkeypatch, **kw)
    assert served  # every fixture has a stored form: the fast path ran


def test_what_the_scope_path_does_not_serve() -> None:
    """No scope, a given graph_def, a query's selection, clear_extraneous_savers: the whole
    version is imported."""
    assert scoped.applies(ExportOptions.from_arguments(export_scope="a"))
    assert scoped.applies(ExportOptions.from_arguments(export_scope="a", clear_devices=True))
    for kw in (
        {"export_scope": ""},
        {"clear_devices": True},
        {"export_scope": "a", "clear_extraneous_savers": True},
        {"export_scope": "a", "graph_def": MetaGraphDef().graph_def},
    ):
        assert not scoped.applies(ExportOptions.from_arguments(**kw))
    options = ExportOptions.from_arguments(export_scope="a")
    from dataclasses import replace

    assert not scoped.applies(replace(options, selection=frozenset({"a"})))


def test_a_version_without_a_stored_form_is_imported_whole(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unimportable graph has no stored form: the export fails as the whole import does."""
    meta = MetaGraphDef()
    meta.CopyFrom(GRAPHS["dense.meta"])
    meta.graph_def.node.add().CopyFrom(NodeDef(name="tower_1/bogus", op="NoSuchOp"))
    store.ingest(meta, "bad")
    assert not compare(store, tmp_path, "bad", "tower_1", monkeypatch)


def test_a_damaged_scope_node_is_found(store: Store, tmp_path: Path) -> None:
    """A node of the scope read alone is checked against its row's hash."""
    from sqlalchemy import select, update

    from mgstore import IntegrityError
    from mgstore.db.tables import NAMES as NM
    from mgstore.db.tables import NODES as N

    store.ingest(GRAPHS["dense.meta"], "g")
    store.export_meta_graph(graph="g")  # stores the version's import form
    with store.engine.begin() as conn:
        scope = select(NM.c.id).where(NM.c.name.like("gradients/%"))
        conn.execute(update(N).where(N.c.name_id.in_(scope)).values(sha256=b"\0" * 32))
    store.import_cache.clear()
    with pytest.raises(IntegrityError):
        store.export(tmp_path / "x.meta", "g", export_scope="gradients")


def test_a_reproduction_reads_the_whole_version(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scoped export may be read from the scope's rows, which checks only those; reproducing
    it reads and checks the whole version (docs/audit.md), and gives the same bytes."""
    store.ingest(GRAPHS["dense.meta"], "g")
    store.export_meta_graph(graph="g")  # stores the version's import form
    store.import_cache.clear()
    used: list[str] = []
    read_alone = scoped.scoped_import

    def spy(*args: Any) -> Any:
        used.append(args[-1])
        return read_alone(*args)

    monkeypatch.setattr(scoped, "scoped_import", spy)
    record = store.export(tmp_path / "x.meta", "g", export_scope="gradients")
    assert used == ["gradients"]
    store.import_cache.clear()
    store.reproduce(record.id)
    store.reproduce(record.id, tmp_path / "again.meta")
    assert used == ["gradients"]
    assert (tmp_path / "again.meta").read_bytes() == (tmp_path / "x.meta").read_bytes()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(meta=graphs(), scope=st.sampled_from(["n", "n1", "n0", "x", "x/", "b", "zz", "n."]),
       clear=st.booleans())  # fmt: skip
def test_generated_graphs_export_alike(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    meta: MetaGraphDef,
    scope: str,
    clear: bool,
) -> None:
    try:
        store.ingest(meta, "h")
    except ValueError:
        return  # refused at ingest: nothing to export
    outcome(store, tmp_path / "first.meta", "h")  # stores the import form, if it imports
    compare(store, tmp_path, "h", scope, monkeypatch, clear_devices=clear)


def test_a_form_decodes_the_patches_asked_for() -> None:
    """``ImportForm.from_bytes(..., only=...)``: the patches at those positions alone."""
    from mgstore.export.imported import ImportForm

    form = ImportForm(("A",), (1, 0, 2), {0: b"x", 2: b"yz"}, {1: ["a"]}, "c")
    blob = form.to_bytes()
    assert ImportForm.from_bytes(blob) == form
    assert ImportForm.from_bytes(blob, only=()).nodes == {}
    assert ImportForm.from_bytes(blob, only=()).order == (1, 0, 2)
    assert ImportForm.from_bytes(blob, only={2, 1}).nodes == {2: b"yz"}


BROKEN_VARIABLES = [
    {"variable_name": "zz/v:0", "aggregation": 7},  # a mode TensorFlow refuses
    {"variable_name": "zz/v:0", "initializer_name": "zz/v/Assign:1:2"},  # not a tensor name
    {"variable_name": "zz/v:x", "aggregation": 9},  # both: the name is read first
    {"variable_name": "gradients/v:0", "synchronization": 5},  # in the scope
    {"variable_name": "zz/v:00", "is_resource": True},  # fine: left out under the scope
]


@pytest.mark.parametrize("fields", BROKEN_VARIABLES)
def test_variables_left_out_fail_as_the_whole_import_does(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any]
) -> None:
    """A variable the scope leaves out is checked, not regenerated: the same errors, in the
    same order. The version has its predecessor's nodes, so its import form is that one's
    (stored here as a derived form would be, though its collections fail the import)."""
    from sqlalchemy import insert, select

    from mgstore.db.tables import IMPORT_FORMS as F
    from mgstore.proto import VariableDef

    meta = MetaGraphDef()
    meta.CopyFrom(GRAPHS["dense.meta"])
    before = store.ingest(meta, "g")
    outcome(store, tmp_path / "first.meta", "g")  # stores its import form
    variables = meta.collection_def["variables"].bytes_list.value
    variables.insert(1, VariableDef(**fields).SerializeToString())
    after = store.ingest(meta, "g")
    with store.engine.begin() as conn:
        form = conn.execute(select(F).where(F.c.content_hash == before.content_hash)).one()
        conn.execute(insert(F).values({**form._asdict(), "content_hash": after.content_hash}))
    for scope in ("gradients", "zz", "no_such_scope"):
        assert compare(store, tmp_path, "g", scope, monkeypatch, clear_devices=True)

"""An import form derived from another version's (docs/storage.md §6) is the form computed in
full, byte for byte, or none at all: the changed nodes are normalised again, the nodes
colocated with a moved one are placed again, and anything the derivation cannot show
(renamed nodes, loops, inputs from later nodes) leaves the form to the full import."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import select

from mgstore import Store, byte_layout, exporter
from mgstore.db import engine as db
from mgstore.db import forms
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.export.imported import (
    ImportForm,
    colocation_scan,
    derive_form,
    import_meta_graph,
)
from mgstore.export.registry import attr_defaults
from mgstore.proto import MetaGraphDef, NodeDef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _form(meta: MetaGraphDef) -> ImportForm:
    form = import_meta_graph(MetaGraphDef.FromString(meta.SerializeToString())).form
    assert form is not None
    return form


def _edited(meta: MetaGraphDef, seed: int, count: int = 6) -> MetaGraphDef:
    """``meta`` with ``count`` nodes edited as versions edit them: devices moved (of
    colocation targets too), attrs changed or stripped, colocations added or dropped."""
    rng = random.Random(seed)
    out = MetaGraphDef()
    out.CopyFrom(meta)
    nodes = out.graph_def.node
    targets = [
        i
        for i, n in enumerate(nodes)
        if any(
            f"loc:@{n.name}".encode() in m.attr["_class"].list.s
            for m in nodes
            if "_class" in m.attr
        )
    ]
    chosen = rng.sample(range(len(nodes)), count) + rng.sample(targets, min(2, len(targets)))
    for i in chosen:
        node = nodes[i]
        kind = rng.randrange(4)
        if kind == 0:
            node.device = rng.choice(["/job:ps/task:1", "/device:GPU:0", "", "/cpu:0"])
        elif kind == 1 and (strippable := sorted(attr_defaults(node.op).keys() & node.attr)):
            del node.attr[strippable[0]]  # a default stripped: the import adds it again
        elif kind == 2 and "_class" in node.attr:
            del node.attr["_class"]
        else:
            node.attr["_mgstore_test"].i = rng.randrange(100)
    return out


def _changed(parent: MetaGraphDef, child: MetaGraphDef) -> tuple[list[int], list[NodeDef]]:
    pairs = zip(parent.graph_def.node, child.graph_def.node, strict=True)
    changed = [i for i, (p, c) in enumerate(pairs) if p != c]
    return changed, [parent.graph_def.node[i] for i in changed]


def _scan(meta: MetaGraphDef) -> object:
    data = meta.SerializeToString(deterministic=True)
    sizes = [
        len(byte_layout.frame(n.SerializeToString(deterministic=True))) for n in meta.graph_def.node
    ]
    return colocation_scan(data, sizes)


@pytest.mark.parametrize("name", ["dense.meta", "variables.meta", "functions.meta"])
@pytest.mark.parametrize("scan", [False, True])
def test_a_derived_form_is_the_form_computed_in_full(name: str, scan: bool) -> None:
    parent = MetaGraphDef.FromString((FIXTURES / name).read_bytes())
    form = _form(parent)
    for seed in range(8):
        child = _edited(parent, seed)
        changed, before = _changed(parent, child)
        given = MetaGraphDef.FromString(child.SerializeToString(deterministic=True))
        as_given = given.SerializeToString(deterministic=True)
        colocated = _scan(child) if scan else None
        derived = derive_form(given, form, changed, before, colocated=colocated)  # type: ignore[arg-type]
        assert given.SerializeToString(deterministic=True) == as_given  # left as it was
        assert derived is not None, seed
        assert derived.to_bytes() == _form(child).to_bytes(), seed
        parent, form = child, derived


def test_what_cannot_be_shown_is_left_to_the_full_import() -> None:
    parent = MetaGraphDef.FromString((FIXTURES / "dense.meta").read_bytes())
    form = _form(parent)
    nodes = parent.graph_def.node
    # a node TensorFlow would refuse: the full import raises its error
    child = MetaGraphDef()
    child.CopyFrom(parent)
    reshape = next(n for n in child.graph_def.node if n.op == "Reshape")
    del reshape.attr["T"]
    assert derive_form(child, form, *_changed(parent, child)) is None
    # a renamed node
    child.CopyFrom(parent)
    child.graph_def.node[5].name = "renamed"
    assert derive_form(child, form, *_changed(parent, child)) is None
    # an input from a node later in the graph (the import order would change)
    child.CopyFrom(parent)
    last = nodes[len(nodes) - 1].name
    child.graph_def.node[3].input.insert(0, last)
    assert derive_form(child, form, *_changed(parent, child)) is None
    # another library, producer or op list: another context
    child.CopyFrom(parent)
    child.graph_def.versions.producer += 1
    assert derive_form(child, form, *_changed(parent, child)) is None
    # the parent's form of a graph with loops (its order is not its inputs' alone)
    loops = MetaGraphDef.FromString((FIXTURES / "control_flow.meta").read_bytes())
    edited = _edited(loops, 1)
    assert derive_form(edited, _form(loops), *_changed(loops, edited)) is None


def test_the_first_export_of_a_version_derives_its_form(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = MetaGraphDef.FromString((FIXTURES / "dense.meta").read_bytes())
    store.ingest(parent, "g")
    store.export(tmp_path / "v1.meta", "g@1")  # computes and keeps the first version's form
    version = store.ingest(_edited(parent, 3), "g")
    store.import_cache.clear()
    options = [{}, {"clear_devices": True}, {"export_scope": "dense"}]
    with monkeypatch.context() as patched:
        patched.setattr(exporter, "import_meta_graph", _must_not_run)
        store.export(tmp_path / "derived.meta", "g@2")
        derived = [store.export_meta_graph(graph="g@2", **kw) for kw in options]
    full = import_meta_graph(store.checkout("g@2")).form
    assert full is not None
    with db.transaction(store.engine) as conn:
        kept = conn.execute(select(F.c.data).where(F.c.content_hash == version.content_hash))
        assert kept.scalar_one() == full.to_bytes()
    assert store.fsck(deep=True).ok
    store.import_cache.clear()
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(F.delete())
    assert [store.export_meta_graph(graph="g@2", **kw) for kw in options] == derived
    store.export(tmp_path / "full.meta", "g@2")
    assert (tmp_path / "derived.meta").read_bytes() == (tmp_path / "full.meta").read_bytes()


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("not expected to run")


def test_ingest_asked_to_prepare_the_export_derives_the_form(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = MetaGraphDef.FromString((FIXTURES / "variables.meta").read_bytes())
    store.ingest(parent, "g", prepare_export=True)  # the first version: computed in full
    with monkeypatch.context() as patched:
        patched.setattr(forms, "compute", _must_not_run)
        version = store.ingest(_edited(parent, 5), "g", prepare_export=True)
    full = import_meta_graph(store.checkout("g@2")).form
    assert full is not None
    with db.transaction(store.engine) as conn:
        kept = dict(conn.execute(select(F.c.content_hash, F.c.data)).all())
    assert kept == {version.content_hash: full.to_bytes()}  # the first one's was dropped

"""Property (live): for random queries on every fixture graph, each export either writes a
file that TensorFlow's ``import_meta_graph`` accepts, or is refused with one clear mgstore
error, leaves no file, and is not recorded as ok."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from fixture_catalog import fixture_graphs
from hypothesis import HealthCheck, event, given, settings

from mgstore import IncompleteSubgraphError, MgstoreError, Store

pytestmark = pytest.mark.tf

GRAPHS = fixture_graphs()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, Any]]]:
    """One SQLite store holding every fixture, and what each graph offers to query (closed
    after the module's tests)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'store.db'}")
    offered: dict[str, Any] = {}
    for i, (name, meta) in enumerate(GRAPHS):
        ref = store.ingest(meta, f"g{i}").ref
        names = [n.name for n in meta.graph_def.node]
        scopes = sorted({n.rsplit("/", 1)[0] for n in names} | set(names[:20]))
        offered[name] = {
            "ref": ref,
            "scopes": scopes or ["nothing"],
            "ops": sorted({n.op for n in meta.graph_def.node}) or ["NoOp"],
            "collections": sorted(meta.collection_def) or ["nothing"],
            "names": names or ["nothing"],
        }
    with store:
        yield store, offered


@st.composite
def queries(draw: Any, offered: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    graph = draw(st.sampled_from(sorted(offered)))
    o = offered[graph]
    filters: dict[str, Any] = {}
    # Mostly one filter: two drawn independently rarely select anything together.
    kinds = draw(
        st.sets(st.sampled_from(["scope", "op", "collection", "name"]), min_size=1, max_size=1)
        | st.sets(st.sampled_from(["scope", "op", "collection", "name"]), max_size=2)
    )
    if "scope" in kinds:
        filters["scope"] = draw(st.sampled_from(o["scopes"]))
        filters["strict_scope"] = draw(st.booleans())
    if "op" in kinds:
        filters["op_type"] = draw(st.lists(st.sampled_from(o["ops"]), min_size=1, max_size=3))
    if "collection" in kinds:
        filters["collection"] = draw(st.sampled_from(o["collections"]))
    if "name" in kinds:
        name = draw(st.sampled_from(o["names"]))
        filters["name_regex"] = "^" + name.replace(".", r"\.") + "$"
    filters["closure"] = draw(st.sampled_from([None, "ancestors", "descendants", "inference"]))
    options = {
        "clear_devices": draw(st.booleans()),
        "strip_default_attrs": draw(st.booleans()),
        "collection_list": draw(st.sampled_from([None, [], o["collections"][:1]])),
    }
    return graph, filters, options


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_query_result_file_imports_in_tensorflow_or_is_refused(
    tf: Any, catalog: tuple[Store, dict[str, Any]], tmp_path: Path, data: Any
) -> None:
    store, offered = catalog
    graph, filters, options = data.draw(queries(offered))
    result = store.query(offered[graph]["ref"], **filters)
    path = tmp_path / "q.meta"
    path.unlink(missing_ok=True)
    try:
        record = store.export(path, result, **options)
    except MgstoreError as error:
        assert str(error) and "\n" not in str(error)
        assert not path.exists()
        assert store.exports()[0].status == "failed"
        event(f"refused: {type(error).__name__}")
        if isinstance(error, IncompleteSubgraphError):
            assert filters["closure"] not in ("ancestors", "inference"), "closures are complete"
        return
    assert record.ok and path.exists()
    event(f"written ({'empty' if not len(result) else filters['closure'] or 'plain'})")
    with tf.Graph().as_default():
        tf.compat.v1.train.import_meta_graph(str(path))  # raises if TensorFlow refuses it


def test_the_closures_of_every_variable_read_import_in_tensorflow(
    tf: Any, catalog: tuple[Store, dict[str, Any]], tmp_path: Path
) -> None:
    """Where collections dangle most: a variable's read op, whose ancestors hold the variable
    but not its initializer (dropped from the collections), and its inference closure (kept)."""
    from mgstore.collections import PROTO_KEYS
    from mgstore.proto import VariableDef
    from mgstore.subgraph import variable_defs

    store, offered = catalog
    tried = 0
    for name, meta in GRAPHS:
        for variable in variable_defs(meta)[:4]:
            read = variable.snapshot_name.split(":")[0]
            for closure in ("ancestors", "inference"):
                result = store.query(offered[name]["ref"], name_regex=f"^{read}$", closure=closure)
                path = tmp_path / f"{closure}.meta"
                exported = store.export_meta_graph(path, graph=result)
                kept = [
                    VariableDef.FromString(item).variable_name
                    for key, c in exported.collection_def.items()
                    if key in PROTO_KEYS and PROTO_KEYS[key] is VariableDef
                    for item in c.bytes_list.value
                ]
                held = variable.variable_name in kept
                assert held == (closure == "inference"), (name, read, closure)
                with tf.Graph().as_default():
                    tf.compat.v1.train.import_meta_graph(str(path))
                tried += 1
    assert tried >= 8

"""Query results as typed values, edit detection, and the reference rules of
:func:`mgstore.subgraph.resolve` (without TensorFlow; tests/test_subgraph_live.py imports the
files in TensorFlow)."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from mgstore import EditedQueryError, IncompleteSubgraphError, QueryResult, Store
from mgstore.proto import AttrValue, MetaGraphDef, SaverDef, VariableDef
from mgstore.subgraph import inference_names, resolve, restore_needs

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def dense(store: Store) -> str:
    return store.ingest(FIXTURES / "dense.meta", "dense").ref


def test_a_query_result_is_typed_and_networkx_usable(store: Store, dense: str) -> None:
    g = store.query(dense, scope="tower_1/", strict_scope=True, closure="inference")
    assert isinstance(g, QueryResult) and isinstance(g, nx.MultiDiGraph)
    assert g.ref == "dense@1" and g.content_hash == store.version(dense).content_hash
    assert g.filters == {"scope": "tower_1/", "strict_scope": True, "closure": "inference"}
    assert not g.edited and nx.is_directed(g)
    assert isinstance(g.copy(), QueryResult) and not g.copy().edited


@pytest.mark.parametrize("edit", ["attr", "device", "inputs", "add", "collection"])
def test_an_edited_query_result_is_refused_and_nothing_is_written(
    store: Store, dense: str, tmp_path: Path, edit: str
) -> None:
    g = store.query(dense, scope="tower_1", closure="ancestors")
    name = next(n for n, d in g.nodes(data=True) if d["op"] == "MatMul")
    if edit == "attr":
        g.nodes[name]["attr"]["transpose_a"] = AttrValue(b=True)
    elif edit == "device":
        g.nodes[name]["device"] = "/device:GPU:0"
    elif edit == "inputs":
        g.nodes[name]["inputs"] = list(reversed(g.nodes[name]["inputs"]))
    elif edit == "add":
        g.add_node("extra", op="NoOp", inputs=[])
    else:
        g.graph["collection_def"].pop(next(iter(g.graph["collection_def"])))
    assert g.edited
    before = len(store.exports())
    with pytest.raises(EditedQueryError, match="Ingest the edited graph as a new version"):
        store.export(tmp_path / "e.meta", g)
    with pytest.raises(EditedQueryError):
        store.export_meta_graph(graph=g.copy())
    assert not (tmp_path / "e.meta").exists() and len(store.exports()) == before
    # As the error says: ingest it as a new version, then export that.
    ref = store.ingest(g, "edited").ref
    store.export(tmp_path / "n.meta", ref)


def test_removing_nodes_is_no_edit_the_export_writes_the_nodes_left(
    store: Store, dense: str, tmp_path: Path
) -> None:
    g = store.query(dense, name_regex="^tower_1/logits$", closure="ancestors")
    g.remove_nodes_from([n for n in list(g) if g.out_degree(n) == 0])  # the seed
    view = g.subgraph([n for n in g if n != "x"])
    assert not g.edited and not view.edited
    written = store.export_meta_graph(tmp_path / "r.meta", graph=g)
    assert {n.name for n in written.graph_def.node} == set(g)
    with pytest.raises(IncompleteSubgraphError, match="reads 'x', which is not selected"):
        store.export_meta_graph(tmp_path / "v.meta", graph=view)


def test_an_open_selection_is_refused_with_its_dangling_inputs(
    store: Store, dense: str, tmp_path: Path
) -> None:
    g = store.query(dense, scope="tower_1/", strict_scope=True)
    with pytest.raises(IncompleteSubgraphError, match=r"reads '.*', which is not selected"):
        store.export(tmp_path / "o.meta", g)
    assert not (tmp_path / "o.meta").exists()
    assert store.exports()[0].status == "failed"


def _meta(*nodes: tuple[str, str, list[str]]) -> MetaGraphDef:
    meta = MetaGraphDef()
    for name, op, inputs in nodes:
        meta.graph_def.node.add(name=name, op=op, input=inputs)
    return meta


def test_resolve_drops_dangling_collection_items_and_colocations() -> None:
    meta = _meta(("v", "VariableV2", []), ("v/read", "Identity", ["v"]), ("c", "Const", []))
    meta.graph_def.node[1].attr["_class"].list.s.extend([b"loc:@v", b"loc:@gone"])
    complete = VariableDef(variable_name="c:0", initializer_name="c", snapshot_name="c:0")
    partial = VariableDef(
        variable_name="v:0", initializer_name="v/Assign", snapshot_name="v/read:0"
    )
    meta.collection_def["variables"].bytes_list.value.extend(
        [partial.SerializeToString(), complete.SerializeToString()]
    )
    meta.collection_def["trainable_variables"].bytes_list.value.append(partial.SerializeToString())
    meta.collection_def["train_op"].node_list.value.extend(["c", "gone"])
    meta.collection_def["numbers"].int64_list.value.append(3)
    resolve(meta)
    assert list(meta.graph_def.node[1].attr["_class"].list.s) == [b"loc:@v"]
    assert list(meta.collection_def["variables"].bytes_list.value) == [complete.SerializeToString()]
    assert "trainable_variables" not in meta.collection_def
    assert list(meta.collection_def["train_op"].node_list.value) == ["c"]
    assert list(meta.collection_def["numbers"].int64_list.value) == [3]


def test_resolve_refuses_dangling_saver_def_and_keeps_unbound_inputs() -> None:
    meta = _meta(("a", "Identity", ["$unbound_inputs_x", "^$unbound_inputs_y"]))
    assert resolve(meta) is meta
    meta.saver_def.CopyFrom(SaverDef(filename_tensor_name="save/Const:0",
                                     save_tensor_name="a:0", restore_op_name="a"))  # fmt: skip
    with pytest.raises(IncompleteSubgraphError, match="saver_def.filename_tensor_name"):
        resolve(meta)


def test_inference_names_add_what_each_read_variable_needs_until_nothing_is_missing() -> None:
    graph = {"out": {"w/read", "x"}, "w/read": {"w"}, "w/Assign": {"w", "w/init"},
             "w/init": {"u/read"}, "u/read": {"u"}, "u/Assign": {"u", "u/init"}}  # fmt: skip
    variables = [
        VariableDef(variable_name="w:0", initializer_name="w/Assign", snapshot_name="w/read:0"),
        VariableDef(variable_name="u:0", initializer_name="u/Assign", snapshot_name="u/read:0"),
        VariableDef(variable_name="z:0", initializer_name="z/Assign", snapshot_name="z/read:0"),
        VariableDef(variable_name="q:0", initializer_name="q/missing", snapshot_name="q:0"),
    ]

    def ancestors(names: set[str]) -> set[str]:
        seen, todo = set(), list(names)
        while todo:
            n = todo.pop()
            if n not in seen and (n in graph or n in {"x", "w", "u", "u/init"}):
                seen.add(n)
                todo.extend(graph.get(n, ()))
        return seen

    found = inference_names({"out"}, restore_needs(variables), ancestors)
    assert found == {"out", "x", "w", "w/read", "w/Assign", "w/init", "u", "u/read", "u/Assign",
                     "u/init"}  # fmt: skip
    assert inference_names({"q"}, restore_needs(variables), lambda names: names & {"q"}) == {"q"}

"""``export_meta_graph``'s arguments, errors and files (§3.1, §5.1, §9, §10, §11).

TensorFlow equality over the option matrix is in test_golden.py; these tests pin what the
API does around it: TensorFlow's TypeErrors, mgstore's clear errors, where files go, that a
failure writes nothing, and exports of query results.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import mgstore
from mgstore import Store
from mgstore.errors import ArgumentTypeError, InputError, MgstoreError, OutputError
from mgstore.export import meta_graph as mg
from mgstore.proto import CollectionDef, GraphDef, MetaGraphDef, NodeDef, SaverDef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def tiny() -> MetaGraphDef:
    """x -> tower/a -> tower/b, a collection and a variable-free graph."""
    m = MetaGraphDef()
    for name, op, inputs in (("x", "NoOp", ()), ("tower/a", "NoOp", ("^x",)),
                             ("tower/b", "NoOp", ("^tower/a", "^x"))):  # fmt: skip
        m.graph_def.node.append(NodeDef(name=name, op=op, input=inputs))
    m.collection_def["things"].CopyFrom(CollectionDef(bytes_list=CollectionDef.BytesList(
        value=[b"one", b"two"])))  # fmt: skip
    return m


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("meta_info_def", MetaGraphDef(), "meta_info_def must be of type MetaInfoDef. Received "
         "type: <class 'tensorflow.MetaGraphDef'>."),
        ("graph_def", MetaGraphDef(), "graph_def must be of type GraphDef. Received type: "
         "<class 'tensorflow.MetaGraphDef'>."),
        ("saver_def", GraphDef(), "saver_def must be of type SaverDef. Received type: "
         "<class 'tensorflow.GraphDef'>."),
    ],
)  # fmt: skip
def test_wrong_message_types_raise_tensorflows_type_error(
    argument: str, value: Any, message: str
) -> None:
    with pytest.raises(TypeError) as info:
        mgstore.export_meta_graph(graph=tiny(), **{argument: value})
    assert isinstance(info.value, ArgumentTypeError)
    assert (
        str(info.value)
        .replace("<class 'mgstore.proto.", "<class '")
        .startswith(message.split(" Received")[0])
    )


def test_falsy_non_messages_mean_not_given() -> None:
    e = mgstore.export_meta_graph(graph=tiny(), meta_info_def={}, saver_def=0)
    assert not e.HasField("saver_def")


def test_unknown_keyword_is_tensorflows_type_error() -> None:
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'signature_def_map'"):
        mgstore.export_meta_graph(graph=tiny(), signature_def_map={})


def test_a_ref_needs_a_store_and_a_graph_is_required() -> None:
    with pytest.raises(ArgumentTypeError, match="pass the store"):
        mgstore.export_meta_graph(graph="model@1")
    with pytest.raises(ArgumentTypeError, match="graph is required"):
        mgstore.export_meta_graph()
    with pytest.raises(ArgumentTypeError):
        mgstore.export_meta_graph(graph=3)


def test_export_scope_and_collection_list_types() -> None:
    with pytest.raises(ArgumentTypeError, match="export_scope"):
        mgstore.export_meta_graph(graph=tiny(), export_scope=b"tower")
    with pytest.raises(ArgumentTypeError, match="collection_list"):
        mgstore.export_meta_graph(graph=tiny(), collection_list=5)


def test_collection_list_forms() -> None:
    def keys(**kw: Any) -> dict[str, list[bytes]]:
        e = mgstore.export_meta_graph(graph=tiny(), **kw)
        return {k: list(c.bytes_list.value) for k, c in e.collection_def.items()}

    assert keys() == {"things": [b"one", b"two"]}
    assert keys(collection_list=[]) == {}
    assert keys(collection_list=["things", "nope"]) == {"things": [b"one", b"two"]}
    assert keys(collection_list=("things", "things")) == {"things": [b"one", b"two"] * 2}
    assert keys(collection_list=[b"things"]) == {}
    assert keys(collection_list="things") == {}  # a str is iterated: keys t, h, i...


def test_scope_unbinds_inputs_and_records_them() -> None:
    e = mgstore.export_meta_graph(graph=tiny(), export_scope="tower")
    assert [(n.name, list(n.input)) for n in e.graph_def.node] == [
        ("a", ["^$unbound_inputs_x"]),
        ("b", ["^a", "^$unbound_inputs_x"]),
    ]
    assert "unbound_inputs" not in e.collection_def  # control entries are filtered out (§4.3)
    named = mgstore.export_meta_graph(
        graph=tiny(), export_scope="tower", unbound_inputs_col_name=None
    )
    assert named.graph_def == e.graph_def


def test_the_as_imported_export_sorts_and_dedupes_control_inputs() -> None:
    e = mgstore.export_meta_graph(graph=tiny())
    assert list(e.graph_def.node[2].input) == ["^tower/a", "^x"]
    r = mgstore.export_meta_graph(graph=tiny(), clear_devices=True)
    assert list(r.graph_def.node[2].input) == ["^tower/a", "^x"]


def test_the_input_is_not_modified() -> None:
    m = tiny()
    m.graph_def.node[0].device = "/cpu:0"
    before = m.SerializeToString()
    e = mgstore.export_meta_graph(graph=m)
    assert m.SerializeToString() == before
    assert e.graph_def.node[0].device == "/device:CPU:0"


def test_the_callers_meta_info_def_is_not_modified() -> None:
    info = MetaGraphDef.MetaInfoDef(tensorflow_version="1.15.0", tags=["serve"])
    before = info.SerializeToString()
    e = mgstore.export_meta_graph(graph=tiny(), meta_info_def=info, clear_devices=True)
    assert info.SerializeToString() == before  # TensorFlow overwrites its version fields
    assert e.meta_info_def.tensorflow_version == "2.21.0"
    assert list(e.meta_info_def.tags) == ["serve"]


def test_saver_def_is_copied_verbatim_even_empty() -> None:
    e = mgstore.export_meta_graph(graph=tiny(), saver_def=SaverDef())
    assert e.HasField("saver_def") and e.saver_def == SaverDef()


def test_clear_extraneous_savers_without_saver_def() -> None:
    mgstore.export_meta_graph(graph=tiny(), clear_extraneous_savers=True)  # no savers key
    with pytest.raises(ValueError, match="^No variables to save$"):
        mgstore.export_meta_graph(
            graph=tiny(), clear_extraneous_savers=True, collection_list=["savers"]
        )
    dense = mgstore.read_meta_graph(FIXTURES / "dense.meta")
    with pytest.raises(InputError, match="pass the saver_def"):
        mgstore.export_meta_graph(graph=dense, clear_extraneous_savers=True)
    kept = mgstore.export_meta_graph(
        graph=dense, clear_extraneous_savers=True, saver_def=dense.saver_def
    )
    assert len(kept.collection_def["savers"].bytes_list.value) == 1


@pytest.mark.parametrize("saver_last", [False, True])
def test_a_node_named_twice_is_a_saver_by_its_last_op(saver_last: bool) -> None:
    """extraneous_saver_nodes reads the nodes as TensorFlow's dict of names does: a name
    given twice (a given graph_def may) has its last op; only save/restore names are held."""
    ops = ["Const", "SaveV2"] if saver_last else ["SaveV2", "Const"]
    nodes = [NodeDef(name="a/save", op=op) for op in ops] + [
        NodeDef(name="a/y", op="Const"),
        NodeDef(name="b/restore", op="RestoreV2"),
        NodeDef(name="b/x", op="Const"),
    ]
    removed = {"b/restore", "b/x"} | ({"a/save", "a/y"} if saver_last else set())
    assert mg.extraneous_saver_nodes(nodes, None) == removed
    retained = SaverDef(restore_op_name="b/restore", save_tensor_name="b/x:0")
    assert mg.extraneous_saver_nodes(nodes, retained) == removed - {"b/restore", "b/x"}


def test_graphs_tensorflow_cannot_import_raise_its_error() -> None:
    m = tiny()
    m.graph_def.node.add(name="y", op="NoOp", input=["ghost"])
    with pytest.raises(ValueError, match="Unknown input node 'ghost'"):
        mgstore.export_meta_graph(graph=m)
    m = tiny()
    m.graph_def.node.add(name="c", op="MyCustomOp")
    with pytest.raises(ValueError, match="Op type not registered 'MyCustomOp'"):
        mgstore.export_meta_graph(graph=m)


def test_files_written(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "m.meta"
    e = mgstore.export_meta_graph(target, graph=tiny(), save_debug_info=True)
    assert target.read_bytes() == e.SerializeToString(deterministic=True)
    assert (tmp_path / "new" / "dir" / "m.debug").read_bytes() == b""  # no stored traces
    text = tmp_path / "m.txt"
    mgstore.export_meta_graph(str(text), graph=tiny(), as_text=True)
    assert text.read_text().startswith("meta_info_def {\n  stripped_op_list {\n")
    assert sorted(os.listdir(tmp_path)) == ["m.txt", "new"]  # no temporary files left


def test_nothing_is_written_when_the_debug_file_fails(tmp_path: Path) -> None:
    (tmp_path / "m.debug").mkdir()  # the debug file cannot replace a directory
    (tmp_path / "m.meta").write_bytes(b"old")
    with pytest.raises(OutputError):
        mgstore.export_meta_graph(tmp_path / "m.meta", graph=tiny(), save_debug_info=True)
    assert (tmp_path / "m.meta").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["m.debug", "m.meta"]


def test_the_2gb_limit_raises_tensorflows_error_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mg, "SIZE_LIMIT", 10)
    with pytest.raises(ValueError, match=r"^GraphDef cannot be larger than 2GB\. Received size: "):
        mgstore.export_meta_graph(tmp_path / "m.meta", graph=tiny(), clear_devices=True)
    assert not (tmp_path / "m.meta").exists()
    mgstore.export_meta_graph(
        tmp_path / "m.meta", graph=tiny()
    )  # the as-imported export has no check


def test_a_trailing_slash_is_no_file_name(tmp_path: Path) -> None:
    with pytest.raises(MgstoreError, match="not a file name"):
        mgstore.export_meta_graph(f"{tmp_path}/", graph=tiny())


def test_store_export_by_ref_equals_the_in_memory_export(store: Store, tmp_path: Path) -> None:
    version = store.ingest(FIXTURES / "dense.meta", "dense")
    s = mgstore.read_meta_graph(FIXTURES / "dense.meta")
    for options in ({}, {"export_scope": "tower_1", "clear_devices": True}):
        got = store.export_meta_graph(graph=version.ref, **options)
        assert got == mgstore.export_meta_graph(graph=s, **options)
        again = mgstore.export_meta_graph(graph="dense", store=store, **options)  # cached form
        assert again == got


def test_store_export_writes_stored_debug_info(store: Store, tmp_path: Path) -> None:
    store.ingest(FIXTURES / "dense.meta", "dense")
    store.export_meta_graph(tmp_path / "d.meta", graph="dense", save_debug_info=True)
    debug = mgstore.read_debug_info(tmp_path / "d.debug")
    assert debug.name_to_trace_id and all(k.endswith("@") for k in debug.name_to_trace_id)


def test_query_results_export_their_nodes_from_their_version(store: Store) -> None:
    store.ingest(FIXTURES / "dense.meta", "dense")
    result = store.query("dense", scope="tower_1/", strict_scope=True, closure="inference")
    e = store.export_meta_graph(graph=result)
    full = store.export_meta_graph(graph="dense")
    expected = [n for n in full.graph_def.node if n.name in set(result.nodes)]
    assert list(e.graph_def.node) == expected  # import order and normalised content
    scoped = store.export_meta_graph(graph=result, export_scope="tower_1")
    assert all(not n.name.startswith("tower_1/") for n in scoped.graph_def.node)
    stripped = {n.name.removeprefix("tower_1/") for n in expected if n.name.startswith("tower_1")}
    assert {n.name for n in scoped.graph_def.node} == stripped
    variables = list(e.collection_def["variables"].bytes_list.value)
    assert variables and any(b"tower_1/" in v for v in variables)


def test_a_query_result_from_another_store_is_refused(store: Store, tmp_path: Path) -> None:
    store.ingest(FIXTURES / "dense.meta", "dense")
    result = store.query("dense", scope="tower_1/")
    with Store(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.ingest(FIXTURES / "collections.meta", "dense")
        with pytest.raises(InputError, match="query this store again"):
            other.export_meta_graph(graph=result)

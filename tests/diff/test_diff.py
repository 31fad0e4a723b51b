"""Store.diff: nodes added, removed, changed (op, device, inputs, attrs), scopes counted,
renames found, graph level compared; from content hashes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mgstore import Diff, InputError, NotFoundError, Store
from mgstore.diff import values
from mgstore.proto import AttrValue, MetaGraphDef, TensorShapeProto


def layered(layers: dict[str, int], prefix: str = "") -> Any:
    """A MetaGraphDef with a chain of ``n`` Identity ops under each scope ``name/``."""
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.graph_def.versions.producer = 1
    meta.graph_def.node.add(name="input", op="Placeholder").attr["dtype"].type = 1
    for scope, count in layers.items():
        previous = "input"
        for i in range(count):
            name = f"{prefix}{scope}/op_{i}"
            node = meta.graph_def.node.add(name=name, op="Identity", input=[previous])
            node.attr["T"].type = 1
            previous = name
    meta.collection_def["train_op"].node_list.value.append("input")
    return meta


def test_equal_versions(store: Store) -> None:
    store.ingest(layered({"a": 3}), "g")
    store.ingest(layered({"a": 3}), "h")
    result = store.diff("g", "h")
    assert result.equal and isinstance(result, Diff)
    assert result.a.ref == "g@1" and result.b.ref == "h@1"


def test_node_changes_in_detail(store: Store) -> None:
    old = layered({"a": 3, "b": 2})
    new = MetaGraphDef()
    new.CopyFrom(old)
    nodes = {n.name: n for n in new.graph_def.node}
    nodes["a/op_1"].op = "Relu"
    nodes["a/op_1"].device = "/device:GPU:0"
    nodes["a/op_2"].input.append("^b/op_0")
    nodes["b/op_0"].attr["T"].type = 19  # DT_HALF
    nodes["b/op_0"].attr["_output_shapes"].list.shape.add().CopyFrom(
        TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1), TensorShapeProto.Dim(size=16)])
    )
    del nodes["b/op_1"].attr["T"]
    new.graph_def.node.add(name="c/op_0", op="NoOp")
    store.ingest(old, "g")
    store.ingest(new, "g")

    result = store.diff("g@1", "g@2")
    assert not result.equal
    assert [n.name for n in result.added] == ["c/op_0"] and result.removed == ()
    changed = {c.name: c for c in result.changed}
    assert sorted(changed) == ["a/op_1", "a/op_2", "b/op_0", "b/op_1"]
    assert changed["a/op_1"].op is not None and changed["a/op_1"].op.new == "Relu"
    assert changed["a/op_1"].device is not None
    assert changed["a/op_1"].device.new == "/device:GPU:0"
    assert changed["a/op_2"].inputs == (("a/op_1",), ("a/op_1", "^b/op_0"))
    attrs = {a.key: (a.old, a.new) for a in changed["b/op_0"].attrs}
    assert attrs == {"T": ("DT_FLOAT", "DT_HALF"), "_output_shapes": (None, "[[-1,16]]")}
    assert [(a.key, a.old, a.new) for a in changed["b/op_1"].attrs] == [("T", "DT_FLOAT", None)]
    stats = {s.scope: (s.added, s.removed, s.changed) for s in result.scopes}
    assert stats == {"a/": (0, 0, 2), "b/": (0, 0, 2), "c/": (1, 0, 0)}
    # Reversed, the same changes the other way round.
    back = store.diff("g@2", "g@1")
    assert [n.name for n in back.removed] == ["c/op_0"]
    assert {c.name for c in back.changed} == set(changed)


def test_a_scope_added_reads_as_one_line(store: Store) -> None:
    store.ingest(layered({"a": 2}), "g")
    store.ingest(layered({"a": 2, "layer_5": 69}), "g")
    result = store.diff("g@1", "g@2")
    assert [(s.scope, s.added) for s in result.scopes] == [("layer_5/", 69)]
    assert len(result.added) == 69


def test_renamed_scope_is_a_rename(store: Store) -> None:
    store.ingest(layered({"a": 2, "block": 5}), "g")
    store.ingest(layered({"a": 2, "tower": 5}), "g")
    result = store.diff("g@1", "g@2")
    assert [(r.old, r.new, r.nodes) for r in result.renamed_scopes] == [("block/", "tower/", 5)]
    assert result.added == () and result.removed == ()
    # Not a rename when the content differs too.
    other = layered({"a": 2, "tower": 5})
    other.graph_def.node[-1].op = "Relu"
    store.ingest(other, "g")
    result = store.diff("g@1", "g@3")
    assert result.renamed_scopes == () and len(result.added) == 5


def test_a_rename_below_a_common_scope(store: Store) -> None:
    store.ingest(layered({"a": 2, "block": 5}, prefix="model/"), "g")
    store.ingest(layered({"a": 2, "tower": 5}, prefix="model/"), "g")
    result = store.diff("g@1", "g@2")
    renames = [(r.old, r.new, r.nodes) for r in result.renamed_scopes]
    assert renames == [("model/block/", "model/tower/", 5)]
    assert result.added == () and result.removed == ()


def test_scope_keeps_nodes_under_it(store: Store) -> None:
    store.ingest(layered({"a": 3, "b": 3}), "g")
    store.ingest(layered({"a": 4, "b": 4}), "g")
    result = store.diff("g@1", "g@2", scope="a")
    assert [n.name for n in result.added] == ["a/op_3"]
    assert [s.scope for s in result.scopes] == ["a/"]
    assert result.collections == ()
    assert store.diff("g@1", "g@2", scope="zzz").equal
    assert store.diff("g@1", "g@2", scope="A").equal  # names match with their case
    with pytest.raises(InputError, match="scope"):
        store.diff("g@1", "g@2", scope="/")


def test_graph_level(store: Store) -> None:
    old = layered({"a": 2})
    old.saver_def.filename_tensor_name = "save/Const:0"
    old.signature_def["serving"].method_name = "predict"
    old.signature_def["serving"].inputs["x"].name = "input:0"
    old.graph_def.library.function.add().signature.name = "f"
    new = MetaGraphDef()
    new.CopyFrom(old)
    new.collection_def["train_op"].node_list.value[:] = ["a/op_1"]
    new.collection_def["extra"].int64_list.value.append(3)
    new.saver_def.filename_tensor_name = "save/Const_1:0"
    new.signature_def["serving"].inputs["x"].name = "a/op_0:0"
    new.graph_def.library.function.add().signature.name = "g"
    new.graph_def.versions.producer = 2
    new.meta_info_def.tags.append("train")
    new.asset_file_def.add(filename="vocab.txt")
    store.ingest(old, "g")
    store.ingest(new, "g")
    result = store.diff("g@1", "g@2")
    assert result.added == result.removed == result.changed == ()
    collections = {c.name: c for c in result.collections}
    assert collections["train_op"].members_added == ("a/op_1",)
    assert collections["train_op"].members_removed == ("input",)
    assert collections["extra"].status == "added"
    assert [(c.key, c.old, c.new) for c in result.saver_def] == [
        ("filename_tensor_name", '"save/Const:0"', '"save/Const_1:0"')
    ]
    assert [(s.name, s.status) for s in result.signatures] == [("serving", "changed")]
    assert result.signatures[0].fields[0].key == "inputs[x]"
    assert [(f.name, f.status) for f in result.functions] == [("g", "added")]
    assert [c.key for c in result.versions] == ["producer"]
    assert [c.key for c in result.meta_info_def] == ["tags"]
    assert [(a.name, a.status) for a in result.assets] == [("vocab.txt", "added")]
    data = result.to_dict()
    assert data["equal"] is False and data["a"]["ref"] == "g@1"
    assert data["collections"][0]["name"] == "extra"


def test_only_the_order_changed(store: Store) -> None:
    meta = layered({"a": 3})
    store.ingest(meta, "g")
    nodes = list(meta.graph_def.node)
    del meta.graph_def.node[:]
    meta.graph_def.node.extend(reversed(nodes))
    store.ingest(meta, "g")
    result = store.diff("g@1", "g@2")
    assert result.node_order and not result.changed and not result.equal


def test_content_that_comes_back_is_unchanged(store: Store) -> None:
    store.ingest(layered({"a": 3}), "g")
    store.ingest(layered({"a": 4}), "g")
    store.ingest(layered({"a": 3}), "g")
    assert store.diff("g@1", "g@3").equal
    assert [n.name for n in store.diff("g@3", "g@2").added] == ["a/op_3"]


def test_bad_refs(store: Store) -> None:
    store.ingest(layered({"a": 1}), "g")
    with pytest.raises(NotFoundError):
        store.diff("g@1", "g@9")


def test_attr_values_read_as_text() -> None:
    shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=-1), TensorShapeProto.Dim(size=16)])
    assert values.attr(AttrValue(shape=shape)) == "[-1,16]"
    assert values.attr(AttrValue(shape=TensorShapeProto(unknown_rank=True))) == "<unknown>"
    assert values.attr(AttrValue(type=1)) == "DT_FLOAT"
    assert values.attr(AttrValue(s=b"SAME")) == '"SAME"'
    assert values.attr(AttrValue(b=True)) == "true"
    assert values.attr(AttrValue(list=AttrValue.ListValue(i=[1, 2]))) == "[1, 2]"
    assert values.attr(AttrValue(placeholder="T")) == "$T"
    tensor = AttrValue()
    tensor.tensor.dtype = 1
    tensor.tensor.float_val.append(0.5)
    assert values.attr(tensor) == "dtype: DT_FLOAT float_val: 0.5"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=st.dictionaries(st.sampled_from("abcde"), st.integers(0, 4), max_size=4),
    second=st.dictionaries(st.sampled_from("abcde"), st.integers(0, 4), max_size=4),
)
def test_diff_matches_a_plain_comparison(sqlite_url: str, first: Any, second: Any) -> None:
    """Whatever the two graphs, the node names added, removed and changed are what comparing
    the two node lists by name and content says (renames aside)."""
    with Store(sqlite_url) as store:
        a = store.ingest(layered(first), f"g{len(store.graphs())}").ref
        b = store.ingest(layered(second), a.split("@")[0]).ref
        result = store.diff(a, b)
    old = {n.name: n for n in layered(first).graph_def.node}
    new = {n.name: n for n in layered(second).graph_def.node}
    renamed = {r.old for r in result.renamed_scopes}, {r.new for r in result.renamed_scopes}
    removed = {n for n in old if n not in new and not any(n.startswith(p) for p in renamed[0])}
    added = {n for n in new if n not in old and not any(n.startswith(p) for p in renamed[1])}
    assert {n.name for n in result.removed} == removed
    assert {n.name for n in result.added} == added
    assert {c.name for c in result.changed} == {n for n in old if n in new and old[n] != new[n]}
    assert result.equal == (layered(first) == layered(second))

"""Store.outline: names, ops, devices, edges and collection members from the indexed columns."""

from __future__ import annotations

from mgstore import Store
from tests.web import hostile


def test_outline_is_sorted_with_edges_by_index(store: Store) -> None:
    meta = hostile.scoped_meta()
    meta.graph_def.node.add(name="dangling", op="Identity", input=["not_a_node:1"])
    store.ingest(meta, "g")
    outline = store.outline("g")
    assert outline.version.ref == "g@1"
    assert list(outline.names) == sorted(n.name for n in meta.graph_def.node)
    ops = dict(zip(outline.names, outline.ops, strict=True))
    devices = dict(zip(outline.names, outline.devices, strict=True))
    assert ops["tower/conv"] == "Conv2D" and devices["tower/conv"] == "/device:GPU:0"
    named = {(outline.names[u], outline.names[v], c) for u, v, c in outline.edges}
    assert named == {
        ("input", "tower/conv", False),
        ("tower/conv", "tower/relu", False),
        ("tower/relu", "tower/inner/scale", False),
        ("input", "tower/inner/scale", False),
        ("tower/inner/scale", "head/out", False),
        ("input", "head/out", True),
    }  # the input naming no node draws no edge
    assert list(outline.edges) == sorted(outline.edges)
    assert dict(outline.collections) == {"outputs": ("head/out",)}
    assert outline.to_dict()["nodes"][0] == {"name": "dangling", "op": "Identity", "device": ""}


def test_outline_of_each_version(store: Store) -> None:
    store.ingest(hostile.scoped_meta(), "g")
    store.ingest(hostile.hostile_meta(), "g")
    first, second = store.outline("g@1"), store.outline("g@2")
    assert "tower/conv" in first.names and "tower/conv" not in second.names
    assert hostile.HOSTILE_NODE in second.names
    assert dict(second.collections) == {hostile.HOSTILE_COLLECTION: (hostile.HOSTILE_NODE,)}


def test_outline_of_an_empty_graph(store: Store, small_meta) -> None:  # type: ignore[no-untyped-def]
    store.ingest(small_meta(), "empty")
    outline = store.outline("empty")
    assert outline.names == () and outline.edges == () and dict(outline.collections) == {}

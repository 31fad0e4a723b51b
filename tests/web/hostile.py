"""Graphs for the web view's tests: a small one with scopes, and one whose names, attrs,
devices and collection keys hold markup and quotes (shown, never run)."""

from __future__ import annotations

from typing import Any

from mgstore.proto import AttrValue, MetaGraphDef

SCRIPT = '<script>alert("x")</script>'
HOSTILE_SCOPE = "evil<b>\"'&"
HOSTILE_NODE = f"{HOSTILE_SCOPE}/{SCRIPT}"
HOSTILE_ATTR = '<script>alert("attr")</script>'
HOSTILE_COLLECTION = '<script>alert("collection")</script>'


def scoped_meta() -> Any:
    """input -> tower/{conv,relu} -> head/out, with a control edge and a nested scope."""
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    graph = meta.graph_def
    graph.node.add(name="input", op="Placeholder", device="/device:CPU:0")
    graph.node.add(name="tower/conv", op="Conv2D", input=["input"], device="/device:GPU:0")
    graph.node.add(name="tower/relu", op="Relu", input=["tower/conv"], device="/device:GPU:0")
    graph.node.add(name="tower/inner/scale", op="Mul", input=["tower/relu", "input"])
    graph.node.add(name="head/out", op="Identity", input=["tower/inner/scale", "^input"])
    graph.node.add(name="init", op="NoOp")
    meta.collection_def["outputs"].node_list.value.append("head/out")
    return meta


def hostile_meta() -> Any:
    """Names, an attr, a device and a collection key that are markup."""
    meta = MetaGraphDef()
    graph = meta.graph_def
    graph.node.add(name='in"put', op="Placeholder", device='/device:"CPU":0<i>')
    node = graph.node.add(name=HOSTILE_NODE, op="Identity", input=['in"put'])
    node.attr["label"].CopyFrom(AttrValue(s=HOSTILE_ATTR.encode()))
    graph.node.add(name=f"{HOSTILE_SCOPE}/next'one", op="Identity", input=[HOSTILE_NODE])
    graph.node.add(name="after", op="Identity", input=[f"{HOSTILE_SCOPE}/next'one"])
    meta.collection_def[HOSTILE_COLLECTION].node_list.value.append(HOSTILE_NODE)
    return meta


def changed_meta() -> Any:
    """``scoped_meta`` changed: head/extra added, init removed, tower/relu's attr changed."""
    meta = scoped_meta()
    graph = meta.graph_def
    del graph.node[5]  # init
    relu = next(n for n in graph.node if n.name == "tower/relu")
    relu.attr["T"].CopyFrom(AttrValue(type=1))
    graph.node.add(name="head/extra", op="Identity", input=["head/out"])
    return meta

"""Subgraph queries (mgstore.query) on SQLite and PostgreSQL: filters, closures, literal names."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from mgstore import collections as colls
from mgstore import query as q
from mgstore.db.refs import resolve
from mgstore.errors import ArgumentTypeError, InputError, NotFoundError
from mgstore.graph import to_networkx
from mgstore.proto import CollectionDef, MetaGraphDef

Spec = tuple[str, str, list[str]]


def meta_of(*nodes: Spec | tuple[str, str, list[str], str]) -> Any:
    """A MetaGraphDef of ``(name, op, inputs[, device])`` nodes."""
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    for spec in nodes:
        name, op, inputs = spec[0], spec[1], spec[2]
        node = meta.graph_def.node.add(name=name, op=op, input=inputs)
        if len(spec) == 4:
            node.device = spec[3]  # type: ignore[misc]
    return meta


@pytest.fixture
def dense(store: Any, fixtures_dir: Any) -> tuple[Any, Any]:
    """The store with dense.meta as graph "dense", and the full networkx graph."""
    store.ingest(fixtures_dir / "dense.meta", "dense")
    return store, store.graph("dense")


def members(key: str, item: bytes) -> set[str]:
    one = CollectionDef()
    one.bytes_list.value.append(item)
    return colls.members(key, one)


def names(g: Any) -> list[str]:
    return list(g.nodes)


def in_order(full: Any, keep: Any) -> list[str]:
    return [n for n in full.nodes if keep(n)]


# ------------------------------------------------------------------------------------------
# Filters


def test_scope_is_a_plain_prefix_like_export_scope(dense: tuple[Any, Any]) -> None:
    store, full = dense
    g = store.query("dense", scope="tower_1")
    assert names(g) == in_order(full, lambda n: n.startswith("tower_1"))
    assert {"tower_1", "tower_10/dense/Relu", "tower_1_1/dense/Relu", "tower_1/dense/Relu"} <= set(
        g
    )
    assert "gradients/tower_1/dense/Relu_grad/ReluGrad" not in g
    slash = store.query("dense", scope="tower_1/")
    assert names(slash) == in_order(full, lambda n: n.startswith("tower_1/"))
    assert "tower_1" not in slash and "tower_10/dense/Relu" not in slash
    # Node data and edges are those of the full graph, restricted to the kept nodes.
    for name in g:
        assert g.nodes[name] == full.nodes[name]
    assert set(g.edges(keys=True)) == {
        (u, v, k) for u, v, k in full.edges(keys=True) if u in g and v in g
    }


def test_strict_scope_matches_at_name_scope_boundaries(dense: tuple[Any, Any]) -> None:
    store, full = dense
    want = in_order(full, lambda n: n == "tower_1" or n.startswith("tower_1/"))
    assert names(store.query("dense", scope="tower_1", strict_scope=True)) == want
    assert names(store.query("dense", scope="tower_1/", strict_scope=True)) == want
    assert "tower_1" in want and not any(n.startswith(("tower_10", "tower_1_1")) for n in want)
    assert len(store.query("dense", scope="tower_", strict_scope=True)) == 0
    assert len(store.query("dense", scope="", strict_scope=True)) == 0
    assert len(store.query("dense", scope="")) == len(full)


def test_op_type_device_and_regex_alone_and_combined(dense: tuple[Any, Any]) -> None:
    store, full = dense
    ops = full.nodes(data="op")
    devs = full.nodes(data="device")
    assert names(store.query("dense", op_type="Relu")) == in_order(full, lambda n: ops[n] == "Relu")
    both = store.query("dense", op_type=["VariableV2", "Assign"])
    assert names(both) == in_order(full, lambda n: ops[n] in ("VariableV2", "Assign"))
    gpu = store.query("dense", device="/device:GPU:0")
    assert names(gpu) == in_order(full, lambda n: devs[n] == "/device:GPU:0")
    assert len(gpu) > 0
    two = store.query("dense", device=("/device:GPU:0", "/device:CPU:0"))
    assert names(two) == in_order(full, lambda n: devs[n] in ("/device:GPU:0", "/device:CPU:0"))
    rx = store.query("dense", name_regex=r"kernel/(read|Assign)$")
    assert names(rx) == in_order(full, lambda n: n.endswith(("kernel/read", "kernel/Assign")))
    combined = store.query(
        "dense",
        scope="tower_1",
        op_type="Identity",
        device="/job:ps/task:0",
        name_regex="(kernel|bias)/read$",
    )
    assert names(combined) == in_order(
        full,
        lambda n: (
            n.startswith("tower_1")
            and ops[n] == "Identity"
            and devs[n] == "/job:ps/task:0"
            and n.endswith(("kernel/read", "bias/read"))
        ),
    )
    assert names(combined) == [
        "tower_1/dense/kernel/read",
        "tower_1/dense/bias/read",
        "tower_1/dense_1/kernel/read",
        "tower_1/dense_1/bias/read",
    ]
    assert len(store.query("dense", op_type="NoSuchOp")) == 0


def test_collection_queries(dense: tuple[Any, Any]) -> None:
    store, full = dense
    g = store.query("dense", collection="variables", scope="tower_1/")
    # variable, initializer, snapshot and initial value ops (VariableDef's names)
    assert {"VariableV2", "Assign", "Identity"} <= {full.nodes[n]["op"] for n in g}
    assert {full.nodes[n]["op"] for n in g} <= {
        "VariableV2",
        "Assign",
        "Identity",
        "AddV2",
        "Const",
    }
    assert {
        "tower_1/dense/kernel",
        "tower_1/dense/kernel/Assign",
        "tower_1/dense/kernel/read",
    } <= set(g)
    assert names(g) == in_order(full, lambda n: n in g)
    # Only the variables whose names all belong stay in the collections.
    variables = list(g.graph["collection_def"]["variables"].bytes_list.value)
    want = [
        item
        for item in full.graph["collection_def"]["variables"].bytes_list.value
        if all(n.startswith("tower_1/") for n in members("variables", item))
    ]
    # kernel and bias of dense and dense_1, and their Momentum slots
    assert variables == want and len(want) == 8
    assert "savers" not in g.graph["collection_def"]  # the save ops are not kept
    assert g.graph["saver_def"] is not None
    train = store.query("dense", collection="train_op")
    assert names(train) == ["train"]
    assert dict(train.graph["collection_def"]).keys() == {"train_op"}
    several = store.query("dense", collection=["train_op", "summaries"])
    assert set(several) == {"train", "loss_1", "tower_1/logits"}
    assert len(store.query("dense", collection="no such collection")) == 0


def test_result_keeps_graph_level_parts(dense: tuple[Any, Any]) -> None:
    store, full = dense
    g = store.query("dense", scope="tower_10")
    assert g.graph["versions"] == full.graph["versions"]
    assert g.graph["meta_info_def"] == full.graph["meta_info_def"]
    assert g.graph["signature_def"] == {} and g.graph["debug_info"] is None
    assert set(g.graph["collection_def"]) == {"variables", "trainable_variables"}
    for item in g.graph["collection_def"]["variables"].bytes_list.value:
        assert item.startswith(b"\n\x17tower_10/") or b"tower_10/" in item


# ------------------------------------------------------------------------------------------
# Closures

CHAIN = (
    ("a", "Const", []),
    ("d", "NoOp", []),
    ("b", "Identity", ["a"]),
    ("c", "Add", ["b:0", "a", "^d"]),
    ("f", "Identity", ["c"]),
    ("e", "Const", []),
    ("m", "Merge", ["e", "n"]),  # a cycle, as while loops make
    ("n", "NextIteration", ["m"]),
    ("g", "Identity", ["n:1"]),
)


@pytest.fixture
def chain(store: Any) -> Any:
    store.ingest(meta_of(*CHAIN), "chain")
    return store


def test_ancestors(chain: Any) -> None:
    assert names(chain.query("chain", name_regex="^c$", closure="ancestors")) == [
        "a",
        "d",
        "b",
        "c",
    ]
    assert names(chain.query("chain", op_type="Add", closure="ancestors", depth=1)) == [
        "a",
        "d",
        "b",
        "c",
    ]
    assert names(chain.query("chain", scope="f", closure="ancestors", depth=1)) == ["c", "f"]
    assert names(chain.query("chain", scope="f", closure="ancestors", depth=2)) == [
        "a",
        "d",
        "b",
        "c",
        "f",
    ]
    assert names(chain.query("chain", scope="c", closure="ancestors", depth=0)) == ["c"]
    assert names(chain.query("chain", scope="g", closure="ancestors")) == ["e", "m", "n", "g"]
    g = chain.query("chain", scope="c", closure="ancestors")
    assert {(u, v, d["control"]) for u, v, d in g.edges(data=True)} == {
        ("a", "b", False),
        ("b", "c", False),
        ("a", "c", False),
        ("d", "c", True),
    }


def test_descendants(chain: Any) -> None:
    assert names(chain.query("chain", scope="a", closure="descendants")) == ["a", "b", "c", "f"]
    assert names(chain.query("chain", scope="a", closure="descendants", depth=1)) == [
        "a",
        "b",
        "c",
    ]
    assert names(chain.query("chain", scope="d", closure="descendants")) == ["d", "c", "f"]
    assert names(chain.query("chain", scope="e", closure="descendants")) == ["e", "m", "n", "g"]
    both = chain.query("chain", op_type=["NoOp", "Merge"], closure="descendants", depth=1)
    assert names(both) == ["d", "c", "m", "n"]


def test_a_version_does_not_see_later_nodes(store: Any) -> None:
    store.ingest(meta_of(("a", "Const", []), ("b", "Identity", ["a"])), "v")
    store.ingest(
        meta_of(("a", "Const", []), ("b", "Identity", ["a"]), ("c", "Identity", ["a"])), "v"
    )
    assert names(store.query("v@1")) == ["a", "b"]
    assert names(store.query("v@1", closure="descendants", scope="a")) == ["a", "b"]
    assert names(store.query("v@2", closure="descendants", scope="a")) == ["a", "b", "c"]
    assert names(store.query("v", scope="c", closure="ancestors")) == ["a", "c"]
    assert store.scopes("v@1") == [("a", 1), ("b", 1)]


def test_closures_through_a_name_holding_nul(store: Any) -> None:
    """A node name may hold NUL (the store keeps it): closures that follow its edges find it
    and its edge rows agree with its inputs (SQLite's JSON functions would end the name at
    the NUL). PostgreSQL keeps no NUL in text: there the ingest is refused."""
    meta = meta_of(("w", "NoOp", []), ("x\0y", "NoOp", ["^w"]))
    if store.url.startswith("postgresql"):
        with pytest.raises(InputError, match="NUL"):
            store.ingest(meta, "nul")
        return
    store.ingest(meta, "nul")
    assert names(store.query("nul", scope="x", closure="ancestors")) == ["w", "x\0y"]
    assert names(store.query("nul", scope="w", closure="descendants")) == ["w", "x\0y"]
    assert store.fsck().ok


# ------------------------------------------------------------------------------------------
# Literal matching

ODD = [
    "a_b/x",
    "aXb/x",
    "a%b/x",
    "aZZb/x",
    "a\\b/x",
    "a\\\\b",
    "a'b/x",
    'a"b/x',
    "a*b/x",
    "aQb",
    "a?b",
    "a[b]c/x",
    "abc",
    "ABC/x",
    "Ab/x",
    "ünï/x",
    "ünï",
    "ü",
    "日本/語",
    "a b/x",
]


def test_names_match_literally(store: Any) -> None:
    store.ingest(meta_of(*((n, "NoOp", []) for n in ODD)), "odd")
    prefixes = [
        "a_",
        "a%",
        "a\\",
        "a\\\\",
        "a'",
        'a"',
        "a*",
        "a?",
        "a[b]",
        "a[",
        "ab",
        "Ab",
        "ünï",
        "ü",
        "日本/",
        "a ",
        "a",
        "A",
        "%",
        "_",
        "\\",
        "*",
    ]
    for prefix in prefixes:
        got = names(store.query("odd", scope=prefix))
        assert got == [n for n in ODD if n.startswith(prefix)], prefix
        strict = names(store.query("odd", scope=prefix, strict_scope=True))
        base = prefix[:-1] if prefix.endswith("/") else prefix  # one trailing "/" is ignored
        assert strict == [n for n in ODD if n == base or n.startswith(base + "/")], prefix
    assert names(store.query("odd", name_regex=r"^a\\b")) == ["a\\b/x"]


# ------------------------------------------------------------------------------------------
# Query plans


def test_scope_query_uses_the_name_index(dense: tuple[Any, Any]) -> None:
    """The scope filter is answered through ix_nodes_name_graph on both databases.

    On PostgreSQL, with statistics (ANALYZE, as autovacuum gives), the planner still prefers a
    sequential scan of a table this small, so the test turns ``enable_seqscan`` off to see
    which index it picks (without the ``graph_id + 0`` of mgstore.query it would be the
    (graph_id, op) index). A LIKE prefix uses a default btree only in the "C" collation; in
    the test database's C.UTF-8 (code point order) mgstore.query adds the range
    ``name >= 'tower_1' AND name < 'tower_2'``, which the index answers; in a linguistic
    collation only LIKE is used, and the index would need ``text_pattern_ops``.
    """
    store, _ = dense
    store.ingest(meta_of(*CHAIN), "other")  # more graphs, as in a real store
    store.ingest(meta_of(("tower_1", "NoOp", [])), "third")
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE nodes")  # what autovacuum does on a live server
        row = resolve(conn, "dense")
        for strict in (False, True):
            cond = q.node_filter(conn, row, "tower_1", strict, None, None, None)
            stmt = select(q.N.c.id, q.NM.c.name).select_from(q.named()).where(cond)
            compiled = stmt.compile(dialect=conn.dialect)
            if conn.dialect.name == "sqlite":
                args: Any = tuple(compiled.params[k] for k in compiled.positiontup or ())
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + compiled.string, args).all()
                text = " | ".join(str(r[-1]) for r in plan)
            else:
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = conn.exec_driver_sql("EXPLAIN " + compiled.string, compiled.params).all()
                text = " | ".join(r[0] for r in plan)
            print(conn.dialect.name, "strict" if strict else "prefix", text)
            assert "ix_nodes_name_graph" in text, text
            assert "SCAN nodes" not in text and "Seq Scan" not in text, text
        conn.rollback()


# ------------------------------------------------------------------------------------------
# Scopes and errors


def test_scopes(dense: tuple[Any, Any]) -> None:
    store, full = dense
    top = store.scopes("dense", depth=1)
    assert top == sorted(Counter(n.split("/")[0] for n in full).items())
    assert ("tower_1", 53) in top and ("tower_10", 25) in top
    every = dict(store.scopes("dense"))
    assert every["tower_1/dense"] == len([n for n in full if n.startswith("tower_1/dense/")])
    assert every["tower_1/dense/kernel/read"] == 1
    two = dict(store.scopes("dense", depth=2))
    assert "tower_1/dense" in two and "tower_1/dense/kernel" not in two
    assert store.scopes("dense", depth=0) == []


def test_errors(chain: Any) -> None:
    with pytest.raises(NotFoundError):
        chain.query("nope")
    with pytest.raises(NotFoundError):
        chain.query("chain@7")
    with pytest.raises(NotFoundError):
        chain.scopes("nope")
    with pytest.raises(InputError):
        chain.query("chain", closure="upstream")
    with pytest.raises(InputError):
        chain.query("chain", closure="ancestors", depth=-1)
    with pytest.raises(InputError):
        chain.query("chain", depth=2)
    with pytest.raises(ArgumentTypeError):
        chain.query("chain", closure="ancestors", depth=True)
    with pytest.raises(ArgumentTypeError):
        chain.query("chain", scope=5)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        chain.query("chain", op_type=[1])  # type: ignore[list-item]
    with pytest.raises(ArgumentTypeError):
        chain.query("chain", device=b"x")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        chain.query("chain", collection=[])
    with pytest.raises(InputError):
        chain.query("chain", name_regex="(")
    with pytest.raises(ArgumentTypeError):
        chain.query("chain", strict_scope="yes")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        chain.scopes("chain", depth=-1)


# ------------------------------------------------------------------------------------------
# TensorFlow


@pytest.mark.tf
def test_ancestors_match_extract_sub_graph(tf: Any, store: Any, fixtures_dir: Any) -> None:
    store.ingest(fixtures_dir / "dense.meta", "dense")
    graph_def = tf.compat.v1.GraphDef.FromString(
        store.checkout("dense").graph_def.SerializeToString()
    )
    for dest in (["loss"], ["tower_1_1/dense/Relu", "tower_1"], ["train"]):
        want = tf.compat.v1.graph_util.extract_sub_graph(graph_def, dest)
        seeds = "|".join(dest)
        got = store.query("dense", name_regex=f"^({seeds})$", closure="ancestors")
        assert names(got) == [n.name for n in want.node], dest
        assert names(got) == names(to_networkx(_meta(want)))


def _meta(graph_def: Any) -> Any:
    meta = MetaGraphDef()
    meta.graph_def.ParseFromString(graph_def.SerializeToString())
    return meta


def test_store_methods_delegate(store: Any, fixtures_dir: Any) -> None:
    """``Store.query`` and ``Store.scopes`` are the public face of mgstore.query."""
    store.ingest(fixtures_dir / "dense.meta", "dense")
    assert list(store.query("dense", scope="tower_1/", strict_scope=True)) == list(
        store.query("dense", scope="tower_1/", strict_scope=True)
    )
    assert store.scopes("dense", depth=1) == store.scopes("dense", depth=1)

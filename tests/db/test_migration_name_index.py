"""Migration 0015_name_index_versions down and up with data present, on SQLite and PostgreSQL:
the name index of node rows loses and regains its version span, and scope queries, closures
and content lookups across versions give the same answers before and after."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from mgstore import Store
from mgstore.proto import MetaGraphDef
from tests.db.migration_steps import below, connection, step

NAME_INDEX = "0015_name_index_versions"


def graph(k: int) -> Any:
    """A chain of blocks whose first ``k`` blocks changed in version ``k``."""
    meta = MetaGraphDef()
    for i in range(12):
        node = meta.graph_def.node.add(name=f"block_{i}/dense", op="MatMul")
        node.input.extend([f"block_{i - 1}/dense"] if i else [])
        node.device = f"/cpu:{int(i < k)}"
    return meta


def columns(url: str) -> list[str]:
    with connection(url) as conn:
        found = {i["name"]: i["column_names"] for i in inspect(conn).get_indexes("nodes")}
    return list(found["ix_nodes_name_graph"])


def answers(url: str) -> list[object]:
    with Store(url) as store:
        return [
            sorted(store.query(f"g@{k}", scope="block_1").nodes(data="device")) for k in (1, 2, 3)
        ] + [
            sorted(store.query("g@2", scope="block_3/", closure="ancestors").nodes),
            store.fsck().ok,
        ]


def test_down_and_up_with_data(migrated_url: str) -> None:
    with Store(migrated_url) as store:
        for k in (1, 2, 3):
            store.ingest(graph(k), "g")
        store.ingest(graph(1), "g")  # content found in an older row, by name
    # At the head the index holds the name's id (revision 0019_interned_names).
    assert columns(migrated_url) == ["name_id", "graph_id", "last_version", "first_version"]
    expected = answers(migrated_url)
    assert expected[0] == [("block_1/dense", "/cpu:0"), ("block_10/dense", "/cpu:0"),
                           ("block_11/dense", "/cpu:0")]  # fmt: skip
    assert expected[2][:2] == [("block_1/dense", "/cpu:1"), ("block_10/dense", "/cpu:0")]

    step(migrated_url, below(NAME_INDEX), down=True)
    assert columns(migrated_url) == ["name", "graph_id"]  # (mgstore opens only the head revision)
    step(migrated_url, NAME_INDEX, down=False)
    assert columns(migrated_url) == ["name", "graph_id", "last_version", "first_version"]
    step(migrated_url, "head", down=False)
    assert columns(migrated_url) == ["name_id", "graph_id", "last_version", "first_version"]
    assert answers(migrated_url) == expected

"""Helpers shared by the Store tests: what is in the tables, and small graphs built in code.

They are handed out as fixtures (``counts``, ``dump``, ``small_meta``) so that test modules need
not import this file, whatever pytest's import mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from mgstore import Store
from mgstore.db.models import Base
from mgstore.proto import AttrValue, MetaGraphDef


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows in every table of the schema."""
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in Base.metadata.sorted_tables
        }


def table_dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: "unchanged" means exactly this."""
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }


def small_meta(*names: str, op: str = "NoOp", label: str | None = None) -> Any:
    """A MetaGraphDef of a chain of ops named ``names`` (each takes the previous one as input)."""
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    previous = None
    for name in names:
        node = meta.graph_def.node.add(name=name, op=op)
        if previous is not None:
            node.input.append(f"^{previous}")
        if label is not None:
            node.attr["label"].CopyFrom(AttrValue(s=label.encode()))
        previous = name
    return meta


@pytest.fixture
def counts() -> Callable[[Store], dict[str, int]]:
    return lambda store: row_counts(store.engine)


@pytest.fixture
def dump() -> Callable[[Store], dict[str, list[tuple[Any, ...]]]]:
    return lambda store: table_dump(store.engine)


@pytest.fixture(name="small_meta")
def small_meta_fixture() -> Callable[..., Any]:
    return small_meta

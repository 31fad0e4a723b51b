"""Migration 0009_trust_gaps (the chain indexed by graph and version number) down and up again
with data present, on SQLite and PostgreSQL: the downgrade drops the columns and keeps the
append-only triggers; the upgrade fills the columns of existing records from their payloads,
and reads that check version metadata against the chain work at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, inspect, select, text

from mgstore import Store, StoreError
from mgstore.db import engine as db
from mgstore.db import migrate
from mgstore.proto import MetaGraphDef

BEFORE = "0006"


def test_down_and_up_with_data(migrated_url: str, tmp_path: Path) -> None:
    with Store(migrated_url) as store:
        meta = MetaGraphDef()
        meta.graph_def.node.add(name="a", op="NoOp")
        store.ingest(meta, "net", message="one", tags={"stage": "dev"})
        store.export(tmp_path / "one.meta", "net@1")
        meta.graph_def.node.add(name="b", op="NoOp")
        store.ingest(meta, "net", message="two")
        store.tag("net@2", {"stage": "prod"})
        store.set_alias("net", "prod", "net@2")
        store.remove_alias("net", "prod")
        store.delete("net@1", force=True)
        store.gc()
        expected = [(e.seq, e.kind) for e in store.audit_log()]
    engine = db.create(migrated_url)
    try:
        migrate.downgrade(engine, BEFORE)
        assert migrate.current(engine) == BEFORE
        columns = {c["name"] for c in inspect(engine).get_columns("audit_events")}
        assert not {"graph", "number"} & columns
        with (  # the triggers stayed
            pytest.raises(StoreError, match="append-only"),
            db.transaction(engine, write=True) as conn,
        ):
            conn.execute(text("UPDATE audit_events SET username = 'mallory'"))
        migrate.upgrade(engine)
        with engine.connect() as conn:
            events = Table("audit_events", MetaData(), autoload_with=conn)
            named = conn.execute(
                select(events.c.seq, events.c.kind, events.c.graph, events.c.number).order_by(
                    events.c.seq
                )
            ).all()
    finally:
        engine.dispose()
    assert [(seq, kind) for seq, kind, _, _ in named] == expected
    by_kind = {(kind, graph, number) for _, kind, graph, number in named}
    assert {("ingest", "net", 1), ("ingest", "net", 2), ("tag", "net", 2)} <= by_kind
    assert ("export", "net", 1) in by_kind and ("alias_removed", "net", None) in by_kind
    assert ("gc", None, None) in by_kind
    with Store(migrated_url) as store:
        assert store.audit_check().ok
        assert [(v.number, dict(v.tags)) for v in store.versions("net", deleted=True)] == [
            (2, {"stage": "prod"}),
            (1, {"stage": "dev"}),
        ]
        with (
            pytest.raises(StoreError, match="append-only"),
            db.transaction(store.engine, write=True) as conn,
        ):
            conn.execute(text("UPDATE audit_events SET graph = 'other'"))

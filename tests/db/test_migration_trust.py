"""Migration 0006 (one chain for the whole history, digests for checked reads) down and up
again with data present, on SQLite and PostgreSQL: the downgraded exports form revision
0002's chain of their own; the upgrade records every version and export, in the order they
happened, in one chain that checks out, and digests that fsck accepts."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, select

from mgstore import Store, audit
from mgstore.db import engine as db
from mgstore.db import migrate
from mgstore.proto import MetaGraphDef

# Revision 0002's link of an exports row: every column but the link, canonical JSON.
HASHED = (
    "seq", "id", "status", "version_id", "graph", "version", "content_hash", "query", "options",
    "path", "sha256", "size", "debug_path", "debug_sha256", "created_at", "username", "hostname",
    "mgstore_version", "protobuf_version", "duration", "error",
)  # fmt: skip


def old_link(row: dict[str, Any]) -> str:
    fields = {k: row[k] for k in HASHED}
    created = row["created_at"]
    created = created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created
    fields["created_at"] = created.astimezone(timezone.utc).isoformat(timespec="microseconds")
    fields["duration"] = float(fields["duration"])
    return hashlib.sha256((row["prev_hash"] + audit.canonical_json(fields)).encode()).hexdigest()


def filled(db_url: str, tmp_path: Path) -> list[str]:
    """A store with versions, tags, collections, exports (one failed) and an import form."""
    if not db_url.startswith("sqlite"):
        migrate.upgrade_database(db_url)
    with Store(db_url) as store:
        meta = MetaGraphDef()
        meta.graph_def.node.add(name="a", op="NoOp")
        meta.collection_def["train_op"].node_list.value.append("a")
        store.ingest(meta, "net", message="one", tags={"stage": "dev"})
        store.export(tmp_path / "one.meta", "net@1")
        meta.graph_def.node.add(name="b", op="NoOp", input=["^a"])
        store.ingest(meta, "net", message="two")
        store.ingest(meta, "other")
        store.export(tmp_path / "two.meta", "net@2", export_scope="b")
        with contextlib.suppress(Exception):  # recorded as failed, which is what is wanted
            store.export(tmp_path / "no" / "such" / "dir" / "x.meta", "other")
        assert store.audit_check().ok
        return [e.kind for e in store.audit_log()]


def exports_rows(engine: Engine) -> list[dict[str, Any]]:
    from sqlalchemy import MetaData, Table

    with engine.connect() as conn:
        table = Table("exports", MetaData(), autoload_with=conn)
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.seq))]


def test_down_and_up_with_data(db_url: str, tmp_path: Path) -> None:
    kinds = filled(db_url, tmp_path)
    assert kinds == ["ingest", "export", "ingest", "ingest", "export", "export"]
    engine = db.create(db_url)
    try:
        migrate.downgrade(engine, "0005", drop_data=True)
        assert "audit_events" not in inspect(engine).get_table_names()
        assert "members_sha256" not in {
            c["name"] for c in inspect(engine).get_columns("collections")
        }
        old = exports_rows(engine)
        assert [r["seq"] for r in old] == [1, 2, 3]
        prev = audit.GENESIS
        for row in old:  # revision 0002's chain of exports, intact
            assert row["prev_hash"] == prev and row["record_hash"] == old_link(row)
            prev = row["record_hash"]
        with engine.connect() as conn:
            head = conn.exec_driver_sql("SELECT seq, record_hash FROM audit_head").one()
        assert tuple(head) == (3, prev)

        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with Store(db_url) as store:
        report = store.audit_check()
        assert report.ok and report.records == 6
        events = store.audit_log()
        assert [e.kind for e in events] == kinds  # in the order they happened
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)
        assert events[0].payload["tags"] == {"stage": "dev"}
        assert {e.payload["id"] for e in events if e.kind == "export"} == {r["id"] for r in old}
        assert store.fsck(deep=True).ok
        store.ingest(store.checkout("net@1"), "net", allow_unchanged=True)  # goes on from there
        store.export(tmp_path / "three.meta", "net@3")
        assert store.audit_check().ok and store.audit_check().records == 8

"""Garbage collection: what only deleted versions used goes, everything else stays intact;
exports of collected versions keep their records; safe beside concurrent ingests (SQLite and
PostgreSQL)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from mgstore import GcReport, InputError, NotFoundError, Store, byte_layout
from mgstore.db import engine as db
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef
from tests import workers

NODES = 200
VERSIONS = 50
TIMEOUT = 120


def version_meta(k: int) -> Any:
    """Version ``k`` (1-based) of a 200-node graph: nodes 2k-2 and 2k-1 (1%) carry k's label;
    every version shares the other 99% with the base."""
    meta = MetaGraphDef()
    for i in range(NODES):
        node = meta.graph_def.node.add(name=f"scope_{i // 20}/n{i}", op="NoOp")
        label = f"v{k}" if i in (2 * k - 2, 2 * k - 1) else "base"
        node.attr["_label"].CopyFrom(AttrValue(s=label.encode() * 20))  # exportable: "_"
    return meta


def stored_bytes(store: Store) -> int:
    """The bytes of node content, blobs and node orders in the store."""
    tables = metadata.tables
    with store.engine.connect() as conn:
        return sum(
            int(conn.execute(select(func.coalesce(func.sum(func.length(c)), 0))).scalar_one())
            for c in (
                tables["packs"].c.data,
                tables["blobs"].c.data,
                tables["versions"].c.node_order,
            )
        )


def test_gc_frees_about_what_only_the_deleted_version_held(store: Store) -> None:
    for k in range(1, VERSIONS + 1):
        store.ingest(version_meta(k), "g")
    victim = 25
    unique = sum(
        len(byte_layout.frame(node.SerializeToString(deterministic=True)))
        for node in version_meta(victim).graph_def.node[2 * victim - 2 : 2 * victim]
    )
    before = stored_bytes(store)
    store.delete(f"g@{victim}")
    dry = store.gc(dry_run=True)
    assert stored_bytes(store) == before and dry.dry_run
    report = store.gc()
    assert isinstance(report, GcReport) and report.versions == (f"g@{victim}",)
    assert (report.pack_bytes, report.node_rows) == (dry.pack_bytes, dry.node_rows)
    after = stored_bytes(store)
    assert before - after == report.freed_bytes
    # What only that version held: its two nodes' bytes, and its own node order.
    assert report.pack_bytes == unique and report.packs >= 1
    assert report.freed_bytes <= unique + report.order_bytes
    assert report.order_bytes > 0 and report.freed_bytes < before / (VERSIONS / 2)
    for k in (1, victim - 1, victim + 1, VERSIONS):
        assert store.checkout(f"g@{k}") == version_meta(k)
    assert store.gc().versions == ()  # nothing left to collect


def test_gc_of_the_latest_and_ingests_after(store: Store) -> None:
    for k in range(1, 4):
        store.ingest(version_meta(k), "g")
    store.delete("g@3")
    store.delete("g@2")
    report = store.gc()
    assert report.versions == ("g@2", "g@3")
    assert store.checkout("g") == version_meta(1)
    again = store.ingest(version_meta(3), "g")  # content the gc removed comes back
    assert again.number == 4 and store.checkout("g@4") == version_meta(3)
    assert store.diff("g@1", "g@4").changed != ()
    log = store.versions("g", deleted=True)
    assert [(v.number, v.collected) for v in log] == [(4, False), (3, True), (2, True), (1, False)]


def test_exports_of_a_collected_version(store: Store, tmp_path: Path) -> None:
    for k in range(1, 3):
        store.ingest(version_meta(k), "g")
    record = store.export(tmp_path / "two.meta", "g~0")
    assert record.requested_ref == "g~0" and record.ref == "g@2"
    store.delete("g@2", force=True)
    store.gc()
    assert [v.status for v in store.verify(record.id)] == ["ok"]
    with pytest.raises(NotFoundError, match="garbage-collected"):
        store.reproduce(record.id)
    with pytest.raises(InputError, match="garbage-collected"):
        store.restore("g@2")
    with pytest.raises(NotFoundError, match="garbage-collected"):
        store.checkout("g@2")
    assert store.audit_check().ok


def _gc_or_ingest(url: str, worker: int, barrier: Any, results: Any) -> None:
    """Worker 0 collects (three times); the others ingest, into graphs of their own, the very
    content of the deleted versions, which the store would share with their rows."""
    try:
        with Store(url) as store:
            store.graphs()
            barrier.wait(TIMEOUT)
            done: list[Any] = []
            if worker == 0:
                for _ in range(3):
                    done.extend(db.retrying(store.gc).versions)
            else:
                for k in range(2, 10):
                    done.append(store.ingest(version_meta(k), f"w{worker}").ref)
        results.put((worker, done, None))
    except BaseException as error:  # handed to the test process
        results.put((worker, [], f"{type(error).__name__}: {error}"))


def test_gc_beside_concurrent_ingests(store: Store) -> None:
    for k in range(1, 10):
        store.ingest(version_meta(k), "g")
    for k in range(2, 10):
        store.delete(f"g@{k}")
    ctx = workers.context([__name__, "mgstore", "psycopg"])
    outcomes = workers.run(ctx, _gc_or_ingest, (store.url,), 3, TIMEOUT)
    assert sorted(outcomes[0]) == sorted(f"g@{k}" for k in range(2, 10))
    for worker in (1, 2):
        for k in range(2, 10):
            assert store.checkout(f"w{worker}@{k - 1}") == version_meta(k)
    assert store.checkout("g@1") == version_meta(1)
    store.delete("w1@3")
    store.gc()
    assert store.checkout("w2@2") == version_meta(3)


def test_gc_with_vacuum_gives_the_space_back(store: Store) -> None:
    """On SQLite the file shrinks by about the deleted version's own content; on PostgreSQL
    VACUUM runs (outside a transaction, as it must)."""

    def big(k: int) -> Any:
        meta = version_meta(1)
        # Random bytes: packs are compressed where that pays (docs/storage.md §3.4).
        noise = random.Random(k).randbytes(2_000_000)
        meta.graph_def.node[0].attr["_blob"].CopyFrom(AttrValue(s=noise))
        return meta

    for k in range(1, 4):
        store.ingest(big(k), "g")
    path = store.engine.url.database if store.engine.dialect.name == "sqlite" else None
    if path:
        store.gc(vacuum=True)  # nothing to collect: the file as compact as it gets
        before = Path(path).stat().st_size + _wal(path)
    store.delete("g@2")
    report = store.gc(vacuum=True)
    assert report.versions == ("g@2",) and report.pack_bytes > 2_000_000
    if path:
        shrunk = before - Path(path).stat().st_size - _wal(path)
        assert 0.95 * report.freed_bytes < shrunk < 1.05 * report.freed_bytes  # pages aside
    assert store.checkout("g@3") == big(3)


def _wal(path: str) -> int:
    wal = Path(path + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_diff_across_a_collected_version_is_unchanged(store: Store) -> None:
    for k in range(1, 6):
        store.ingest(version_meta(k), "g")
    before = store.diff("g@1", "g@5").to_dict()
    store.delete("g@3")
    store.delete("g@4")
    store.gc()
    after = store.diff("g@1", "g@5").to_dict()
    assert after == before and len(after["changed"]) == 4


def test_gc_removes_the_outline_parts_only_collected_versions_used(store: Store) -> None:
    """Versions share the parts of their stored outlines they have in common (here all but
    the devices of version 2); gc removes version 2's own part and keeps the shared ones."""
    tables = metadata.tables
    parts, outlines = tables["outline_parts"], tables["version_outlines"]
    metas = [version_meta(1) for _ in range(3)]
    metas[1].graph_def.node[0].device = "/gpu:0"
    for meta in metas:
        store.ingest(meta, "g", allow_unchanged=True)

    def stored() -> tuple[set[bytes], int]:
        with store.engine.connect() as conn:
            shas = {bytes(sha) for sha in conn.execute(select(parts.c.sha256)).scalars()}
            rows = conn.execute(select(func.count()).select_from(outlines)).scalar_one()
        return shas, int(rows)

    before, rows = stored()
    assert (len(before), rows) == (6, 3)  # five parts, and version 2's devices
    store.delete("g@2")
    store.gc()
    after, rows = stored()
    assert (len(after), rows) == (5, 2)
    assert store.outline("g@3").devices[0] == "" and store.fsck().ok
    store.delete("g@1")
    store.delete("g@3", force=True)
    store.gc()
    assert stored() == (set(), 0)

"""Reads that hand out a version's metadata (``show``, ``log``, ``Store.versions()``,
``Store.version()``, ``which``, the web view through them) compare the version row and its
tags with the version's ingest and tag records in the chain, on SQLite and PostgreSQL: an
edited row, tag or record raises IntegrityError naming the version (docs/audit.md, "Version
metadata checked on read")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from mgstore import IntegrityError, Store
from mgstore.cli import main
from mgstore.db.models import metadata
from mgstore.proto import GraphDebugInfo, MetaGraphDef

TABLES = metadata.tables
V, A, T = TABLES["versions"], TABLES["audit_events"], TABLES["version_tags"]


def graph(*names: str) -> Any:
    meta = MetaGraphDef()
    for name in names:
        meta.graph_def.node.add(name=name, op="NoOp")
    return meta


@pytest.fixture
def net(store: Store) -> Store:
    store.ingest(graph("a"), "net", message="first", tags={"stage": "dev"})
    store.ingest(graph("a", "b"), "net", message="second")
    store.tag("net@2", {"stage": "prod"})
    store.tag("net@1", remove=["stage"])
    return store


def every_read_refuses(store: Store, ref: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every read that prints the version's metadata raises (or exits 1) naming ``ref``."""
    name = ref.split("@")[0]
    with pytest.raises(IntegrityError, match=f"^{ref}: "):
        store.version(ref)
    with pytest.raises(IntegrityError, match=f"^{ref}: "):
        store.versions(name)
    for args in (["show", ref], ["log", name]):
        assert main(["--db", store.url, *args]) == 1, args
        err = capsys.readouterr().err.strip()
        assert ref in err and len(err.splitlines()) == 1, err


def test_intact_versions_read_as_usual(net: Store) -> None:
    assert [(v.number, dict(v.tags)) for v in net.versions("net")] == [
        (2, {"stage": "prod"}),
        (1, {}),
    ]
    assert net.version("net@1").message == "first"


@pytest.mark.parametrize(
    "column, value",
    [
        ("message", "tampered"),
        ("created_by", "mallory@elsewhere"),
        ("source_path", "/forged.meta"),
        ("node_count", 7),
    ],
)
def test_an_edited_version_row(
    net: Store, column: str, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with net.engine.begin() as conn:
        conn.execute(V.update().where(V.c.number == 1).values({column: value}))
    every_read_refuses(net, "net@1", capsys)
    with pytest.raises(IntegrityError, match=f"audit chain in {column} "):
        net.version("net@1")
    assert net.version("net@2").message == "second"  # the other version reads as usual


def test_an_edited_creation_time(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with net.engine.begin() as conn:
        created = conn.execute(select(V.c.created_at).where(V.c.number == 2)).scalar_one()
        conn.execute(
            V.update()
            .where(V.c.number == 2)
            .values(created_at=created.replace(year=created.year - 1))
        )
    every_read_refuses(net, "net@2", capsys)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE version_tags SET value = 'forged'",  # net@2's stage
        "DELETE FROM version_tags",
        "INSERT INTO version_tags (version_id, key, value) "
        "SELECT id, 'approved', 'yes' FROM versions WHERE number = 2",
    ],
)
def test_an_edited_tag(net: Store, statement: str, capsys: pytest.CaptureFixture[str]) -> None:
    with net.engine.begin() as conn:
        conn.execute(text(statement))
    every_read_refuses(net, "net@2", capsys)
    with pytest.raises(IntegrityError, match="audit chain in tags "):
        net.version("net@2")


def test_an_edited_ingest_record(
    net: Store, tamper: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record changed to agree with an edited row: its own link no longer holds."""
    with tamper() as conn:
        seq, payload = conn.execute(
            select(A.c.seq, A.c.payload).where(A.c.kind == "ingest", A.c.number == 1)
        ).one()
        forged = {**json.loads(payload), "message": "tampered"}
        conn.execute(A.update().where(A.c.seq == seq).values(payload=json.dumps(forged)))
        conn.execute(V.update().where(V.c.number == 1).values(message="tampered"))
    every_read_refuses(net, "net@1", capsys)
    with pytest.raises(IntegrityError, match=f"its ingest record {seq} in the audit chain"):
        net.version("net@1")


def test_a_removed_or_moved_record(
    net: Store, tamper: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with tamper() as conn:  # net@1's ingest record now claims to be about another graph
        conn.execute(
            A.update().where(A.c.kind == "ingest", A.c.number == 1).values(graph="elsewhere")
        )
    every_read_refuses(net, "net@1", capsys)
    with pytest.raises(IntegrityError, match="no ingest record"):
        net.version("net@1")


def test_which_says_the_version_was_edited(net: Store, tmp_path: Path) -> None:
    net.export(tmp_path / "x.meta", "net@1")
    assert net.which(tmp_path / "x.meta")[0].problem is None
    with net.engine.begin() as conn:
        conn.execute(V.update().where(V.c.number == 1).values(message="tampered"))
    problem = net.which(tmp_path / "x.meta")[0].problem
    assert problem is not None and "its version differs from the audit chain" in problem


def test_collected_versions_still_agree_with_their_records(store: Store, tmp_path: Path) -> None:
    """gc (a recorded change) clears a collected version's node order and debug info."""
    meta = graph("a")
    (tmp_path / "m.meta").write_bytes(meta.SerializeToString())
    info = GraphDebugInfo()
    info.files.append("train.py")
    (tmp_path / "m.debug").write_bytes(info.SerializeToString())
    assert store.ingest(tmp_path / "m.meta", "net", message="with debug info").debug_hash
    store.ingest(graph("a", "b"), "net")
    store.delete("net@1")
    store.gc()
    assert [v.number for v in store.versions("net", deleted=True)] == [2, 1]
    assert store.version("net@2").number == 2
    assert store.audit_check().ok and store.fsck().ok

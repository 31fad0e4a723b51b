"""Recording exports: every field of a successful and of a failed export, canonical JSON,
validation, the history with its filters, lookups by id, and the append-only guarantees."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

import mgstore
from mgstore import (
    AmbiguousRefError,
    ArgumentTypeError,
    InputError,
    NotFoundError,
    Store,
    StoreError,
    audit,
)
from mgstore.db import engine as db
from mgstore.db.tables import AUDIT_HEAD as H
from mgstore.db.tables import EXPORTS as X

SHA_A = hashlib.sha256(b"a").hexdigest()


def test_a_successful_export_records_every_field(
    append: Any, read: Any, versions: dict[int, int], tmp_path: Path, store: Store
) -> None:
    before = datetime.now(timezone.utc)
    record = append(
        version_id=versions[2],
        query={"scope": "block/", "op_type": ("Conv2D", "MatMul"), "depth": None},
        options={"as_text": False, "strip_default_attrs": True, "dir": tmp_path},
        path=tmp_path / "sub" / ".." / "out.meta",
        sha256=SHA_A.upper(),
        size=1,
        debug_path=tmp_path / "out.debug",
        debug_sha256=SHA_A,
        duration=1.5,
    )
    after = datetime.now(timezone.utc)

    assert len(record.id) == 32 and record.seq == 3 and record.ok  # after 2 ingest records
    assert (record.graph, record.version, record.ref) == ("net", 2, "net@2")
    assert record.content_hash == store.version("net@2").content_hash
    assert record.version_id == versions[2]
    assert record.query == {"depth": None, "op_type": ("Conv2D", "MatMul"), "scope": "block/"}
    assert record.options == {"as_text": False, "dir": str(tmp_path), "strip_default_attrs": True}
    assert record.path == str(tmp_path.resolve() / "out.meta")  # absolute, normalized
    assert (record.sha256, record.size) == (SHA_A, 1)
    assert (record.debug_path, record.debug_sha256) == (
        str(tmp_path.resolve() / "out.debug"),
        SHA_A,
    )
    assert before <= record.created_at <= after and record.created_at.tzinfo is not None
    assert record.created_at.utcoffset() == timedelta(0)
    assert (record.user, record.host) == (getpass.getuser(), socket.gethostname())
    assert record.mgstore_version == mgstore.__version__
    from google.protobuf import __version__ as protobuf_version

    assert record.protobuf_version == protobuf_version
    assert record.duration == 1.5 and record.error is None
    ingested = read(audit.events, "ingest")
    assert record.prev_hash == ingested[-1].record_hash and len(record.record_hash) == 64

    # What was returned is what is stored, and reads back the same.
    assert read(audit.export, record.id) == record
    assert read(audit.exports) == [record]
    with store.engine.connect() as conn:
        row = conn.execute(select(X.c.query, X.c.options)).one()
    assert row.query == '{"depth":null,"op_type":["Conv2D","MatMul"],"scope":"block/"}'
    assert row.options == json.dumps(
        {"as_text": False, "dir": str(tmp_path), "strip_default_attrs": True},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    )  # fmt: skip

    data = record.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert data["query"]["op_type"] == ["Conv2D", "MatMul"] and data["ref"] == "net@2"
    assert data["created_at"] == record.created_at.isoformat()


def test_a_failed_export_is_recorded_as_failed(
    append: Any, read: Any, versions: dict[int, int], tmp_path: Path
) -> None:
    failed = append(
        status="failed",
        sha256=None,
        size=None,
        error=OSError(28, "No space left on device"),
        duration=0.1,
    )
    early = append(  # failed before a version was chosen
        version_id=None, status="failed", sha256=None, size=None, error="no graph 'nte'"
    )
    assert not failed.ok and failed.status == "failed"
    assert failed.error == "OSError: [Errno 28] No space left on device"
    assert failed.sha256 is None and failed.size is None and failed.debug_sha256 is None
    assert failed.ref == "net@1" and failed.path == str(tmp_path.resolve() / "out.meta")
    assert early.ref is None and early.version_id is None and early.error == "no graph 'nte'"
    assert [r.status for r in read(audit.exports)] == ["failed", "failed"]
    assert read(audit.check_chain).ok  # failed exports are links of the chain too
    assert early.prev_hash == failed.record_hash
    assert read(audit.verify) == []  # they left no file to verify
    with pytest.raises(InputError, match="no file to verify"):
        read(audit.verify, failed.id)
    with pytest.raises(InputError, match="nothing to reproduce"):
        audit.check_reproducible(failed)


INVALID: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"status": "done"}, InputError, "'ok' or 'failed'"),
    ({"sha256": "abc"}, InputError, "64 hexadecimal"),
    ({"sha256": None}, InputError, "64 hexadecimal"),
    ({"size": -1}, InputError, "size"),
    ({"size": True}, InputError, "size"),
    ({"duration": float("nan")}, InputError, "duration"),
    ({"duration": -1}, InputError, "duration"),
    ({"error": "boom"}, InputError, "no error"),
    ({"debug_sha256": SHA_A}, InputError, "without debug_path"),
    ({"debug_path": "x.debug"}, InputError, "debug_sha256"),
    ({"status": "failed"}, InputError, "no sha256"),
    ({"status": "failed", "sha256": None, "size": None}, InputError, "needs its error"),
    ({"options": {"x": object()}}, ArgumentTypeError, "JSON"),
    ({"options": {"x": float("inf")}}, InputError, "JSON"),
    ({"options": ["not", "a", "mapping"]}, ArgumentTypeError, "mapping"),
    ({"query": "scope=a"}, ArgumentTypeError, "mapping"),
    ({"version_id": 10**6}, NotFoundError, "no version"),
    ({"version_id": None}, InputError, "names the version"),
    ({"version_id": "1"}, ArgumentTypeError, "version_id"),
    ({"now": datetime(2026, 1, 1)}, InputError, "timezone"),
    ({"path": 3}, ArgumentTypeError, "path"),
]


def test_invalid_records_are_refused_and_nothing_is_appended(append: Any, read: Any) -> None:
    for fields, error, match in INVALID:
        with pytest.raises(error, match=match):
            append(**fields)
    assert read(audit.exports) == []
    assert read(audit.check_chain).records == 2  # the two ingests only


def test_canonical_json() -> None:
    assert audit.canonical_json({"b": 1, "a": [1, (2, 3)], "é": "ü"}) == (
        '{"a":[1,[2,3]],"b":1,"é":"ü"}'
    )
    assert audit.canonical_json({"s": {3, 1, 2}, "p": Path("/x")}) == '{"p":"/x","s":[1,2,3]}'
    with pytest.raises(InputError, match="Unicode"):
        audit.canonical_json({"p": "bad\udcff"})


def test_a_record_is_part_of_the_callers_transaction(
    append: Any, read: Any, store: Store, versions: dict[int, int], tmp_path: Path
) -> None:
    """Rolled back with the export it records (e.g. when making the file visible failed)."""
    kept = append()
    with pytest.raises(RuntimeError), db.transaction(store.engine, write=True) as conn:
        audit.record_export(
            conn, version_id=versions[1], query=None, options={}, path=tmp_path / "x",
            sha256=SHA_A, size=1, duration=0.0,
        )  # fmt: skip
        raise RuntimeError("the rename failed")
    assert read(audit.exports) == [kept]
    after = append()
    assert (after.seq, after.prev_hash) == (kept.seq + 1, kept.record_hash)
    assert read(audit.check_chain).ok


def test_sqlite_needs_a_write_transaction(sqlite_url: str, tmp_path: Path) -> None:
    with (
        Store(sqlite_url) as store,
        pytest.raises(StoreError, match="write transaction"),
        db.transaction(store.engine) as conn,
    ):
        audit.record_export(
            conn, version_id=None, query=None, options={}, path=tmp_path / "x",
            sha256=None, size=None, duration=0.0, status="failed", error="no such graph",
        )  # fmt: skip


def test_history_newest_first_with_filters(
    append: Any, read: Any, versions: dict[int, int]
) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    first = append(now=t0)
    second = append(now=t0 + timedelta(hours=1), version_id=versions[2])
    third = append(now=(t0 + timedelta(hours=2)).astimezone(timezone(timedelta(hours=5))))
    assert third.created_at == t0 + timedelta(hours=2)
    assert third.created_at.utcoffset() == timedelta(0)  # stored and given back in UTC

    assert read(audit.exports) == [third, second, first]
    assert read(audit.exports, graph="net") == [third, second, first]
    assert read(audit.exports, graph="other") == []
    assert read(audit.exports, since=t0 + timedelta(hours=1)) == [third, second]
    assert read(audit.exports, until=t0 + timedelta(hours=1)) == [second, first]
    assert read(
        audit.exports, since=t0 + timedelta(minutes=30), until=t0 + timedelta(minutes=90)
    ) == [second]
    assert read(audit.exports, user=getpass.getuser()) == [third, second, first]
    assert read(audit.exports, user="nobody-here") == []
    with pytest.raises(InputError, match="timezone"):
        read(audit.exports, since=datetime(2026, 1, 1))
    with pytest.raises(ArgumentTypeError):
        read(audit.exports, since="2026-01-01")


def test_export_by_id_or_unique_prefix(append: Any, read: Any) -> None:
    records = [append() for _ in range(3)]
    for record in records:
        assert read(audit.export, record.id) == record
        assert read(audit.export, record.id[:12].upper()) == record
    with pytest.raises(NotFoundError, match="no export"):
        read(audit.export, "0123456789abcdef0123456789abcdef")
    with pytest.raises(NotFoundError, match="no export"):
        read(audit.export, "%")
    with pytest.raises(ArgumentTypeError):
        read(audit.export, 1)
    # Ambiguous prefixes: 17 ids share at least one leading hex digit with another; with 4
    # digits required, make one up from two records that share a prefix, if any do.
    ids = [r.id for r in records]
    shared = [a[:4] for a in ids for b in ids if a != b and a[:4] == b[:4]]
    if shared:
        with pytest.raises(AmbiguousRefError):
            read(audit.export, shared[0])


def test_the_api_offers_no_way_to_change_or_remove_records() -> None:
    verbs = ("update", "delete", "remove", "edit", "change", "drop", "truncate", "purge")
    assert not [name for name in audit.__all__ if name.lower().startswith(verbs)]


def test_the_database_refuses_changes_and_removals(append: Any, read: Any, store: Store) -> None:
    record = append()
    statements = [
        "UPDATE exports SET size = 2",
        "DELETE FROM exports",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 0",
        "UPDATE audit_head SET seq = seq + 2",
    ]
    if store.engine.dialect.name == "postgresql":
        statements += ["TRUNCATE exports CASCADE", "TRUNCATE audit_head"]
    for statement in statements:
        with (
            pytest.raises(StoreError, match="append-only"),
            db.transaction(store.engine, write=True) as conn,
        ):
            conn.execute(text(statement))
    assert read(audit.exports) == [record]
    assert read(audit.check_chain).ok


def test_record_times_and_hashes_survive_the_database(append: Any, read: Any, store: Store) -> None:
    """Whatever the dialect gives back (SQLite: naive text; PostgreSQL: the session's time
    zone), the hash recomputes: the chain checks out after a round trip."""
    if store.engine.dialect.name == "postgresql":
        with db.transaction(store.engine, write=True) as conn:
            conn.execute(text("SET TIME ZONE 'Asia/Kolkata'"))
    for i in range(5):
        append(duration=i, size=i, now=datetime(2026, 5, 1, 0, 0, i, 999_999 - i, timezone.utc))
    report = read(audit.check_chain)
    assert report.ok and report.records == 7 and report.head_seq == 7  # 2 ingests, 5 exports
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(H)).scalar_one() == 1
        assert conn.execute(select(H.c.seq, H.c.record_hash)).one() == (7, report.head_hash)


def test_paths_are_absolute(append: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    record = append(
        path="rel/out.meta", debug_path=os.fsencode("rel/out.debug"), debug_sha256=SHA_A
    )
    assert record.path == str(tmp_path.resolve() / "rel" / "out.meta")
    assert record.debug_path == str(tmp_path.resolve() / "rel" / "out.debug")

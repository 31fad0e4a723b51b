"""The store against the chain: ingests and exports recorded in the transaction that makes
them, a generic record of any kind (tag changes replayed), forged records naming what does not
exist, a consistent rewrite of the whole chain caught with ``--expect``, and signing with a
key (``$MGSTORE_AUDIT_KEY``) that a writer without it cannot imitate."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from mgstore import AuditError, InputError, Store, audit
from mgstore.cli import main
from mgstore.db import engine as db
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import AUDIT_HEAD as H
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import VERSION_OUTLINES
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from tests.audit.test_audit_chain import expected_hash, rows

KEY = "MGSTORE_AUDIT_KEY"


def kinds(report: audit.ChainReport) -> list[tuple[str, str | None]]:
    return [(p.kind, p.ref) for p in report.problems]


def append_raw(conn: Connection, kind: str, payload: dict[str, Any], **changes: Any) -> str:
    """Append a record as someone with INSERT rights could: a consistent next link, the head
    moved one step on (which its trigger allows). Its hash."""
    last = rows(conn)[-1]
    row = {**last, "seq": last["seq"] + 1, "kind": kind, "prev_hash": last["record_hash"],
           "payload": audit.canonical_json(payload), "signed": False, **changes}  # fmt: skip
    row["record_hash"] = expected_hash(row)
    conn.execute(A.insert(), row)
    conn.execute(H.update().values(seq=row["seq"], record_hash=row["record_hash"]))
    return str(row["record_hash"])


def rewrite_all(conn: Connection, edit: Any) -> None:
    """Rewrite the whole chain consistently (``edit`` changes each row first), head included."""
    old = rows(conn)
    conn.execute(A.delete())
    prev = audit.GENESIS
    for row in old:
        row = {**edit(row), "prev_hash": prev, "signed": False}
        row["record_hash"] = expected_hash(row)
        conn.execute(A.insert(), row)
        prev = row["record_hash"]
    conn.execute(text("DELETE FROM audit_head"))
    conn.execute(H.insert(), {"id": 1, "seq": len(old), "record_hash": prev})


def test_ingests_are_recorded_with_every_field(store: Store, versions: dict[int, int]) -> None:
    events = store.audit_log(kind="ingest")
    assert [(e.seq, e.ref) for e in events] == [(1, "net@1"), (2, "net@2")]
    first, info = events[0], store.version("net@1")
    assert first.payload["content_hash"] == info.content_hash
    assert (first.payload["message"], first.payload["created_by"]) == ("first", info.created_by)
    assert first.payload["tags"] == {} and first.payload["source_path"] is None
    assert first.created_at == info.created_at
    assert store.audit_log(kind="nothing") == []
    assert first.to_dict()["ref"] == "net@1"


def test_an_unchanged_ingest_records_nothing(store: Store, versions: dict[int, int]) -> None:
    before = store.audit_head()
    meta = store.checkout("net@2")
    assert store.ingest(meta, "net").unchanged
    assert store.audit_head() == before
    again = store.ingest(meta, "net", allow_unchanged=True, message="again")
    assert again.ref == "net@3" and not again.unchanged
    assert store.audit_log()[-1].ref == "net@3"
    assert store.audit_check().ok


def test_a_failed_ingest_records_nothing(store: Store, versions: dict[int, int]) -> None:
    before = store.audit_head()
    with pytest.raises(InputError):
        store.ingest(b"not a graph", "net")
    assert store.audit_head() == before


def test_records_of_any_kind_and_tag_changes(store: Store, versions: dict[int, int]) -> None:
    """The generic seam: one call appends a record of a new kind; tag records are replayed."""
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(T.insert(), {"version_id": versions[1], "key": "stage", "value": "prod"})
        audit.record_tag(conn, versions[1], "stage", "prod")
        event = audit.append_event(conn, "alias", {"graph": "net", "number": 2, "alias": "best"})
    assert (event.kind, event.ref, event.payload["alias"]) == ("alias", "net@2", "best")
    assert [e.kind for e in store.audit_log()] == ["ingest", "ingest", "tag", "alias"]
    assert store.audit_check().ok
    with db.transaction(store.engine, write=True) as conn:  # a tag changed without a record
        conn.execute(T.update().values(value="dev"))
    assert kinds(store.audit_check()) == [("mismatch", "net@1")]
    with pytest.raises(InputError, match="kind"), db.transaction(store.engine, write=True) as c:
        audit.append_event(c, "Not A Kind", {})


def test_a_kind_that_removes_versions(store: Store, versions: dict[int, int], tamper: Any) -> None:
    kind = f"delete-{uuid.uuid4().hex[:8]}"  # registered kinds are process-wide
    with db.transaction(store.engine, write=True) as conn:
        audit.append_event(conn, kind, {"graph": "net", "number": 2})
    with tamper() as conn:  # what a deletion would do (issue 21 brings the real one)
        outlines = VERSION_OUTLINES
        conn.execute(outlines.delete().where(outlines.c.version_id == versions[2]))
        conn.execute(V.delete().where(V.c.number == 2))
    assert ("reference", "net@2") in kinds(store.audit_check())
    audit.register_kind(kind, removes_version=True)
    assert store.audit_check().ok


def test_a_forged_record_naming_a_version_that_does_not_exist(
    store: Store, versions: dict[int, int], tamper: Any, tmp_path: Path
) -> None:
    """An export of version ffff... appended by someone with INSERT rights, row and record."""
    export_id = uuid.uuid4().hex
    with tamper() as conn:
        payload = {"id": export_id, "status": "ok", "graph": "net", "number": 9,
                   "content_hash": "f" * 64, "path": str(tmp_path / "f.meta"),
                   "sha256": "0" * 64, "row": "0" * 64}  # fmt: skip
        append_raw(conn, "export", payload)
    report = store.audit_check()
    assert ("reference", "net@9") in kinds(report)
    forged = tmp_path / "f.meta"
    forged.write_bytes(b"forged")
    when = store.audit_log()[-1].created_at  # read before the tampering locks the tables
    with tamper() as conn:  # its row, made to match the record's digest
        version = conn.execute(select(V.c.id).where(V.c.number == 1)).scalar_one()
        row = {"seq": 50, "id": export_id, "status": "ok", "version_id": version,
               "graph": "net", "version": 9, "content_hash": "f" * 64, "query": None,
               "options": "{}", "path": str(forged),
               "sha256": hashlib.sha256(b"forged").hexdigest(),
               "size": 6, "debug_path": None, "debug_sha256": None,
               "created_at": when, "username": "eve",
               "hostname": "h", "mgstore_version": "0", "protobuf_version": "0",
               "duration": 0.0, "error": None}  # fmt: skip
        conn.execute(X.insert(), {**row, "prev_hash": "0" * 64, "record_hash": "1" * 64})
    found = store.which(forged)
    assert len(found) == 1 and not found[0].trusted
    assert "differs from its record" in (found[0].problem or "")
    assert any("is not in the store" in str(p) for p in report.problems)
    assert not store.fsck().ok
    with tamper() as conn:  # one that names a graph only
        append_raw(conn, "alias", {"graph": "nowhere", "alias": "x"})
    assert any("the graph 'nowhere'" in str(p) for p in store.audit_check().problems)


def test_rows_added_outside_mgstore_are_unrecorded(
    store: Store, versions: dict[int, int], append: Any, tamper: Any
) -> None:
    record = append()
    with tamper() as conn:
        row = dict(conn.execute(select(X).where(X.c.id == record.id)).one()._mapping)
        conn.execute(X.insert(), {**row, "seq": 999, "id": uuid.uuid4().hex,
                                  "record_hash": "e" * 64})  # fmt: skip
        version = dict(conn.execute(select(V).where(V.c.number == 2)).one()._mapping)
        conn.execute(V.insert(), {**version, "id": 99, "number": 3})
    found = kinds(store.audit_check())
    assert ("unrecorded", "net@3") in found and ("unrecorded", None) in found


def test_an_edited_export_row(store: Store, append: Any, tamper: Any) -> None:
    record = append()
    with tamper() as conn:
        conn.execute(X.update().where(X.c.id == record.id).values(size=12345))
    assert [(p.kind, p.seq) for p in store.audit_check().problems] == [("mismatch", record.seq)]


def test_a_whole_chain_rewrite_is_caught_with_the_head_written_down(
    store: Store, versions: dict[int, int], tamper: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", store.url, "audit", "head"]) == 0
    head = capsys.readouterr().out.strip()
    assert head == store.audit_head() == store.audit_check().head_hash
    assert store.audit_check(expect=head).ok

    def forge(row: dict[str, Any]) -> dict[str, Any]:  # net@1's message, in row and record
        payload = json.loads(row["payload"])
        if payload.get("number") == 1:
            payload["message"] = "tampered"
        return {**row, "payload": audit.canonical_json(payload)}

    with tamper() as conn:
        conn.execute(V.update().where(V.c.number == 1).values(message="tampered"))
        rewrite_all(conn, forge)
    assert store.audit_check().ok  # consistent: only the head written down tells
    report = store.audit_check(expect=head)
    assert kinds(report) == [("expect", None)]
    assert main(["--db", store.url, "audit", "check", "--expect", head]) == 1
    assert "was rewritten" in capsys.readouterr().out
    with pytest.raises(InputError, match="head hash"):
        store.audit_check(expect="xyz")


def test_signed_records(
    store: Store, versions: dict[int, int], tamper: Any, monkeypatch: pytest.MonkeyPatch,
    append: Any,
) -> None:  # fmt: skip
    monkeypatch.setenv(KEY, "s3cret")
    record = append()  # signed: an HMAC under the key
    event = store.audit_log()[-1]
    assert event.signed and event.record_hash == record.record_hash
    assert expected_hash(rows_of(store)[-1]) != record.record_hash  # not a plain SHA-256
    assert store.audit_check().ok

    monkeypatch.delenv(KEY)
    without = store.audit_check()
    assert without.ok and without.unverified == 1
    with pytest.raises(AuditError, match="signed"):
        append()  # appending without the key is refused
    monkeypatch.setenv(KEY, "s3cret")

    with tamper() as conn:  # a record appended by someone without the key
        append_raw(conn, "tag", {"graph": "net", "number": 1, "key": "k", "value": None})
    assert [(p.kind, p.seq) for p in store.audit_check().problems][:1] == [("unsigned", 4)]
    with tamper() as conn:
        rewrite_all(conn, lambda row: row)  # re-hashed without the key: all plain again
    assert ("unsigned", None) in kinds(store.audit_check())
    monkeypatch.setenv(KEY, "another key")
    with tamper() as conn:  # rewritten and "signed" with a wrong key
        old = rows(conn)
        conn.execute(A.delete())
        prev = audit.GENESIS
        for row in old:
            row = {**row, "prev_hash": prev, "signed": True}
            row["record_hash"] = hashlib.sha256(prev.encode()).hexdigest()
            conn.execute(A.insert(), row)
            prev = row["record_hash"]
    assert "altered" in [p.kind for p in store.audit_check().problems]


def rows_of(store: Store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return rows(conn)

"""The one chain of every change: intact after ingests and exports, and every direct change to
it is reported by ``check_chain``: a field altered, a record deleted (first, middle, last),
records renumbered or reordered, a forged record inserted or appended, the head removed.

The changes are made as someone with write access to the database could (triggers out of the
way), one scenario at a time on one log, each undone before the next: a fresh database per
scenario would cost more than the checks themselves. These scenarios check the chain alone
(``references=False``); tests/audit/test_audit_history.py checks the store against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timezone
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from mgstore import StoreError, audit
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import AUDIT_HEAD as H

Problems = list[tuple[str, int | None]]
LINKED = ("seq", "kind", "payload", "created_at", "username", "hostname", "signed")


def expected_hash(row: dict[str, Any]) -> str:
    """The documented formula: SHA-256 of prev_hash + canonical JSON of the other columns."""
    fields = {k: row[k] for k in LINKED}
    created = fields["created_at"]
    created = created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created
    fields["created_at"] = created.astimezone(timezone.utc).isoformat(timespec="microseconds")
    fields["signed"] = bool(fields["signed"])
    data = row["prev_hash"] + audit.canonical_json(fields)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def rows(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(A).order_by(A.c.seq))]


def forged(row: dict[str, Any], seq: int, prev_hash: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``row`` made to look right: given place, correct own hash."""
    new = {**row, **changes, "seq": seq, "prev_hash": prev_hash}
    new["record_hash"] = expected_hash(new)
    return new


def renumber(conn: Connection, *moves: tuple[int, int]) -> None:
    for old, new in moves:
        conn.execute(
            text("UPDATE audit_events SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
        )


def set_field(seq: int, **values: Any) -> Callable[[Connection], None]:
    def change(conn: Connection) -> None:
        conn.execute(A.update().where(A.c.seq == seq).values(values))

    return change


def delete(where: str) -> Callable[[Connection], None]:
    def change(conn: Connection) -> None:
        conn.execute(text(f"DELETE FROM audit_events WHERE {where}"))

    return change


def head_removed(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_head"))


def time_changed(conn: Connection) -> None:
    """Record 3's time moved by one microsecond."""
    created = conn.execute(select(A.c.created_at).where(A.c.seq == 3)).scalar_one()
    conn.execute(
        A.update()
        .where(A.c.seq == 3)
        .values(created_at=created.replace(microsecond=created.microsecond ^ 1))
    )


def rehashed_change(conn: Connection) -> None:
    """Record 4 changed (with the graph and number columns its new payload implies) and its
    own hash recomputed: the next record's link breaks."""
    row = rows(conn)[3]
    row["payload"] = '{"id":"x"}'
    conn.execute(
        A.update()
        .where(A.c.seq == 4)
        .values(payload=row["payload"], record_hash=expected_hash(row), graph=None, number=None)
    )


def removed_and_renumbered(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    renumber(conn, (5, 4), (6, 5), (7, 6))


def reordered(conn: Connection) -> None:
    renumber(conn, (2, -2), (3, 2), (-2, 3))


def inserted(conn: Connection) -> None:
    existing = rows(conn)
    renumber(conn, (7, 8), (6, 7), (5, 6), (4, 5), (3, 4))  # room at 3, from the end
    conn.execute(A.insert(), forged(existing[0], 3, existing[1]["record_hash"], username="eve"))


def appended(conn: Connection) -> None:
    """A perfectly chained record added at the end: only the head tells."""
    last = rows(conn)[-1]
    conn.execute(A.insert(), forged(last, 8, last["record_hash"], username="eve"))


SCENARIOS: list[tuple[str, Callable[[Connection], None], Problems, str]] = [
    ("payload changed", set_field(4, payload='{"x":1}'), [("altered", 4)], "do not match its hash"),
    ("kind changed", set_field(3, kind="tag"), [("altered", 3)], ""),
    ("user changed", set_field(1, username="mallory"), [("altered", 1)], ""),
    ("host changed", set_field(5, hostname="elsewhere"), [("altered", 5)], ""),
    ("indexed number changed", set_field(3, number=2), [("altered", 3)], "graph and number"),
    (  # without the key its own link cannot be checked; the unsigned records after it tell
        "signed flag set",
        set_field(2, signed=True),
        [("unsigned", 3), ("unsigned", 4), ("unsigned", 5), ("unsigned", 6), ("unsigned", 7)],
        "appended without the key",
    ),
    ("time changed", time_changed, [("altered", 3)], ""),
    ("changed and rehashed", rehashed_change, [("unlinked", 5)], "inserted, removed or reordered"),
    ("middle deleted", delete("seq = 4"), [("gap", 5)], "record 4 is missing"),
    ("first deleted", delete("seq = 1"), [("gap", 2)], "record 1 is missing"),
    ("two deleted", delete("seq IN (3, 4)"), [("gap", 5)], "records 3 to 4 are missing"),
    ("last deleted", delete("seq >= 6"), [("head", None)], "removed from the end"),
    (
        "deleted and renumbered",
        removed_and_renumbered,
        [("unlinked", 4), ("altered", 4), ("altered", 5), ("altered", 6), ("head", None)],
        "",
    ),
    (
        "reordered",
        reordered,
        [("unlinked", 2), ("altered", 2), ("unlinked", 3), ("altered", 3), ("unlinked", 4)],
        "",
    ),
    (
        "forged record inserted",
        inserted,
        [
            ("unlinked", 4),
            ("altered", 4),
            ("altered", 5),
            ("altered", 6),
            ("altered", 7),
            ("altered", 8),
            ("head", None),
        ],  # fmt: skip
        "",
    ),
    ("forged record appended", appended, [("head", None)], "added at the end"),
    ("head removed", head_removed, [("head", None)], "head row is missing"),
]


@pytest.fixture
def log(append: Any, versions: dict[int, int]) -> list[audit.ExportRecord]:
    """Seven records: the two ingests, then five exports, one of them failed."""
    records = [append(size=i, duration=i / 10) for i in range(3)]
    records.append(append(status="failed", sha256=None, size=None, error="disk full"))
    records.append(append(version_id=versions[2], options={"as_text": True}))
    return records


def chain_only(conn: Connection) -> audit.ChainReport:
    return audit.check_chain(conn, references=False)


def test_an_intact_chain(log: list[audit.ExportRecord], read: Any, store: Any) -> None:
    report = read(audit.check_chain)
    assert report.ok and report.problems == ()
    assert (report.records, report.head_seq, report.head_hash) == (7, 7, log[-1].record_hash)
    assert read(audit.ensure_chain) == report
    assert [r.seq for r in log] == [3, 4, 5, 6, 7]
    events = read(audit.events)
    assert [e.kind for e in events] == ["ingest"] * 2 + ["export"] * 5
    assert events[0].prev_hash == audit.GENESIS
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.record_hash
    with store.engine.connect() as conn:
        for row in rows(conn):
            assert row["record_hash"] == expected_hash(row)
    assert [e.payload["id"] for e in events[2:]] == [r.id for r in log]
    assert report.to_dict()["ok"] is True
    assert read(audit.head) == (7, report.head_hash)


def test_an_empty_log_is_intact(read: Any) -> None:
    report = read(audit.check_chain)
    assert report.ok and (report.records, report.head_seq, report.head_hash) == (
        0, 0, audit.GENESIS,
    )  # fmt: skip


def test_every_direct_change_is_detected(
    log: list[audit.ExportRecord], read: Any, tamper: Any
) -> None:
    with tamper() as conn:
        saved = rows(conn), [dict(r._mapping) for r in conn.execute(select(H))]
    for name, change, expected, detail in SCENARIOS:
        with tamper() as conn:
            change(conn)
        report = read(chain_only)
        assert [(p.kind, p.seq) for p in report.problems] == expected, name
        assert detail in str(report.problems[0]), name
        assert not read(audit.check_chain).ok, name
        with pytest.raises(StoreError, match="changed outside mgstore"):
            read(audit.ensure_chain)
        with tamper() as conn:  # undo: the log as it was, which checks out again
            conn.execute(A.delete())
            conn.execute(H.delete())
            conn.execute(A.insert(), saved[0])
            conn.execute(H.insert(), saved[1])
        assert read(audit.check_chain).ok, f"{name}: not undone"


def test_a_removed_head_stops_recording(
    log: list[audit.ExportRecord], read: Any, tamper: Any, append: Any
) -> None:
    with tamper() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(StoreError, match="no head row"):
        append()
    assert read(audit.check_chain).records == 7


def test_a_record_damaged_beyond_reading_is_reported(
    log: list[audit.ExportRecord], read: Any, tamper: Any
) -> None:
    with tamper() as conn:
        conn.execute(A.update().where(A.c.seq == 4).values(payload="{not json"))
    problems = read(audit.check_chain).problems
    assert ("altered", 4) in [(p.kind, p.seq) for p in problems]
    assert read(audit.events)[3].payload == {}


def test_recording_goes_on_after_tampering_and_the_damage_stays_visible(
    log: list[audit.ExportRecord], read: Any, tamper: Any, append: Any
) -> None:
    with tamper() as conn:
        conn.execute(A.update().where(A.c.seq == 4).values(username="x"))
    record = append()
    assert (record.seq, record.prev_hash) == (8, log[-1].record_hash)
    assert [(p.kind, p.seq) for p in read(audit.check_chain).problems] == [("altered", 4)]

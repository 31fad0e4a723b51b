"""The hash chain: intact after appends, and every direct change to the log is reported by
``check_chain``: a field altered, a record deleted (first, middle, last), records renumbered
or reordered, a forged record inserted or appended, the head removed.

The changes are made as someone with write access to the database could (triggers out of the
way), one scenario at a time on one log, each undone before the next: a fresh database per
scenario would cost more than the checks themselves.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timezone
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from mgstore import StoreError, audit
from mgstore.db.models import Base

X, H = Base.metadata.tables["exports"], Base.metadata.tables["audit_head"]
Problems = list[tuple[str, int | None]]


def expected_hash(row: dict[str, Any]) -> str:
    """The documented formula: SHA-256 of prev_hash + canonical JSON of every other column."""
    fields = {k: v for k, v in row.items() if k not in ("prev_hash", "record_hash")}
    created = fields["created_at"]
    created = created.replace(tzinfo=timezone.utc) if created.tzinfo is None else created
    fields["created_at"] = created.astimezone(timezone.utc).isoformat(timespec="microseconds")
    fields["duration"] = float(fields["duration"])
    data = row["prev_hash"] + audit.canonical_json(fields)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def rows(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(X).order_by(X.c.seq))]


def forged(row: dict[str, Any], seq: int, prev_hash: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``row`` made to look right: new id, given place, correct own hash."""
    new = {**row, **changes, "seq": seq, "id": uuid.uuid4().hex, "prev_hash": prev_hash}
    new["record_hash"] = expected_hash(new)
    return new


def renumber(conn: Connection, *moves: tuple[int, int]) -> None:
    for old, new in moves:
        conn.execute(
            text("UPDATE exports SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
        )


def set_field(seq: int, **values: Any) -> Callable[[Connection], None]:
    def change(conn: Connection) -> None:
        conn.execute(X.update().where(X.c.seq == seq).values(values))

    return change


def delete(where: str) -> Callable[[Connection], None]:
    def change(conn: Connection) -> None:
        conn.execute(text(f"DELETE FROM exports WHERE {where}"))

    return change


def head_removed(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_head"))


def time_changed(conn: Connection) -> None:
    """Record 3's time moved by one microsecond."""
    created = conn.execute(select(X.c.created_at).where(X.c.seq == 3)).scalar_one()
    conn.execute(
        X.update()
        .where(X.c.seq == 3)
        .values(created_at=created.replace(microsecond=created.microsecond ^ 1))
    )


def rehashed_change(conn: Connection) -> None:
    """Record 2 changed and its own hash recomputed: the next record's link breaks."""
    row = rows(conn)[1]
    row["path"] = "/somewhere/else"
    conn.execute(
        X.update().where(X.c.seq == 2).values(path=row["path"], record_hash=expected_hash(row))
    )


def removed_and_renumbered(conn: Connection) -> None:
    conn.execute(text("DELETE FROM exports WHERE seq = 3"))
    renumber(conn, (4, 3), (5, 4))


def reordered(conn: Connection) -> None:
    renumber(conn, (2, -2), (3, 2), (-2, 3))


def inserted(conn: Connection) -> None:
    existing = rows(conn)
    renumber(conn, (5, 6), (4, 5), (3, 4))  # make room at 3, from the end (seq is unique)
    conn.execute(X.insert(), forged(existing[0], 3, existing[1]["record_hash"], size=7))


def appended(conn: Connection) -> None:
    """A perfectly chained record added at the end: only the head tells."""
    last = rows(conn)[-1]
    conn.execute(X.insert(), forged(last, 6, last["record_hash"], path="/forged"))


SCENARIOS: list[tuple[str, Callable[[Connection], None], Problems, str]] = [
    ("size changed", set_field(2, size=999), [("altered", 2)], "do not match its hash"),
    ("path changed", set_field(2, path="/tmp/x.meta"), [("altered", 2)], ""),
    ("sha256 changed", set_field(2, sha256="f" * 64), [("altered", 2)], ""),
    ("error changed", set_field(4, error="none"), [("altered", 4)], ""),
    ("user changed", set_field(1, username="mallory"), [("altered", 1)], ""),
    ("options changed", set_field(5, options="{}"), [("altered", 5)], ""),
    ("version changed", set_field(2, version_id=None), [("altered", 2)], ""),
    ("duration changed", set_field(2, duration=0.3), [("altered", 2)], ""),
    ("time changed", time_changed, [("altered", 3)], ""),
    ("changed and rehashed", rehashed_change, [("unlinked", 3)], "inserted, removed or reordered"),
    ("middle deleted", delete("seq = 3"), [("gap", 4)], "record 3 is missing"),
    ("first deleted", delete("seq = 1"), [("gap", 2)], "record 1 is missing"),
    ("two deleted", delete("seq IN (2, 3)"), [("gap", 4)], "records 2 to 3 are missing"),
    ("last deleted", delete("seq >= 4"), [("head", None)], "removed from the end"),
    (
        "deleted and renumbered",
        removed_and_renumbered,
        [("unlinked", 3), ("altered", 3), ("altered", 4), ("head", None)],
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
        [("unlinked", 4), ("altered", 4), ("altered", 5), ("altered", 6), ("head", None)],
        "",
    ),
    ("forged record appended", appended, [("head", None)], "added at the end"),
    ("head removed", head_removed, [("head", None)], "head row is missing"),
]


@pytest.fixture
def log(append: Any, versions: dict[int, int]) -> list[audit.ExportRecord]:
    """Five records, one of them a failed export."""
    records = [append(size=i, duration=i / 10) for i in range(3)]
    records.append(append(status="failed", sha256=None, size=None, error="disk full"))
    records.append(append(version_id=versions[2], options={"as_text": True}))
    return records


def test_an_intact_chain(log: list[audit.ExportRecord], read: Any, store: Any) -> None:
    report = read(audit.check_chain)
    assert report.ok and report.problems == ()
    assert (report.records, report.head_seq, report.head_hash) == (5, 5, log[-1].record_hash)
    assert read(audit.ensure_chain) == report
    assert [r.seq for r in log] == [1, 2, 3, 4, 5]
    assert log[0].prev_hash == audit.GENESIS
    for before, after in zip(log, log[1:], strict=False):
        assert after.prev_hash == before.record_hash
    with store.engine.connect() as conn:
        for row in rows(conn):
            assert row["record_hash"] == expected_hash(row)
    assert report.to_dict()["ok"] is True


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
        report = read(audit.check_chain)
        assert [(p.kind, p.seq) for p in report.problems] == expected, name
        assert detail in str(report.problems[0]), name
        with pytest.raises(StoreError, match="changed outside mgstore"):
            read(audit.ensure_chain)
        with tamper() as conn:  # undo: the log as it was, which checks out again
            conn.execute(X.delete())
            conn.execute(H.delete())
            conn.execute(X.insert(), saved[0])
            conn.execute(H.insert(), saved[1])
        assert read(audit.check_chain).ok, f"{name}: not undone"


def test_a_removed_head_stops_recording(
    log: list[audit.ExportRecord], read: Any, tamper: Any, append: Any
) -> None:
    with tamper() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(StoreError, match="no head row"):
        append()
    assert read(audit.check_chain).records == 5


def test_a_record_damaged_beyond_reading_is_reported(
    log: list[audit.ExportRecord], read: Any, tamper: Any
) -> None:
    with tamper() as conn:
        conn.execute(X.update().where(X.c.seq == 2).values(options="{not json"))
    assert [(p.kind, p.seq) for p in read(audit.check_chain).problems] == [("altered", 2)]
    with pytest.raises(StoreError, match="record 2 is damaged"):
        read(audit.exports)


def test_recording_goes_on_after_tampering_and_the_damage_stays_visible(
    log: list[audit.ExportRecord], read: Any, tamper: Any, append: Any
) -> None:
    with tamper() as conn:
        conn.execute(X.update().where(X.c.seq == 2).values(size=123))
    record = append()
    assert (record.seq, record.prev_hash) == (6, log[-1].record_hash)
    assert [(p.kind, p.seq) for p in read(audit.check_chain).problems] == [("altered", 2)]

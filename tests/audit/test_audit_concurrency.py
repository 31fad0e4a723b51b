"""Concurrent recording from several real processes: every record appended once, numbered
1..n without gaps, each process's in its own order, and the chain intact.

The workers are ``multiprocessing`` processes (from a fork server, or spawned: no inherited
connections) released together by a barrier, so that their appends race on the database's
locks (SQLite's write lock; the head row's ``FOR UPDATE`` on PostgreSQL).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from mgstore import Store, audit
from mgstore.db import engine as db
from tests import workers

WORKERS = 4
RECORDS_EACH = 6
TIMEOUT = 60


def _append(engine: Any, version_id: int | None, worker: int, i: int) -> tuple[str, int]:
    with db.transaction(engine, write=True) as conn:
        failed = i % 3 == 2
        record = audit.record_export(
            conn,
            version_id=version_id,
            query={"worker": worker, "i": i},
            options={"as_text": False},
            path=f"/exports/w{worker}/{i}.meta",
            sha256=None if failed else f"{worker:032x}{i:032x}",
            size=None if failed else i,
            duration=0.001 * i,
            status="failed" if failed else "ok",
            error="disk full" if failed else None,
        )
        return record.id, record.seq


def _worker(
    url: str, version_id: int, worker: int, barrier: Any, results: Any
) -> None:  # pragma: no cover - runs in the child processes
    try:
        engine = db.create(url)
        try:
            with db.transaction(engine) as conn:  # connected before the race starts
                audit.exports(conn, user="nobody")
            barrier.wait(TIMEOUT)
            done = [
                db.retrying(partial(_append, engine, version_id, worker, i))
                for i in range(RECORDS_EACH)
            ]
        finally:
            engine.dispose()
        results.put((worker, done, None))
    except BaseException as error:
        results.put((worker, [], f"{type(error).__name__}: {error}"))


def test_concurrent_processes_append_one_intact_chain(
    store: Store, versions: dict[int, int]
) -> None:
    ctx = workers.context([__name__, "mgstore.audit", "psycopg"])
    outcomes = workers.run(ctx, _worker, (store.url, versions[1]), WORKERS, TIMEOUT)

    total = WORKERS * RECORDS_EACH
    ingests = len(versions)  # the chain starts with the versions' ingest records
    told = [item for done in outcomes.values() for item in done]
    assert sorted(seq for _, seq in told) == list(range(ingests + 1, ingests + total + 1))
    for done in outcomes.values():
        seqs = [seq for _, seq in done]
        assert seqs == sorted(seqs)

    with db.transaction(store.engine) as conn:
        report = audit.check_chain(conn)
        log = audit.exports(conn)
    assert report.ok and report.records == ingests + total and report.head_seq == ingests + total
    assert [r.seq for r in log] == list(range(ingests + total, ingests, -1))
    assert {(r.id, r.seq) for r in log} == set(told)
    for record in log:
        assert record.query is not None
        worker, i = record.query["worker"], record.query["i"]
        assert (record.id, record.seq) in set(outcomes[worker])
        assert record.status == ("failed" if i % 3 == 2 else "ok")
        assert record.path == f"/exports/w{worker}/{i}.meta"


def test_first_appenders_racing_to_create_the_head(pg_url: str) -> None:
    """PostgreSQL: one appender finds no head row, and before it goes on another creates the
    head and commits its record. The late one must chain after it, not cry tampering. (Threads
    stand in for processes; a hook on the statements fixes the interleaving.)"""
    import threading

    from sqlalchemy import event

    from mgstore.db.migrate import upgrade_database

    upgrade_database(pg_url)
    looked, committed = threading.Event(), threading.Event()

    def after_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if (
            threading.current_thread().name == "late"
            and "FROM audit_head" in statement
            and not looked.is_set()
        ):
            looked.set()
            assert committed.wait(TIMEOUT)

    outcome: list[Any] = []

    def late() -> None:
        try:
            outcome.append(_append(store.engine, None, 1, 2))
        except BaseException as error:  # handed to the test thread
            outcome.append(error)

    with Store(pg_url) as store:
        event.listen(store.engine, "after_cursor_execute", after_execute)
        thread = threading.Thread(target=late, name="late")
        try:
            thread.start()
            assert looked.wait(TIMEOUT)  # it found no head...
            first = _append(store.engine, None, 0, 2)
        finally:
            committed.set()  # ...and the other one's record is committed now
            thread.join(TIMEOUT)
            event.remove(store.engine, "after_cursor_execute", after_execute)
        assert first[1] == 1
        assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
        assert outcome[0][1] == 2
        with db.transaction(store.engine) as conn:
            report = audit.check_chain(conn)
        assert report.ok and report.records == 2

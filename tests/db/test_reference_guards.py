"""The references of node and edge rows (a node row's pack and graph, an edge row's node row)
hold on both backends: SQLite by its foreign keys, PostgreSQL by guards on delete that take the
versions lock (revision 0017_pg_reference_guards, docs/storage.md §8). A referenced row cannot
be deleted, by any role; gc waits for an ingest in flight that found its content in a pack gc
would otherwise free; a delete by hand waits for the ingests in flight, then sees their rows.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select

from mgstore import Store, StoreError, audit
from mgstore.db import engine as db
from mgstore.db.lifecycle import lock_versions
from mgstore.db.models import metadata
from mgstore.proto import AttrValue, MetaGraphDef

P, N, E, G = (metadata.tables[t] for t in ("packs", "nodes", "edges", "graphs"))
NM = metadata.tables["names"]
TIMEOUT = 60
REFUSED = "(?i)foreign key"


def labelled(label: str, *, chain: bool = True) -> Any:
    """Three nodes, each carrying ``label``, in a chain (edge rows) if ``chain``."""
    meta = MetaGraphDef()
    for i, name in enumerate(["a", "b", "c"]):
        node = meta.graph_def.node.add(name=name, op="NoOp")
        node.input.extend([f"^{'abc'[i - 1]}"] if chain and i else [])
        node.attr["_label"].CopyFrom(AttrValue(s=label.encode()))
    return meta


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def name_id(name: str) -> Any:
    """The id of ``name``'s row of ``names``, as SQL (docs/storage.md §3.5)."""
    return select(NM.c.id).where(NM.c.name == name).scalar_subquery()


def copy_of_a(
    *, graph_id: Any = N.c.graph_id, name: Any = N.c.name_id, pack: Any = N.c.pack_id
) -> Any:
    """An INSERT of a copy of node ``a``'s row, with another graph, name or pack if given."""
    row = select(
        graph_id, name, N.c.op_id, N.c.device_id, N.c.sha256, pack, N.c.offset, N.c.length,
        N.c.first_version,
    ).where(N.c.name_id == name_id("a"))  # fmt: skip
    columns = ["graph_id", "name_id", "op_id", "device_id", "sha256", "pack_id", "offset",
               "length", "first_version"]  # fmt: skip
    return insert(N).from_select(columns, row)


def refused(store: Store, statement: Any) -> None:
    with pytest.raises(StoreError, match=REFUSED), db.transaction(store.engine, write=True) as c:
        c.execute(statement)


def test_a_referenced_row_cannot_be_deleted(store: Store) -> None:
    store.ingest(labelled("one"), "g")
    with db.transaction(store.engine, write=True) as conn:  # a graph without versions
        lonely = conn.execute(
            insert(G).values(name="lonely", created_at=datetime.now(timezone.utc)).returning(G.c.id)
        ).scalar_one()
        conn.execute(copy_of_a(graph_id=lonely))  # ...whose one node row uses g's content
        spare = conn.execute(insert(P).values(data=b"").returning(P.c.id)).scalar_one()
    refused(store, delete(P))  # node rows point into it
    refused(store, delete(N).where(N.c.name_id == name_id("b")))  # b's edge row
    refused(store, delete(G).where(G.c.id == lonely))  # its node row
    with db.transaction(store.engine, write=True) as conn:  # what nothing refers to goes
        assert conn.execute(delete(P).where(P.c.id == spare)).rowcount == 1
        assert conn.execute(delete(N).where(N.c.graph_id == lonely)).rowcount == 1
        assert conn.execute(delete(G).where(G.c.id == lonely)).rowcount == 1
    assert store.checkout("g@1") == labelled("one") and store.fsck().ok


def test_gc_waits_for_an_ingest_that_found_its_content_in_a_pack_gc_would_free(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No edges: a later row of a name would use an earlier one's, keeping it
    # (docs/storage.md §3.5).
    old, new = labelled("old", chain=False), labelled("new", chain=False)
    store.ingest(old, "g")  # g@1's nodes fill one pack...
    store.ingest(new, "g")  # ...that g@2 no longer uses
    store.delete("g@1")
    packs = count(store, P)
    written, release = threading.Event(), threading.Event()
    record = audit.record_ingest

    def held(conn: Any, version_id: int) -> Any:  # the ingest, written, not committed
        result = record(conn, version_id)
        if threading.current_thread().name == "ingest":
            written.set()
            assert release.wait(TIMEOUT)
        return result

    monkeypatch.setattr(audit, "record_ingest", held)
    outcome: dict[str, Any] = {}
    ingest = threading.Thread(
        name="ingest", target=lambda: outcome.update(h=store.ingest(old, "h"))
    )
    ingest.start()
    assert written.wait(TIMEOUT)
    gc = threading.Thread(target=lambda: outcome.update(gc=store.gc()))
    gc.start()
    gc.join(1.0)
    assert gc.is_alive()  # waiting for the ingest
    release.set()
    ingest.join(TIMEOUT)
    gc.join(TIMEOUT)
    report = outcome["gc"]
    assert report.versions == ("g@1",) and report.node_rows == 3
    assert report.packs == 0  # h@1's rows point into g@1's pack, which stays
    assert count(store, P) == packs  # h@1 found all its content there
    assert store.checkout("h@1") == old and store.checkout("g@2") == new
    assert store.fsck().ok


def test_a_delete_by_hand_waits_for_ingests_in_flight(pg_url: str) -> None:
    """PostgreSQL: a node row written by a transaction that holds the versions lock (as an
    ingest does) and is not committed yet keeps its pack: the delete waits, then is refused."""
    from mgstore.db.migrate import upgrade_database

    upgrade_database(pg_url)
    with Store(pg_url) as store:
        store.ingest(labelled("one"), "g")
        with db.transaction(store.engine, write=True) as conn:
            spare = conn.execute(insert(P).values(data=b"").returning(P.c.id)).scalar_one()
        errors: list[BaseException] = []

        def delete_spare() -> None:
            try:
                with db.transaction(store.engine, write=True) as conn:
                    conn.execute(delete(P).where(P.c.id == spare))
            except BaseException as error:  # handed to the test
                errors.append(error)

        with store.engine.connect() as ingest:
            lock_versions(ingest)  # shared, as write_version takes it
            ingest.execute(insert(NM).values(name="a_copy"))
            ingest.execute(copy_of_a(name=name_id("a_copy"), pack=spare))
            deleter = threading.Thread(target=delete_spare)
            deleter.start()
            deleter.join(1.0)
            assert deleter.is_alive()  # waiting for the "ingest"
            ingest.commit()
        deleter.join(TIMEOUT)
        assert len(errors) == 1 and isinstance(errors[0], StoreError)
        assert "violates foreign key" in str(errors[0]) and f"id={spare}" in str(errors[0])
        assert count(store, P) == 2

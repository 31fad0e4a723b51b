"""A read replica (docs/storage.md §12): queries, checkouts, exports and verify read there;
writes and audit records go to the primary. A second database stands in for the replica: a
copy of the SQLite file, or a second PostgreSQL schema that received the same ingests."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from mgstore import NotFoundError, Store, StoreError
from mgstore.cli import main
from mgstore.db.migrate import upgrade_database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DENSE, OTHER = FIXTURES / "dense.meta", FIXTURES / "variables.meta"


@pytest.fixture
def pg_schemas(pg_server: str) -> Iterator[tuple[str, str]]:
    """Two fresh schemas of the test server, as two databases' URLs."""
    names = [f"mgstore_replica_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = sqlalchemy.create_engine(pg_server)
    with admin.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    try:
        primary, replica = (f"{pg_server}?options=-csearch_path%3D{name}" for name in names)
        yield primary, replica
    finally:
        with admin.begin() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A primary holding dense@1, and a replica of it; then dense@2 on the primary only."""
    if request.param == "sqlite":
        primary, replica = tmp_path / "primary.db", tmp_path / "replica.db"
        with Store(f"sqlite:///{primary}") as store:
            store.ingest(DENSE, "dense")
        shutil.copyfile(primary, replica)  # closed: its write-ahead log is folded in
        urls = (f"sqlite:///{primary}", f"sqlite:///{replica}")
    else:
        urls = request.getfixturevalue("pg_schemas")
        for url in urls:  # the same changes in the same order: what replication gives
            upgrade_database(url)
            with Store(url) as store:
                store.ingest(DENSE, "dense")
    with Store(urls[0]) as store:
        store.ingest(OTHER, "dense")
    return urls


def test_reads_go_to_the_replica_and_writes_to_the_primary(urls: tuple[str, str]) -> None:
    primary, replica = urls
    with Store(primary, read_url=replica) as store:
        assert store.version("dense@2").number == 2  # the log: the primary
        with pytest.raises(NotFoundError):
            store.checkout("dense@2")  # not replicated yet
        with pytest.raises(NotFoundError):
            store.query("dense@2")
        assert store.checkout_bytes("dense@1") == DENSE.read_bytes()
        assert len(store.query("dense@1", op_type="MatMul")) > 0
        store.ingest(OTHER, "other")  # a write: the primary
        assert store.version("other").number == 1
    with Store(replica) as store:
        assert [v.number for v in store.versions("dense")] == [1]
        with pytest.raises(NotFoundError):
            store.version("other")


def test_an_export_reads_the_replica_and_is_recorded_on_the_primary(
    urls: tuple[str, str], tmp_path: Path
) -> None:
    primary, replica = urls
    target = tmp_path / "out.meta"
    with Store(primary, read_url=replica) as store:
        record = store.export(target, "dense@1")
        assert record.ref == "dense@1" and target.is_file()
        assert store.verify() == []  # verify reads the records on the replica: none yet
        with pytest.raises(NotFoundError):
            store.export(tmp_path / "two.meta", "dense@2")
    with Store(primary) as store:
        assert [r.id for r in store.exports()] == [record.id]
        assert [v.status for v in store.verify()] == ["ok"]
        assert store.audit_check().ok
    with Store(replica) as store:
        assert store.exports() == []


def test_the_environment_names_the_replica(
    urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, replica = urls
    monkeypatch.setenv("MGSTORE_READ_DB", replica)
    with Store(primary) as store:
        assert store.read_url == replica
        with pytest.raises(NotFoundError):
            store.checkout("dense@2")
    monkeypatch.setenv("MGSTORE_READ_DB", primary)  # the primary itself: no replica
    with Store(primary) as store:
        assert store.read_url is None and store.read_engine is store.engine
        assert store.checkout("dense@2") is not None


def test_cli_read_db(urls: tuple[str, str], tmp_path: Path) -> None:
    primary, replica = urls
    target = str(tmp_path / "x.meta")
    assert main(["--db", primary, "--read-db", replica, "checkout", "dense@1", "-o", target]) == 0
    assert Path(target).read_bytes() == DENSE.read_bytes()
    assert main(["--db", primary, "checkout", "dense@2", "-o", target, "--read-db", replica]) == 1
    assert main(["--db", primary, "--read-db", replica, "show", "dense@2"]) == 0


def test_a_replica_that_is_not_a_copy_records_nothing(tmp_path: Path) -> None:
    primary, replica = (f"sqlite:///{tmp_path / name}" for name in ("p.db", "r.db"))
    with Store(primary) as store:
        store.ingest(DENSE, "dense")
    with Store(replica) as store:
        store.ingest(OTHER, "dense")  # the same id, other content
    with Store(primary, read_url=replica) as store, pytest.raises(StoreError, match="not a copy"):
        store.export(tmp_path / "out.meta", "dense@1")
    with Store(primary) as store:
        assert store.exports() == []


def test_a_missing_replica_is_not_created(tmp_path: Path) -> None:
    primary, replica = tmp_path / "p.db", tmp_path / "missing.db"
    with Store(f"sqlite:///{primary}"):
        pass
    with pytest.raises(NotFoundError, match="does not exist"):
        Store(f"sqlite:///{primary}", read_url=f"sqlite:///{replica}")
    assert not replica.exists()


def test_a_sqlite_replica_refreshed_under_an_open_store_is_read_anew(tmp_path: Path) -> None:
    """Kept connections fold the write-ahead log in as they are returned, so a copy of the
    file taken while the store is open holds every write; and one reading a file that another
    has replaced since (a refreshed replica) is dropped for the file now there
    (docs/storage.md §8)."""
    primary, replica = tmp_path / "p.db", tmp_path / "r.db"
    with Store(f"sqlite:///{primary}") as writer:
        writer.ingest(DENSE, "dense")
        shutil.copyfile(primary, replica)  # the store still open
        with Store(f"sqlite:///{primary}", read_url=f"sqlite:///{replica}") as reader:
            assert reader.checkout_bytes("dense@1") == DENSE.read_bytes()
            writer.ingest(OTHER, "dense")
            with pytest.raises(NotFoundError):
                reader.checkout("dense@2")  # not copied yet
            fresh = tmp_path / "fresh.db"
            shutil.copyfile(primary, fresh)
            fresh.replace(replica)  # another file under the replica's name
            assert reader.checkout_bytes("dense@2") == OTHER.read_bytes()

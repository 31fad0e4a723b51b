"""Migration 0007_source_form (each version's form and exact bytes, docs/storage.md §10) down
and up with data, on SQLite and PostgreSQL: versions of revision 0006 become ``meta`` versions
that give back their canonical bytes, with a clean audit log; a downgrade that would lose what
went in is refused without ``drop_data``, and with it drops the columns and the delta blobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import MetaData, Table, func, inspect, select

from mgstore import InputError, IntegrityError, Store, io
from mgstore.db import engine as db
from mgstore.db import migrate
from tests.writer_order import writer_order

REVISION = "0007_source_form"
COLUMNS = {"form", "original_sha256", "original_size", "original_delta_sha256",
           "meta_graph_index"}  # fmt: skip


def below() -> str:
    previous = migrate.scripts().get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    return previous


def at_head(url: str) -> None:
    if not url.startswith("sqlite"):
        migrate.upgrade_database(url)


def version_columns(url: str) -> set[str]:
    engine = db.create(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("versions")}
    finally:
        engine.dispose()


def blob_count(url: str) -> int:
    engine = db.create(url)
    try:
        with engine.connect() as conn:
            blobs = Table("blobs", MetaData())
            return int(conn.execute(select(func.count()).select_from(blobs)).scalar_one())
    finally:
        engine.dispose()


def test_versions_of_0006_give_back_their_canonical_bytes(db_url: str, fixtures_dir: Path) -> None:
    """Canonical versions lose nothing going down: no --drop-data needed, and back up they
    are ``meta`` versions whose records still match."""
    at_head(db_url)
    meta = io.read_meta_graph(fixtures_dir / "dense.meta")
    with Store(db_url) as store:
        store.ingest(fixtures_dir / "dense.meta", "dense", tags={"k": "v"})
        store.ingest(meta, "message")
        canonical = store.checkout_bytes("dense")
    assert migrate.downgrade_database(db_url, below()) == below()
    assert not COLUMNS & version_columns(db_url)
    assert migrate.upgrade_database(db_url) == migrate.head()
    with Store(db_url) as store:
        for ref in ("dense", "message"):
            info = store.version(ref)
            assert (info.form, info.original_sha256, info.original_size) == ("meta", None, None)
            assert store.checkout_bytes(ref) == canonical
        assert store.audit_check().ok and store.fsck().ok
        store.ingest(fixtures_dir / "graph.pbtxt", "text")  # and new ones record their form
        assert store.version("text").form == "graphdef-text"
        assert store.checkout_bytes("text") == (fixtures_dir / "graph.pbtxt").read_bytes()


def test_a_downgrade_that_loses_what_went_in_needs_drop_data(
    db_url: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    at_head(db_url)
    tf1 = tmp_path / "tf1.meta"
    tf1.write_bytes(writer_order(io.read_meta_graph(fixtures_dir / "dense.meta")))
    with Store(db_url) as store:
        store.ingest(fixtures_dir / "dense.meta", "plain")
        store.ingest(tf1, "tf1")
        store.ingest(fixtures_dir / "graph.pb", "graphdef")
        canonical = store.checkout("tf1").SerializeToString(deterministic=True)
        assert store.checkout_bytes("tf1") == tf1.read_bytes()
    blobs = blob_count(db_url)
    with pytest.raises(InputError, match=r"versions\.original_sha256 \(2 rows\)"):
        migrate.downgrade_database(db_url, below())
    assert version_columns(db_url) >= COLUMNS  # refused: nothing changed
    with Store(db_url) as store:
        assert store.checkout_bytes("tf1") == tf1.read_bytes()
    migrate.downgrade_database(db_url, below(), drop_data=True)
    assert not COLUMNS & version_columns(db_url)
    assert blob_count(db_url) == blobs - 1  # the one delta blob went with its column
    migrate.upgrade_database(db_url)
    with Store(db_url) as store:
        # The ingest records still say what went in: the loss is visible, to audit check and
        # to reads, which check a version's row against its records.
        problems = str(store.audit_check().problems)
        assert "tf1@1" in problems and "graphdef@1" in problems and "plain@1" not in problems
        with pytest.raises(IntegrityError, match="form, original_delta, original_sha256"):
            store.version("tf1")
        assert store.checkout_bytes("tf1") == canonical  # the content itself is intact
        assert store.version("plain").form == "meta"

"""Least privilege on PostgreSQL (issue 17): roles made on the real server, then used.

The tables belong to an admin role (no superuser: it owns the schema and runs ``db upgrade``
and ``db grant``), which makes one role a writer and another a reader. The writer ingests,
exports and runs every lifecycle command (aliases, tags, delete, restore, gc); it cannot change
or remove audit records, edit versions, change tags, aliases or deletions without their records
in the chain, remove content a version still uses, drop or disable the triggers and guards, or
drop tables. The reader reads and writes nothing. The roles are dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from mgstore import InputError, NotFoundError, Store, StoreError, node_order
from mgstore.cli.app import main
from mgstore.db import engine as db
from mgstore.db import roles
from mgstore.db.migrate import upgrade_database
from tests.store.test_order_deltas import stored_orders, version_meta


@pytest.fixture
def role_names(pg_server: str, pg_url: str) -> Iterator[tuple[str, str, str]]:
    """An admin (no superuser: it owns the test's schema), a writer and a reader role (LOGIN,
    no privileges yet), dropped after the test with everything they own."""
    suffix = uuid.uuid4().hex[:10]
    names = (f"mgstore_admin_{suffix}", f"mgstore_writer_{suffix}", f"mgstore_reader_{suffix}")
    schema = pg_url.rsplit("search_path%3D", 1)[1]
    superuser = sqlalchemy.create_engine(pg_server)
    with superuser.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
        conn.exec_driver_sql(f'ALTER SCHEMA "{schema}" OWNER TO "{names[0]}"')
    try:
        yield names
    finally:
        with superuser.begin() as conn:
            conn.exec_driver_sql(f'ALTER SCHEMA "{schema}" OWNER TO postgres')
            for name in reversed(names):
                conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
                conn.exec_driver_sql(f'DROP ROLE "{name}"')
        superuser.dispose()


def as_role(url: str, role: str) -> str:
    assert "://postgres@" in url
    return url.replace("://postgres@", f"://{role}@", 1)


def test_a_writer_adds_history_but_cannot_alter_it(
    pg_url: str,
    role_names: tuple[str, str, str],
    small_meta: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, writer, reader = role_names
    admin_url = as_role(pg_url, admin)
    upgrade_database(admin_url)  # the admin owns the tables
    assert main(["--db", admin_url, "db", "grant", "--writer", writer]) == 0
    assert main(["--db", admin_url, "db", "grant", "--reader", reader]) == 0
    assert "writer privileges granted" in capsys.readouterr().out

    with Store(as_role(pg_url, writer)) as store:
        store.ingest(small_meta("a", "b"), "g", message="one", tags={"k": "v"})
        store.ingest(small_meta("a", "b", "c"), "g", message="two")  # ends a node row
        store.export(tmp_path / "g.meta", "g@1", save_debug_info=True)
        store.export(tmp_path / "g.meta", "g@2")  # over the earlier file
        store.export(tmp_path / "q.meta", store.query("g", scope="a"))
        assert store.recover().clean
        assert store.audit_check().ok and len(store.exports()) == 3

        refused = [
            "UPDATE exports SET username = 'mallory'",
            "DELETE FROM exports",
            "TRUNCATE exports",
            "UPDATE audit_head SET seq = 0",
            "DELETE FROM audit_head",
            "UPDATE versions SET message = 'tampered', created_by = 'mallory'",
            "DELETE FROM versions",
            "UPDATE version_tags SET value = 'forged'",
            "DELETE FROM version_tags",
            "UPDATE graphs SET name = 'other'",
            "UPDATE packs SET data = ''",
            "DROP TRIGGER exports_append_only ON exports",
            "ALTER TABLE exports DISABLE TRIGGER ALL",
            "DROP TABLE exports",
            "DROP TABLE versions CASCADE",
            "CREATE TABLE intruder (id integer)",
        ]
        for statement in refused:
            with (
                pytest.raises(StoreError, match="permission denied|must be owner|append-only"),
                db.transaction(store.engine, write=True) as conn,
            ):
                conn.exec_driver_sql(statement)

    with Store(as_role(pg_url, reader)) as store:
        assert [v.number for v in store.versions("g")] == [2, 1]
        assert store.verify()  # reads the log
        with pytest.raises(StoreError, match="permission denied"):
            store.ingest(small_meta("x"), "other")
        with pytest.raises(StoreError, match="permission denied"):
            store.export(tmp_path / "r.meta", "g")
    assert not (tmp_path / "r.meta").exists()

    with Store(admin_url) as store:  # the admin sees an intact, unchanged history
        assert store.audit_check().ok and len(store.exports()) == 3
        assert [v.message for v in store.versions("g")] == ["two", "one"]


REFUSED = "permission denied|must be owner|append-only|foreign key"


def refused_as(store: Store, statements: list[str]) -> None:
    """Each statement, in a transaction of its own, is refused (at once or at commit)."""
    for statement in statements:
        with pytest.raises(StoreError, match=REFUSED):  # noqa: PT012
            with db.transaction(store.engine, write=True) as conn:
                conn.exec_driver_sql(statement)
            pytest.fail(f"not refused: {statement}")


def test_a_writer_runs_every_lifecycle_command_but_cannot_alter_history(
    pg_url: str,
    role_names: tuple[str, str, str],
    small_meta: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, writer, _ = role_names
    admin_url = as_role(pg_url, admin)
    upgrade_database(admin_url)
    assert main(["--db", admin_url, "db", "grant", "--writer", writer]) == 0
    writer_url = as_role(pg_url, writer)

    with Store(writer_url) as store:  # every lifecycle command of the API, as the writer
        tags = {"stage": "dev", "k": "v"}
        store.ingest(small_meta("a", label="1"), "g", message="one", tags=tags)
        store.ingest(small_meta("a", "b", label="2"), "g", message="two")
        store.ingest(small_meta("a", "b", "c", label="3"), "g", message="three")
        store.export(tmp_path / "g.meta", "g@1")
        store.set_alias("g", "prod", "g@1")  # a new alias
        store.set_alias("g", "prod", "g@2")  # moved
        store.set_alias("g", "old", "g@1")
        store.remove_alias("g", "old")
        store.tag("g@1", {"stage": "prod"}, remove=["k"])  # changed and removed
        store.tag("g@2", {"new": "x"})
        store.delete("g@3")
        store.restore("g@3")
        store.delete("g@2", force=True)  # with its alias
        store.delete("g@1", force=True)  # with its export
        report = store.gc(vacuum=True)
        assert report.versions == ("g@1", "g@2") and report.node_rows > 0
        assert store.delete("g@3").deleted_at is not None
        assert store.gc().versions == ("g@3",)
        store.ingest(small_meta("x"), "g", message="four")
        assert main(["--db", writer_url, "alias", "set", "g", "prod", "g@4"]) == 0
        assert main(["--db", writer_url, "tag", "g@4", "stage=prod"]) == 0
        assert main(["--db", writer_url, "gc"]) == 0
        capsys.readouterr()
        assert store.audit_check().ok and store.fsck().ok
        assert [(v.number, dict(v.tags)) for v in store.versions("g")] == [(4, {"stage": "prod"})]

        meta = small_meta("y", "z")  # with edges and a collection
        meta.collection_def["train_op"].node_list.value.append("z")
        store.ingest(meta, "h", tags={"t": "1"})
        store.set_alias("h", "live", "h@1")
        store.export(tmp_path / "h.meta", "h@1")
        version = "(SELECT id FROM versions WHERE number = 1 AND graph_id = "
        version += "(SELECT id FROM graphs WHERE name = 'h'))"
        refused_as(
            store,
            [  # history altered other than through the commands (each with its record)
                "UPDATE version_tags SET value = 'forged'",
                "DELETE FROM version_tags",
                f"INSERT INTO version_tags VALUES ({version}, 'approved', 'yes')",
                "UPDATE aliases SET updated_by = 'mallory'",
                "DELETE FROM aliases",
                f"INSERT INTO version_states VALUES ({version}, now(), 'mallory', NULL)",
                f"INSERT INTO version_states VALUES ({version}, now(), 'mallory', now())",
                "DELETE FROM version_states",  # g's collected versions
                "UPDATE version_states SET collected_at = NULL",
                "UPDATE versions SET node_order = '', debug_sha256 = NULL",
                "UPDATE versions SET message = 'tampered'",
                "DELETE FROM versions",
                "DELETE FROM nodes",
                "DELETE FROM edges",
                "DELETE FROM packs",
                "DELETE FROM blobs",
                "DELETE FROM collections",
                "DELETE FROM blobs WHERE encode(sha256, 'hex') IN"
                " (SELECT members_sha256 FROM collections)",  # member lists in use
                "DELETE FROM version_outlines",
                "DELETE FROM outline_parts",
                "INSERT INTO versions (graph_id, number, content_hash, created_at, created_by,"
                " node_count, size, node_order, has_graph_def, head_sha256, graph_tail_sha256,"
                " tail_sha256) SELECT graph_id, 9, content_hash, created_at, created_by,"
                " node_count, size, node_order, has_graph_def, head_sha256, graph_tail_sha256,"
                " tail_sha256 FROM versions WHERE number = 1 AND graph_id = (SELECT id FROM"
                " graphs WHERE name = 'h')",
                "UPDATE audit_events SET payload = '{}'",
                "DELETE FROM audit_events",
                "UPDATE lifecycle_events SET username = 'mallory'",
                "DELETE FROM exports",
                "UPDATE audit_head SET seq = seq - 1",
                "DROP TRIGGER version_tags_recorded ON version_tags",
                "ALTER TABLE versions DISABLE TRIGGER ALL",
                "DROP FUNCTION mgstore_check_tag CASCADE",
            ],
        )
        assert store.audit_check().ok and store.fsck().ok
        assert store.version("h@live").tags == {"t": "1"}

    with Store(admin_url) as store:  # the owner is not guarded (and could drop the guards)...
        # ...but for the references of node rows, kept for every role as foreign keys were
        # (revision 0017_pg_reference_guards): a used pack, a node row with edges
        refused_as(store, ["DELETE FROM packs", "DELETE FROM nodes"])
        with db.transaction(store.engine, write=True) as conn:
            conn.exec_driver_sql("UPDATE version_tags SET value = 'edited'")
        assert not store.audit_check().ok


def test_grant_refuses_what_it_cannot_do_safely(
    pg_url: str, role_names: tuple[str, str, str], sqlite_url: str
) -> None:
    admin, writer, _ = role_names
    upgrade_database(as_role(pg_url, admin))
    engine = db.create(as_role(pg_url, admin))
    try:
        for hostile in ['x"; DROP TABLE exports; --', "a b", "", "1abc", "public", "é" * 3]:
            with pytest.raises(InputError, match="not a role name"):
                roles.grant(engine, hostile, "writer")
        with pytest.raises(NotFoundError, match="no role named"):
            roles.grant(engine, "mgstore_no_such_role_here", "reader")
        with pytest.raises(InputError, match="superuser"):
            roles.grant(engine, "postgres", "writer")
        with pytest.raises(InputError, match="owns the tables"):
            roles.grant(engine, admin, "writer")
        with pytest.raises(InputError, match="'writer' or 'reader'"):
            roles.grant(engine, writer, "admin")  # type: ignore[arg-type]
    finally:
        engine.dispose()
    with pytest.raises(InputError, match="PostgreSQL"):
        sqlite = db.create(sqlite_url)
        roles.grant(sqlite, writer, "writer")


def test_a_writer_collects_versions_whose_orders_others_build_on(
    pg_url: str, role_names: tuple[str, str, str]
) -> None:
    """gc as a writer keeps a collected version's order while a live delta builds on it (no
    update of that row), and clears it, within the guards, once none does
    (docs/storage.md §4.1); a live version's order cannot be rewritten."""
    admin, writer, _ = role_names
    admin_url = as_role(pg_url, admin)
    upgrade_database(admin_url)
    assert main(["--db", admin_url, "db", "grant", "--writer", writer]) == 0
    with Store(as_role(pg_url, writer)) as store:
        for k in range(1, 5):
            store.ingest(version_meta(k), "g")
        kept = stored_orders(store)
        assert all(kept[n][:1] == node_order.DELTA for n in (2, 3, 4))
        store.delete("g@3")  # g@4 builds on g@3 (skip bases: g@2 and g@3 on g@1)
        assert store.gc().order_bytes == 0 and stored_orders(store)[3] == kept[3]
        refused_as(store, ["UPDATE versions SET node_order = node_order || '\\x00'::bytea"])
        store.delete("g@2")
        store.delete("g@4")
        report = store.gc()
        assert report.order_bytes == sum(len(kept[n]) for n in (2, 3, 4))
        assert [n for n, data in stored_orders(store).items() if data] == [1]
        assert store.checkout("g@1") == version_meta(1)
        assert store.audit_check().ok and store.fsck().ok

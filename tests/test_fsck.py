"""Tampering with any stored table is caught by the read that touches it (IntegrityError, no
file written, a failed export recorded as failed) and by ``fsck`` (naming the version), on
SQLite and PostgreSQL: packs, blobs, import forms, collections' member lists, the indexed columns
and edge rows of nodes, stored outlines. Changes are made as someone with write access to
the database could.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from mgstore import IntegrityError, Store
from mgstore.cli import main
from mgstore.db.models import metadata
from mgstore.proto import GraphDebugInfo, MetaGraphDef

TABLES = metadata.tables
P, B, N, E = (TABLES[t] for t in ("packs", "blobs", "nodes", "edges"))
NM = TABLES["names"]


def name_id(name: str) -> Any:
    """The id of ``name``'s row of ``names``, as SQL (docs/storage.md §3.5)."""
    return select(NM.c.id).where(NM.c.name == name).scalar_subquery()


C, F, V = TABLES["collections"], TABLES["import_forms"], TABLES["versions"]
OP, VO = TABLES["outline_parts"], TABLES["version_outlines"]


def graph(label: str = "") -> Any:
    meta = MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    for i, name in enumerate(["alpha", "bravo", "charlie", "delta"]):
        node = meta.graph_def.node.add(name=name, op="NoOp", device="/cpu:0")
        if i:
            node.input.append(f"^{meta.graph_def.node[i - 1].name}")
    meta.collection_def["train_op"].node_list.value.extend(["bravo", "delta"])
    meta.meta_info_def.any_info.value = label.encode()
    if label:
        meta.graph_def.node.add(name=label, op="NoOp", input=["^alpha"])
    return meta


@pytest.fixture
def net(store: Store) -> Store:
    """``net@1`` (four nodes, a collection) and ``net@2``, each with the import form its ingest
    computed (docs/storage.md §6)."""
    store.ingest(graph(), "net", message="first", tags={"stage": "dev"})
    store.ingest(graph("two"), "net", message="second")
    return store


#: ``net@1``'s import form (the rows of every other version's are left alone)
NET1_FORM = F.c.content_hash == select(V.c.content_hash).where(V.c.number == 1).scalar_subquery()


def flip(store: Store, table: Any, data_column: str, where: Any, needle: bytes) -> None:
    """Change one byte of ``needle`` inside the value of ``data_column`` in the matching row."""
    with store.engine.begin() as conn:
        rows = conn.execute(select(table).where(where)).all()
        for row in rows:
            data = bytes(row._mapping[data_column])
            at = data.find(needle)
            if at >= 0:
                changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
                keys = [table.c[c.name] == row._mapping[c.name] for c in table.primary_key]
                conn.execute(table.update().where(*keys).values({data_column: changed}))
                return
    raise AssertionError(f"{needle!r} not found in {table.name}.{data_column}")


def fsck_lines(store: Store, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    status = main(["--db", store.url, "fsck", *args])
    out = capsys.readouterr().out
    assert status == 1, out
    return out.splitlines()


def test_an_intact_store_passes_fsck(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    report = net.fsck(deep=True)
    assert report.ok and report.versions == ("net@1", "net@2") and report.deep
    assert main(["--db", net.url, "fsck", "--deep"]) == 0
    assert capsys.readouterr().out == "ok: 2 versions checked, audit log intact\n"
    assert main(["--db", net.url, "fsck", "net@1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == ["net@1"]


def test_a_flipped_byte_in_a_pack(
    net: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flip(net, P, "data", P.c.id > 0, b"charlie")
    for read in (lambda: net.checkout("net@1"), lambda: net.graph("net@2"),
                 lambda: net.checkout_files("net@1", tmp_path / "c.meta")):  # fmt: skip
        with pytest.raises(IntegrityError, match=r"net@\d: its stored bytes do not match"):
            read()
    assert not (tmp_path / "c.meta").exists()
    with pytest.raises(IntegrityError, match="stored node does not match its hash"):
        net.query("net@1", scope="charlie")
    assert net.query("net@1", scope="alpha").number_of_nodes() == 1  # untouched nodes read fine
    with pytest.raises(IntegrityError):
        net.export(tmp_path / "e.meta", "net@1")
    assert not (tmp_path / "e.meta").exists()
    failed = net.exports()[0]
    assert failed.status == "failed" and "IntegrityError" in (failed.error or "")
    lines = fsck_lines(net, capsys)
    assert "net@1: node: node 'charlie': its stored bytes do not match its hash" in lines
    assert any(line.startswith("net@1: content: ") for line in lines)
    assert net.audit_check().ok  # the log itself is intact


def test_the_stored_bytes_path_of_an_export_is_checked_too(net: Store, tmp_path: Path) -> None:
    """A full export without options, once the import form is stored, is written from the packs
    without parsing them (the exporter's fastest path): it checks the content hash as well."""
    first = net.export(tmp_path / "a.meta", "net@1")
    net.import_cache.clear()
    again = net.export(tmp_path / "b.meta", "net@1")  # from stored bytes
    assert again.sha256 == first.sha256
    flip(net, P, "data", P.c.id > 0, b"charlie")
    net.import_cache.clear()
    with pytest.raises(IntegrityError, match="net@1"):
        net.export(tmp_path / "c.meta", "net@1")
    assert not (tmp_path / "c.meta").exists()
    assert net.exports()[0].status == "failed"


def test_a_flipped_byte_in_a_blob(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    flip(net, B, "data", B.c.sha256.isnot(None), b"two")  # net@2's meta_info_def (its head)
    with pytest.raises(IntegrityError, match="net@2"):
        net.checkout("net@2")
    net.checkout("net@1")  # another version's blobs are not touched
    lines = fsck_lines(net, capsys)
    assert [line.split(":")[0] for line in lines] == ["net@2"]


def test_a_flipped_byte_in_a_collection_blob(
    net: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Collections are read from the version's own frame (checked with its content hash);
    their blobs serve queries' members, which fsck recomputes from them."""
    collections = TABLES["collections"]
    flip(net, B, "data", B.c.sha256.in_(select(collections.c.blob_sha256)), b"bravo")
    net.checkout("net@1")
    lines = fsck_lines(net, capsys)
    assert "net@1: collection: stored blob" in "\n".join(lines)
    assert all(line.split(": ")[1] == "collection" for line in lines)


def test_edited_collection_members(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    lists = B.c.sha256.in_(select(func.decode(C.c.members_sha256, "hex")))
    if net.engine.dialect.name == "sqlite":
        lists = func.hex(B.c.sha256).in_(select(func.upper(C.c.members_sha256)))
    with net.engine.begin() as conn:  # the list of 'train_op' names alpha, not bravo
        for sha, data in conn.execute(select(B.c.sha256, B.c.data).where(lists)).all():
            edited = bytes(data).replace(b'"bravo"', b'"alpha"')
            conn.execute(B.update().where(B.c.sha256 == sha).values(data=edited))
    with pytest.raises(IntegrityError, match="members of its collection 'train_op'"):
        net.query("net@1", collection="train_op")
    lines = fsck_lines(net, capsys)
    assert "net@1: collection: collection 'train_op': its member list does not match its " \
        "digest" in lines  # fmt: skip


def test_a_missing_member_list(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    lists = B.c.sha256.in_(select(func.decode(C.c.members_sha256, "hex")))
    if net.engine.dialect.name == "sqlite":
        lists = func.hex(B.c.sha256).in_(select(func.upper(C.c.members_sha256)))
    with net.engine.begin() as conn:
        assert conn.execute(B.delete().where(lists)).rowcount == 1
    with pytest.raises(IntegrityError, match="members of its collection 'train_op'"):
        net.query("net@2", collection="train_op")
    assert "net@2: collection: collection 'train_op': its member list does not match its " \
        "digest" in fsck_lines(net, capsys)  # fmt: skip


def test_a_flipped_byte_in_an_import_form(
    net: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net.export(tmp_path / "a.meta", "net@1")  # reads the import form its ingest stored
    with net.engine.begin() as conn:
        data = bytes(conn.execute(select(F.c.data).where(NET1_FORM)).scalar_one())
        conn.execute(F.update().where(NET1_FORM).values(data=data[:-1] + bytes([data[-1] ^ 1])))
    net.import_cache.clear()
    with pytest.raises(IntegrityError, match="import form"):
        net.export(tmp_path / "b.meta", "net@1")
    assert not (tmp_path / "b.meta").exists()
    assert net.exports()[0].status == "failed"
    assert any("import_form" in line for line in fsck_lines(net, capsys, "net@1"))


def test_a_recomputed_import_form_is_compared_on_request(net: Store, tmp_path: Path) -> None:
    """A form replaced consistently (its hash too) passes the cheap check; --deep recomputes."""
    import hashlib
    from dataclasses import replace

    from mgstore.export.imported import ImportForm

    net.export(tmp_path / "a.meta", "net@1")
    with net.engine.begin() as conn:
        form = ImportForm.from_bytes(
            bytes(conn.execute(select(F.c.data).where(NET1_FORM)).scalar_one())
        )
        data = replace(form, nodes={**form.nodes, 0: form.nodes[1]}).to_bytes()
        sha = hashlib.sha256(data).hexdigest()
        conn.execute(F.update().where(NET1_FORM).values(data=data, sha256=sha))
    assert net.fsck().ok
    deep = net.fsck(deep=True)
    assert [(p.ref, p.kind) for p in deep.problems] == [("net@1", "import_form")]
    assert "differs from a recomputation" in deep.problems[0].detail


def test_an_edited_op_column(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with net.engine.begin() as conn:
        conn.execute(NM.insert(), {"name": "Conv2D"})  # ops are names' rows (revision 0019)
        conn.execute(
            N.update().where(N.c.name_id == name_id("bravo")).values(op_id=name_id("Conv2D"))
        )
    with pytest.raises(IntegrityError, match="indexed columns of node 'bravo'"):
        net.query("net@1", op_type="Conv2D")
    assert main(["--db", net.url, "query", "net@1", "--op-type", "Conv2D"]) == 1
    assert "indexed columns" in capsys.readouterr().err
    lines = fsck_lines(net, capsys)
    assert "net@1: index: node 'bravo': indexed op 'Conv2D', but its content says 'NoOp'" in lines
    assert "net@2: index: node 'bravo': indexed op 'Conv2D', but its content says 'NoOp'" in lines


def test_edited_edge_rows(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with net.engine.begin() as conn:
        conn.execute(
            E.update().where(E.c.src_id == name_id("alpha")).values(src_id=name_id("delta"))
        )
    lines = fsck_lines(net, capsys, "net@1")
    assert lines == ["net@1: edges: node 'bravo': its edge rows do not match its inputs"]
    with pytest.raises(IntegrityError, match="edge rows of node 'bravo'"):
        net.query("net@1", scope="charlie", closure="ancestors")
    assert net.query("net@1", scope="bravo").number_of_nodes() == 1  # no closure: no edges


def test_an_edited_name(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """The interned names that node and edge rows refer to (docs/storage.md §3.5), edited:
    the node of that name and the edges from it no longer say what the content says."""
    with net.engine.begin() as conn:
        conn.execute(NM.update().where(NM.c.name == "alpha").values(name="zulu"))
    with pytest.raises(IntegrityError, match="indexed columns of node 'alpha'"):
        net.query("net@1", scope="zulu")
    with pytest.raises(IntegrityError, match="edge rows of node 'bravo'"):
        net.query("net@1", scope="bravo", closure="descendants")
    lines = fsck_lines(net, capsys, "net@1")
    assert "net@1: index: node 'alpha': indexed name 'zulu', but its content says 'alpha'" in lines
    assert "net@1: edges: node 'bravo': its edge rows do not match its inputs" in lines


def test_an_edited_version_row_and_tag(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    with net.engine.begin() as conn:
        conn.execute(
            V.update().where(V.c.number == 1).values(message="tampered", created_by="mallory")
        )
        conn.execute(text("UPDATE version_tags SET value = 'prod'"))
    report = net.audit_check()
    assert [(p.kind, p.ref) for p in report.problems] == [("mismatch", "net@1")]
    assert "created_by, message, tags" in report.problems[0].detail
    lines = fsck_lines(net, capsys)
    assert lines == [
        "net@1: audit: version net@1 differs from its records in created_by, message, tags: its "
        "row was edited"
    ]
    assert main(["--db", net.url, "audit", "check"]) == 1


def outline_part(store: Store, number: int, part: str) -> bytes:
    """The SHA-256 of part ``part`` of version ``net@number``'s stored outline."""
    with store.engine.connect() as conn:
        return bytes(
            conn.execute(
                select(VO.c[part]).join(V, V.c.id == VO.c.version_id).where(V.c.number == number)
            ).scalar_one()
        )


def test_a_flipped_byte_in_an_outline_part(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    sha = outline_part(net, 1, "names")
    assert sha != outline_part(net, 2, "names")
    with net.engine.begin() as conn:
        data = bytes(conn.execute(select(OP.c.data).where(OP.c.sha256 == sha)).scalar_one())
        middle = len(data) // 2
        changed = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
        conn.execute(OP.update().where(OP.c.sha256 == sha).values(data=changed))
    with pytest.raises(IntegrityError, match=r"net@1: its stored outline's names do not match"):
        net.outline("net@1")
    with pytest.raises(IntegrityError, match="stored outline"):
        net.summary("net@1")
    assert net.outline("net@2").names  # the other version's parts are intact
    lines = fsck_lines(net, capsys)
    assert lines == ["net@1: outline: its stored outline's names do not match their hash"]


def test_a_consistently_replaced_outline_is_found_by_recomputation(
    net: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """Parts that match their hashes, but of another version: a read cannot tell, fsck can."""
    with net.engine.begin() as conn:
        ids = {number: id_ for number, id_ in conn.execute(select(V.c.number, V.c.id))}
        other = conn.execute(select(VO).where(VO.c.version_id == ids[2])).one()._mapping
        conn.execute(
            VO.update()
            .where(VO.c.version_id == ids[1])
            .values({k: v for k, v in other.items() if k != "version_id"})
        )
    assert "two" in net.outline("net@1").names  # net@2's outline, read as net@1's
    lines = fsck_lines(net, capsys)
    assert lines == ["net@1: outline: its stored outline differs from a recomputation"]


def test_a_missing_outline(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a stored outline the tables answer (slower), and fsck says it is missing."""
    expected = net.outline("net@1")
    with net.engine.begin() as conn:
        first = conn.execute(select(V.c.id).where(V.c.number == 1)).scalar_one()
        conn.execute(VO.delete().where(VO.c.version_id == first))
    assert net.outline("net@1") == expected
    lines = fsck_lines(net, capsys)
    assert lines == ["net@1: outline: it has no stored outline in the format this mgstore reads"]


def test_a_flipped_byte_in_debug_info(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.meta").write_bytes(graph().SerializeToString())
    info = GraphDebugInfo()
    info.files.append("train_model.py")
    (tmp_path / "d.debug").write_bytes(info.SerializeToString())
    store.ingest(tmp_path / "d.meta", "dbg")
    flip(store, B, "data", B.c.sha256.isnot(None), b"train_model")
    with pytest.raises(IntegrityError, match="dbg@1: its stored debug info does not match"):
        store.debug_info("dbg@1")
    with pytest.raises(IntegrityError, match="dbg@1"):
        store.checkout_files("dbg@1", tmp_path / "out" / "c.meta")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    with pytest.raises(IntegrityError, match="dbg@1"):
        store.export(tmp_path / "e.meta", "dbg@1", save_debug_info=True)
    assert not (tmp_path / "e.meta").exists() and not (tmp_path / "e.debug").exists()
    assert store.exports()[0].status == "failed"
    lines = fsck_lines(store, capsys)
    assert lines == ["dbg@1: debug: its stored debug info does not match its debug hash"]


def test_a_missing_pack(net: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A pack deleted around what keeps node rows' references (SQLite's foreign keys off, or
    PostgreSQL's triggers, docs/storage.md §8): reads refuse the version, fsck names its nodes."""
    charlie = select(N.c.pack_id).where(N.c.name_id == name_id("charlie")).scalar_subquery()
    if net.engine.dialect.name == "sqlite":  # a connection of sqlite3's own: foreign keys off
        net.close()
        with closing(sqlite3.connect(net.engine.url.database or "")) as conn:
            pack = conn.execute(
                "SELECT pack_id FROM nodes"
                " WHERE name_id = (SELECT id FROM names WHERE name = 'charlie')"
            ).fetchone()
            conn.execute("DELETE FROM packs WHERE id = ?", pack)
            conn.commit()
    else:
        with net.engine.begin() as conn:  # as a superuser
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            assert conn.execute(P.delete().where(P.c.id == charlie)).rowcount == 1
    with pytest.raises(IntegrityError):
        net.checkout("net@1")
    lines = fsck_lines(net, capsys, "net@1")
    assert any(
        re.fullmatch(r"net@1: node: node 'charlie': its pack \d+ is missing", x) for x in lines
    )

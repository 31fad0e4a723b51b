"""Exports from a store and their audit records (issues 5 and 6), on SQLite and PostgreSQL.

Every export of a stored version that writes a file is recorded in the transaction that puts
the file in place: version, query, canonical options, absolute path, SHA-256 and size of what
was written, debug file, time, user, host, versions, duration. A failed export leaves no file
(an old file at the target is kept) and exactly one ``failed`` record. Records are checked
against the files on disk (verify), traced back from a file (which), exported again
(reproduce, over every golden case that writes a file) and checked as a chain (audit_check),
also after a record was changed by direct SQL and with exports racing from several processes.

The audit module's own logic (the record format, the chain arithmetic, every kind of tampering)
is tested in ``tests/audit/``; these tests go through ``Store.export_meta_graph``.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import __version__ as protobuf_version
from sqlalchemy import Connection, select

import mgstore
from mgstore import Store, audit
from mgstore import exporter as mgstore_exporter
from mgstore.db import engine as db
from mgstore.db.tables import BLOBS as B
from mgstore.db.tables import EXPORTS as X
from mgstore.errors import (
    InputError,
    IntegrityError,
    MgstoreError,
    NotFoundError,
    OutputError,
    ReproductionError,
    StoreError,
)
from mgstore.export import meta_graph as mg
from mgstore.proto import MetaGraphDef, SaverDef
from tests import golden_cases as golden
from tests import workers
from tests.tampering import triggers_dropped

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``root``, temporary files included."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def dense(store: Store) -> mgstore.VersionInfo:
    """``dense@1``: the dense-tower fixture with its debug info, devices, saver, collections."""
    return store.ingest(FIXTURES / "dense.meta", "dense")


# ------------------------------------------------------------------------------------------
# What a successful export records


def test_a_recorded_export_has_every_field(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver_def = store.saver_def("dense")
    assert saver_def is not None
    info = MetaGraphDef.MetaInfoDef(meta_graph_version="audited", tags=["serve"])
    target = tmp_path / "out" / "block.meta"
    before = datetime.now(timezone.utc)
    started = time.monotonic()
    returned = store.export_meta_graph(
        target,
        meta_info_def=info,
        saver_def=saver_def,
        collection_list=["variables", "savers", "nope", "variables"],
        graph="dense@1",
        export_scope="tower_1",
        clear_devices=True,
        clear_extraneous_savers=True,
        strip_default_attrs=True,
        save_debug_info=True,
    )
    elapsed = time.monotonic() - started
    after = datetime.now(timezone.utc)

    data = target.read_bytes()
    debug = (tmp_path / "out" / "block.debug").read_bytes()
    assert data == returned.SerializeToString(deterministic=True)
    record = store.last_export
    assert record is not None and record.ok and record.status == "ok"
    assert (record.graph, record.version, record.ref) == ("dense", 1, "dense@1")
    assert record.content_hash == dense.content_hash
    assert record.query is None and record.error is None
    assert record.path == real(target) and os.path.isabs(record.path)
    assert (record.sha256, record.size) == (sha(data), len(data))
    assert record.debug_path == real(tmp_path / "out" / "block.debug")
    assert record.debug_sha256 == sha(debug)
    assert record.created_at.utcoffset() == timedelta(0)
    assert before <= record.created_at <= after
    assert record.user == getpass.getuser() and record.host == socket.gethostname()
    assert record.mgstore_version == importlib.metadata.version("mgstore")
    assert record.protobuf_version == protobuf_version
    assert 0 < record.duration <= elapsed

    # Every option, messages by the SHA-256 of their deterministic bytes (kept as blobs).
    info_bytes = info.SerializeToString(deterministic=True)
    saver_bytes = saver_def.SerializeToString(deterministic=True)
    assert record.to_dict()["options"] == {
        "filename": str(target),
        "ref": "dense@1",  # the ref as written
        "meta_info_def": {"message": "tensorflow.MetaGraphDef.MetaInfoDef",
                          "sha256": sha(info_bytes)},
        "graph_def": None,
        "saver_def": {"message": "tensorflow.SaverDef", "sha256": sha(saver_bytes)},
        "collection_list": ["variables", "savers", "nope", "variables"],
        "export_scope": "tower_1",
        "as_text": False,
        "clear_devices": True,
        "clear_extraneous_savers": True,
        "strip_default_attrs": True,
        "save_debug_info": True,
    }  # fmt: skip
    with db.transaction(store.engine) as conn:
        row = conn.execute(select(X.c.options).where(X.c.id == record.id)).one()
        kept = dict(conn.execute(select(B.c.sha256, B.c.data)).all())
    assert row.options == audit.canonical_json(record.to_dict()["options"])  # canonical JSON
    assert kept[hashlib.sha256(info_bytes).digest()] == info_bytes
    assert kept[hashlib.sha256(saver_bytes).digest()] == saver_bytes

    assert store.exports() == [record]
    assert store.export_record(record.id) == record == store.export_record(record.id[:8])

    # The text format, to a path relative to the working directory: recorded absolute.
    monkeypatch.chdir(tmp_path)
    returned = store.export_meta_graph("rel/m.meta.txt", graph="dense", as_text=True)
    text_record = store.last_export
    assert text_record is not None and text_record.seq == record.seq + 1
    text = (tmp_path / "rel" / "m.meta.txt").read_bytes()
    assert text == mgstore.io.serialize(returned, as_text=True)
    assert text_record.path == real(tmp_path / "rel" / "m.meta.txt")
    assert (text_record.sha256, text_record.size) == (sha(text), len(text))
    assert text_record.options["as_text"] is True and text_record.debug_path is None
    assert text_record.options["filename"] == "rel/m.meta.txt"
    monkeypatch.chdir(FIXTURES)  # reproduced from anywhere
    assert store.reproduce(text_record.id) == text_record
    assert store.exports() == [text_record, record]
    assert store.audit_check().ok


def test_history_newest_first_and_what_is_not_recorded(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    # Not recorded: no file (nothing written), or no stored version (a graph from memory).
    returned = store.export_meta_graph(graph="dense")
    assert returned == store.export_meta_graph(None, graph="dense", save_debug_info=True)
    with pytest.raises(InputError):  # a failure without a file is no export either
        store.export_meta_graph(graph="dense", clear_extraneous_savers=True)
    meta = store.checkout("dense")
    in_memory = store.export_meta_graph(tmp_path / "mem.meta", graph=meta)
    assert (tmp_path / "mem.meta").read_bytes() == in_memory.SerializeToString(deterministic=True)
    store.export_meta_graph(tmp_path / "nx.meta", graph=store.graph("dense"))  # not a query
    mgstore.export_meta_graph(tmp_path / "mod.meta", graph=meta)
    assert (tmp_path / "nx.meta").exists() and (tmp_path / "mod.meta").exists()
    assert store.exports() == [] and store.last_export is None
    assert store.which(tmp_path / "mem.meta") == []

    # Recorded, newest first, failed ones included (the module-level function with a store
    # and a ref is a store export).
    store.ingest(FIXTURES / "variables.meta", "vars")
    mgstore.export_meta_graph(tmp_path / "1.meta", graph="dense", store=store)
    first = store.last_export
    store.export_meta_graph(tmp_path / "2.meta", graph="vars")
    second = store.last_export
    with pytest.raises(InputError):
        store.export_meta_graph(tmp_path / "3.meta", graph="vars", export_scope="tower(")
    failed = store.exports()[0]
    store.export_meta_graph(tmp_path / "4.meta", graph="dense")
    fourth = store.last_export
    assert first is not None and second is not None and fourth is not None
    assert first.path == real(tmp_path / "1.meta")

    log = store.exports()
    assert log == [fourth, failed, second, first]
    seqs = [r.seq for r in log]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 4
    assert [r.status for r in log] == ["ok", "failed", "ok", "ok"]
    assert store.exports(graph="dense") == [fourth, first]
    assert store.exports(graph="vars") == [failed, second]
    assert store.exports(graph="nothing") == []
    assert store.exports(since=second.created_at) == [fourth, failed, second]
    assert store.exports(until=second.created_at) == [second, first]
    assert store.exports(graph="vars", since=failed.created_at) == [failed]
    assert store.exports(user=getpass.getuser()) == log
    assert store.exports(user="nobody-at-all") == []
    later = fourth.created_at + timedelta(seconds=1)
    assert store.exports(since=later) == []


# ------------------------------------------------------------------------------------------
# Failed exports: no file, the old one kept, one failed record, the chain intact


# Each scenario prepares ``out`` (an old file at the target where there can be one) and gives
# the export's arguments; the export must raise ``error`` matching ``match``.


def _no_saver_def(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "m.meta").write_bytes(b"old file")
    return {"filename": out / "m.meta", "graph": "dense", "clear_extraneous_savers": True}


def _bad_regex(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "m.meta").write_bytes(b"old file")
    return {"filename": out / "m.meta", "graph": "vars", "export_scope": "tower["}


def _too_large(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    patch.setattr(mg, "SIZE_LIMIT", 100)
    (out / "m.meta").write_bytes(b"old file")
    (out / "m.debug").write_bytes(b"old debug")
    return {"filename": out / "m.meta", "graph": "dense", "clear_devices": True,
            "save_debug_info": True}  # fmt: skip


def _disk_full(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    patch.setattr(os, "fsync", fsync)
    (out / "m.meta").write_bytes(b"old file")
    return {"filename": out / "m.meta", "graph": "dense"}


def _under_a_file(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "plain").write_bytes(b"a regular file")
    return {"filename": out / "plain" / "m.meta", "graph": "dense"}


def _a_directory(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "m.meta").mkdir()
    (out / "m.meta" / "inside").write_bytes(b"kept")
    return {"filename": out / "m.meta", "graph": "dense"}


def _debug_directory(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "m.meta").write_bytes(b"old file")
    (out / "m.debug").mkdir()
    return {"filename": out / "m.meta", "graph": "dense", "save_debug_info": True}


def _trailing_slash(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    # "m.meta/" names no file: the module-level export refuses it ("not a file name"), and so
    # does TensorFlow (its atomic write cannot create m.meta/.tmp...); it must not write m.meta.
    (out / "m.meta").write_bytes(b"old file")
    return {"filename": f"{out / 'm.meta'}/", "graph": "dense"}


def _permission_denied(out: Path, patch: pytest.MonkeyPatch) -> dict[str, Any]:
    (out / "m.meta").write_bytes(b"old file")
    if os.geteuid() != 0:
        out.chmod(0o555)  # (made writable again after the export)
    else:  # root writes anywhere: the move of the new file into place is refused instead
        replace = os.replace

        def refused(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            if os.fspath(src).endswith(".tmp"):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(dst))
            replace(src, dst, *args, **kwargs)

        patch.setattr(os, "replace", refused)
    return {"filename": out / "m.meta", "graph": "dense", "save_debug_info": True}


FAILURES: list[tuple[str, Any, type[Exception], str]] = [
    ("no saver_def", _no_saver_def, InputError, "pass the saver_def"),
    ("bad regex", _bad_regex, InputError, "not a valid regular expression"),
    ("2 GB", _too_large, InputError, "GraphDef cannot be larger than 2GB"),
    ("disk full", _disk_full, OutputError, "No space left on device"),
    ("under a file", _under_a_file, OutputError, "plain"),
    ("directory at the target", _a_directory, OutputError, "m.meta"),
    ("directory at the debug file", _debug_directory, OutputError, "m.debug"),
    ("permission denied", _permission_denied, OutputError, "Permission denied"),
    ("trailing slash", _trailing_slash, InputError, "not a file name"),
]


def test_a_failed_export_leaves_no_file_and_one_failed_record(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    """Every scenario of FAILURES on one store (a fresh one each would cost more than the
    exports), each problem reported."""
    store.ingest(FIXTURES / "variables.meta", "vars")
    problems: list[str] = []
    for i, (name, setup, error, match) in enumerate(FAILURES):
        out = tmp_path / f"out{i}"
        out.mkdir()
        count, last = len(store.exports()), store.last_export
        try:
            with pytest.MonkeyPatch.context() as patch:
                arguments = setup(out, patch)
                before = snapshot(out)
                try:
                    with pytest.raises(error, match=match) as info:
                        store.export_meta_graph(**arguments)
                finally:
                    out.chmod(0o755)
            assert isinstance(info.value, MgstoreError), "an mgstore error"
            assert snapshot(out) == before, "no file written, none changed, no temporary left"
            log = store.exports()
            assert len(log) == count + 1, "exactly one record"
            failed = log[0]
            assert failed.status == "failed" and not failed.ok
            assert failed.error == f"{type(info.value).__name__}: {info.value}"
            assert (failed.sha256, failed.size, failed.debug_sha256) == (None, None, None)
            assert failed.ref == f"{arguments['graph']}@1"
            assert os.path.isabs(failed.path)
            assert failed.options["filename"] == os.fspath(arguments["filename"])
            assert store.last_export == last, "last_export is the last successful export"
            with pytest.raises(InputError, match="failed .*; it left no file to verify"):
                store.verify(failed.id)
            with pytest.raises(InputError, match="nothing to reproduce"):
                store.reproduce(failed.id)
        except (AssertionError, pytest.fail.Exception) as problem:
            problems.append(f"{name}: {problem}")
    report = store.audit_check()
    assert report.ok and len(store.audit_log(kind="export")) == len(store.exports())
    assert problems == []


def test_a_database_failure_while_recording_keeps_the_old_files(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "m.meta").write_bytes(b"old file")
    (out / "m.debug").write_bytes(b"old debug")
    before = snapshot(out)
    record_export = mgstore_exporter.audit.record_export

    def fails_when_ok(conn: Connection, **values: Any) -> audit.ExportRecord:
        if values.get("status", "ok") == "ok":
            raise StoreError("database error: disk I/O error")
        return record_export(conn, **values)

    monkeypatch.setattr(mgstore_exporter.audit, "record_export", fails_when_ok)
    with pytest.raises(StoreError, match="disk I/O error"):
        store.export_meta_graph(out / "m.meta", graph="dense", save_debug_info=True)
    assert snapshot(out) == before, "the old files are back and nothing else is left"
    (failed,) = store.exports()
    assert failed.status == "failed"
    assert failed.error == "StoreError: database error: disk I/O error"
    assert failed.path == real(out / "m.meta")

    def always_fails(conn: Connection, **values: Any) -> audit.ExportRecord:
        raise StoreError("database error: server closed the connection")

    monkeypatch.setattr(mgstore_exporter.audit, "record_export", always_fails)
    with pytest.raises(StoreError, match="server closed the connection"):  # not the log's error
        store.export_meta_graph(out / "m.meta", graph="dense", save_debug_info=True)
    assert snapshot(out) == before
    assert store.exports() == [failed]
    assert store.audit_check().ok
    monkeypatch.undo()
    store.export_meta_graph(out / "m.meta", graph="dense", save_debug_info=True)
    assert (out / "m.meta").read_bytes() != b"old file"
    assert [r.status for r in store.exports()] == ["ok", "failed"]


# ------------------------------------------------------------------------------------------
# Query, then export (issue 5)

# Selections whose nodes read only selected nodes (others are refused: see below).
QUERIES: list[dict[str, Any]] = [
    {"scope": "tower_1/", "strict_scope": True, "closure": "inference"},
    {"scope": "tower_1", "closure": "ancestors"},
    {"collection": ["trainable_variables"], "closure": "ancestors"},
    {"op_type": ["VariableV2", "Const"], "name_regex": "kernel"},
    {"scope": "tower_1/", "closure": "ancestors", "depth": 100},
]


def test_a_query_result_is_exported_with_every_option_and_its_query_recorded(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    options = {"export_scope": "tower_1", "clear_devices": True, "strip_default_attrs": True,
               "collection_list": ["variables", "train_op"], "save_debug_info": True}  # fmt: skip
    problems: list[str] = []
    for i, filters in enumerate(QUERIES):
        try:
            _query_then_export(store, dense, tmp_path / f"q{i}", filters, options)
        except (AssertionError, MgstoreError) as problem:
            problems.append(f"query {filters}: {type(problem).__name__}: {problem}")

    # A query of an older version exports from that version, and says so.
    store.ingest(FIXTURES / "variables.meta", "dense")
    result = store.query("dense@1", scope="tower_1/", closure="ancestors")
    store.export_meta_graph(tmp_path / "old.meta", graph=result)
    record = store.last_export
    assert record is not None and record.query is not None
    assert (record.ref, record.content_hash) == ("dense@1", dense.content_hash)
    assert record.query["ref"] == "dense@1"
    assert store.reproduce(record.id).sha256 == record.sha256
    assert problems == []


def _query_then_export(
    store: Store,
    dense: mgstore.VersionInfo,
    out: Path,
    filters: dict[str, Any],
    options: dict[str, Any],
) -> None:
    result = store.query("dense", **filters)
    assert 0 < len(result) < dense.node_count
    target = out / "q.meta"
    returned = store.export_meta_graph(target, graph=result, **options)
    assert target.read_bytes() == returned.SerializeToString(deterministic=True)
    assert list(returned.collection_def) == [
        k for k in options["collection_list"] if k in returned.collection_def
    ]
    assert all(not n.device for n in returned.graph_def.node)
    # Only the selected nodes that export_scope keeps (a plain name prefix, "tower_1/" stripped).
    selected = {n.removeprefix("tower_1/") for n in result.nodes if n.startswith("tower_1")}
    assert {n.name for n in returned.graph_def.node} <= selected
    assert any(n.name.startswith("dense/") for n in returned.graph_def.node)

    record = store.last_export
    assert record is not None and record.ok and record.ref == "dense@1"
    expected_query = {"ref": "dense@1", "content_hash": dense.content_hash, **filters}
    assert record.to_dict()["query"] == expected_query, "every filter, as given"
    assert {k: record.to_dict()["options"][k] for k in options} == options
    assert record.sha256 == sha(target.read_bytes())

    assert store.reproduce(record.id) == record  # re-runs the query, same bytes
    again = store.reproduce(record.id, out / "again.meta")
    assert (out / "again.meta").read_bytes() == target.read_bytes()
    assert again.query == record.query and again.sha256 == record.sha256
    assert again.debug_sha256 == record.debug_sha256 and again.id != record.id


# ------------------------------------------------------------------------------------------
# Reproducing every golden export, and reproductions that differ

# Every case that writes a file and succeeds (not the ones where TensorFlow built a new
# Saver, which mgstore refuses: see tests/export/test_golden.py).
WRITING = [
    case
    for case in golden.CASES
    if case["filename"] and "error" not in case and "or_error" not in case
]


def reproduced_with_a_path(cases: list[dict[str, Any]]) -> set[str]:
    """Ids of a selection written again to a new path: the first case of each input, the first
    of each combination of message arguments, the first with a debug file of each input."""
    chosen: set[str] = set()
    seen: set[tuple[str, object]] = set()
    for case in cases:
        messages = frozenset(k for k, v in case["options"].items() if isinstance(v, dict))
        debug = any(p.endswith(".debug") for p in case["files"])
        keys = [("input", case["input"]), ("messages", messages)]
        if debug:
            keys.append(("debug", case["input"]))
        if any(key not in seen for key in keys):
            chosen.add(case["id"])
        seen.update(keys)
    return chosen


def test_every_golden_export_is_recorded_and_reproduces(store: Store, tmp_path: Path) -> None:
    """All of the golden cases that write a file: the recorded hashes are those of the files
    (and of TensorFlow's where bytes are compared), and every one reproduces."""
    refs: dict[str, str] = {}
    recorded: list[tuple[dict[str, Any], audit.ExportRecord]] = []
    for i, case in enumerate(WRITING):
        name = case["input"]
        if name not in refs:
            refs[name] = golden.ingest(store, name)
        out = tmp_path / f"{i}"
        store.export_meta_graph(out / case["filename"], graph=refs[name], **golden.arguments(case))
        record = store.last_export
        assert record is not None and record.record_hash == store.audit_head(), case["id"]
        written = {p: data for p, data in snapshot(out).items() if data is not None}
        assert sorted(written) == sorted(case["files"]), case["id"]
        main = written[case["filename"]]
        assert (record.path, record.sha256, record.size) == (
            real(out / case["filename"]), sha(main), len(main)), case["id"]  # fmt: skip
        if case["compare"] == "bytes":
            assert record.sha256 == case["files"][case["filename"]], case["id"]
        debug = [p for p in case["files"] if p.endswith(".debug")]
        if debug:
            assert record.debug_path == real(out / debug[0]), case["id"]
            assert record.debug_sha256 == case["files"][debug[0]] == sha(written[debug[0]])
        else:
            assert record.debug_path is None and record.debug_sha256 is None, case["id"]
        recorded.append((case, record))

    with_path = reproduced_with_a_path(WRITING)
    count = len(store.exports())
    problems: list[str] = []
    for i, (case, record) in enumerate(recorded):
        try:
            if store.reproduce(record.id) != record:
                problems.append(f"{case['id']}: reproduce() did not return the record")
            if case["id"] in with_path:
                again = tmp_path / "again" / f"{i}" / case["filename"]
                new = store.reproduce(record.id, again)
                assert (new.sha256, new.debug_sha256) == (record.sha256, record.debug_sha256)
                assert new.path == real(again) and sha(again.read_bytes()) == record.sha256
                count += 1
        except (MgstoreError, AssertionError) as error:
            problems.append(f"{case['id']}: {type(error).__name__}: {error}")
    assert problems == [], f"{len(problems)} of {len(WRITING)} did not reproduce"
    assert len(store.exports()) == count  # only the reproductions with a path are recorded
    report = store.audit_check()
    assert report.ok and len(store.audit_log(kind="export")) == count


def test_a_reproduction_that_differs_shows_both_hashes(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver_def = store.saver_def("dense")
    assert saver_def is not None
    store.export_meta_graph(tmp_path / "m.meta", graph="dense", saver_def=saver_def,
                            clear_extraneous_savers=True, save_debug_info=True)  # fmt: skip
    record = store.last_export
    assert record is not None and record.sha256 is not None
    assert store.reproduce(record.id) == record

    # The export changed in between (here: the TensorFlow version it claims to be).
    monkeypatch.setattr(mg, "TF_GIT_VERSION", "v2.22.0-something-else")
    with pytest.raises(ReproductionError) as info:
        store.reproduce(record.id)
    now = sha(store.export_meta_graph(graph="dense", saver_def=saver_def,
                                      clear_extraneous_savers=True).SerializeToString(
                                          deterministic=True))  # fmt: skip
    assert record.sha256 in str(info.value) and now in str(info.value)
    assert isinstance(info.value, StoreError)
    with pytest.raises(ReproductionError, match=record.sha256):
        store.reproduce(record.id, tmp_path / "again.meta")
    newest = store.exports()[0]
    assert newest.sha256 == now == sha((tmp_path / "again.meta").read_bytes())
    monkeypatch.undo()
    assert store.reproduce(record.id) == record

    # The saver_def it was exported with, changed in the database where it is kept.
    key = bytes.fromhex(record.options["saver_def"]["sha256"])
    other = SaverDef()
    other.CopyFrom(saver_def)
    other.filename_tensor_name = "elsewhere/Const:0"
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.update().where(B.c.sha256 == key).values(data=other.SerializeToString()))
    with pytest.raises(IntegrityError, match="does not match its hash"):  # checked on read
        store.reproduce(record.id)
    with db.transaction(store.engine, write=True) as conn:
        conn.execute(B.delete().where(B.c.sha256 == key))
    with pytest.raises(NotFoundError, match="saver_def blob is missing"):
        store.reproduce(record.id)


# ------------------------------------------------------------------------------------------
# The files afterwards: verify, which


def test_verify_ok_modified_missing_and_which_finds_a_moved_file(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    store.export_meta_graph(tmp_path / "a.meta", graph="dense", save_debug_info=True)
    a = store.last_export
    store.export_meta_graph(tmp_path / "b.meta", graph="dense", clear_devices=True)
    b = store.last_export
    assert a is not None and b is not None and a.debug_sha256 is not None
    assert [(v.export_id, v.role, v.status) for v in store.verify()] == [
        (b.id, "file", "ok"), (a.id, "file", "ok"), (a.id, "debug", "ok")]  # fmt: skip

    (tmp_path / "a.meta").write_bytes(b"changed")
    (tmp_path / "a.debug").unlink()
    found = store.verify(a.id[:10])
    assert [(v.role, v.path, v.status, v.expected_sha256, v.actual_sha256) for v in found] == [
        ("file", a.path, "modified", a.sha256, sha(b"changed")),
        ("debug", a.debug_path, "missing", a.debug_sha256, None),
    ]
    assert [v.ok for v in store.verify(b.id)] == [True]
    (tmp_path / "b.meta").unlink()
    assert [v.status for v in store.verify()] == ["missing", "modified", "missing"]
    # The records still reproduce: the export is made again, the files are not needed.
    assert store.reproduce(a.id) == a and store.reproduce(b.id) == b

    # which: a moved file, by its bytes, with its export, version and ingest source.
    store.export_meta_graph(tmp_path / "out" / "m.meta", graph="dense", save_debug_info=True,
                            export_scope="tower_1")  # fmt: skip
    record = store.last_export
    assert record is not None
    moved = tmp_path / "elsewhere" / "renamed.bin"
    moved.parent.mkdir()
    shutil.move(tmp_path / "out" / "m.meta", moved)
    (found,) = store.which(moved)
    assert found.export == record and found.role == "file"
    assert found.path == real(moved) and found.moved
    assert found.exported_path == record.path
    assert found.sha256 == record.sha256 and found.size == record.size
    assert found.version is not None
    assert (found.version.ref, found.version.content_hash) == ("dense@1", dense.content_hash)
    assert found.version.source_path == real(FIXTURES / "dense.meta")
    assert found.version.source_sha256 == sha((FIXTURES / "dense.meta").read_bytes())
    (debug,) = store.which(tmp_path / "out" / "m.debug")
    assert debug.role == "debug" and not debug.moved and debug.export == record
    assert [v.status for v in store.verify(record.id)] == ["missing", "ok"]

    shutil.copy(moved, tmp_path / "copy.meta")  # the same bytes exported again: newest first
    store.export_meta_graph(tmp_path / "twice.meta", graph="dense", save_debug_info=True,
                            export_scope="tower_1")  # fmt: skip
    newest = [r.seq for r in store.exports()[:2]]
    assert [p.export.seq for p in store.which(tmp_path / "copy.meta")] == newest
    (tmp_path / "unknown.meta").write_bytes(b"never exported")
    assert store.which(tmp_path / "unknown.meta") == []
    with pytest.raises(FileNotFoundError, match="no such file"):
        store.which(tmp_path / "no-such-file")


# ------------------------------------------------------------------------------------------
# The chain: a record changed by direct SQL


def test_audit_check_detects_a_record_altered_by_direct_sql(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    for i in range(3):
        store.export_meta_graph(tmp_path / f"{i}.meta", graph="dense", clear_devices=i == 1)
    first, second, third = store.exports()[::-1]
    refused = pytest.raises(StoreError, match="append-only")
    with refused, db.transaction(store.engine, write=True) as conn:  # the triggers refuse it...
        conn.execute(X.update().where(X.c.id == second.id).values(username="mallory"))
    assert store.audit_check().ok
    with triggers_dropped(store) as conn:  # ...so they are taken out of the way
        conn.execute(X.update().where(X.c.id == second.id).values(username="mallory"))
    report = store.audit_check()
    assert not report.ok and report.records == len(store.audit_log())
    assert [(p.kind, p.seq) for p in report.problems] == [("mismatch", second.seq)]
    assert store.exports()[1].user == "mallory"
    refused = pytest.raises(StoreError, match="append-only")
    with refused, db.transaction(store.engine, write=True) as conn:  # the triggers are back
        conn.execute(X.delete().where(X.c.id == third.id))
    store.export_meta_graph(tmp_path / "3.meta", graph="dense")  # recording goes on
    problems = store.audit_check().problems
    assert [(p.kind, p.seq) for p in problems] == [("mismatch", second.seq)]


# ------------------------------------------------------------------------------------------
# Concurrent exports from several processes

WORKERS = 4
EXPORTS_EACH = 3
TIMEOUT = 120
WORKER_OPTIONS: list[dict[str, Any]] = [
    {},
    {"export_scope": "tower_1", "clear_devices": True},
    {"strip_default_attrs": True, "save_debug_info": True},
]


def _export_worker(
    url: str, out: str, worker: int, barrier: Any, results: Any
) -> None:  # pragma: no cover - runs in the child processes
    try:
        with Store(url) as store:
            store.exports(user="nobody")  # connected before the race starts
            barrier.wait(TIMEOUT)
            done = []
            for i in range(EXPORTS_EACH):
                path = os.path.join(out, f"w{worker}", f"{i}.meta")
                store.export_meta_graph(path, graph="dense", **WORKER_OPTIONS[i])
                record = store.last_export
                assert record is not None
                done.append((record.id, record.seq, record.path, record.sha256))
        results.put((worker, done, None))
    except BaseException as error:
        results.put((worker, [], f"{type(error).__name__}: {error}"))


def test_concurrent_exports_from_several_processes_are_all_recorded(
    store: Store, dense: mgstore.VersionInfo, tmp_path: Path
) -> None:
    ctx = workers.context([__name__, "mgstore.store", "mgstore.exporter", "psycopg"])
    args = (store.url, str(tmp_path / "out"))
    outcomes = workers.run(ctx, _export_worker, args, WORKERS, TIMEOUT)

    total = WORKERS * EXPORTS_EACH
    base = len(store.audit_log(kind="ingest"))  # the chain starts with the ingests
    told = [item for done in outcomes.values() for item in done]
    assert sorted(seq for _, seq, _, _ in told) == list(range(base + 1, base + total + 1))
    log = store.exports()
    assert [r.seq for r in log] == list(range(base + total, base, -1))
    assert {(r.id, r.seq, r.path, r.sha256) for r in log} == set(told)
    assert all(r.ok and r.ref == "dense@1" for r in log)
    for record in log:
        assert record.sha256 == sha(Path(record.path).read_bytes())
    # The same options give the same bytes in every process.
    for i in range(EXPORTS_EACH):
        assert len({done[i][3] for done in outcomes.values()}) == 1
    report = store.audit_check()
    assert report.ok and report.records == base + total and report.head_seq == base + total
    assert all(v.ok for v in store.verify())

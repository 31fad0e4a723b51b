"""The export and audit commands: ``export`` (every export_meta_graph option, query options),
``exports``, ``verify``, ``reproduce``, ``which``, ``audit check``, on SQLite and PostgreSQL.

Each command is one API call: the files ``export`` writes are the API's, byte for byte, and
what the audit commands print is what the API returns. Exit status 1 says a file is not
intact, unknown, or the log was tampered with; an error is one line, ``mgstore: error: ...``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mgstore import Store
from mgstore.cli import main
from mgstore.db import migrate
from mgstore.db.tables import EXPORTS as X
from mgstore.export import meta_graph as mg
from tests.tampering import triggers_dropped

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def db(db_url: str) -> str:
    """A database on each backend (PostgreSQL set up explicitly, as users do) holding
    ``dense@1`` (with debug info) and ``vars@1``."""
    if not db_url.startswith("sqlite"):
        migrate.upgrade_database(db_url)
    with Store(db_url) as store:
        store.ingest(FIXTURES / "dense.meta", "dense")
        store.ingest(FIXTURES / "variables.meta", "vars")
    return db_url


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(result: tuple[int, str, str], match: str) -> None:
    status, out, err = result
    assert status == 1 and out == ""
    assert err.startswith("mgstore: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    assert match in err, err


# ------------------------------------------------------------------------------------------
# export


# (command-line options, the API's keyword arguments; "SAVER_DEF" stands for the version's own)
EXPORT_OPTIONS: list[tuple[list[str], dict[str, Any]]] = [
    ([], {}),
    (["--export-scope", "tower_1", "--clear-devices"], {"export_scope": "tower_1",
                                                        "clear_devices": True}),
    (["--collection", "variables", "--collection", "savers", "--collection", "variables",
      "--collection", "nope"], {"collection_list": ["variables", "savers", "variables", "nope"]}),
    (["--no-collections"], {"collection_list": []}),
    (["--clear-extraneous-savers", "--saver-def"], {"clear_extraneous_savers": True,
                                                    "saver_def": "SAVER_DEF"}),
    (["--saver-def", "--export-scope", "tower_1/"], {"saver_def": "SAVER_DEF",
                                                     "export_scope": "tower_1/"}),
    (["--strip-default-attrs", "--as-text"], {"strip_default_attrs": True, "as_text": True}),
    (["--save-debug-info", "--export-scope", "tower_1"], {"save_debug_info": True,
                                                          "export_scope": "tower_1"}),
    (["--export-scope", "tower_1", "--clear-devices", "--collection", "variables",
      "--clear-extraneous-savers", "--saver-def", "--strip-default-attrs", "--as-text",
      "--save-debug-info"],
     {"export_scope": "tower_1", "clear_devices": True, "collection_list": ["variables"],
      "clear_extraneous_savers": True, "saver_def": "SAVER_DEF", "strip_default_attrs": True,
      "as_text": True, "save_debug_info": True}),
]  # fmt: skip


def test_export_writes_the_apis_bytes_with_every_option(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    with Store(db) as store:
        saver_def = store.saver_def("dense@1")
        problems: list[str] = []
        for i, (argv, kwargs) in enumerate(EXPORT_OPTIONS):
            cli, api = tmp_path / "cli" / f"{i}.meta", tmp_path / "api" / f"{i}.meta"
            try:
                status, out, err = run(capsys, "--db", db, "export", "dense@1", "-o", cli, *argv)
                # A collection the version lacks is named on stderr (the export goes on).
                missing = [k for k in kwargs.get("collection_list") or () if k == "nope"]
                assert (status, err) == (0, "".join(
                    "mgstore: note: no collection 'nope' in this version\n" for _ in missing[:1]
                ))  # fmt: skip
                record = store.exports()[0]
                arguments = {k: saver_def if v == "SAVER_DEF" else v for k, v in kwargs.items()}
                store.export_meta_graph(api, graph="dense@1", **arguments)
                expected = store.last_export
                assert expected is not None
                lines = [f"{record.path}  sha256:{record.sha256}"]
                if kwargs.get("save_debug_info"):
                    lines.append(f"{record.debug_path}  sha256:{record.debug_sha256}")
                    debug = cli.with_suffix(".debug").read_bytes()
                    assert debug == api.with_suffix(".debug").read_bytes()
                    assert record.debug_sha256 == sha(debug)
                assert out.splitlines() == lines, "prints the written path(s) and SHA-256"
                assert record.path == os.path.realpath(cli)
                assert cli.read_bytes() == api.read_bytes(), "the API's bytes"
                assert record.sha256 == sha(cli.read_bytes()) == expected.sha256
                options = {k: v for k, v in record.to_dict()["options"].items() if k != "filename"}
                assert options == {
                    k: v for k, v in expected.to_dict()["options"].items() if k != "filename"
                }, "the API's options"
            except Exception as problem:
                problems.append(f"{argv}: {type(problem).__name__}: {problem}")
    assert problems == []


# (query options of `export`, the same query through the API, export options of both)
QUERY_OPTIONS: list[tuple[list[str], dict[str, Any], dict[str, Any]]] = [
    (["--scope", "tower_1/", "--strict-scope", "--closure", "inference"],
     {"scope": "tower_1/", "strict_scope": True, "closure": "inference"}, {}),
    (["--scope", "tower_1", "--closure", "ancestors", "--export-scope", "tower_1",
      "--clear-devices"], {"scope": "tower_1", "closure": "ancestors"},
     {"export_scope": "tower_1", "clear_devices": True}),
    (["--in-collection", "trainable_variables", "--closure", "ancestors", "--depth", "100"],
     {"collection": "trainable_variables", "closure": "ancestors", "depth": 100}, {}),
    (["--op-type", "VariableV2", "--op-type", "Const", "--name-regex", "kernel",
      "--collection", "variables"], {"op_type": ["VariableV2", "Const"], "name_regex": "kernel"},
     {"collection_list": ["variables"]}),
    (["--device", "/job:ps/task:0", "--closure", "ancestors", "--save-debug-info"],
     {"device": "/job:ps/task:0", "closure": "ancestors"}, {"save_debug_info": True}),
    (["--scope", "tower_1/", "--closure", "inference"],
     {"scope": "tower_1/", "closure": "inference"}, {}),
]  # fmt: skip


def test_export_with_query_options_exports_the_query_result(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    with Store(db) as store:
        problems: list[str] = []
        for i, (argv, query, options) in enumerate(QUERY_OPTIONS):
            cli, api = tmp_path / "cli" / f"{i}.meta", tmp_path / "api" / f"{i}.meta"
            try:
                status, out, err = run(capsys, "--db", db, "export", "dense", "-o", cli, *argv)
                assert (status, err) == (0, "")
                record = store.exports()[0]
                result = store.query("dense", **query)
                store.export_meta_graph(api, graph=result, **options)
                expected = store.last_export
                assert expected is not None and expected.query is not None
                assert cli.read_bytes() == api.read_bytes(), "the query result's export"
                if options.get("save_debug_info"):
                    debug = cli.with_suffix(".debug").read_bytes()
                    assert debug == api.with_suffix(".debug").read_bytes()
                assert out.splitlines()[0] == f"{record.path}  sha256:{record.sha256}"
                assert record.query == expected.query, "the query is recorded"
            except Exception as problem:
                problems.append(f"{argv}: {type(problem).__name__}: {problem}")

        # --json prints the record
        target = tmp_path / "json" / "m.meta"
        status, out, _ = run(capsys, "--db", db, "export", "dense", "-o", target,
                             "--save-debug-info", "--scope", "tower_1/", "--closure", "ancestors",
                             "--json")  # fmt: skip
        assert status == 0
        shown = json.loads(out)
        record = store.exports()[0]
    assert shown == json.loads(json.dumps(record.to_dict(), default=str))
    assert shown["ref"] == "dense@1" and shown["status"] == "ok"
    assert shown["sha256"] == sha(target.read_bytes())
    assert shown["debug_sha256"] == sha(target.with_suffix(".debug").read_bytes())
    assert shown["query"]["scope"] == "tower_1/"
    assert shown["options"]["save_debug_info"] is True
    assert problems == []


def test_export_errors_are_one_line_and_recorded_when_a_version_was_chosen(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "m.meta"
    target.write_bytes(b"old")
    assert_one_line_error(
        run(capsys, "--db", db, "export", "nope@3", "-o", target), "no graph named 'nope'"
    )
    assert_one_line_error(
        run(capsys, "--db", db, "export", "dense", "-o", target, "--clear-extraneous-savers"),
        "pass the saver_def",
    )
    assert_one_line_error(
        run(capsys, "--db", db, "export", "vars", "-o", target, "--export-scope", "tower("),
        "not a valid regular expression",
    )
    (out / "plain").write_bytes(b"a file")
    assert_one_line_error(
        run(capsys, "--db", db, "export", "dense", "-o", out / "plain" / "m.meta"), "plain"
    )
    assert target.read_bytes() == b"old" and sorted(os.listdir(out)) == ["m.meta", "plain"]
    with Store(db) as store:
        log = store.exports()
    # The unknown ref fails before a version is chosen: not recorded.
    assert [(r.status, r.ref) for r in log] == [("failed", "dense@1"), ("failed", "vars@1"),
                                                ("failed", "dense@1")]  # fmt: skip
    assert "pass the saver_def" in str(log[2].error)


def test_collection_and_no_collections_exclude_each_other(
    capsys: pytest.CaptureFixture[str], sqlite_url: str, tmp_path: Path
) -> None:
    with Store(sqlite_url) as store:
        store.ingest(FIXTURES / "dense.meta", "dense")
    target = tmp_path / "m.meta"
    result = run(capsys, "--db", sqlite_url, "export", "dense", "-o", target, "--collection",
                 "variables", "--no-collections")  # fmt: skip
    assert_one_line_error(result, "--collection and --no-collections exclude each other")
    assert not target.exists()
    with Store(sqlite_url) as store:
        assert store.exports() == []


# ------------------------------------------------------------------------------------------
# exports, verify, reproduce, which, audit check


def check_exports_command(capsys: pytest.CaptureFixture[str], db: str, log: list[Any]) -> None:
    """``exports`` on ``log`` (newest first; the first failed): the table with the error of
    a failed export, --json, and the filters."""
    status, out, _ = run(capsys, "--db", db, "exports")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "WHEN", "(UTC)", "REF", "STATUS", "BY", "PATH"]
    assert [line.split()[0] for line in lines[1:]] == [r.id[:12] for r in log]
    assert [line.split()[3:5] for line in lines[1:]] == [["dense@1", r.status] for r in log]
    assert lines[1].endswith(f"{log[0].path} ({log[0].error})")
    assert lines[2].endswith(log[1].path)

    status, out, _ = run(capsys, "--db", db, "exports", "--json")
    shown = json.loads(out)
    assert shown == [json.loads(json.dumps(r.to_dict(), default=str)) for r in log]
    _, out, _ = run(capsys, "--db", db, "exports", "--graph", "dense", "--json")
    assert [r["id"] for r in json.loads(out)] == [r.id for r in log]
    _, out, _ = run(capsys, "--db", db, "exports", "--graph", "vars")
    assert out == "(none)\n"
    _, out, _ = run(capsys, "--db", db, "exports", "--user", log[0].user, "--json")
    assert len(json.loads(out)) == len(log)
    _, out, _ = run(capsys, "--db", db, "exports", "--user", "nobody-at-all")
    assert out == "(none)\n"
    since = log[1].created_at.isoformat()
    _, out, _ = run(capsys, "--db", db, "exports", "--since", since, "--json")
    assert [r["id"] for r in json.loads(out)] == [log[0].id, log[1].id]
    until = log[1].created_at - timedelta(microseconds=1)
    naive = until.astimezone(timezone.utc).replace(tzinfo=None).isoformat()  # read as UTC
    _, out, _ = run(capsys, "--db", db, "exports", "--until", naive, "--json")
    assert [r["id"] for r in json.loads(out)] == [r.id for r in log[2:]]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    _, out, _ = run(capsys, "--db", db, "exports", "--since", tomorrow)
    assert out == "(none)\n"
    assert_one_line_error(run(capsys, "--db", db, "exports", "--since", "last week"),
                          "expected an ISO date")  # fmt: skip


def test_exports_verify_reproduce_which_and_audit_check(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a.meta", tmp_path / "b.meta"
    run(capsys, "--db", db, "export", "dense", "-o", a, "--save-debug-info")
    run(
        capsys,
        "--db",
        db,
        "export",
        "dense",
        "-o",
        b,
        "--scope",
        "tower_1/",
        "--closure",
        "ancestors",
        "--clear-devices",
    )
    assert run(capsys, "--db", db, "export", "dense", "-o", tmp_path / "c.meta",
               "--clear-extraneous-savers")[0] == 1  # fmt: skip
    with Store(db) as store:
        failed, rb, ra = store.exports()
    check_exports_command(capsys, db, [failed, rb, ra])

    # verify
    status, out, _ = run(capsys, "--db", db, "verify", "--all")
    assert status == 0
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["ID", "STATUS", "PATH"]
    assert rows[1:] == [[rb.id[:12], "ok", rb.path], [ra.id[:12], "ok", ra.path],
                        [ra.id[:12], "ok", str(ra.debug_path)]]  # fmt: skip
    assert run(capsys, "--db", db, "verify", ra.id[:8])[0] == 0
    a.write_bytes(b"changed")
    status, out, _ = run(capsys, "--db", db, "verify", ra.id, "--json")
    assert status == 1
    assert [(v["role"], v["status"], v["actual_sha256"]) for v in json.loads(out)] == [
        ("file", "modified", sha(b"changed")), ("debug", "ok", ra.debug_sha256)]  # fmt: skip
    assert run(capsys, "--db", db, "verify", rb.id)[0] == 0
    moved = tmp_path / "moved" / "b-renamed.meta"
    moved.parent.mkdir()
    shutil.move(b, moved)
    status, out, _ = run(capsys, "--db", db, "verify", "--all")
    assert status == 1
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["missing", "modified", "ok"]
    assert_one_line_error(run(capsys, "--db", db, "verify"), "give an export ID or --all")
    assert_one_line_error(run(capsys, "--db", db, "verify", ra.id, "--all"),
                          "give an export ID or --all")  # fmt: skip
    assert_one_line_error(run(capsys, "--db", db, "verify", failed.id), "failed")
    assert_one_line_error(run(capsys, "--db", db, "verify", "ffffffffffff"), "ffffffffffff")

    # which: the moved file, its export, version and ingest source
    status, out, _ = run(capsys, "--db", db, "which", moved)
    assert status == 0
    assert out.splitlines() == [
        f"file     {os.path.realpath(moved)}  sha256:{rb.sha256}",
        f"export   {rb.id}  {rb.created_at:%Y-%m-%d %H:%M:%S} UTC by {rb.user}@{rb.host}",
        f"         to {rb.path}  (moved since)",
        f"version  dense@1  {rb.content_hash}",
        f"source   {FIXTURES / 'dense.meta'}  sha256:{sha((FIXTURES / 'dense.meta').read_bytes())}",
    ]
    status, out, _ = run(capsys, "--db", db, "which", tmp_path / "a.debug", "--json")
    (found,) = json.loads(out)
    assert status == 0 and found["role"] == "debug" and found["export"]["id"] == ra.id
    assert found["moved"] is False and found["version"]["source_path"] == str(
        FIXTURES / "dense.meta")  # fmt: skip
    status, out, _ = run(capsys, "--db", db, "which", a)  # modified: no export wrote these bytes
    assert (status, out) == (1, f"{a}: no recorded export wrote these bytes\n")
    assert run(capsys, "--db", db, "which", a, "--json")[:2] == (1, "[]\n")
    assert_one_line_error(run(capsys, "--db", db, "which", tmp_path / "nothing"), "no such file")

    # reproduce: compare only, or write again (and record); a difference shows both hashes
    status, out, _ = run(capsys, "--db", db, "reproduce", rb.id[:10])
    assert (status, out) == (0, f"reproduced: {rb.path}  sha256:{rb.sha256}\n")
    again = tmp_path / "again.meta"
    status, out, _ = run(capsys, "--db", db, "reproduce", ra.id, "-o", again)
    assert (status, out) == (0, f"reproduced: {os.path.realpath(again)}  sha256:{ra.sha256}\n")
    assert sha(again.read_bytes()) == ra.sha256
    assert again.with_suffix(".debug").read_bytes() == (tmp_path / "a.debug").read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(mg, "TF_GIT_VERSION", "v2.99.0-another-exporter")
        status, out, err = run(capsys, "--db", db, "reproduce", rb.id)
    assert_one_line_error((status, out, err), "did not reproduce")
    assert rb.sha256 is not None and rb.sha256 in err
    assert_one_line_error(run(capsys, "--db", db, "reproduce", failed.id), "nothing to reproduce")
    # verify speaks of files, not of reproducing: a failed export left none
    assert_one_line_error(run(capsys, "--db", db, "verify", failed.id), "no file to verify")
    assert_one_line_error(run(capsys, "--db", db, "reproduce", "0123abcd"), "0123abcd")

    # audit check: intact, then a record changed by direct SQL
    with Store(db) as store:
        records = len(store.audit_log())
        head = store.audit_check().head_hash
    status, out, _ = run(capsys, "--db", db, "audit", "check")
    assert (status, out) == (0, f"audit log intact: {records} records, head {head}\n")
    with Store(db) as tampered, triggers_dropped(tampered) as conn:
        conn.execute(X.update().where(X.c.id == rb.id).values(path="/somewhere/else.meta"))
    status, out, _ = run(capsys, "--db", db, "audit", "check")
    assert status == 1
    assert out.startswith(f"audit log: record {rb.seq} (export {rb.id}): ")
    status, out, _ = run(capsys, "--db", db, "audit", "check", "--json")
    report = json.loads(out)
    assert status == 1 and report["ok"] is False and report["records"] == records
    assert [(p["kind"], p["seq"]) for p in report["problems"]] == [("mismatch", rb.seq)]

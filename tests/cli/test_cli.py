"""The command line: one command per API call, one line per error, JSON where data is printed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mgstore import Store, io
from mgstore.cli import main
from mgstore.db import migrate


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_ingest_prints_the_ref_last(
    capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path
) -> None:
    status, out, _ = run(
        capsys,
        "--db",
        db,
        "ingest",
        str(fixtures_dir / "dense.meta"),
        "--name",
        "dense",
        "--message",
        "m",
        "--tag",
        "a=b",
        "--tag",
        "c=d=e",
    )
    assert status == 0
    assert out.splitlines()[-1] == "dense@1"
    with Store(db) as store:
        version = store.version("dense")
    assert dict(version.tags) == {"a": "b", "c": "d=e"}
    assert version.message == "m"


def test_db_option_after_the_command(
    capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path
) -> None:
    status, out, _ = run(
        capsys, "ingest", str(fixtures_dir / "empty.meta"), "--name", "e", "--db", db
    )
    assert (status, out.splitlines()[-1]) == (0, "e@1")
    assert Store(db).version("e").number == 1


def test_ls_log_show_json(capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path) -> None:
    run(capsys, "--db", db, "ingest", str(fixtures_dir / "dense.meta"), "--name", "dense")
    run(capsys, "--db", db, "ingest", str(fixtures_dir / "dense.meta"), "--name", "dense")
    _, out, _ = run(capsys, "--db", db, "ls", "--json")
    assert [(g["name"], g["versions"]) for g in json.loads(out)] == [("dense", 1)]
    _, out, _ = run(capsys, "--db", db, "log", "dense", "--json")
    log = json.loads(out)
    assert [v["ref"] for v in log] == ["dense@1"]
    _, out, _ = run(capsys, "--db", db, "show", "dense@1", "--json")
    shown = json.loads(out)
    assert shown["version"]["node_count"] == log[0]["node_count"]
    assert shown["has_saver"] is True
    status, out, _ = run(capsys, "--db", db, "show", "dense")
    assert status == 0 and "dense@1" in out and "collections" in out


def test_checkout_writes_identical_bytes_and_debug(
    capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    run(capsys, "--db", db, "ingest", str(fixtures_dir / "dense.meta"), "--name", "dense")
    target = tmp_path / "out" / "dense.meta"
    status, out, _ = run(capsys, "--db", db, "checkout", "dense", "-o", str(target))
    assert status == 0
    assert out.split() == [str(target), str(tmp_path / "out" / "dense.debug")]
    assert target.read_bytes() == (fixtures_dir / "dense.meta").read_bytes()
    assert (tmp_path / "out" / "dense.debug").read_bytes() == io.serialize(
        io.read_debug_info(fixtures_dir / "dense.debug")
    )
    text = tmp_path / "dense.meta.txt"
    run(capsys, "--db", db, "checkout", "dense", "-o", str(text), "--as-text", "--no-debug")
    assert text.read_bytes() == io.serialize(
        io.read_meta_graph(fixtures_dir / "dense.meta"), as_text=True
    )
    assert not (tmp_path / "dense.meta.debug").exists()


def test_checkout_gives_back_the_form_and_converts_with_as(
    capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path, tmp_path: Path
) -> None:
    """A text GraphDef comes back as itself; --as converts; show says the form."""
    source = fixtures_dir / "graph.pbtxt"
    source_text = source.read_bytes().replace(b"  ", b"   ")
    (tmp_path / "in.pbtxt").write_bytes(source_text)
    run(capsys, "--db", db, "ingest", str(tmp_path / "in.pbtxt"), "--name", "g")
    status, out, _ = run(capsys, "--db", db, "show", "g")
    assert status == 0 and "form       graphdef-text (exact bytes" in out
    _, out, _ = run(capsys, "--db", db, "show", "g", "--json")
    assert json.loads(out)["version"]["form"] == "graphdef-text"
    same = tmp_path / "same.pbtxt"
    assert run(capsys, "--db", db, "checkout", "g", "-o", str(same))[0] == 0
    assert same.read_bytes() == source_text
    meta = tmp_path / "as.meta"
    assert run(capsys, "--db", db, "checkout", "g", "-o", str(meta), "--as", "meta")[0] == 0
    assert io.read_meta_graph(meta).graph_def == io.parse(source_text)[1]
    binary = tmp_path / "as.pb"
    run(capsys, "--db", db, "checkout", "g", "-o", str(binary), "--as", "graphdef")
    assert io.parse(binary.read_bytes())[2] == "binary"
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", db, "checkout", "g", "-o", str(binary), "--as", "onnx"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'onnx'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["show", "nope"], "no graph, version or content hash matches 'nope'"),
        (["log", "nope"], "no graph named 'nope'"),
        (["ingest", "/no/such/file.meta", "--name", "x"], "/no/such/file.meta: no such file"),
        (["ingest", "__FIXTURE__", "--name", "x", "--tag", "novalue"], "expected KEY=VALUE"),
        (["ingest", "__FIXTURE__", "--name", "bad@name"], "no '@'"),
        (["db", "downgrade", "nosuchrev"], "nosuchrev"),
        # shapes on which Alembic asserts instead of raising (found by hypothesis)
        (["db", "downgrade", ";@"], "expected a revision id"),
        (["db", "upgrade", "heads@"], "expected a revision id"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path, argv: list[str], needle: str
) -> None:
    argv = [str(fixtures_dir / "empty.meta") if a == "__FIXTURE__" else a for a in argv]
    Store(db).close()  # an empty store
    status, out, err = run(capsys, "--db", db, *argv)
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("mgstore: error: ")
    assert needle in err
    assert "Traceback" not in err


def test_bad_database_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--db", "not a url", "ls")
    assert status == 1 and "is not a database URL" in err


def test_db_current_and_upgrade(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    _, out, _ = run(capsys, "--db", db, "db", "current", "--json")
    assert json.loads(out)["current"] is None
    _, out, _ = run(capsys, "--db", db, "db", "upgrade")
    assert migrate.head() in out
    _, out, _ = run(capsys, "--db", db, "db", "current")
    assert out.startswith(f"{migrate.head()} (up to date)")


def test_console_script_and_piped_output_has_no_progress_bar(db: str, fixtures_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mgstore.cli",
            "--db",
            db,
            "ingest",
            str(fixtures_dir / "dense.meta"),
            "--name",
            "dense",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "dense@1"
    assert result.stderr == ""


def test_query_and_scopes(capsys: pytest.CaptureFixture[str], db: str, fixtures_dir: Path) -> None:
    run(capsys, "--db", db, "ingest", str(fixtures_dir / "dense.meta"), "--name", "dense")
    status, out, _ = run(
        capsys,
        "--db",
        db,
        "query",
        "dense",
        "--scope",
        "tower_1/",
        "--strict-scope",
        "--op-type",
        "VariableV2",
        "--json",
    )
    nodes = json.loads(out)
    assert status == 0 and nodes
    assert all(n["name"].startswith("tower_1/") and n["op"] == "VariableV2" for n in nodes)
    with Store(db) as store:
        expected = list(
            store.query("dense", scope="tower_1/", strict_scope=True, op_type="VariableV2")
        )
    assert [n["name"] for n in nodes] == expected
    _, out, _ = run(capsys, "--db", db, "scopes", "dense", "--depth", "1", "--json")
    tree = {row["scope"]: row["nodes"] for row in json.loads(out)}
    assert tree["tower_1"] > 0 and "tower_1/dense" not in tree
    status, _, err = run(capsys, "--db", db, "query", "dense", "--name-regex", "(")
    assert status == 1 and "not a valid regular expression" in err

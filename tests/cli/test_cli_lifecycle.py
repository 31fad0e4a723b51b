"""The command line of a graph's life: diff (exit status as diff(1)), alias, tag, rm, restore,
gc; --json everywhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mgstore import Store
from mgstore.cli import main


@pytest.fixture
def db(tmp_path: Path, small_meta: Any) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with Store(url) as store:
        store.ingest(small_meta("a", "b"), "g")
        store.ingest(small_meta("a", "b", "c"), "g")
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_diff_exit_status_is_diffs(capsys: pytest.CaptureFixture[str], db: str) -> None:
    status, out, err = run(capsys, "diff", "g@1", "g@2", "--db", db)
    assert status == 1 and "+ c (NoOp)" in out and err == ""
    status, out, _ = run(capsys, "diff", "g@1", "g@1", "--db", db)
    assert status == 0
    status, out, err = run(capsys, "diff", "g@1", "g@7", "--db", db)
    assert status == 2 and out == ""
    assert err.startswith("mgstore: error: ") and len(err.splitlines()) == 1


def test_diff_json_and_stat(capsys: pytest.CaptureFixture[str], db: str) -> None:
    status, out, _ = run(capsys, "diff", "g@1", "g@2", "--json", "--db", db)
    data = json.loads(out)
    assert status == 1 and data["equal"] is False
    assert [n["name"] for n in data["added"]] == ["c"]
    status, out, _ = run(capsys, "diff", "g@1", "g@2", "--stat", "--db", db)
    assert status == 1
    assert "1 added, 0 removed, 0 changed nodes" in out.splitlines()[-1]


def test_alias_commands(capsys: pytest.CaptureFixture[str], db: str) -> None:
    assert run(capsys, "alias", "set", "g", "prod", "g@1", "--db", db)[1] == "g@prod -> g@1\n"
    status, out, _ = run(capsys, "alias", "set", "g", "prod", "2", "--json", "--db", db)
    assert status == 0 and json.loads(out)["ref"] == "g@2"
    status, out, _ = run(capsys, "alias", "ls", "--json", "--db", db)
    assert [(a["alias"], a["version"]) for a in json.loads(out)] == [("prod", 2)]
    status, out, _ = run(capsys, "log", "g", "--db", db)
    assert "g@2 @prod" in out
    status, out, _ = run(capsys, "alias", "log", "g", "--json", "--db", db)
    assert [(m["old"], m["new"]) for m in json.loads(out)] == [(None, 1), (1, 2)]
    status, out, _ = run(capsys, "alias", "rm", "g", "prod", "--db", db)
    assert status == 0 and "removed g@prod" in out
    status, _, err = run(capsys, "alias", "set", "g", "latest", "g@1", "--db", db)
    assert status == 1 and err.startswith("mgstore: error: alias 'latest'")


def test_tag_and_filters(capsys: pytest.CaptureFixture[str], db: str) -> None:
    status, out, _ = run(capsys, "tag", "g@1", "stage=prod", "owner=ann", "--db", db)
    assert status == 0 and out == "g@1  owner=ann stage=prod\n"
    status, out, _ = run(capsys, "tag", "g~1", "--rm", "owner", "--json", "--db", db)
    assert json.loads(out)["tags"] == {"stage": "prod"}
    status, out, _ = run(capsys, "log", "g", "--tag", "stage=prod", "--json", "--db", db)
    assert [v["ref"] for v in json.loads(out)] == ["g@1"]
    status, out, _ = run(capsys, "log", "g", "--limit", "1", "--json", "--db", db)
    assert [v["ref"] for v in json.loads(out)] == ["g@2"]
    status, out, _ = run(capsys, "ls", "--tag", "stage=nope", "--json", "--db", db)
    assert json.loads(out) == []


def test_rm_restore_gc(capsys: pytest.CaptureFixture[str], db: str) -> None:
    status, out, _ = run(capsys, "rm", "g@2", "--db", db)
    assert status == 0 and out.startswith("deleted g@2")
    status, out, _ = run(capsys, "log", "g", "--all", "--db", db)
    assert "g@2 (deleted)" in out
    assert "g@2" not in run(capsys, "log", "g", "--db", db)[1]
    status, out, _ = run(capsys, "restore", "g@2", "--json", "--db", db)
    assert json.loads(out)["deleted_at"] is None
    run(capsys, "rm", "g@2", "--db", db)
    status, out, _ = run(capsys, "gc", "--dry-run", "--json", "--db", db)
    assert json.loads(out)["dry_run"] is True and json.loads(out)["versions"] == ["g@2"]
    status, out, _ = run(capsys, "gc", "--db", db)
    assert status == 0 and out.startswith("freed ") and "g@2" in out
    status, out, _ = run(capsys, "log", "g", "--all", "--db", db)
    assert "g@2 (collected)" in out


def test_version_limits_and_completion(capsys: pytest.CaptureFixture[str], db: str) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--version"])
    assert raised.value.code == 0 and capsys.readouterr().out.startswith("mgstore ")
    status, out, _ = run(capsys, "exports", "--limit", "1", "--json", "--db", db)
    assert status == 0 and json.loads(out) == []
    status, _, err = run(capsys, "log", "g", "--limit", "-1", "--db", db)
    assert status == 1 and "limit" in err
    status, out, _ = run(capsys, "completion", "bash")
    assert status == 0 and "complete -o default -F _mgstore mgstore" in out
    assert "diff) opts='--db --help --json --read-db --scope --stat'" in out
    status, out, _ = run(capsys, "db", "current", "--json", "--db", db)
    assert json.loads(out)["current"] == json.loads(out)["head"]


def test_exports_show_the_ref_as_written(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    run(capsys, "alias", "set", "g", "prod", "g@1", "--db", db)
    status, out, _ = run(capsys, "export", "g@prod", "-o", str(tmp_path / "p.meta"), "--db", db)
    assert status == 0
    status, out, _ = run(capsys, "exports", "--json", "--db", db)
    assert json.loads(out)[0]["requested_ref"] == "g@prod"
    assert json.loads(out)[0]["ref"] == "g@1"
    status, out, _ = run(capsys, "show", "g@1", "--db", db)
    assert "aliases    g@prod" in out

"""The command line of trust: read-only commands never create a store, unchanged ingests,
``audit head``/``log``, superseded exports in ``verify``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mgstore import Store
from mgstore.cli import main

READ_ONLY = [
    ["ls"], ["log", "net"], ["show", "net"], ["query", "net"], ["scopes", "net"],
    ["checkout", "net", "-o", "out.meta"], ["export", "net", "-o", "out.meta"], ["exports"],
    ["verify", "--all"], ["which", "__FILE__"], ["reproduce", "abcd"], ["audit", "check"],
    ["audit", "head"], ["audit", "log"], ["fsck"], ["db", "downgrade", "base"],
    ["alias", "ls"], ["alias", "log", "net"], ["draw", "net", "-o", "x.svg"],
    ["serve", "--port", "0"], ["diff", "net", "net@2"],
]  # fmt: skip
#: Commands that change a store need one too: only ingest and db upgrade create it.
CHANGING = [
    ["tag", "net", "k=v"], ["rm", "net@1"], ["restore", "net@1"], ["gc"],
    ["alias", "set", "net", "p", "net@1"], ["alias", "rm", "net", "p"],
]  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("argv", READ_ONLY + CHANGING, ids=lambda a: " ".join(a))
def test_read_only_commands_never_create_a_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MGSTORE_DB", raising=False)
    (tmp_path / "file.meta").write_bytes(b"x")
    argv = [str(tmp_path / "file.meta") if a == "__FILE__" else a for a in argv]
    status, out, err = run(capsys, *argv)
    assert status == (2 if argv[0] == "diff" else 1) and out == ""  # diff: 2 is its error
    assert err.count("\n") == 1 and err.startswith("mgstore: error: no mgstore store at ")
    assert "mgstore.db" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.meta"]


def test_db_current_does_not_create_a_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "--db", f"sqlite:///{tmp_path / 'none.db'}", "db", "current")
    assert status == 0 and out.startswith("none (")
    assert list(tmp_path.iterdir()) == []


def test_ingest_creates_the_store_and_reports_unchanged_content(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fixtures_dir: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"
    source = str(fixtures_dir / "dense.meta")
    status, out, _ = run(capsys, "--db", db, "ingest", source, "--name", "dense")
    assert status == 0 and out.splitlines()[-1] == "dense@1"
    status, out, _ = run(capsys, "--db", db, "ingest", source, "--name", "dense")
    assert (status, out) == (0, "unchanged: dense@1\n")
    status, out, _ = run(capsys, "--db", db, "ingest", source, "--name", "dense", "--json")
    assert json.loads(out)["unchanged"] is True
    status, out, _ = run(
        capsys, "--db", db, "ingest", source, "--name", "dense", "--allow-unchanged"
    )
    assert out.splitlines()[-1] == "dense@2"
    status, out, _ = run(capsys, "--db", db, "audit", "log", "--kind", "ingest", "--json")
    assert [r["ref"] for r in json.loads(out)] == ["dense@1", "dense@2"]
    status, out, _ = run(capsys, "--db", db, "audit", "log")
    assert out.splitlines()[0].split() == ["SEQ", "WHEN", "(UTC)", "KIND", "REF", "BY", "HASH"]
    assert len(out.splitlines()) == 3
    with Store(db) as store:
        head = store.audit_head()
    assert run(capsys, "--db", db, "audit", "head")[1] == f"{head}\n"
    assert json.loads(run(capsys, "--db", db, "audit", "head", "--json")[1]) == {"head_hash": head}


def test_a_later_export_to_the_same_path_supersedes_the_earlier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fixtures_dir: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    out_path = tmp_path / "out.meta"
    with Store(db) as store:
        store.ingest(fixtures_dir / "dense.meta", "dense")
        first = store.export(out_path, "dense")
        second = store.export(out_path, "dense", as_text=True)
        checks = store.verify()
        assert [(c.export_id, c.status, c.superseded_by) for c in checks] == [
            (second.id, "ok", None),
            (first.id, "superseded", second.id),
        ]
        assert all(c.ok for c in checks)
        assert [(c.export_id, c.status) for c in store.verify(first.id)] == [
            (first.id, "superseded"),
            (second.id, "ok"),
        ]
    status, out, _ = run(capsys, "--db", db, "verify", "--all")
    assert status == 0 and f"superseded by {second.id}" in out
    out_path.write_bytes(b"changed")
    status, out, _ = run(capsys, "--db", db, "verify", first.id)
    assert status == 1 and "modified" in out and "superseded" in out

"""The README's promises stay true: its commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.S)


def test_readme_starts_with_the_two_commands() -> None:
    main_job, tests = _commands()[:2]
    assert "mgstore.demo" in main_job
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    tests = _commands()[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests in ci.splitlines()
    assert "MGSTORE_REQUIRE=tf,postgres,protoc" in ci


def test_the_main_job_runs_end_to_end(tmp_path: Path) -> None:
    """``python -m mgstore.demo``: two versions, ls, log, show, a byte-exact checkout, a
    query, two exports, and the audit trail: exports, verify, which, audit check."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "mgstore.demo", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sample@2" in result.stdout
    assert "byte-identical to the ingested file: True" in result.stdout
    assert "tower_1/dense/MatMul" in result.stdout  # the query
    assert result.stdout.count("sample@1  ok") == 2  # the audit trail lists both exports
    assert "(moved since)" in result.stdout and "audit log intact: 2 records" in result.stdout
    assert result.stderr == ""

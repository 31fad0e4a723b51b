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


def _ci() -> str:
    return (ROOT / ".ci" / "run").read_text()


def _fresh_clone_runs(ci: str) -> list[str]:
    """The commands .ci/run gives to ``in_fresh_clone``, each as written there."""
    return re.findall(r'^\s*(?:[A-Z_]+=\S+ \\\n\s*)?in_fresh_clone "([^"]+)"$', ci, flags=re.M)


def test_ci_runs_the_readme_commands_verbatim_in_fresh_clones() -> None:
    """Both README commands run as written, the tests with a PostgreSQL server and without."""
    main_job, tests = _commands()[:2]
    runs = _fresh_clone_runs(_ci())
    assert runs.count(tests) == 2
    assert runs.count(main_job) == 1


def test_ci_runs_the_readme_commands_only_where_they_built_everything() -> None:
    """A README command runs only through ``in_fresh_clone``: a new directory holding a clone and
    nothing else, so nothing installed before (TensorFlow, NumPy, another venv) can help it."""
    ci = _ci()
    main_job, tests = _commands()[:2]
    for command in (main_job, tests):
        assert ci.count(command) == _fresh_clone_runs(ci).count(command), command
    body = re.search(r"^in_fresh_clone\(\) \{\n(.*?)^\}", ci, flags=re.M | re.S)
    assert body is not None, "in_fresh_clone is not defined in .ci/run"
    lines = [line.strip() for line in body.group(1).splitlines()]
    assert lines == [
        "local dir",
        "dir=$(mktemp -d)",
        'git clone -q "$root" "$dir/mgstore"',
        '(cd "$dir/mgstore" && bash -euo pipefail -c "$1")',
        'rm -rf "$dir"',
    ]
    # no capability is required globally: the newcomer's runs skip what they lack
    assert "unset MGSTORE_REQUIRE" in ci
    assert not re.search(r"^export MGSTORE_REQUIRE", ci, flags=re.M)


def test_ci_requires_every_capability_in_the_full_run() -> None:
    assert re.search(r"^MGSTORE_REQUIRE=tf,postgres,protoc\S* \S+ -m pytest", _ci(), flags=re.M)


def test_the_main_job_runs_end_to_end(tmp_path: Path) -> None:
    """``python -m mgstore.demo``: two versions, ls, log, show, a byte-exact checkout, a
    query, two exports, and the audit trail: exports, verify, which, audit log and check, fsck."""
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
    assert "(moved since)" in result.stdout and "audit log intact: 4 records" in result.stdout
    assert "ok: 2 versions checked, audit log intact" in result.stdout  # fsck
    assert result.stderr == ""

"""A newcomer's machine has neither TensorFlow nor NumPy: every test module must still import.

The README's test command installs only the ``dev`` and ``postgres`` extras; a test module that
imports TensorFlow or NumPy at its top would stop the whole run at collection (it did once).
Tests that need them take the ``tf`` fixture, which skips (or, in CI, fails) with the reason.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Runs pytest's collection with ``tensorflow`` and ``numpy`` made unimportable.
_COLLECT_WITHOUT = textwrap.dedent(
    """
    import sys
    import importlib.abc

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"tensorflow", "numpy"}:
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Absent())
    import pytest

    sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]]))
    """
)


def test_every_test_module_imports_without_tensorflow_and_numpy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _COLLECT_WITHOUT, str(TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=TESTS.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.lower().splitlines()[-1]

"""Start-up imports only what a command needs (mgstore/lazy.py, mgstore/__init__.py).

No timing here (bench/bench_startup.py times start-up): each test runs a fresh interpreter and
looks at which modules it imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mgstore
from mgstore import Store, lazy
from mgstore.db import migrate

SAMPLE = Path(mgstore.__file__).parent / "sample" / "sample.meta"
HEAVY = ("sqlalchemy", "sqlalchemy.orm", "alembic", "networkx", "google.protobuf", "mgstore.proto")


def imported_after(code: str, *args: str) -> set[str]:
    """The modules of HEAVY that a new interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint('HEAVY:', *[m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, check=True
    )
    return set(done.stdout.rsplit("HEAVY:", 1)[1].split())


def test_import_mgstore_imports_no_heavy_module() -> None:
    assert imported_after("import mgstore") == set()


def test_public_names_import_their_modules_on_first_use() -> None:
    assert imported_after("import mgstore\nmgstore.MgstoreError\nmgstore.Summary") == set()
    assert imported_after("import mgstore\nmgstore.Store") == {"sqlalchemy"}
    found = imported_after("import mgstore\nmgstore.to_networkx")
    assert {"networkx", "google.protobuf", "mgstore.proto"} <= found


def test_help_builds_the_parser_without_heavy_modules() -> None:
    assert (
        imported_after("from mgstore.cli import build_parser\nbuild_parser().format_help()")
        == set()
    )


def test_log_needs_sqlalchemy_core_only(store: Store) -> None:
    """``log`` loads SQLAlchemy's Core, not its ORM: the schema is Core tables (db/models.py)."""
    store.ingest(SAMPLE, "sample")
    code = "import sys\nfrom mgstore.cli import main\nmain(['--db', sys.argv[1], 'log', 'sample'])"
    assert imported_after(code, store.url) == {"sqlalchemy"}


def test_script_head_is_alembics_head() -> None:
    assert migrate.script_head() == migrate.head()


def test_lazy_module_imports_on_first_attribute() -> None:
    code = (
        "from mgstore import lazy\nnx = lazy.module('networkx')\nimport sys\n"
        "assert 'networkx' not in sys.modules\nnx.MultiDiGraph\nassert 'networkx' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert "networkx" in repr(lazy.module("networkx"))

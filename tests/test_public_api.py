"""The public API is what ``mgstore.__all__`` says, and every name in it exists."""

from __future__ import annotations

import mgstore
from mgstore import errors


def test_all_names_exist_and_are_sorted() -> None:
    for name in mgstore.__all__:
        assert hasattr(mgstore, name), name
    assert mgstore.__all__ == sorted(mgstore.__all__)


def test_public_api_is_exactly_this() -> None:
    assert set(mgstore.__all__) == {
        "AliasInfo",
        "AliasMove",
        "AmbiguousInputError",
        "AmbiguousRefError",
        "ArgumentTypeError",
        "AuditError",
        "AuditEvent",
        "ChainReport",
        "ConflictError",
        "Diff",
        "EditedQueryError",
        "IncompleteSubgraphError",
        "QueryResult",
        "ExportRecord",
        "NamedChange",
        "NodeChange",
        "NodeInfo",
        "ScopeRename",
        "ScopeStat",
        "ValueChange",
        "Provenance",
        "RecoveryReport",
        "RemovedOpError",
        "ReproductionError",
        "UnregisteredOpError",
        "Verification",
        "FormatError",
        "FsckProblem",
        "FsckReport",
        "GcReport",
        "GraphInfo",
        "InputError",
        "IntegrityError",
        "InvalidGraphError",
        "MgstoreError",
        "NotFoundError",
        "Outline",
        "OutputError",
        "SchemaError",
        "SourceNotFoundError",
        "Store",
        "StoreError",
        "Summary",
        "UnsafePathError",
        "VersionInfo",
        "__version__",
        "add_op",
        "export_meta_graph",
        "from_networkx",
        "load",
        "read_debug_info",
        "read_meta_graph",
        "to_networkx",
        "write_message",
    }


def test_every_error_is_an_mgstore_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.MgstoreError), name
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.ArgumentTypeError, TypeError)
    assert issubclass(errors.SourceNotFoundError, FileNotFoundError)


def test_importing_mgstore_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = "import sys, mgstore, mgstore.cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

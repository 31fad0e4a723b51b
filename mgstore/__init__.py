"""mgstore: a versioned, SQL-backed store for TensorFlow graphs.

Ingest MetaGraphDefs, GraphDefs and SavedModels into SQL tables as immutable, numbered
versions; check them out byte for byte; query them as networkx subgraphs; export them exactly
as TensorFlow 2.21's ``export_meta_graph`` would, with every export recorded in a
tamper-evident audit log. TensorFlow is never imported.

    >>> import mgstore
    >>> with mgstore.Store("sqlite:///graphs.db") as store:      # doctest: +SKIP
    ...     v = store.ingest("model.meta", name="resnet")
    ...     g = store.graph("resnet@1")                           # a networkx.MultiDiGraph
    ...     store.export_meta_graph("tower.meta", graph="resnet@1", export_scope="tower_1")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mgstore.errors import (
    AmbiguousInputError,
    AmbiguousRefError,
    ArgumentTypeError,
    AuditError,
    ConflictError,
    EditedQueryError,
    FormatError,
    IncompleteSubgraphError,
    InputError,
    IntegrityError,
    InvalidGraphError,
    MgstoreError,
    NotFoundError,
    OutputError,
    RemovedOpError,
    ReproductionError,
    SchemaError,
    SourceNotFoundError,
    StoreError,
    UnregisteredOpError,
    UnsafePathError,
)

if TYPE_CHECKING:
    from mgstore.api import export_meta_graph
    from mgstore.atomic import write_message
    from mgstore.audit.entities import (
        AuditEvent,
        ChainReport,
        ExportRecord,
        Provenance,
        Verification,
    )
    from mgstore.diff.entities import (
        Diff,
        NamedChange,
        NodeChange,
        NodeInfo,
        ScopeRename,
        ScopeStat,
        ValueChange,
    )
    from mgstore.entities import (
        AliasInfo,
        AliasMove,
        FsckProblem,
        FsckReport,
        GcReport,
        GraphInfo,
        Outline,
        Summary,
        VersionInfo,
    )
    from mgstore.graph import add_op, from_networkx, to_networkx
    from mgstore.io import load, read_debug_info, read_meta_graph
    from mgstore.publish import RecoveryReport
    from mgstore.store import Store
    from mgstore.subgraph import QueryResult

    __version__: str

# The public names and the modules that define them, imported on first use (PEP 562), so that
# ``import mgstore`` (and ``mgstore --help``) does not pay for SQLAlchemy, Alembic, networkx
# and the protobuf modules before a command needs them.
_MODULES = {
    "mgstore.audit.entities": (
        "AuditEvent",
        "ChainReport",
        "ExportRecord",
        "Provenance",
        "Verification",
    ),
    "mgstore.diff.entities": (
        "Diff",
        "NamedChange",
        "NodeChange",
        "NodeInfo",
        "ScopeRename",
        "ScopeStat",
        "ValueChange",
    ),
    "mgstore.entities": (
        "AliasInfo",
        "AliasMove",
        "FsckProblem",
        "FsckReport",
        "GcReport",
        "GraphInfo",
        "Outline",
        "Summary",
        "VersionInfo",
    ),
    "mgstore.api": ("export_meta_graph",),
    "mgstore.graph": ("add_op", "from_networkx", "to_networkx"),
    "mgstore.atomic": ("write_message",),
    "mgstore.io": ("load", "read_debug_info", "read_meta_graph"),
    "mgstore.publish": ("RecoveryReport",),
    "mgstore.store": ("Store",),
    "mgstore.subgraph": ("QueryResult",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """A public name not imported yet: import its module now (PEP 562) and keep the name."""
    if name == "__version__":
        value: Any = _distribution_version()
    elif name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'mgstore' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _distribution_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mgstore")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


__all__ = [
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
    "ExportRecord",
    "FormatError",
    "FsckProblem",
    "FsckReport",
    "GcReport",
    "GraphInfo",
    "IncompleteSubgraphError",
    "InputError",
    "IntegrityError",
    "InvalidGraphError",
    "MgstoreError",
    "NamedChange",
    "NodeChange",
    "NodeInfo",
    "NotFoundError",
    "Outline",
    "OutputError",
    "Provenance",
    "QueryResult",
    "RecoveryReport",
    "RemovedOpError",
    "ReproductionError",
    "SchemaError",
    "ScopeRename",
    "ScopeStat",
    "SourceNotFoundError",
    "Store",
    "StoreError",
    "Summary",
    "UnregisteredOpError",
    "UnsafePathError",
    "ValueChange",
    "Verification",
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
]

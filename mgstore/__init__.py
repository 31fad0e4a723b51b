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

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from mgstore.atomic import write_message
from mgstore.audit import AuditEvent, ChainReport, ExportRecord, Provenance, Verification
from mgstore.diff import (
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
from mgstore.export.api import export_meta_graph
from mgstore.graph import add_op, from_networkx, to_networkx
from mgstore.io import load, read_debug_info, read_meta_graph
from mgstore.publish import RecoveryReport
from mgstore.store import Store
from mgstore.subgraph import QueryResult

try:
    __version__ = _version("mgstore")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

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

"""mgstore's exceptions: one hierarchy, so callers can catch ``MgstoreError`` and nothing else.

::

    MgstoreError
    ├── InputError (ValueError)                  input that cannot be used as given
    │   ├── SourceNotFoundError (FileNotFoundError)   a path that does not exist
    │   ├── FormatError                          bytes or text that are not the expected message
    │   ├── AmbiguousInputError                  e.g. a SavedModel whose tag sets need choosing
    │   ├── InvalidGraphError                    a graph mgstore cannot represent or export
    │   │   ├── UnregisteredOpError              an op TensorFlow 2.21 does not register
    │   │   └── RemovedOpError                   an op removed at the graph's producer version
    │   ├── IncompleteSubgraphError              a query result that reads nodes outside it
    │   ├── EditedQueryError                     a query result edited after the query
    │   └── UnsafePathError                      a path that escapes where it must stay
    ├── ArgumentTypeError (TypeError)            an argument of the wrong type
    ├── OutputError (OSError)                    a file could not be written; nothing was left
    ├── NotFoundError (LookupError)              an unknown name, version or hash prefix
    │   └── AmbiguousRefError                    a hash prefix that matches several versions
    └── StoreError                               the database could not do what was asked
        ├── SchemaError                          the database is at another schema revision
        ├── ConflictError                        a concurrent change won; retrying may succeed
        ├── IntegrityError                       stored bytes differ from their recorded hashes
        └── AuditError                           the audit log was tampered with
            └── ReproductionError                an export made again has other bytes

Errors that stand for TensorFlow's own exceptions also derive from the built-in type TensorFlow
raises (``ValueError``, ``TypeError``...), so code written against TensorFlow keeps working.
"""

from __future__ import annotations


class MgstoreError(Exception):
    """The root of every error mgstore raises on purpose."""


class InputError(MgstoreError, ValueError):
    """Input that cannot be used as given: the message says what was expected and where."""


class SourceNotFoundError(InputError, FileNotFoundError):
    """A path that does not exist."""


class FormatError(InputError):
    """Bytes or text that do not hold the expected protobuf message."""


class AmbiguousInputError(InputError):
    """Input that needs a choice mgstore will not guess (e.g. a SavedModel's tag set)."""


class InvalidGraphError(InputError):
    """A graph that mgstore cannot represent or export (duplicate names, malformed inputs...)."""


class UnregisteredOpError(InvalidGraphError):
    """An op that TensorFlow 2.21 does not register, met where its import looks (a graph
    node, or the body of a function that a node calls): TensorFlow's ``NotFoundError``, with
    its message."""


class RemovedOpError(InvalidGraphError):
    """An op that TensorFlow removed at or before the producer version of the graph that uses
    it: TensorFlow's ``UnimplementedError``, with its message."""


class IncompleteSubgraphError(InputError):
    """A query result TensorFlow could not import: its nodes read nodes outside it (the
    message names them); nothing is written."""


class EditedQueryError(InputError):
    """A query result changed after the query: exporting it would ignore the change."""


class UnsafePathError(InputError):
    """A path that would leave the place it must stay in."""


class ArgumentTypeError(MgstoreError, TypeError):
    """An argument of the wrong type."""


class OutputError(MgstoreError, OSError):
    """A file could not be written (permissions, a full disk...); no partial file is left."""


class NotFoundError(MgstoreError, LookupError):
    """An unknown graph name, version number, export id or hash prefix."""


class AmbiguousRefError(NotFoundError):
    """A hash prefix that matches more than one version."""


class StoreError(MgstoreError):
    """The database could not do what was asked."""


class SchemaError(StoreError):
    """The database is not at the schema revision this mgstore needs."""


class ConflictError(StoreError):
    """A concurrent change won the race; the operation may succeed when retried."""


class IntegrityError(StoreError):
    """What was read from the store does not match the hashes recorded when it was written
    (a damaged or edited row); nothing was written. ``mgstore fsck`` lists every such row."""


class AuditError(StoreError):
    """The audit log's hash chain is broken: a record was changed, removed or inserted."""


class ReproductionError(AuditError):
    """Exporting a recorded export again gave other bytes (both hashes are in the message)."""


__all__ = [
    "AmbiguousInputError",
    "AmbiguousRefError",
    "ArgumentTypeError",
    "AuditError",
    "ConflictError",
    "EditedQueryError",
    "FormatError",
    "IncompleteSubgraphError",
    "InputError",
    "IntegrityError",
    "InvalidGraphError",
    "MgstoreError",
    "NotFoundError",
    "OutputError",
    "ReproductionError",
    "SchemaError",
    "SourceNotFoundError",
    "StoreError",
    "UnsafePathError",
]

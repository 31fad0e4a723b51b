"""Structural diffs of two stored versions (:meth:`mgstore.Store.diff`).

The store matches node rows by name and content hash in SQL, so that only the nodes that
differ are read and decoded; :func:`compare` turns them, and the two graphs' frames, into a
:class:`Diff`. See docs/lifecycle.md.
"""

from __future__ import annotations

from mgstore.diff.compare import compare
from mgstore.diff.entities import (
    Diff,
    NamedChange,
    NodeChange,
    NodeInfo,
    ScopeRename,
    ScopeStat,
    ValueChange,
)

__all__ = [
    "Diff",
    "NamedChange",
    "NodeChange",
    "NodeInfo",
    "ScopeRename",
    "ScopeStat",
    "ValueChange",
    "compare",
]

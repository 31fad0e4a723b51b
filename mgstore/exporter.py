"""Exports from a store: read a version, export it as TensorFlow would, write, record.

:func:`export` is what :meth:`mgstore.Store.export_meta_graph` runs. The imported form of a
version (:class:`~mgstore.export.imported.ImportedGraph`) depends only on its content, so it
is kept in a small per-process cache keyed by content hash: repeated exports of a version
only select, rewrite and write.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import networkx as nx

from mgstore.db import engine as db
from mgstore.db import versions
from mgstore.errors import InputError
from mgstore.export.api import export_imported, export_options, in_memory_graph
from mgstore.export.imported import ImportedGraph, import_meta_graph
from mgstore.io import published
from mgstore.proto import GraphDebugInfo, MetaGraphDef

if TYPE_CHECKING:
    from mgstore.store import Store

__all__ = ["export"]

_CACHE_SIZE = 4
_cache: OrderedDict[tuple[str, str | None], ImportedGraph] = OrderedDict()
_cache_lock = threading.Lock()


def export(store: Store, arguments: Mapping[str, Any], kwargs: Mapping[str, Any]) -> MetaGraphDef:
    """Run ``export_meta_graph`` with ``arguments`` (its named parameters) on ``store``."""
    started = time.monotonic()
    graph = arguments["graph"]
    options = export_options(
        arguments["meta_info_def"], arguments["graph_def"], arguments["saver_def"],
        arguments["collection_list"], arguments["export_scope"], arguments["clear_devices"],
        arguments["clear_extraneous_savers"], arguments["strip_default_attrs"], **kwargs,
    )  # fmt: skip
    filename = arguments["filename"]
    query = graph.graph.get("query") if isinstance(graph, nx.MultiDiGraph) else None
    if isinstance(graph, str):
        imported = _imported_version(store, graph)
    elif isinstance(query, dict):  # a query result: export its nodes from its version
        imported = _imported_version(store, str(query.get("ref")), query.get("content_hash"))
        options = replace(options, selection=frozenset(graph.nodes))
    else:
        imported = import_meta_graph(*in_memory_graph(graph))
    meta_graph, files = export_imported(
        imported, filename, bool(arguments["as_text"]), bool(arguments["save_debug_info"]),
        options,
    )  # fmt: skip
    if files:
        with published([(f.data, os.path.abspath(f.path)) for f in files]):
            pass
    del started
    return meta_graph


def _imported_version(store: Store, ref: str, content_hash: object = None) -> ImportedGraph:
    """The imported form of the version ``ref`` names, from the cache or from its bytes.

    ``content_hash``, if given, must be the version's (a query result names its version).
    """
    with db.transaction(store.engine) as conn:
        row = store._resolve(conn, ref)
        if content_hash is not None and row.content_hash != content_hash:
            raise InputError(
                f"the query result came from {ref} with content {content_hash}, but {ref} in "
                f"this store has content {row.content_hash}: query this store again"
            )
        key = (row.content_hash, row.debug_hash)
        with _cache_lock:
            cached = _cache.get(key)
            if cached is not None:
                _cache.move_to_end(key)
                return cached
        data = versions.assemble(conn, row)
        debug = None
        if row.debug_sha256 is not None:
            debug = GraphDebugInfo.FromString(
                versions.blobs(conn, [row.debug_sha256])[row.debug_sha256]
            )
    imported = import_meta_graph(MetaGraphDef.FromString(data), debug)
    with _cache_lock:
        _cache[key] = imported
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return imported

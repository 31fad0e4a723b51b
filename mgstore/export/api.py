"""``export_meta_graph``: TensorFlow 2.21's arguments, checks and files, on mgstore's graphs.

The arguments arrive checked, as :class:`~mgstore.export.options.ExportOptions`;
:func:`export_files` produces the bytes TensorFlow writes (deterministic binary or text, and
the ``.debug`` companion), and :func:`export_imported` exports an imported graph. Nothing
here knows of a store: :func:`mgstore.export_meta_graph` (:mod:`mgstore.api`) and
:meth:`mgstore.Store.export_meta_graph` call these.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import cast

import networkx as nx

from mgstore.atomic import Data
from mgstore.errors import ArgumentTypeError, InputError
from mgstore.export.imported import ImportedGraph
from mgstore.export.meta_graph import Exported, build
from mgstore.export.options import ExportOptions
from mgstore.io import coerce_message, debug_path_for, serialize
from mgstore.proto import GraphDebugInfo, MetaGraphDef

__all__ = [
    "ExportFile",
    "export_files",
    "export_imported",
    "in_memory_graph",
]


@dataclass(frozen=True)
class ExportFile:
    """One file an export writes: where, and its bytes (in chunks, written in order)."""

    path: str
    data: Data

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in [self.data] if isinstance(self.data, bytes) else self.data:
            digest.update(chunk)
        return digest.hexdigest()

    def size(self) -> int:
        if isinstance(self.data, bytes):
            return len(self.data)
        return sum(len(chunk) for chunk in self.data)


def export_files(
    exported: Exported,
    filename: str | os.PathLike[str],
    options: ExportOptions,
    debug_info: GraphDebugInfo | None,
) -> list[ExportFile]:
    """The files ``export_meta_graph`` writes for ``exported``: the MetaGraphDef (as text with
    ``options.as_text``), then (with ``options.save_debug_info``) the stored debug info
    restricted to the exported nodes (§12.1, §9)."""
    from mgstore.export.debug import restrict_debug_info

    as_text, save_debug_info = options.as_text, options.save_debug_info

    data: Data
    if exported.chunks is not None and not as_text:
        data = exported.chunks
    else:
        assert exported.meta_graph is not None
        data = serialize(exported.meta_graph, as_text=as_text)
    files = [ExportFile(os.fspath(filename), data)]
    debug_path = os.fspath(debug_path_for(filename))  # where save_debug_info writes (§9)
    if save_debug_info and os.path.abspath(debug_path) == os.path.abspath(filename):
        raise InputError(
            f"{filename}: the graph would be overwritten by its own debug info (save_debug_info "
            "writes <stem>.debug, the same file here); choose another file name"
        )
    if save_debug_info:
        debug = restrict_debug_info(debug_info, exported.names)
        files.append(ExportFile(debug_path, serialize(debug, as_text=as_text)))
    return files


def export_imported(
    imported: ImportedGraph,
    filename: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    message: bool = True,
) -> tuple[MetaGraphDef | None, list[ExportFile]]:
    """Build the export of ``imported`` and the files it writes (none without filename);
    the message is None if not ``message`` and only bytes were needed."""
    exported = build(imported, options, message=message or not filename or options.as_text)
    if not filename:
        return exported.meta_graph, []
    return exported.meta_graph, export_files(exported, filename, options, imported.debug_info)


def in_memory_graph(graph: object) -> tuple[MetaGraphDef, GraphDebugInfo | None]:
    """A MetaGraphDef (and debug info) from a message or a networkx graph of mgstore's model."""
    from mgstore.graph import from_networkx

    if isinstance(graph, nx.MultiDiGraph):
        meta_graph = from_networkx(graph)
        debug = graph.graph.get("debug_info")
        if not debug:
            return meta_graph, None
        info = coerce_message(debug, expected=("GraphDebugInfo",))[1]
        return meta_graph, cast(GraphDebugInfo, info)
    if graph is None:
        raise ArgumentTypeError(
            "graph is required: mgstore has no default graph; pass a stored version's ref "
            "(with store=), a MetaGraphDef or a networkx graph"
        )
    _, message = coerce_message(graph, expected=("MetaGraphDef",))
    assert isinstance(message, MetaGraphDef)
    return message, None

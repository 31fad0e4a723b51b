"""A scoped export's imported graph, read from the scope's node rows only.

A rebuilt export under ``export_scope`` (docs/export-semantics.md §3.4, §4.1) keeps the
imported nodes whose names start with the scope, and the unbound-input placeholders
(``$unbound_inputs_...``), in import order; everything else it writes (versions, the
rebuilt library, the collections, the 2 GB check's bound) comes from graph-level parts.
With the version's stored import form (:class:`~mgstore.export.imported.ImportForm`), each
kept node as imported is its stored bytes or the form's patch at its import position, so
:func:`scoped_import` reads those rows through the name index
(:func:`mgstore.query.node_filter`), the frame blobs and the debug info, and nothing else:
an export that costs about in proportion to the scope (docs/export-semantics.md §3.4).

The result holds only those nodes, and stands in for the variables the scope leaves out (after
checking them): it serves that one export and is never cached.
:func:`applies` says which exports it serves; the others import the whole version.
"""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import Connection, Row, or_

from mgstore.db import versions
from mgstore.export import normalize as nz
from mgstore.export.imported import ImportedGraph, ImportForm, graph_level
from mgstore.export.options import ExportOptions
from mgstore.export.restored_collections import restore_collections
from mgstore.export.scope import UNBOUND_INPUT_PREFIX
from mgstore.proto import GraphDef, MetaGraphDef, NodeDef
from mgstore.query import node_filter

__all__ = ["applies", "scoped_import"]


def applies(options: ExportOptions) -> bool:
    """Whether an export of a stored version with ``options`` reads only the scope's nodes
    from its imported graph: a rebuilt export (no ``graph_def``) under a non-empty scope, of
    the whole version (no query result's selection), without ``clear_extraneous_savers``
    (which looks for saver ops anywhere in the graph, docs/export-semantics.md §7.1)."""
    return (
        bool(options.scope)
        and options.graph_def is None
        and options.selection is None
        and not options.clear_extraneous_savers
    )


def scoped_import(
    conn: Connection, row: Row[Any], stored_form: bytes, scope: str
) -> ImportedGraph | None:
    """The imported graph of version ``row`` (whose stored import form is ``stored_form``,
    encoded) with only the nodes a rebuilt export under ``scope`` keeps; None where the form
    cannot be read or does not fit the version (the caller imports the whole version). Only
    the form's patches of those nodes are decoded.

    The nodes read are checked against their rows' hashes and indexed columns, and the frame
    blobs against their keys (docs/audit.md, "Verify on read"), not the whole content.
    """
    selected = or_(
        node_filter(conn, row, scope, False, None, None, None),
        node_filter(conn, row, UNBOUND_INPUT_PREFIX, False, None, None, None),
    )
    read = versions.node_slices(conn, row, selected)
    nodes = list(GraphDef.FromString(read.body).node)
    versions.check_node_columns(conn, row, nodes, read.columns)
    placed = _in_import_order(nodes, read.positions, stored_form, int(row.node_count))
    if placed is None:
        return None
    frame = MetaGraphDef.FromString(versions.assemble(conn, row, b""))
    _, debug_info = versions.version_bytes(conn, row, graph=False)
    graph_def = frame.graph_def
    rebuilt_library = nz.rebuilt_library(
        graph_def.library if graph_def.HasField("library") else None
    )
    merged, as_imported_library = graph_level(graph_def, rebuilt_library)
    return ImportedGraph(
        nodes=tuple(placed),
        size=int(row.size),
        rewritten_inputs={},  # by position in the whole graph: the rebuilt export reads none
        versions=merged,
        as_imported_library=as_imported_library,
        rebuilt_library=rebuilt_library,
        collections=restore_collections(
            frame.collection_def,
            frame.meta_info_def.tensorflow_version,
            # the variables the export keeps (payloads.included, with nothing excluded)
            wanted=lambda name: name.startswith((scope, UNBOUND_INPUT_PREFIX)),
        ),
        debug_info=debug_info,
    )


def _in_import_order(
    nodes: list[NodeDef], positions: tuple[int, ...], stored_form: bytes, count: int
) -> list[NodeDef] | None:
    """``nodes`` (at these stored ``positions``, ascending) as the import leaves them, in
    import order: reordered by the form's order, patched where the form changed them. None
    if the form cannot be read or does not fit a version of ``count`` nodes."""
    if len(positions) != len(nodes) or any(p >= count for p in positions[-1:]):
        return None
    try:
        order = ImportForm.from_bytes(stored_form, only=()).order
        if order is None:
            at = list(positions)
        else:
            if len(order) != count:
                return None
            imported = {stored: pos for pos, stored in enumerate(order)}
            at = [imported.get(p, -1) for p in positions]
            if -1 in at:
                return None
            ranked = sorted(range(len(nodes)), key=at.__getitem__)
            nodes, at = [nodes[i] for i in ranked], [at[i] for i in ranked]
        patches = ImportForm.from_bytes(stored_form, only=frozenset(at)).nodes
    except (ValueError, KeyError, TypeError, zlib.error):
        return None  # unreadable: the whole import computes it again
    for node, pos in zip(nodes, at, strict=True):
        patch = patches.get(pos)
        if patch is not None:
            node.Clear()
            node.MergeFromString(patch)
    return nodes

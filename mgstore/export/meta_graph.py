"""The MetaGraphDef ``export_meta_graph`` returns for an imported graph (§3-§8).

:func:`build` mirrors TensorFlow 2.21's ``export_scoped_meta_graph`` and ``create_meta_graph_def``
on an :class:`~mgstore.export.imported.ImportedGraph`: the three ways of producing ``graph_def`` (as
imported, rebuilt, or from a given ``graph_def``: §3.2), ``export_scope``, ``clear_devices``,
``clear_extraneous_savers``, ``stripped_op_list``, ``strip_default_attrs``, ``saver_def`` and the
collections. Nothing is written and nothing is shared between calls: the graph mutations TensorFlow
makes (the ``unbound_inputs`` collection) live only inside one call.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from mgstore import byte_layout
from mgstore.collections import PROTO_KEYS
from mgstore.errors import InputError, InvalidGraphError
from mgstore.export.framed_nodes import FramedNodes
from mgstore.export.imported import ImportedGraph, held_size
from mgstore.export.normalize import TF_VERSION
from mgstore.export.oplist import CALL_OPS, stripped_op_list_for
from mgstore.export.options import ExportOptions
from mgstore.export.payloads import add_collection, item_name
from mgstore.export.restored_collections import CollectionItem, regenerate
from mgstore.export.scope import UNBOUND_INPUT_PREFIX, in_scope, rewrite_inputs, rewrite_node
from mgstore.export.strip import strip_default_attrs
from mgstore.proto import GraphDef, MetaGraphDef, NodeDef, OpList, SaverDef

__all__ = [
    "SIZE_LIMIT",
    "TF_GIT_VERSION",
    "ExportOptions",
    "Exported",
    "build",
    "extraneous_saver_nodes",
]

TF_GIT_VERSION = "v2.21.0-rc1-5-ga481b10260d"
SIZE_LIMIT = 1 << 31  #: TensorFlow's limit on a GraphDef's size: 2 GB
_BLOCK = 1 << 20  # the size of the chunks a rebuilt export's nodes are written in
_SAVER_OPS = frozenset({
    "SaveV2", "Save", "SaveSlice", "LegacySave", "LegacySaveSlice",
    "RestoreV2", "Restore", "RestoreSlice", "LegacyRestore", "LegacyRestoreSlice",
})  # fmt: skip


@dataclass(frozen=True)
class Exported:
    """The exported message and, in its node order, ``(stored name, exported name)``."""

    meta_graph: MetaGraphDef | None  # None when build() was asked for the bytes only
    names: tuple[tuple[str, str], ...]  # empty for bytes only without save_debug_info
    chunks: Sequence[bytes | memoryview] | None = None  # its deterministic bytes, when known


def build(graph: ImportedGraph, options: ExportOptions, *, message: bool = True) -> Exported:
    """What ``export_meta_graph(graph=..., **options)`` returns for the imported ``graph``.

    A full export without options is assembled as bytes (``chunks``); with ``message=False``
    it is not parsed into a message (the caller only writes it).

    Raises TensorFlow's ValueErrors as mgstore errors (the 2 GB limit, ``No variables to
    save``, invalid saver names) and clear ValueErrors where TensorFlow crashes (§11.3).
    """
    o = options
    scope = o.scope
    excluded: frozenset[str] = frozenset()
    if o.selection is not None:
        source_names = o.graph_def.node if o.graph_def is not None else graph.nodes
        excluded = frozenset(n.name for n in source_names if n.name not in o.selection)
    if scope or o.clear_extraneous_savers or o.clear_devices:  # given-graph_def or rebuilt
        source: Iterable[NodeDef] = o.graph_def.node if o.graph_def is not None else graph.nodes
        if o.clear_extraneous_savers:
            excluded |= extraneous_saver_nodes(source, o.saver_def)
        if not message and o.graph_def is None and not o.strip_default_attrs:
            return _rebuilt_bytes(graph, o, excluded)
        graph_def, names, unbound = _rewritten(graph, source, o, excluded)
        collections = _collections_after_export(graph, o.unbound_inputs_col_name, unbound)
    elif o.selection is not None:  # as imported, the selected nodes only (§3.7)
        collections = _collections(graph)
        graph_def, names = _selected(graph, o.selection)
    elif o.graph_def is not None:  # given, no option: copied verbatim
        graph_def = GraphDef()
        graph_def.CopyFrom(o.graph_def)
        names = [(n.name, n.name) for n in graph_def.node]
        collections = _collections(graph)
    else:  # as imported (§3.3): the imported graph as it is, serialised once per imported graph
        collections = _collections(graph)
        _check_global_variables(collections.get("variables"), scope)
        names = _as_imported_names(graph)
        as_imported, op_list = _as_imported_graph_def(graph)
        if not o.strip_default_attrs:  # assemble the bytes: the message is parsed from them
            out = _create_meta_graph_def(graph, None, collections, excluded, o, op_list)
            chunks = byte_layout.insert_graph_def(
                out.SerializeToString(deterministic=True), as_imported
            )
            parsed = MetaGraphDef.FromString(b"".join(chunks)) if message else None
            return Exported(parsed, tuple(names), chunks)
        graph_def = GraphDef()
        graph_def.MergeFromString(b"".join(as_imported))
    _check_global_variables(collections.get("variables"), scope)
    meta_graph = _create_meta_graph_def(graph, graph_def, collections, excluded, o)
    return Exported(meta_graph, tuple(names))


def _rewritten(
    graph: ImportedGraph, source: Iterable[NodeDef], o: ExportOptions, excluded: frozenset[str]
) -> tuple[GraphDef, list[tuple[str, str]], list[str]]:
    """The given-graph_def and rebuilt exports (§3.1 step 1): ``source`` (the given
    graph_def's nodes or the imported ones) in scope and not ``excluded``, renamed out of the
    scope, devices cleared if asked; returns the GraphDef, ``(stored name, exported name)``
    pairs and the unbound inputs. Raises past the 2 GB limit."""
    scope, given = o.scope, o.graph_def
    graph_def = GraphDef()
    if given is not None:  # the given-graph_def export (§3.5)
        graph_def.versions.CopyFrom(given.versions)
        graph_def.library.CopyFrom(given.library)
    else:  # the rebuilt export (§3.4)
        graph_def.versions.CopyFrom(graph.versions)
    unbound: list[str] = []
    names: list[tuple[str, str]] = []
    for node in _kept(graph if given is None else None, source, o, excluded):
        new = rewrite_node(node, scope, graph_def.node.add())  # written in place
        if scope:
            unbound.extend(rewrite_inputs(node.input, scope)[1])
        if o.clear_devices:
            new.device = ""
        names.append((node.name, new.name))
    if given is None and graph.rebuilt_library is not None:
        graph_def.library.CopyFrom(graph.rebuilt_library)
    return graph_def, names, unbound


def _kept(
    graph: ImportedGraph | None,
    source: Iterable[NodeDef],
    o: ExportOptions,
    excluded: frozenset[str],
) -> Iterator[NodeDef]:
    """The nodes of ``source`` a rebuilt or given-graph_def export keeps (§3.4): in the scope
    (or unbound-input placeholders) and not ``excluded``. With the imported ``graph`` (the
    rebuilt export), raises past TensorFlow's 2 GB limit (§11.2), the library counted last."""
    size = 0
    for node in source:
        if (node.name.startswith(UNBOUND_INPUT_PREFIX) or in_scope(node.name, o.scope)) and (
            node.name not in excluded
        ):
            yield node
            if graph is not None and graph.size >= SIZE_LIMIT:  # else the sum stays below
                size += held_size(node)
                if size >= SIZE_LIMIT:
                    raise InputError(f"GraphDef cannot be larger than 2GB. Received size: {size}.")
    if graph is not None and graph.rebuilt_library is not None:
        for function in graph.rebuilt_library.function:
            size += function.ByteSize()
            if size >= SIZE_LIMIT:
                raise InputError("GraphDef cannot be larger than 2GB.")


def _rebuilt_bytes(graph: ImportedGraph, o: ExportOptions, excluded: frozenset[str]) -> Exported:
    """The rebuilt export (§3.4) as deterministic bytes in chunks, for a caller that only writes
    them: each node is rewritten into a message of its own, serialised at once and dropped, so
    the export holds its bytes (about the file) rather than a second graph of messages; the
    graph's nodes may be read one at a time too (:class:`~mgstore.export.framed_nodes.FramedNodes`).
    The bytes are those of :func:`_rewritten`'s GraphDef: its nodes, then its library and
    versions. The names are kept for the debug info only (``save_debug_info``)."""
    chunks: list[bytes | memoryview] = []
    block = bytearray()  # nodes' frames, cut into chunks of about _BLOCK bytes
    names: list[tuple[str, str]] | None = [] if o.save_debug_info else None
    unbound: list[str] = []
    ops = GraphDef()  # what stripped_op_list reads: each op once, call ops whole (§3.9)
    seen: set[str] = set()
    nodes = graph.nodes.take() if isinstance(graph.nodes, FramedNodes) else graph.nodes
    for node in _kept(graph, nodes, o, excluded):
        new = rewrite_node(node, o.scope)  # a new message: a cleared one keeps its arena
        if o.scope:
            unbound.extend(rewrite_inputs(node.input, o.scope)[1])
        if o.clear_devices:
            new.device = ""
        serialised = new.SerializeToString(deterministic=True)
        block += byte_layout.frame_head(len(serialised))
        block += serialised
        if len(block) >= _BLOCK:
            chunks.append(bytes(block))
            block.clear()
        if names is not None:
            names.append((node.name, new.name))
        if new.op in CALL_OPS or new.op not in seen:
            seen.add(new.op)
            ops.node.add().CopyFrom(new)
    chunks.append(bytes(block))
    rest = GraphDef()
    rest.versions.CopyFrom(graph.versions)
    if graph.rebuilt_library is not None:
        rest.library.CopyFrom(graph.rebuilt_library)
        ops.library.CopyFrom(graph.rebuilt_library)
    chunks.append(rest.SerializeToString(deterministic=True))
    collections = _collections_after_export(graph, o.unbound_inputs_col_name, unbound)
    _check_global_variables(collections.get("variables"), o.scope)
    out = _create_meta_graph_def(graph, None, collections, excluded, o, stripped_op_list_for(ops))
    data = byte_layout.insert_graph_def(out.SerializeToString(deterministic=True), chunks)
    return Exported(None, () if names is None else tuple(names), data)


def _selected(
    graph: ImportedGraph, selection: frozenset[str]
) -> tuple[GraphDef, list[tuple[str, str]]]:
    """The as-imported export keeping only the ``selection``'s nodes (a query result): the
    GraphDef and ``(name, name)`` pairs."""
    graph_def = GraphDef()
    names: list[tuple[str, str]] = []
    for i, node in enumerate(graph.nodes):
        if node.name in selection:
            new = graph_def.node.add()
            new.CopyFrom(node)
            if i in graph.rewritten_inputs:
                new.input[:] = graph.rewritten_inputs[i]
            names.append((node.name, node.name))
    graph_def.versions.CopyFrom(graph.versions)
    if graph.as_imported_library is not None:
        graph_def.library.CopyFrom(graph.as_imported_library)
    return graph_def, names


def _as_imported_names(graph: ImportedGraph) -> list[tuple[str, str]]:
    """``(name, name)`` for each node of ``graph`` (the as-imported export renames nothing), once
    per graph."""
    derived = graph.derived
    if derived.names is None:
        derived.names = [(node.name, node.name) for node in graph.nodes]
    return derived.names


def _as_imported_graph_def(graph: ImportedGraph) -> tuple[list[bytes | memoryview], OpList]:
    """The GraphDef the as-imported export writes for ``graph`` (deterministic bytes, in chunks) and
    its op list; computed once per imported graph, or given by whoever built it
    (``graph.derived``)."""
    cached = graph.derived.graph_def
    if cached is None:
        graph_def = GraphDef()
        graph_def.node.extend(graph.nodes)
        for i, inputs in graph.rewritten_inputs.items():
            graph_def.node[i].input[:] = inputs
        graph_def.versions.CopyFrom(graph.versions)
        if graph.as_imported_library is not None:
            graph_def.library.CopyFrom(graph.as_imported_library)
        cached = graph.derived.graph_def = (
            [graph_def.SerializeToString(deterministic=True)],
            stripped_op_list_for(graph_def),
        )
    assert isinstance(cached, tuple)
    return cached


def extraneous_saver_nodes(nodes: Iterable[NodeDef], saver_def: SaverDef | None) -> frozenset[str]:
    """The nodes ``clear_extraneous_savers`` removes (§7): those under the name scope of
    a save/restore op, except the scopes of ``saver_def``'s save and restore names.

    ``nodes`` is read twice and only the save/restore nodes' names are held (a node named
    twice counts with its last op, as TensorFlow's dict of names does)."""
    retained: set[str] = set()
    if saver_def is not None:
        retained = {
            _scope_of(_op_name(saver_def.restore_op_name)) + "/",
            _scope_of(_op_name(saver_def.save_tensor_name)) + "/",
        }
    is_saver: dict[str, bool] = {}  # the names that had a save/restore op: whether they still do
    for node in nodes:
        if node.op in _SAVER_OPS:
            is_saver[node.name] = True
        elif is_saver and node.name in is_saver:
            is_saver[node.name] = False
    saver_nodes = {name for name, saver in is_saver.items() if saver}
    scopes = {_scope_of(name) for name in saver_nodes} - saver_nodes
    extraneous = tuple(s + "/" for s in scopes if s + "/" not in retained)
    if not extraneous:
        return frozenset()
    return frozenset(node.name for node in nodes if node.name.startswith(extraneous))


def _op_name(tensor_name: str) -> str:
    if not tensor_name:
        raise InputError(f"Tensor name cannot be empty or None. Received: {tensor_name}.")
    name = tensor_name[1:] if tensor_name.startswith("^") else tensor_name
    if ":" in name:
        parts = name.split(":")
        if len(parts) != 2:
            raise InputError(f"saver_def: {tensor_name!r} is not a tensor name")
        return parts[0]
    return name


def _scope_of(node_name: str) -> str:
    name = node_name[1:] if node_name.startswith("^") else node_name
    return name.rsplit("/", 1)[0] if "/" in name else ""


_Collections: TypeAlias = "dict[str, tuple[Sequence[CollectionItem | str], bool]]"


def _collections(graph: ImportedGraph) -> _Collections:
    return {key: (c.items, key in PROTO_KEYS) for key, c in graph.collections.items()}


def _collections_after_export(
    graph: ImportedGraph, unbound_key: str | None, unbound: list[str]
) -> _Collections:
    """The graph's collections once TensorFlow replaced its unbound-inputs one (§3.1 step 2)."""
    collections = _collections(graph)
    if unbound_key:
        collections.pop(unbound_key, None)
        if unbound:
            collections[unbound_key] = (tuple(unbound), unbound_key in PROTO_KEYS)
    return collections


def _check_global_variables(
    variables: tuple[Sequence[CollectionItem | str], bool] | None, scope: str
) -> None:
    """Where TensorFlow's listing of the exported variables fails (§3.1 step 3)."""
    if not variables or not variables[0]:
        return
    if scope:
        try:
            re.compile(scope)
        except re.error as exc:
            raise InputError(
                f"export_scope {scope!r} is not a valid regular expression ({exc}); TensorFlow "
                "2.21 matches variable names against it and fails with re.error"
            ) from exc
        return
    for item in variables[0]:
        if item_name(item) is None:
            raise InvalidGraphError(
                f"collection 'variables' holds a {type(item).__name__}, not a variable: "
                f"TensorFlow 2.21's export fails on it (AttributeError: "
                f"'{type(item).__name__}' object has no attribute 'name')"
            )


def _create_meta_graph_def(
    graph: ImportedGraph,
    graph_def: GraphDef | None,
    collections: _Collections,
    excluded: frozenset[str],
    o: ExportOptions,
    op_list: OpList | None = None,
) -> MetaGraphDef:
    """``create_meta_graph_def`` (§3.1 step 4) on the GraphDef just built.

    With ``graph_def`` None the result lacks it (the caller adds its bytes) and ``op_list``
    is its ``stripped_op_list``.
    """
    out = MetaGraphDef()
    info = out.meta_info_def
    if o.meta_info_def is not None:
        info.CopyFrom(o.meta_info_def)
    info.tensorflow_version = TF_VERSION
    info.tensorflow_git_version = TF_GIT_VERSION
    if graph_def is not None:
        out.graph_def.SetInParent()
        out.graph_def.MergeFrom(graph_def)
    if not info.stripped_op_list.op:
        info.stripped_op_list.SetInParent()
        info.stripped_op_list.MergeFrom(
            op_list
            if graph_def is None and op_list is not None
            else stripped_op_list_for(out.graph_def)
        )
    if o.strip_default_attrs:
        strip_default_attrs(out.graph_def)
        info.stripped_default_attrs = True
    if o.saver_def is not None:
        out.saver_def.SetInParent()
        out.saver_def.MergeFrom(o.saver_def)
    keys = o.collection_list if o.collection_list is not None else tuple(collections)
    for key in keys:
        if not isinstance(key, str):
            continue  # the graph's keys are str: bytes never match, others are skipped
        if o.clear_extraneous_savers and key == "savers":
            items: Sequence[CollectionItem | str] = (_saver_from(o.saver_def, graph),)
            proto_function = True
        elif key in collections:
            items, proto_function = collections[key]
            if not o.scope and not excluded and key in graph.collections:
                _add_plain_collection(out, graph, key, items, proto_function)
                continue
        else:
            continue
        add_collection(out, key, items, o.scope, excluded,
                       proto_function=proto_function, selection=o.selection)  # fmt: skip
    return out


def _add_plain_collection(
    out: MetaGraphDef,
    graph: ImportedGraph,
    key: str,
    items: Sequence[CollectionItem | str],
    proto_function: bool,
) -> None:
    """:func:`add_collection` without scope or removed nodes, cached per imported graph."""
    cache = graph.derived.collections
    if key not in cache:
        scratch = MetaGraphDef()
        add_collection(scratch, key, items, "", frozenset(), proto_function=proto_function)
        cache[key] = scratch.collection_def.get(key)
    entry = cache[key]
    if entry is not None:
        out.collection_def[key].MergeFrom(entry)
    elif items:  # every item failed: TensorFlow removes the key, earlier values included
        out.collection_def.pop(key, None)


def _saver_from(saver_def: SaverDef | None, graph: ImportedGraph) -> SaverDef:
    """``Saver(saver_def=saver_def).to_proto()``: the savers entry ``clear_extraneous_savers``
    writes (§7). Without a ``saver_def`` TensorFlow builds a new Saver in the graph,
    which mgstore cannot reproduce (§12.7)."""
    if saver_def is None:
        has_variables = any(
            graph.collections.get(key) is not None and graph.collections[key].items
            for key in ("variables", "saveable_objects")
        )
        if not has_variables:
            raise InputError("No variables to save")
        raise InputError(
            "clear_extraneous_savers without a saver_def: TensorFlow 2.21 would build a new "
            "Saver into the graph here, which mgstore does not reproduce; pass the saver_def "
            "of the saver to keep (e.g. the stored MetaGraphDef's saver_def)"
        )
    checked = regenerate(saver_def)
    assert isinstance(checked, SaverDef)
    return checked

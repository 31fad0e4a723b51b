"""Exports from a store: read a version, export it as TensorFlow would, write, record.

:func:`export` is what :meth:`mgstore.Store.export_meta_graph` runs. An export of a stored
version (by ref, or a query result) that writes a file is recorded in the audit log
(:mod:`mgstore.audit`) in the transaction that puts the file in place; a failed one is
recorded as failed. The options are recorded so that :func:`reproduce` can run the export
again; message arguments (a ``saver_def``...) are kept as blobs and named by their SHA-256.

The imported form of a version (:class:`~mgstore.export.imported.ImportedGraph`) depends only
on its content. Ingest stores how the import changes the nodes (an
:class:`~mgstore.export.imported.ImportForm`, table ``import_forms``: :mod:`mgstore.db.forms`);
an export that finds none derives it from a neighbouring version's
(:func:`mgstore.db.forms.derived`) or computes it, and stores it. Exports, in any process,
rebuild the graph from that in a fraction of the time, and each Store keeps
the latest few (:class:`ImportCache`): repeated exports of a version only select, rewrite and
write.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any

import networkx as nx
from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Row, select

from mgstore import audit, byte_layout, scoped, subgraph
from mgstore.atomic import published
from mgstore.db import engine as db
from mgstore.db import forms, lifecycle, refs, versions
from mgstore.db.inserts import insert_blobs
from mgstore.db.orders import read_order
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import InputError, MgstoreError, NotFoundError, StoreError
from mgstore.export import normalize as nz
from mgstore.export.api import (
    ExportFile,
    export_files,
    export_imported,
    in_memory_graph,
)
from mgstore.export.framed_nodes import FramedNodes
from mgstore.export.imported import (
    FORM_VERSION,
    Derived,
    ImportedGraph,
    ImportForm,
    graph_level,
    import_meta_graph,
    import_with_form,
)
from mgstore.export.meta_graph import build
from mgstore.export.oplist import CALL_OPS, stripped_op_list_for
from mgstore.export.options import UNBOUND_INPUTS, ExportOptions
from mgstore.io import debug_path_for
from mgstore.names import check_text
from mgstore.proto import GraphDef, MetaGraphDef, NodeDef, SaverDef
from mgstore.publish import check_output, publish
from mgstore.query import query as run_query

__all__ = ["ImportCache", "Reproduction", "export", "from_stored_bytes", "reproduce"]

_MESSAGES: dict[str, type[Message]] = {
    "meta_info_def": MetaGraphDef.MetaInfoDef,
    "graph_def": GraphDef,
    "saver_def": SaverDef,
}
_FLAGS = ("as_text", "clear_devices", "clear_extraneous_savers", "strip_default_attrs",
          "save_debug_info")  # fmt: skip


class ImportCache:
    """The latest few imported graphs of one store, by (content hash, debug hash)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._graphs: OrderedDict[tuple[str, str | None], ImportedGraph] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str | None]) -> ImportedGraph | None:
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
            return graph

    def put(self, key: tuple[str, str | None], graph: ImportedGraph) -> None:
        with self._lock:
            self._graphs[key] = graph
            while len(self._graphs) > self.size:
                self._graphs.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()


@dataclass
class _Origin:
    """What an export is of, filled in as soon as it is known (so that a failure after that
    can be recorded against it): the version's id and content, and a query result's query."""

    version_id: int | None = None
    content_hash: str | None = None
    query: dict[str, Any] | None = None


def export(
    engine: Engine,
    read_engine: Engine,
    cache: ImportCache,
    graph: object,
    filename: str | os.PathLike[str] | None,
    options: ExportOptions,
    *,
    message: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    whole: bool = False,
) -> tuple[MetaGraphDef | None, audit.ExportRecord | None]:
    """Run ``export_meta_graph(filename, graph=graph, ...)`` with ``options`` on the store in
    ``engine``, reading versions from ``read_engine`` (the same, or a read replica of it,
    docs/storage.md §12), with ``cache`` the store's imported graphs.

    Returns the message and the export's audit record (None if nothing was recorded: no
    file, or a graph from memory). With ``message=False`` the file is written without
    building the message when it can be (a full export from stored bytes). ``progress``
    hears ``("export", 0, 2)``, ``("write", 1, 2)``, ``("done", 2, 2)``. ``whole``: read
    and check the whole version even for a scoped export (a reproduction, see :func:`_run`).
    """
    started = time.monotonic()
    origin = _Origin()
    _check_outputs((engine, read_engine), filename, options)
    report = progress or (lambda stage, done, total: None)
    try:
        report("export", 0, 2)
        meta_graph, files = _run(
            read_engine,
            engine,
            cache,
            graph,
            filename,
            options,
            origin,
            message=message,
            whole=whole,
        )
        report("write", 1, 2)
        if not files or filename is None:
            return meta_graph, None
        if origin.version_id is None:  # a graph from memory: no version to record
            with published([(f.data, f.path) for f in files]):
                return meta_graph, None
        recorded = _recorded_options(graph, filename, options)
        record = db.retrying(lambda: _publish(engine, files, origin, recorded, started))
        report("done", 2, 2)
        return meta_graph, record
    except Exception as error:
        if filename and origin.version_id is not None:
            _record_failure(engine, graph, filename, options, origin, error, started)
        raise


def _check_outputs(
    engines: tuple[Engine, ...], filename: str | os.PathLike[str] | None, options: ExportOptions
) -> None:
    """Refuse, before anything is written or recorded, a file name that is the store's own
    database (or would be, as the ``.debug`` companion) or that the audit log cannot record."""
    if not filename or not isinstance(filename, (str, os.PathLike)):
        return  # no file, or a wrong type that writing reports as TensorFlow does
    name = os.fspath(filename)
    if isinstance(name, str):
        check_text(name, "the export file name")  # it goes into the audit record
    check_output(filename, *engines)
    if options.save_debug_info:
        check_output(debug_path_for(filename), *engines)


def reproduce(
    engine: Engine,
    read_engine: Engine,
    cache: ImportCache,
    record: audit.ExportRecord,
    path: str | os.PathLike[str] | None,
) -> Reproduction:
    """Export ``record``'s version again with its query and options.

    Without ``path`` nothing is written; with it, the new file is written and recorded. The
    caller compares the hashes (:func:`mgstore.audit.check_reproduction`).
    """
    audit.check_reproducible(record)
    recorded = record.options
    messages: dict[str, Message] = {}
    with db.transaction(read_engine) as conn:
        for name, cls in _MESSAGES.items():
            value = recorded.get(name)
            if isinstance(value, Mapping):
                sha = bytes.fromhex(str(value["sha256"]))
                data = versions.blobs(conn, [sha])
                if sha not in data:
                    raise NotFoundError(f"export {record.id}: its {name} blob is missing")
                messages[name] = cls.FromString(data[sha])
        row = conn.execute(select(V).where(V.c.id == record.version_id)).one()
        ref = refs.version_ref(conn, row)
        collected = lifecycle.collected_at(conn, row.id)
    if collected is not None:
        raise NotFoundError(
            f"export {record.id}: its version {ref} was deleted and garbage-collected at "
            f"{collected:%Y-%m-%d %H:%M:%S} UTC, so it cannot be exported again (the record "
            "stays, and verify still checks the file)"
        )
    options = ExportOptions.from_arguments(
        meta_info_def=messages.get("meta_info_def"),
        graph_def=messages.get("graph_def"),
        saver_def=messages.get("saver_def"),
        collection_list=recorded.get("collection_list"),
        as_text=recorded.get("as_text"),
        export_scope=recorded.get("export_scope"),
        clear_devices=recorded.get("clear_devices"),
        clear_extraneous_savers=recorded.get("clear_extraneous_savers"),
        strip_default_attrs=recorded.get("strip_default_attrs"),
        save_debug_info=recorded.get("save_debug_info"),
        **(recorded.get("kwargs") or {}),
    )
    graph: object = ref  # not the ref as the user wrote it: the version is known
    if record.query:
        filters = {k: v for k, v in record.query.items() if k not in ("ref", "content_hash")}
        graph = run_query(read_engine, ref, **filters)
    if path is not None:
        filename = os.fspath(path)
        if not filename:
            raise InputError("reproduce: the output path is empty; give a file name or none")
        _, new = export(
            engine, read_engine, cache, graph, filename, options, message=False, whole=True
        )
        assert new is not None
        return Reproduction(str(new.sha256), new.debug_sha256, new)
    _, files = _run(
        read_engine,
        engine,
        cache,
        graph,
        record.path,
        options,
        _Origin(),
        message=False,
        whole=True,
    )
    digests = [f.sha256() for f in files]
    return Reproduction(digests[0], digests[1] if len(digests) > 1 else None, None)


@dataclass(frozen=True)
class Reproduction:
    """An export made again: the hashes of its files, and its record if it was written."""

    sha256: str
    debug_sha256: str | None
    written: audit.ExportRecord | None


def _run(
    read_engine: Engine,
    engine: Engine,
    cache: ImportCache,
    graph: object,
    filename: str | os.PathLike[str] | None,
    options: ExportOptions,
    origin: _Origin,
    *,
    message: bool = True,
    whole: bool = False,
) -> tuple[MetaGraphDef | None, list[ExportFile]]:
    """The exported message and the files it makes; ``origin`` gets the version and query
    as soon as they are known (so that a failure after that can be recorded against them).
    Versions are read from ``read_engine``; import forms are kept in ``engine``. ``whole``:
    never a scoped export from the scope's rows alone, which checks only those rows
    (docs/audit.md): a reproduction reads and checks the whole version."""
    streamed = _streamed(options, message=message, filename=filename)
    scope = options.scope if scoped.applies(options) and not whole else ""
    imported = _source(
        read_engine,
        engine,
        cache,
        graph,
        origin,
        plain=options.plain,
        streamed=streamed,
        scope=scope,
    )
    if origin.query is not None:
        assert isinstance(graph, nx.MultiDiGraph)
        options = replace(options, selection=frozenset(graph.nodes))
        return _export_query_result(imported, filename, options)
    return export_imported(imported, filename, options, message=message)


def _streamed(
    options: ExportOptions, *, message: bool, filename: str | os.PathLike[str] | None
) -> bool:
    """Whether a graph whose nodes are read one at a time from stored bytes serves the export
    well (:func:`from_stored_bytes` with ``nodes``): a rebuilt export
    (docs/export-semantics.md §3.4) of the imported nodes written as bytes, which reads each node
    once and holds no message of the graph. Not where the message is built (the imported graph
    is then parsed and cached, for the next export), nor for the debug info (not read here)."""
    return (
        options.rebuilds_nodes
        and options.graph_def is None
        and not (options.save_debug_info or options.strip_default_attrs or options.as_text)
        and not message
        and bool(filename)
    )


def _export_query_result(
    imported: ImportedGraph, filename: str | os.PathLike[str] | None, options: ExportOptions
) -> tuple[MetaGraphDef | None, list[ExportFile]]:
    """A query result's export, with every reference resolved (:func:`subgraph.resolve`)
    before anything is written: refused when TensorFlow could not import it."""
    exported = build(imported, options, message=True)
    assert exported.meta_graph is not None
    meta_graph = subgraph.resolve(exported.meta_graph)
    if not filename:
        return meta_graph, []
    resolved = replace(exported, meta_graph=meta_graph, chunks=None)
    return meta_graph, export_files(resolved, filename, options, imported.debug_info)


def _source(
    read_engine: Engine,
    engine: Engine,
    cache: ImportCache,
    graph: object,
    origin: _Origin,
    *,
    plain: bool = False,
    streamed: bool = False,
    scope: str = "",
) -> ImportedGraph:
    """The imported graph to export. ``plain``: a full export without options, which a
    graph assembled from stored bytes (:func:`from_stored_bytes`) can serve; ``streamed``:
    an export that one with its nodes read from those bytes serves (:func:`_streamed`);
    ``scope``: an export that reads only that scope's nodes (:func:`mgstore.scoped.applies`)."""
    query = graph.graph.get("query") if isinstance(graph, nx.MultiDiGraph) else None
    if isinstance(graph, str):
        return _imported_version(
            read_engine,
            engine,
            cache,
            graph,
            None,
            origin,
            plain=plain,
            streamed=streamed,
            scope=scope,
        )
    if isinstance(query, dict):  # a query result: export its nodes from its version
        subgraph.check_unedited(graph)
        origin.query = query
        return _imported_version(
            read_engine, engine, cache, str(query.get("ref")), query.get("content_hash"), origin
        )
    return import_meta_graph(*in_memory_graph(graph))


def _imported_version(
    read_engine: Engine,
    engine: Engine,
    cache: ImportCache,
    ref: str,
    content_hash: object,
    origin: _Origin,
    *,
    plain: bool = False,
    streamed: bool = False,
    scope: str = "",
) -> ImportedGraph:
    """The imported form of the version ``ref`` names, from the cache or from its bytes.

    ``content_hash``, if given, must be the version's (a query result names its version).
    ``plain``: the caller only needs the as-imported export's bytes; ``streamed``: it reads
    each node once (see :func:`from_stored_bytes`). Such a graph is not cached: it holds the
    version's bytes, and a later export would parse its nodes again. ``scope``: the caller
    only needs the nodes a rebuilt export under that scope keeps: read alone where the
    version's import form is stored and its imported graph not cached
    (:func:`mgstore.scoped.scoped_import`; never cached itself).
    """
    with db.transaction(read_engine) as conn:
        row = refs.resolve(conn, ref)
        if content_hash is not None and row.content_hash != content_hash:
            raise InputError(
                f"the query result came from {ref} with content {content_hash}, but {ref} in "
                f"this store has content {row.content_hash}: query this store again"
            )
        origin.version_id, origin.content_hash = row.id, row.content_hash
        key = (row.content_hash, row.debug_hash)
        stored_form = versions.import_form(conn, row, FORM_VERSION)
        cached = cache.get(key)
        shortcut = _shortcut(
            conn, row, stored_form, cached, plain=plain, streamed=streamed, scope=scope
        )
        if shortcut is not None:
            return shortcut
        if cached is not None:
            return cached
        form = _form(stored_form)
        data, debug = versions.version_bytes(conn, row)
        meta_graph = MetaGraphDef.FromString(data)
        derived = assembled = None
        if form is None:  # none stored: derived from another version's form if it can be
            form = derived = forms.derived(conn, row, meta_graph, data)
            sizes = read_order(conn, row)[2::3]  # the frames' sizes, to cut ``data`` by
            if form is not None and plain:
                assembled = _from_content(data, meta_graph, sizes, form, row.size)
    if derived is not None:
        _keep(engine, row.content_hash, derived)
        if assembled is not None:
            return assembled
    if form is not None:
        imported = import_with_form(meta_graph, form, debug, row.size)
    else:  # computed in full, and kept; a full export then assembled from ``data`` too
        imported = import_meta_graph(meta_graph, debug)
        if imported.form is not None:  # a full import always makes one
            _keep(engine, row.content_hash, imported.form)
            if plain:
                assembled = _from_content(
                    data, meta_graph, sizes, imported.form, row.size, imported.collections
                )
    cache.put(key, imported)
    return imported if assembled is None else assembled


def _shortcut(
    conn: Connection,
    row: Row[Any],
    stored_form: bytes | None,
    cached: ImportedGraph | None,
    *,
    plain: bool,
    streamed: bool,
    scope: str,
) -> ImportedGraph | None:
    """What serves the export without parsing the whole imported graph, if anything (see
    :func:`_imported_version`), unless the ``cached`` graph serves it better: a scoped export
    from the scope's rows alone, unless the graph is cached (parsed already); a full export
    without options assembled from stored bytes (:func:`from_stored_bytes`), unless the cached
    graph has its as-imported bytes already (serialising 80,000 nodes takes longer); a rebuilt
    one with its nodes read one at a time from those bytes, unless the graph is cached.
    None: from the whole imported graph."""
    if not stored_form:
        return None
    if scope and cached is None:
        found = scoped.scoped_import(conn, row, stored_form, scope)
        if found is not None:
            return found
    as_imported = plain and (cached is None or cached.derived.graph_def is None)
    if not (as_imported or (streamed and cached is None)):
        return None
    form = _form(stored_form)
    return None if form is None else from_stored_bytes(conn, row, form, not as_imported)


def from_stored_bytes(
    conn: Connection, row: Row[Any], form: ImportForm, nodes: bool = False
) -> ImportedGraph | None:
    """The imported graph of a version as a full export without options needs it, from stored bytes:
    the as-imported export's GraphDef as slices of the packs (reordered and patched by the stored
    ``form``), and the graph-level parts; no node is parsed. None where the nodes themselves are
    needed: the as-imported export rewrites some inputs, or a call op's ``f`` attr names the
    functions whose ops ``stripped_op_list`` lists.

    ``nodes``: the nodes too, parsed one at a time from those slices as they are read
    (:class:`~mgstore.export.framed_nodes.FramedNodes`): what an export that rebuilds each
    node needs (docs/export-semantics.md §3.4), in about the file's bytes; any form serves.
    """
    if not nodes and (form.rewritten_inputs or CALL_OPS.intersection(form.ops)):
        return None
    # The frame is checked with the whole content, by body_chunks below.
    frame = MetaGraphDef.FromString(versions.assemble(conn, row, b"", check_frame=False))
    chunks = versions.body_chunks(conn, row, form.order, form.nodes)
    return _assembled(frame, chunks, form, row.size, nodes=nodes)


def _from_content(
    data: bytes,
    meta_graph: MetaGraphDef,
    sizes: Sequence[int],
    form: ImportForm,
    size: int,
    collections: Mapping[str, nz.RestoredCollection] | None = None,
) -> ImportedGraph | None:
    """:func:`from_stored_bytes` from the version's content ``data`` (read and checked
    already; ``meta_graph`` parsed from it, its nodes of these framed ``sizes``) and a form
    that keeps the stored order: the nodes' bytes are slices of ``data``. ``collections``:
    ``meta_graph``'s, restored already (an import of it has them)."""
    if form.order is not None or form.rewritten_inputs or CALL_OPS.intersection(form.ops):
        return None
    graph = [(start, end) for number, start, end in byte_layout.fields(data) or () if number == 2]
    if len(graph) != 1:
        return None
    starts = list(accumulate(sizes, initial=graph[0][0]))
    if starts[-1] > graph[0][1]:
        return None
    view = memoryview(data)
    chunks: list[bytes | memoryview] = []
    at = starts[0]
    for pos, patch in sorted(form.nodes.items()):
        chunks += (view[at : starts[pos]], byte_layout.frame_head(len(patch)), patch)
        at = starts[pos + 1]
    chunks.append(view[at : starts[-1]])
    return _assembled(meta_graph, chunks, form, size, collections)


def _assembled(
    frame: MetaGraphDef,
    chunks: list[bytes | memoryview],
    form: ImportForm,
    size: int,
    collections: Mapping[str, nz.RestoredCollection] | None = None,
    *,
    nodes: bool = False,
) -> ImportedGraph:
    """The imported graph whose nodes' frames are ``chunks`` and the graph-level parts of
    ``frame`` (a version's MetaGraphDef, its nodes aside; its ``collections`` restored, if
    given): its as-imported GraphDef's, or with ``nodes`` its nodes, read one at a time for
    the one export the graph serves (:class:`FramedNodes` with ``release``: not cached)."""
    graph_def = frame.graph_def
    rebuilt_library = nz.rebuilt_library(
        graph_def.library if graph_def.HasField("library") else None
    )
    merged, as_imported_library = graph_level(graph_def, rebuilt_library)
    rest = GraphDef()
    if as_imported_library is not None:
        rest.library.CopyFrom(as_imported_library)
    rest.versions.CopyFrom(merged)
    framed = FramedNodes(chunks[:], release=True) if nodes else ()
    chunks.append(rest.SerializeToString(deterministic=True))
    rest.node.extend(NodeDef(op=op) for op in form.ops)
    return ImportedGraph(
        nodes=framed,
        size=size,
        rewritten_inputs=form.rewritten_inputs,
        versions=rest.versions,
        as_imported_library=as_imported_library,
        rebuilt_library=rebuilt_library,
        collections=nz.restore_collections(
            frame.collection_def, frame.meta_info_def.tensorflow_version
        )
        if collections is None
        else collections,
        form=form,
        derived=Derived(graph_def=None if nodes else (chunks, stripped_op_list_for(rest))),
    )


def _form(data: bytes | None) -> ImportForm | None:
    if data is None:
        return None
    try:
        return ImportForm.from_bytes(data)
    except (ValueError, KeyError, TypeError, zlib.error):
        return None  # unreadable: computed again (and replaced) below


def _keep(engine: Engine, content_hash: str, form: ImportForm) -> None:
    """Store the import form for later exports; a cache, so a failure only costs speed."""
    data = form.to_bytes()
    try:
        with db.transaction(engine, write=True) as conn:
            forms.keep(conn, content_hash, data, replace=True)
    except MgstoreError:
        pass  # e.g. a read-only database or a concurrent export that stored it first


def _publish(
    engine: Engine,
    files: list[ExportFile],
    origin: _Origin,
    options: tuple[dict[str, Any], list[tuple[bytes, bytes]]],
    started: float,
) -> audit.ExportRecord:
    """Put the files in place and record them, together: if either fails, neither happens,
    even if the process dies half-way (see :mod:`mgstore.publish`)."""
    recorded, blobs = options
    digests = [f.sha256() for f in files]

    def record(conn: Connection) -> audit.ExportRecord:
        _check_primary(conn, origin)
        insert_blobs(conn, blobs)
        return audit.record_export(
            conn,
            version_id=origin.version_id,
            query=origin.query,
            options=recorded,
            path=os.path.abspath(files[0].path),
            sha256=digests[0],
            size=files[0].size(),
            debug_path=os.path.abspath(files[1].path) if len(files) > 1 else None,
            debug_sha256=digests[1] if len(files) > 1 else None,
            duration=time.monotonic() - started,
        )

    return publish(
        engine,
        [(f.data, f.path, sha) for f, sha in zip(files, digests, strict=True)],
        record,
    )


def _check_primary(conn: Connection, origin: _Origin) -> None:
    """Refuse to record, on the primary, an export of a version read from a replica that is
    not the primary's version of that id (docs/storage.md §12): the replica is another
    database, or behind a change the primary has (a collected version)."""
    found = conn.execute(select(V.c.content_hash).where(V.c.id == origin.version_id)).scalar()
    if found != origin.content_hash:
        raise StoreError(
            f"the version this export read (id {origin.version_id}, content "
            f"{origin.content_hash}) is not that version on the primary database: the "
            "read replica is not a copy of it; nothing was recorded"
        )


def _record_failure(
    engine: Engine,
    graph: object,
    filename: str | os.PathLike[str],
    options: ExportOptions,
    origin: _Origin,
    error: Exception,
    started: float,
) -> None:
    """Record a failed export (best effort: the export's own error is what the caller sees)."""
    try:
        recorded, _ = _recorded_options(graph, filename, options)
        with db.transaction(engine, write=True) as conn:
            _check_primary(conn, origin)
            audit.record_export(
                conn, version_id=origin.version_id, query=origin.query, options=recorded,
                path=os.path.abspath(os.fspath(filename)), sha256=None, size=None,
                duration=time.monotonic() - started, status="failed", error=error,
            )  # fmt: skip
    except Exception:  # noqa: BLE001 - never hide the export's error behind the log's
        pass


def _recorded_options(
    graph: object, filename: str | os.PathLike[str], options: ExportOptions
) -> tuple[dict[str, Any], list[tuple[bytes, bytes]]]:
    """Every option of an export as JSON values, and the blobs its messages are kept in."""
    recorded: dict[str, Any] = {"filename": os.fspath(filename)}
    if isinstance(graph, str):
        recorded["ref"] = graph  # as written: resnet@production, resnet~1...
    blobs: list[tuple[bytes, bytes]] = []
    messages = (("meta_info_def", options.meta_info_def), ("graph_def", options.graph_def),
                ("saver_def", options.saver_def))  # fmt: skip
    for name, value in messages:
        if value is None:
            recorded[name] = None
            continue
        data = value.SerializeToString(deterministic=True)
        sha = hashlib.sha256(data).digest()
        blobs.append((sha, data))
        recorded[name] = {"message": value.DESCRIPTOR.full_name, "sha256": sha.hex()}
    collection_list = options.collection_list
    recorded["collection_list"] = None if collection_list is None else [
        k if isinstance(k, str) else repr(k) for k in collection_list
    ]  # fmt: skip
    recorded["export_scope"] = options.export_scope
    recorded.update((flag, bool(getattr(options, flag))) for flag in _FLAGS)
    if options.unbound_inputs_col_name != UNBOUND_INPUTS:
        recorded["kwargs"] = {"unbound_inputs_col_name": options.unbound_inputs_col_name}
    return recorded, blobs

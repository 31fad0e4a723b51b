"""``Store``: named graphs kept as immutable, numbered versions in SQL.

Refs name versions: ``name`` (the latest), ``name@N``, or a unique prefix (at least 4 hex
digits) of a version's content hash. See :mod:`mgstore.db.models` for how versions are stored.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select

from mgstore import lazy, names, publish
from mgstore import original as original_forms
from mgstore.db import catalog, lifecycle, refs, versions
from mgstore.db import engine as db
from mgstore.db.tables import VERSIONS as V
from mgstore.entities import (
    AliasInfo,
    AliasMove,
    FsckReport,
    GcReport,
    GraphInfo,
    Outline,
    Summary,
    VersionInfo,
)
from mgstore.errors import (
    ArgumentTypeError,
    InputError,
    MgstoreError,
)

# What reading the log does not need is imported when first used (see mgstore.lazy).
if TYPE_CHECKING:
    import networkx as nx

    from mgstore import atomic, audit, byte_layout, io, proto
    from mgstore import diff as _diff
    from mgstore import exporter as _exporter
    from mgstore import fsck as _fsck
    from mgstore import graph as nxgraph
    from mgstore import hints as _hints
    from mgstore import outline as _outline
    from mgstore import query as _query
    from mgstore.db import changes, migrate
    from mgstore.db import gc as garbage
    from mgstore.db import write as _write
    from mgstore.export import options as _options
    from mgstore.subgraph import QueryResult
else:
    nx = lazy.module("networkx")
    atomic, audit, io, byte_layout = (
        lazy.module(f"mgstore.{name}") for name in ("atomic", "audit", "io", "byte_layout")
    )
    _exporter, _fsck = lazy.module("mgstore.exporter"), lazy.module("mgstore.fsck")
    nxgraph, _hints = lazy.module("mgstore.graph"), lazy.module("mgstore.hints")
    _query = lazy.module("mgstore.query")
    changes, migrate = lazy.module("mgstore.db.changes"), lazy.module("mgstore.db.migrate")
    garbage, _write = lazy.module("mgstore.db.gc"), lazy.module("mgstore.db.write")
    _options = lazy.module("mgstore.export.options")
    _diff, _outline, proto = (lazy.module(f"mgstore.{m}") for m in ("diff", "outline", "proto"))

Progress = Callable[[str, int, int], None]
_CACHE_LOCK = threading.Lock()
_CHUNK = 500


class Store:
    """A versioned graph store in one SQL database (SQLite by default, or PostgreSQL).

    ``url`` is an SQLAlchemy URL; without it, ``$MGSTORE_DB``, else ``sqlite:///mgstore.db`` in
    the working directory. A new SQLite database is created at the current schema when
    ``create`` (the default); with ``create=False`` a store that does not exist yet raises
    NotFoundError instead (what read-only commands want). One at an older schema raises
    SchemaError (run ``mgstore db upgrade``).

    ``read_url`` (default ``$MGSTORE_READ_DB``; none: the primary serves everything) names a
    read-only copy of the database, a replica: queries, checkouts, exports and verify read
    the versions and records there, while every write (ingests, lifecycle changes) and every
    audit record (an export's too) goes to the primary at ``url``. The replica must exist and
    be at the current schema; it is never written. See docs/storage.md §12.
    """

    #: The audit record of this object's latest recorded export (None before the first); with
    #: exports running in several threads, use the record :meth:`export` returns instead.
    last_export: audit.ExportRecord | None = None

    def __init__(
        self, url: str | None = None, *, create: bool = True, read_url: str | None = None
    ) -> None:
        self.url = db.resolve_url(url)
        if not create:
            db.require_existing(self.url)
        self.engine = db.create(self.url)
        #: Where reads go (docs/storage.md §12): a replica's engine, else the primary's.
        self.read_engine = self.engine
        self.read_url = db.resolve_read_url(read_url, self.url)
        try:
            migrate.ensure(self.engine, create=create)
            if self.read_url is not None:
                db.require_existing(self.read_url)  # a replica is never created
                self.read_engine = db.create(self.read_url)
                migrate.ensure(self.read_engine, create=False)
        except BaseException:
            self.close()
            raise
        self._settle_interrupted_exports()

    @property
    def import_cache(self) -> _exporter.ImportCache:
        """The imported graphs of this store's recent exports (made on first use: the
        exporter's modules are imported only by a process that exports)."""
        with _CACHE_LOCK:
            cache: _exporter.ImportCache | None = self.__dict__.get("_import_cache")
            if cache is None:
                cache = self.__dict__["_import_cache"] = _exporter.ImportCache()
        return cache

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({db.display_url(self.engine.url)!r})"

    def check_output(self, path: str | os.PathLike[str]) -> None:
        """Refuse an output path that is this store's own database file (or SQLite's
        ``-wal``, ``-shm`` or ``-journal`` beside it), however it is named: UnsafePathError.
        Every method that writes files checks its paths with this before writing."""
        publish.check_output(path, self.engine, self.read_engine)

    # ----------------------------------------------------------------------------------------
    # Writing

    def ingest(
        self,
        source: object,
        name: str,
        message: str | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        saved_model_tags: Iterable[str] | None = None,
        progress: Progress | None = None,
        allow_unchanged: bool = False,
        prepare_export: bool = False,
    ) -> VersionInfo:
        """Store ``source`` as the next version of ``name`` and return that version.

        ``source`` is a path, bytes or message (anything :func:`mgstore.io.load` reads; pick a
        SavedModel's MetaGraphDef with ``saved_model_tags``); a networkx graph in the form of
        :mod:`mgstore.graph` works too. If the content equals the latest version of ``name``,
        that version is returned with ``unchanged=True`` and nothing is added, unless
        ``allow_unchanged``. The whole ingest, with its record in the audit log, is one
        transaction.

        ``prepare_export``: once the version is committed, also compute how TensorFlow's import
        changes it, so that its first export costs what a later one does; the ingest then
        takes about as long again as the first export would have (docs/storage.md §6).

        ``progress(stage, done, total)`` hears ``("read", 0, 1)``, then ``("write", nodes,
        total)`` as nodes go to the database (inside the transaction: keep it quick), then
        ``("done", 1, 1)``.
        """
        names.check_graph_name(name)
        names.check_message(message)
        tag_map = names.check_tags(tags)
        report = progress or (lambda stage, done, total: None)
        report("read", 0, 1)
        # Rows are cut from the MetaGraphDef itself: the networkx form is another view of it,
        # and building one here only to discard it would double the ingest time.
        loaded = None
        if isinstance(source, nx.MultiDiGraph):
            meta, debug = nxgraph.from_networkx(source), source.graph.get("debug_info")
        else:
            if isinstance(source, (str, os.PathLike)):
                names.check_text(os.fsdecode(source), "the source path")  # it is recorded
            loaded = io.load(source, tags=saved_model_tags)
            meta, debug = loaded.meta_graph, loaded.debug_info
        _check_decodable(meta, debug, loaded)
        stored = byte_layout.split(meta, debug)
        version_id, unchanged = db.retrying(
            lambda: _write.write_version(
                self.engine,
                name,
                stored,
                message,
                tag_map,
                loaded,
                lambda done, total: report("write", done, total),
                allow_unchanged=bool(allow_unchanged),
                prepare_export=bool(prepare_export),
                recorded=audit.record_ingest,
            )
        )
        report("done", 1, 1)
        with db.transaction(self.engine) as conn:
            info = self._version_info(conn, _version_row(conn, version_id))
        return replace(info, unchanged=True) if unchanged else info

    # ----------------------------------------------------------------------------------------
    # Reading

    def checkout(self, ref: str) -> Any:
        """The MetaGraphDef of a version, exactly as ingested (a GraphDef or SavedModel
        that went in is the MetaGraphDef that was stored of it)."""
        data, _ = self._read(ref)
        return proto.MetaGraphDef.FromString(data)

    def checkout_bytes(self, ref: str, *, form: str | None = None, as_text: bool = False) -> bytes:
        """The version's file: byte for byte what was ingested, in the form it came from
        (``VersionInfo.form``). ``form`` converts: one of ``meta``, ``meta-text``, ``graphdef``,
        ``graphdef-text``, ``saved-model``, ``saved-model-text``, written canonically
        (deterministic binary, or TensorFlow's text format); the version's own form gives back
        the original bytes. ``as_text``: the text form of the version's kind (``meta-text`` for
        a ``meta``...). See docs/storage.md §10."""
        return self._checkout(ref, form, as_text, debug=False)[0]

    def _checkout(
        self, ref: str, form: str | None, as_text: bool, *, debug: bool
    ) -> tuple[bytes, Any | None, bool]:
        """A version's file bytes in the form asked for, its debug info (if ``debug``), and
        whether that form is text; one read transaction, every byte checked."""
        if form is not None:
            form = original_forms.check_form(form)
            if as_text and not original_forms.is_text(form):
                raise InputError(f"as_text asks for a text form; form={form!r} is binary")
        with db.transaction(self.read_engine) as conn:
            row = self._resolve(conn, ref)
            content, info = versions.version_bytes(conn, row, debug=debug)
            if form is None and as_text and not original_forms.is_text(row.form):
                form = f"{row.form}-text"
            data = versions.form_bytes(conn, row, content, form)
        return data, info, original_forms.is_text(form or row.form)

    def debug_info(self, ref: str) -> Any | None:
        """The GraphDebugInfo stored with a version (from the ``.debug`` companion), or None."""
        return self._read(ref, graph=False)[1]

    def checkout_files(
        self,
        ref: str,
        path: str | os.PathLike[str],
        *,
        form: str | None = None,
        as_text: bool = False,
        debug: bool = True,
    ) -> list[Path]:
        """Write a version's file to ``path`` (byte for byte what was ingested, or converted
        to ``form``: see :meth:`checkout_bytes`), and its debug info (if stored and ``debug``)
        to ``<stem>.debug`` beside it, as TensorFlow names it (in text format when the file
        is text); the paths written.

        Both come from one read of the version, every byte checked against the hashes
        recorded at ingest before anything is written; both files are written atomically.
        """
        debug_path = io.debug_path_for(path)
        self.check_output(path)
        if debug:
            self.check_output(debug_path)
        if debug and os.path.abspath(debug_path) == os.path.abspath(path):
            raise InputError(
                f"{path}: the graph would be overwritten by its own debug info "
                f"({debug_path}); choose another name or leave the debug info out"
            )
        data, info, text = self._checkout(ref, form, as_text, debug=debug)
        written = [atomic.write_bytes(data, path)]
        if info is not None:
            written.append(atomic.write_message(info, debug_path, as_text=text))
        return written

    def graph(self, ref: str) -> nx.MultiDiGraph:
        """The version as a networkx graph (see :mod:`mgstore.graph`)."""
        data, debug = self._read(ref)
        return nxgraph.to_networkx(proto.MetaGraphDef.FromString(data), debug)

    def _read(
        self, ref: str, *, graph: bool = True, debug: bool = True
    ) -> tuple[bytes, Any | None]:
        """A version's MetaGraphDef bytes and debug info, read in one transaction."""
        with db.transaction(self.read_engine) as conn:
            return versions.version_bytes(conn, self._resolve(conn, ref), graph=graph, debug=debug)

    def graphs(self, *, tags: Mapping[str, str] | None = None) -> list[GraphInfo]:
        """Every named graph with a version that is not deleted, by name; with ``tags``, only
        graphs with a (live) version that has all of them."""
        checked = names.check_tags(tags) if tags else None
        with db.transaction(self.engine) as conn:
            return catalog.graph_infos(conn, checked)

    def versions(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        limit: int | None = None,
        deleted: bool = False,
    ) -> list[VersionInfo]:
        """The log of a graph: its versions, newest first. ``tags``: only versions with all of
        these tags; ``limit``: at most this many; ``deleted``: deleted versions too (their
        ``deleted_at`` says so)."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InputError(f"a limit is a whole number >= 0; got {limit!r}")
        checked = names.check_tags(tags) if tags else None
        with db.transaction(self.engine) as conn:
            graph_id = self._graph_id(conn, name)
            rows = catalog.version_rows(conn, graph_id, tags=checked, limit=limit, deleted=deleted)
            infos = [versions.version_info(conn, r, name) for r in rows]
            # Checked against the chain with one look-up for all of them.
            audit.check_versions(
                conn, rows, name, {r.id: i.tags for r, i in zip(rows, infos, strict=True)}
            )
            return infos

    def version(self, ref: str) -> VersionInfo:
        """The version a ref names."""
        with db.transaction(self.engine) as conn:
            return self._version_info(conn, self._resolve(conn, ref))

    def summary(self, ref: str) -> Summary:
        """Node and op counts, top-level scopes, devices, collections, signatures of a version."""
        with db.transaction(self.engine) as conn:
            row = self._resolve(conn, ref)
            return catalog.summary(conn, row, self._version_info(conn, row))

    def query(
        self,
        ref: str,
        scope: str | None = None,
        collection: str | Sequence[str] | None = None,
        op_type: str | Sequence[str] | None = None,
        device: str | Sequence[str] | None = None,
        name_regex: str | None = None,
        closure: str | None = None,
        depth: int | None = None,
        strict_scope: bool = False,
    ) -> QueryResult:
        """The subgraph of a version whose nodes pass every filter, run in SQL (see
        :func:`mgstore.query.query`)."""
        return _query.query(
            self.read_engine,
            ref,
            scope=scope,
            collection=collection,
            op_type=op_type,
            device=device,
            name_regex=name_regex,
            closure=closure,
            depth=depth,
            strict_scope=strict_scope,
        )

    def export_meta_graph(
        self,
        filename: str | os.PathLike[str] | None = None,
        meta_info_def: Any = None,
        graph_def: Any = None,
        saver_def: Any = None,
        collection_list: Iterable[str] | None = None,
        as_text: bool = False,
        graph: str | nx.MultiDiGraph | Any = None,
        export_scope: str | None = None,
        clear_devices: bool = False,
        clear_extraneous_savers: bool = False,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
        **kwargs: Any,
    ) -> Any:
        """``tf.compat.v1.train.export_meta_graph`` of TensorFlow 2.21 on a stored version.

        ``graph`` is a ref (or a query result, a networkx graph or a MetaGraphDef); the other
        parameters mean what they mean in TensorFlow, and the result is what TensorFlow
        returns after importing the version into a fresh graph and exporting it so.
        ``filename`` (and with ``save_debug_info`` its ``.debug`` companion) is written
        atomically. See :func:`mgstore.export_meta_graph`.
        """
        options = _options.ExportOptions.from_arguments(
            meta_info_def, graph_def, saver_def, collection_list, as_text, export_scope,
            clear_devices, clear_extraneous_savers, strip_default_attrs, save_debug_info,
            **kwargs,
        )  # fmt: skip
        meta_graph, record = _exporter.export(
            self.engine, self.read_engine, self.import_cache, graph, filename, options
        )
        if record is not None:
            self.last_export = record
        return meta_graph

    def export(
        self,
        filename: str | os.PathLike[str],
        graph: str | nx.MultiDiGraph,
        *,
        meta_info_def: Any = None,
        graph_def: Any = None,
        saver_def: Any = None,
        collection_list: Iterable[str] | None = None,
        as_text: bool = False,
        export_scope: str | None = None,
        clear_devices: bool = False,
        clear_extraneous_savers: bool = False,
        strip_default_attrs: bool = False,
        save_debug_info: bool = False,
        progress: Progress | None = None,
        **kwargs: Any,
    ) -> audit.ExportRecord:
        """Write :meth:`export_meta_graph`'s file for a stored version (a ref or a query
        result) and return its audit record instead of the message.

        Same arguments, same bytes; but the message is not built where it need not be (a
        full export is written from stored bytes), which saves time and memory on large
        graphs. The command line's ``export`` runs this. ``progress(stage, done, total)``
        hears ``("export", 0, 2)``, ``("write", 1, 2)`` and ``("done", 2, 2)``.
        """
        if not isinstance(graph, (str, nx.MultiDiGraph)) or (
            isinstance(graph, nx.MultiDiGraph) and "query" not in graph.graph
        ):
            raise ArgumentTypeError(
                "export() writes and records a stored version: pass a ref or a query result "
                "(export_meta_graph also takes graphs in memory)"
            )
        if not filename:
            raise InputError("export() needs a filename (export_meta_graph returns the message)")
        options = _options.ExportOptions.from_arguments(
            meta_info_def, graph_def, saver_def, collection_list, as_text, export_scope,
            clear_devices, clear_extraneous_savers, strip_default_attrs, save_debug_info,
            **kwargs,
        )  # fmt: skip
        record = _exporter.export(
            self.engine, self.read_engine, self.import_cache, graph, filename, options,
            message=False, progress=progress,
        )[1]  # fmt: skip
        assert record is not None  # a stored version with a filename is always recorded
        self.last_export = record
        return record

    def saver_def(self, ref: str) -> Any | None:
        """The SaverDef stored with a version, or None (e.g. to keep that saver on export)."""
        meta = self.checkout(ref)
        return meta.saver_def if meta.HasField("saver_def") else None

    # ----------------------------------------------------------------------------------------
    # The audit log of exports (see mgstore.audit)

    def exports(
        self,
        graph: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        user: str | None = None,
        limit: int | None = None,
    ) -> list[audit.ExportRecord]:
        """The recorded exports, newest first, failed ones included; filters combine;
        ``limit``: at most this many."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InputError(f"a limit is a whole number >= 0; got {limit!r}")
        with db.transaction(self.engine) as conn:
            records = audit.exports(conn, graph=graph, since=since, until=until, user=user)
        return records if limit is None else records[:limit]

    def export_record(self, export_id: str) -> audit.ExportRecord:
        """One recorded export, by id (or a unique prefix of at least 4 hex digits)."""
        with db.transaction(self.engine) as conn:
            return audit.export(conn, export_id)

    def verify(
        self, export_id: str | None = None, *, progress: Progress | None = None
    ) -> list[audit.Verification]:
        """Whether each recorded file (of one export, or all) still has its bytes: ok,
        missing, modified or unreadable; or superseded by a later export to the same path
        (which is checked instead). ``progress(stage, done, total)`` hears ``("verify",
        records done, records)`` and ``("done", n, n)``."""
        with db.transaction(self.read_engine) as conn:
            records, latest = audit.to_verify(conn, export_id)
        return audit.verify_files(records, latest, progress)

    def reproduce(
        self, export_id: str, path: str | os.PathLike[str] | None = None
    ) -> audit.ExportRecord:
        """Export a recorded export again (same version, query, options) and check that the
        bytes are the same; ReproductionError shows both hashes if not. With ``path`` the
        new file is written (and recorded) and its record returned."""
        record = self.export_record(export_id)
        again = _exporter.reproduce(self.engine, self.read_engine, self.import_cache, record, path)
        if again.written is not None:
            self.last_export = again.written
        audit.check_reproduction(record, again.sha256, again.debug_sha256)
        return again.written or record

    def which(self, path: str | os.PathLike[str]) -> list[audit.Provenance]:
        """The recorded exports that wrote these bytes (by SHA-256, wherever the file is now),
        newest first, with the version and its ingest source."""
        with db.transaction(self.engine) as conn:
            return audit.which(conn, path)

    def audit_check(self, expect: str | None = None) -> audit.ChainReport:
        """Check the audit log's hash chain (altered, removed, reordered or inserted records;
        with ``expect``, a head hash written down earlier, a rewrite of the whole chain) and
        the store against it (edited version rows, tags, export rows; records naming what
        does not exist)."""
        with db.transaction(self.engine) as conn:
            return audit.check_chain(conn, expect=expect)

    def audit_head(self) -> str:
        """The hash of the audit log's last record (write it down to ``audit_check`` later)."""
        with db.transaction(self.engine) as conn:
            return audit.head(conn)[1]

    def audit_log(self, kind: str | None = None) -> list[audit.AuditEvent]:
        """The records of every change to the store, oldest first (optionally one ``kind``:
        ``ingest``, ``export``, ``tag``...)."""
        with db.transaction(self.engine) as conn:
            return audit.events(conn, kind)

    def fsck(self, refs: Iterable[str] | None = None, *, deep: bool = False) -> FsckReport:
        """Check stored versions end to end (all, or those ``refs`` name) and the audit log;
        ``deep`` also recomputes each stored import form. See :mod:`mgstore.fsck`."""
        return _fsck.fsck(self.engine, None if refs is None else list(refs), deep=deep)

    def recover(self) -> publish.RecoveryReport:
        """Settle exports that a crash (``kill -9``, power loss) interrupted: each target gets
        back its previous file, or keeps the new one if its record committed, and no temporary
        file stays. Exports still running elsewhere are left alone. Opening a Store does this
        too, quietly; see docs/durability.md."""
        return publish.recover(self.engine)

    def _settle_interrupted_exports(self) -> None:
        """:meth:`recover` when the journal is not empty, without failing the open (a
        read-only role cannot settle anything: the next writer will)."""
        try:
            if publish.pending(self.engine):
                publish.recover(self.engine)
        except MgstoreError:
            pass

    def diff(self, a: str, b: str, *, scope: str | None = None) -> _diff.Diff:
        """What changed from version ``a`` to version ``b`` (refs; any two graphs).

        Nodes added, removed and changed (op, device, inputs, attrs), counted per scope, and
        renamed scopes; with no ``scope``, the graph level too (collections, saver,
        signatures, assets, function library, versions, meta_info_def). Nodes are matched
        by their stored content hashes, so only the nodes that differ are read and parsed.
        ``scope`` keeps the nodes at or under that name scope (graph level left out).
        """
        if scope is not None and (not isinstance(scope, str) or not scope.strip("/")):
            raise InputError(f"a diff scope is a non-empty name scope; got {scope!r}")
        scope = scope.strip("/") if scope else None
        with db.transaction(self.engine) as conn:
            row_a, row_b = self._resolve(conn, a), self._resolve(conn, b)
            info_a, info_b = self._version_info(conn, row_a), self._version_info(conn, row_b)
            if row_a.content_hash == row_b.content_hash and (
                scope is not None or row_a.debug_hash == row_b.debug_hash
            ):
                return _diff.Diff(info_a, info_b, scope)
            only_a, only_b = changes.differing_rows(conn, row_a, row_b, scope)
            decoded = changes.node_defs(conn, [*only_a.values(), *only_b.values()])
            frames = None if scope else (changes.frame(conn, row_a), changes.frame(conn, row_b))
        old = {name: decoded[i] for name, i in only_a.items()}
        new = {name: decoded[i] for name, i in only_b.items()}
        return _diff.compare(info_a, info_b, scope, old, new, frames)

    def unmatched_filters(
        self,
        ref: str,
        *,
        scope: str | None = None,
        strict_scope: bool = False,
        collection: Sequence[str] = (),
        op_type: Sequence[str] = (),
        device: Sequence[str] = (),
        export_scope: str | None = None,
        collection_list: Sequence[str] = (),
    ) -> list[str]:
        """Notes on the filters that match nothing in version ``ref``, with the nearest
        existing names ("no op type 'Matmul' in this version; did you mean 'MatMul'?").

        ``filters``: ``scope``, ``strict_scope``, ``collection``, ``op_type``, ``device`` (a
        query's) and ``export_scope``, ``collection_list`` (an export's); see
        :mod:`mgstore.hints`. Empty when every filter matches something.
        """
        with db.transaction(self.read_engine) as conn:
            return _hints.unmatched(
                conn, self._resolve(conn, ref), scope=scope, strict_scope=strict_scope,
                collection=collection, op_type=op_type, device=device,
                export_scope=export_scope, collection_list=collection_list,
            )  # fmt: skip

    def scopes(self, ref: str, depth: int | None = None) -> list[tuple[str, int]]:
        """The name-scope tree of a version with node counts (see :func:`mgstore.query.scopes`)."""
        return _query.scopes(self.read_engine, ref, depth)

    def outline(self, ref: str) -> Outline:
        """Node names, ops, devices, edges and collection members of a version, without its
        NodeDefs: what pictures and node lists need (see :class:`mgstore.entities.Outline`)."""
        with db.transaction(self.engine) as conn:
            row = self._resolve(conn, ref)
            return _outline.read_outline(conn, row, self._version_info(conn, row))

    # ----------------------------------------------------------------------------------------
    # Lifecycle: aliases, tags, deletion, garbage collection (see mgstore.db.lifecycle)

    def set_alias(self, name: str, alias: str, ref: str) -> AliasInfo:
        """Point ``name@alias`` at the version ``ref`` names (a ref of graph ``name``, or
        just a version number or ``latest``), creating or moving the alias; recorded."""
        lifecycle.check_alias(alias)
        bare = isinstance(ref, str) and (ref.isdigit() or ref == refs.LATEST)
        target = f"{name}@{ref}" if bare else ref

        def change() -> AliasInfo:
            with db.transaction(self.engine, write=True) as conn:
                row = self._resolve(conn, target)
                if row.graph_id != self._graph_id(conn, name):
                    raise InputError(
                        f"{ref!r} is a version of {self._graph_name(conn, row.graph_id)!r}, "
                        f"not of {name!r}: an alias names a version of its own graph"
                    )
                return lifecycle.set_alias(conn, row, alias)

        return db.retrying(change)

    def remove_alias(self, name: str, alias: str) -> AliasMove:
        """Remove the alias ``name@alias``; the removal (recorded) is returned."""
        with db.transaction(self.engine, write=True) as conn:
            return lifecycle.remove_alias(conn, name, alias)

    def aliases(self, name: str | None = None) -> list[AliasInfo]:
        """The aliases of one graph, or of all, by graph and alias."""
        with db.transaction(self.engine) as conn:
            return lifecycle.aliases(conn, name)

    def alias_log(self, name: str) -> list[AliasMove]:
        """Every move of the graph's aliases (set, moved, removed), oldest first, with user
        and time."""
        with db.transaction(self.engine) as conn:
            return lifecycle.alias_log(conn, name)

    def tag(
        self, ref: str, tags: Mapping[str, str] | None = None, *, remove: Iterable[str] = ()
    ) -> VersionInfo:
        """Set ``tags`` on a version and remove the tags named in ``remove``; the change
        (old and new values) is recorded. The version, as it is now."""
        values = names.check_tags(tags)
        removed = [remove] if isinstance(remove, str) else list(remove)
        if not values and not removed:
            raise InputError("tag: give tags to set (KEY=VALUE) or to remove (--rm KEY)")
        with db.transaction(self.engine, write=True) as conn:
            row = self._resolve(conn, ref)
            lifecycle.change_tags(conn, row, values, removed)
            return self._version_info(conn, row)

    def delete(self, ref: str, *, force: bool = False) -> VersionInfo:
        """Delete a version (softly: :meth:`restore` undoes it until :meth:`gc`). It leaves
        the log and ref resolution. A version with recorded exports or an alias needs
        ``force`` (its aliases are removed then). Recorded."""
        with db.transaction(self.engine, write=True) as conn:
            row = self._resolve(conn, ref)
            lifecycle.delete_version(conn, row, ref, force=force)
            return self._version_info(conn, row)

    def restore(self, ref: str) -> VersionInfo:
        """Undo :meth:`delete` (``ref`` may name the deleted version: ``name@N``, a hash
        prefix). Impossible once GC has collected it. Recorded."""
        with db.transaction(self.engine, write=True) as conn:
            row = self._resolve(conn, ref, deleted=True)
            lifecycle.restore_version(conn, row, ref)
            return self._version_info(conn, row)

    def gc(self, *, dry_run: bool = False, vacuum: bool = False) -> GcReport:
        """Remove the content only deleted versions use (node rows, edges, packs, blobs,
        import forms); what was freed (with ``dry_run``: what would be, nothing removed).
        Safe beside concurrent ingests; recorded. Audit records of collected versions' exports
        stay and still verify their files. ``vacuum``: then give the freed space back to the
        file system (SQLite's ``VACUUM`` rewrites the file; PostgreSQL's ``VACUUM`` makes it
        reusable)."""
        with db.transaction(self.engine, write=True) as conn:
            report = garbage.collect(conn, dry_run=dry_run)
        if vacuum and not dry_run:
            db.vacuum(self.engine)
        return report

    # ----------------------------------------------------------------------------------------
    # Refs

    def _resolve(self, conn: Connection, ref: str, *, deleted: bool = False) -> Row[Any]:
        """The versions row of a ref (see :mod:`mgstore.db.refs`, where refs are resolved)."""
        return refs.resolve(conn, ref, deleted=deleted)

    def _graph_id(self, conn: Connection, name: str) -> int:
        return refs.graph_id_of(conn, name)

    def _graph_name(self, conn: Connection, graph_id: int) -> str:
        return refs.graph_name(conn, graph_id)

    def _version_info(
        self, conn: Connection, row: Row[Any], name: str | None = None
    ) -> VersionInfo:
        """The version's metadata, checked against its records in the audit chain
        (docs/audit.md, "Version metadata checked on read")."""
        if name is None:
            name = self._graph_name(conn, row.graph_id)
        info = versions.version_info(conn, row, name)
        audit.check_versions(conn, [row], name, {row.id: info.tags})
        return info


def _version_row(conn: Connection, version_id: int) -> Row[Any]:
    return conn.execute(select(V).where(V.c.id == version_id)).one()


def _check_decodable(meta: Any, debug: Any | None, loaded: io.Loaded | None) -> None:
    """Refuse what could be stored but not read back (see :func:`mgstore.io.check_decodable`).

    Binary MetaGraphDefs and SavedModels were decoded under the same limit already; a debug
    file read in binary too. The rest (text, GraphDefs, messages, networkx graphs) is checked.
    """
    where = str(loaded.path) if loaded is not None and loaded.path else "the graph"
    if loaded is None or loaded.format not in io.DECODED_FORMATS:
        io.check_decodable(meta, where)
    if debug is not None:
        io.check_decodable(debug, f"{where} (its debug info)")

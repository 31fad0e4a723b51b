"""Writing a version: its node rows, edges, packs, collections and version row, in one
transaction (see :mod:`mgstore.db.models` for the layout).

:func:`write_version` is what :meth:`mgstore.Store.ingest` runs once the graph is split
(:func:`mgstore.byte_layout.split`); content already stored is found by hash and not written again.
The nodes go in runs through two threads: a worker encodes a run and builds its rows while
this thread inserts the run before (:class:`_NodeWriter`).
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, islice
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    LargeBinary,
    any_,
    bindparam,
    cast,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql

from mgstore import byte_layout, io, original
from mgstore import collections as colls
from mgstore import graph as nxgraph
from mgstore import node_order as orders
from mgstore.db import edges, forms, outlines, packing
from mgstore.db import engine as db
from mgstore.db import orders as stored_orders
from mgstore.db.inserts import (
    BulkRows,
    bulk_rows,
    fetch_raw,
    insert_blobs,
    insert_bulk,
    insert_ignore,
)
from mgstore.db.interned import NameIds
from mgstore.db.lifecycle import is_deleted_version, lock_versions
from mgstore.db.tables import BLOBS as B
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import NODES as N
from mgstore.db.tables import PACKS as P
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.db.versions import id_batches, members_json
from mgstore.errors import IntegrityError
from mgstore.who import user_at_host

__all__ = ["PACK_BYTES", "RUN_NODES", "write_collections", "write_contents", "write_version"]

RUN_NODES = 8192  #: nodes encoded and inserted together (see _NodeWriter)
PACK_BYTES = 256 * 1024  #: the most bytes of node content one pack holds
_CHUNK = 500
_T = TypeVar("_T")


def write_version(
    engine: Engine,
    name: str,
    stored: byte_layout.StoredGraph,
    message: str | None,
    tags: dict[str, str],
    loaded: io.Loaded | None,
    progress: Callable[[int, int], None] | None = None,
    *,
    allow_unchanged: bool = False,
    prepare_export: bool = False,
    recorded: Callable[[Connection, int], object] | None = None,
) -> tuple[int, bool]:
    """Write ``stored`` as the next version of ``name``, in one transaction; its id, and
    whether it is the latest version unchanged.

    If the content equals the latest version's (that one not deleted, and not
    ``allow_unchanged``), nothing is written and that version's id is returned with True.
    ``progress(done, total)`` hears how many nodes are written; ``recorded(conn, version_id)``
    runs in the transaction once the version is written (the audit record of the ingest).
    ``prepare_export``: then keep the version's import form (:func:`mgstore.db.forms.prepare`).
    """
    now = datetime.now(timezone.utc)
    with db.transaction(engine, write=True) as conn:
        lock_versions(conn)  # shared: gc waits until this ingest is done
        graph_id = _lock_graph(conn, name, now)
        latest = conn.execute(
            select(V).where(V.c.graph_id == graph_id).order_by(V.c.number.desc()).limit(1)
        ).first()
        number = 1 if latest is None else latest.number + 1
        # Python work runs in a worker thread while this one writes (see _NodeWriter).
        with ThreadPoolExecutor(max_workers=1) as worker, _quick_gil_handover():
            nodes = _NodeWriter(conn, graph_id, number, worker)
            nodes.start(stored)
            collections = worker.submit(_prepare_collections, stored.collections)
            base = _order_base(conn, latest)  # read while the worker encodes the first run
            written = nodes.write(
                progress,
                meanwhile=lambda: write_contents(conn, stored, collections.result()),
                members=collections,
                base=base,
            )
            prepared = collections.result()
            if (
                not allow_unchanged
                and latest is not None
                and latest.content_hash == written.content_hash
                and latest.debug_hash == stored.debug_hash
                and not is_deleted_version(conn, latest.id)
            ):
                # Equal content means equal nodes and collections, all stored: nothing written.
                nodes.outlining.cancel()
                return int(latest.id), True
            nodes.close_rows(written.closing)
            row = {
                "graph_id": graph_id,
                "number": number,
                "content_hash": written.content_hash,
                "debug_hash": stored.debug_hash,
                "message": message,
                "created_at": now,
                "created_by": user_at_host(),
                "node_count": len(stored.node_defs),
                "size": written.size,
                "node_order": written.node_order,
                **_original(conn, stored, written.body, loaded, written.content_hash),
            }
            version_id = _insert_version(conn, row, stored, loaded, tags)
            write_collections(conn, version_id, prepared)
            # Made by the worker meanwhile, from the nodes' columns (docs/storage.md §11).
            parent = None if latest is None else int(latest.id)
            outlines.write(conn, version_id, nodes.outlining.result(), parent)
        if recorded is not None:
            recorded(conn, version_id)
    if prepare_export:
        previous = None if latest is None else str(latest.content_hash)
        forms.prepare(engine, stored, version_id, previous, b"".join(written.body))
    return version_id, False


def _insert_version(
    conn: Connection,
    row: dict[str, Any],
    stored: byte_layout.StoredGraph,
    loaded: io.Loaded | None,
    tags: Mapping[str, str],
) -> int:
    """Insert the ``versions`` row (``row`` and the columns ``stored`` and ``loaded`` say)
    and its ``tags``; its id."""
    version_id = int(
        conn.execute(
            V.insert().returning(V.c.id),
            {
                **row,
                "has_graph_def": stored.has_graph_def,
                "head_sha256": byte_layout.sha256(stored.head),
                "graph_tail_sha256": byte_layout.sha256(stored.graph_tail),
                "tail_sha256": byte_layout.sha256(stored.tail),
                "debug_sha256": None if stored.debug is None else byte_layout.sha256(stored.debug),
                "source_path": None if loaded is None or loaded.path is None else str(loaded.path),
                "source_sha256": None if loaded is None else loaded.sha256,
                "source_format": None if loaded is None else loaded.format,
            },
        ).scalar_one()
    )
    if tags:
        conn.execute(
            T.insert(),
            [{"version_id": version_id, "key": k, "value": v} for k, v in sorted(tags.items())],
        )
    return version_id


def _original(
    conn: Connection,
    stored: byte_layout.StoredGraph,
    body: Sequence[bytes],
    loaded: io.Loaded | None,
    content_hash: str,
) -> dict[str, Any]:
    """The version row's record of what went in (docs/storage.md §10): its form, the hash and
    size of its bytes, and the blob of their delta against the form's canonical encoding,
    stored here if the store lacks it (none when the bytes are that encoding). Bytes that are
    the canonical MetaGraphDef (and a networkx graph) are recorded as versions stored before
    revision 0007_source_form are: form ``meta``, no original hash (the content hash covers
    them)."""
    data = None if loaded is None else loaded.data
    fields: dict[str, Any] = {
        "form": original.form_of(None if loaded is None else loaded.format),
        "original_sha256": None,
        "original_size": None,
        "original_delta_sha256": None,
        "meta_graph_index": None if loaded is None else loaded.meta_graph_index,
    }
    if data is None:
        return fields
    digest = hashlib.sha256(data).hexdigest()
    if fields["form"] == "meta" and digest == content_hash:
        return fields  # the canonical bytes themselves
    fields["original_sha256"], fields["original_size"] = digest, len(data)
    content = byte_layout.assemble(
        stored.head, stored.graph_tail, stored.tail, stored.has_graph_def, b"".join(body)
    )
    delta = original.encode(data, original.reference(fields["form"], content))
    if delta is not None:
        sha = byte_layout.sha256(delta)
        if conn.execute(select(B.c.sha256).where(B.c.sha256 == sha)).first() is None:
            insert_blobs(conn, [(sha, delta)])
        fields["original_delta_sha256"] = sha
    return fields


@dataclass(frozen=True)
class _OrderBase:
    """The order a new version's node order may be stored as a delta against: its skip base's
    (docs/storage.md §4.1)."""

    version_id: int
    order: Any  # array('q'), materialized
    depth: int  # deltas between it and a whole order


def _order_base(conn: Connection, latest: Any) -> _OrderBase | None:
    """The order of the new version's skip base (:func:`mgstore.db.orders.skip_base`), or,
    where that one's is collected or unreadable, the latest version's (its row is at hand):
    a read of at most a few rows, each chain being logarithmic, none if this process wrote or
    read them last. None where the new order is to be stored whole: no version to build on
    (a damaged store does not stop ingests; fsck names it), or a chain at ``ORDER_CHAIN``."""
    if latest is None:
        return None
    number = stored_orders.skip_base(int(latest.number) + 1)
    candidates = [latest]
    if number is not None and number != latest.number:
        skip = conn.execute(
            select(V).where(V.c.graph_id == latest.graph_id, V.c.number == number)
        ).first()
        candidates.insert(0, skip)
    for row in candidates:
        if row is None or not row.node_order:
            continue
        try:
            order = stored_orders.read_order(conn, row)
            depth = stored_orders.order_depth(conn, row)
        except IntegrityError:
            continue
        if depth + 1 < stored_orders.ORDER_CHAIN:
            return _OrderBase(int(row.id), order, depth)
    return None


def _lock_graph(conn: Connection, name: str, now: datetime) -> int:
    """The graph's id, creating it if need be, locked against concurrent version writes."""
    conn.execute(insert_ignore(conn, G, ["name"]), {"name": name, "created_at": now})
    query = select(G.c.id).where(G.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return int(conn.execute(query).scalar_one())


Location = tuple[int, int, int]  # pack id, offset, length


class _GilHandover:
    """While an ingest runs, CPython hands the GIL to a waiting thread after 0.1 ms, not 5 ms.

    The writing thread needs the GIL back after every statement (the driver releases it a
    few times per statement), and each time waits a whole switch interval while the worker
    runs Python: about a tenth of an ingest. The interval is process-wide, so it is set by the
    first ingest that starts and restored by the last that ends (a change another thread
    makes to it meanwhile is undone then).
    """

    INTERVAL = 0.0001

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved = sys.getswitchinterval()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.users == 0:
                self.saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self.saved, self.INTERVAL))
            self.users += 1
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    sys.setswitchinterval(self.saved)


_quick_gil_handover = _GilHandover()


@dataclass(frozen=True)
class _Encoded:
    """One run of nodes, encoded by the worker: which of them need a row (content not
    current), and those nodes' framed size."""

    nodes: byte_layout.StoredNodes
    fresh: Sequence[int]  # positions of the nodes that need a row
    new_bytes: int
    # The fresh nodes' names, ops, devices and their inputs' sources (docs/storage.md §3.5).
    names: set[str]


@dataclass(frozen=True)
class _Placement:
    """What the writing thread found for a run's fresh nodes: where their content already
    lies elsewhere in the store, and ids reserved for their rows and new packs."""

    located: Mapping[bytes, Location]
    node_ids: Sequence[int]
    pack_ids: Sequence[int]  # enough for the new content
    # The open rows of the fresh nodes' names, whose edge rows theirs may share (db.edges).
    previous: Mapping[int, tuple[int, edges.Inputs]]
    name_ids: Mapping[str, int]  # the id of each of the run's names (_Encoded.names)


@dataclass(frozen=True)
class _RunRows:
    """The worker's result for one run: its pack, node and edge rows, every node's location
    and the run's framed nodes end to end."""

    rows: _Rows
    locations: Sequence[Location]
    body: bytes


@dataclass(frozen=True)
class _Written:
    """The nodes of a version, once written: its content hash, size and packed node order,
    the rows of the latest version it does not keep, and the nodes' bytes."""

    content_hash: str
    size: int
    node_order: bytes
    closing: Sequence[int]
    body: Sequence[bytes]  # the framed nodes, run by run


class _Encoder:
    """The worker's side of the node runs: draws each run from the graph's NodeDefs in
    order, encodes it and sees which nodes need rows. Only the worker thread calls it."""

    def __init__(self, node_defs: Sequence[Any], current: Mapping[bytes, object]) -> None:
        # One iterator, drawn from by the worker's tasks in order: iterating a repeated
        # protobuf field is ten times cheaper than slicing it (slices keep every wrapper).
        self.pending = iter(node_defs)
        self.current = current
        self.names: set[str] = set()
        self.incoming: set[bytes] = set()  # every node's content hash
        # Every node's name, op, device and inputs, in graph order, for the outline.
        self.columns: tuple[list[str], list[str], list[str], list[tuple[str, ...]]] = (
            [], [], [], []
        )  # fmt: skip

    def outline(self, members: Future[_PreparedCollections]) -> dict[str, bytes]:
        """The version's outline, encoded, once every run is encoded (docs/storage.md §11)."""
        by_key = members.result()[2]
        shape = outlines.build(*self.columns, by_key)
        self.columns = ([], [], [], [])
        return outlines.encode(shape)

    def next_run(self) -> _Encoded:
        """Encode the next run and see which of its nodes need rows (Python only)."""
        nodes = byte_layout.encode_nodes(islice(self.pending, RUN_NODES))
        names, shas, current = nodes.names, nodes.shas, self.current
        if self.names.isdisjoint(names) and len(set(names)) == len(names):
            self.names.update(names)
        else:
            nxgraph.check_unique_names(names, self.names)  # raises, naming the first repeat
        self.incoming.update(shas)
        self.columns[0].extend(names)
        self.columns[1].extend(nodes.ops)
        self.columns[2].extend(nodes.devices)
        self.columns[3].extend(nodes.inputs)
        fresh = [i for i, sha in enumerate(shas) if sha not in current] if current else None
        if fresh is None or len(fresh) == len(nodes):
            wanted = edges.sources(nodes.inputs)
            wanted.update(names, nodes.ops, nodes.devices)
            return _Encoded(nodes, range(len(nodes)), sum(map(len, nodes.framed)), wanted)
        wanted = edges.sources([nodes.inputs[i] for i in fresh])
        wanted.update(*([column[i] for i in fresh] for column in (names, nodes.ops, nodes.devices)))
        return _Encoded(nodes, fresh, sum(len(nodes.framed[i]) for i in fresh), wanted)


class _NodeWriter:
    """A version's node rows, edges and packs, written run by run.

    Rows are matched by content hash: within one version, identical bytes mean the same
    node. A node whose content is current (in the latest version) keeps its row; the rows
    of nodes that changed are closed (:meth:`close_rows`); new content goes into packs.

    Encoding a run and building its rows is Python work, done in a worker thread while the
    database inserts the run before (the driver releases the GIL while it writes), so the
    two cores share the ingest. The connection is used by this (the calling) thread only;
    the threads hand each other frozen per-run results (:class:`_Encoded`,
    :class:`_Placement`, :class:`_RunRows`), and this object's fields are not written once
    the worker has started.
    """

    def __init__(
        self, conn: Connection, graph_id: int, number: int, worker: ThreadPoolExecutor
    ) -> None:
        self.conn, self.graph_id, self.number, self.worker = conn, graph_id, number, worker
        self.current = {
            sha: (node_id, (pack, offset, length))
            for node_id, sha, pack, offset, length in fetch_raw(
                conn,
                select(N.c.id, N.c.sha256, N.c.pack_id, N.c.offset, N.c.length).where(
                    N.c.graph_id == graph_id, N.c.last_version.is_(None)
                ),
            )
        }
        # Content stored anywhere else can only exist if some node row does.
        self.elsewhere = bool(self.current) or (
            conn.execute(select(N.c.id).limit(1)).first() is not None
        )
        self.ids = _IdReserver(conn)
        self.names = NameIds()
        self.dialect = conn.dialect.name

    def start(self, stored: byte_layout.StoredGraph) -> None:
        """Start encoding the first run, so that the worker is busy while this thread is."""
        self.stored = stored
        self.encoder = _Encoder(stored.node_defs, self.current)
        self.packer = packing.Packer(PACK_BYTES)  # the worker's, like the encoder
        self.encoding = self.worker.submit(self.encoder.next_run)

    def write(
        self,
        progress: Callable[[int, int], None] | None,
        meanwhile: Callable[[], None],
        members: Future[_PreparedCollections],
        base: _OrderBase | None = None,
    ) -> _Written:
        """Write every run; return the version's content hash, size and stored node order
        (a delta against ``base`` where that is smaller, docs/storage.md §4.1).

        ``meanwhile`` is the caller's other database work, done while the worker builds the
        first rows. Then the worker makes the version's outline (:attr:`outlining`) from the
        nodes and ``members`` (the collections), while this thread writes the last run.
        """
        total = len(self.stored.node_defs)
        encoding = self.encoding
        bodies: list[bytes] = []
        locations: list[Sequence[Location]] = []
        building: Future[_RunRows] | None = None
        for start in range(0, total, RUN_NODES):
            run = encoding.result()
            if start + RUN_NODES < total:
                encoding = self.worker.submit(self.encoder.next_run)
            last_run = start + RUN_NODES >= total
            rows = self.worker.submit(self._rows, run, self._plan(run), last_run)
            if building is not None:
                self._insert(building.result(), bodies, locations)
            else:
                meanwhile()
            building = rows
            if progress is not None:
                progress(min(start + RUN_NODES, total), total)
        last = building.result() if building is not None else None
        if last is not None:
            bodies.append(last.body)
            locations.append(last.locations)
        finishing = self.worker.submit(self._finish, tuple(bodies), tuple(locations), base)
        self.outlining = self.worker.submit(self.encoder.outline, members)
        if last is not None:
            self._insert(last, [], [])
        else:  # no nodes
            meanwhile()
        return finishing.result()

    def _plan(self, run: _Encoded) -> _Placement:
        """Where the run's fresh content already lies, and ids for its rows (database work)."""
        nodes, fresh = run.nodes, run.fresh
        name_ids = self.names.ids(self.conn, run.names)
        located: dict[bytes, Location] = {}
        if fresh and self.elsewhere:
            located = _locate(self.conn, {nodes.shas[i]: name_ids[nodes.names[i]] for i in fresh})
        # Packs hold at most PACK_BYTES, cut at node boundaries: two neighbours together
        # always exceed it, which bounds how many a run can fill.
        packs = min(len(fresh), 2 * run.new_bytes // PACK_BYTES + 2)
        node_ids, pack_ids = self.ids.reserve((N, len(fresh)), (P, packs))
        previous = (
            edges.previous_inputs(
                self.conn, self.graph_id, [name_ids[nodes.names[i]] for i in fresh]
            )
            if fresh and self.current
            else {}
        )
        return _Placement(located, node_ids, pack_ids, previous, name_ids)

    def _rows(self, run: _Encoded, placement: _Placement, last: bool) -> _RunRows:
        """The pack, node and edge rows of a run (Python only: runs in the worker). Rows
        that point into a pack later runs go on filling come with the run that closes it
        (:mod:`mgstore.db.packing`); ``last``: the version's last run."""
        nodes, current, located = run.nodes, self.current, placement.located
        # Content never repeats within a version (the name is part of it), so positions
        # place it.
        new = [i for i in run.fresh if nodes.shas[i] not in located] if located else run.fresh
        placed = self.packer.place(nodes.framed, new, placement.pack_ids)

        def where(i: int) -> Location:
            location = placed.get(i)
            if location is None:
                sha = nodes.shas[i]
                entry = current.get(sha)
                location = entry[1] if entry is not None else located[sha]
            return location

        locations = list(map(where, range(len(nodes))))
        dialect = self.dialect
        edge_rows, shared = edges.edge_columns(
            nodes, run.fresh, placement.node_ids, placement.previous, placement.name_ids
        )
        node_rows = {
            **_node_columns(nodes, run.fresh, placement.node_ids, locations, placement.name_ids),
            "edges_from": shared,
        }
        # Packs are compressed there, in the worker: zlib releases the GIL
        # (docs/storage.md §3.4).
        ready = self.packer.rows(node_rows, edge_rows, last=last)
        rows = (
            bulk_rows(dialect, P, ready[0]),
            bulk_rows(
                dialect,
                N,
                ready[1],
                constants={"graph_id": self.graph_id, "first_version": self.number},
            ),
            bulk_rows(dialect, E, ready[2]),
        )
        return _RunRows(rows, locations, b"".join(nodes.framed))

    def _finish(
        self,
        bodies: Sequence[bytes],
        locations: Sequence[Sequence[Location]],
        base: _OrderBase | None,
    ) -> _Written:
        content_hash, size = self.stored.content(bodies)
        incoming = self.encoder.incoming  # every run is encoded: the worker is done with it
        closing = sorted(
            node_id for sha, (node_id, _) in self.current.items() if sha not in incoming
        )
        node_order = _stored_order(orders.flat(chain.from_iterable(locations)), base)
        return _Written(content_hash, size, node_order, closing, bodies)

    def _insert(
        self, run: _RunRows, bodies: list[bytes], locations: list[Sequence[Location]]
    ) -> None:
        """Insert a run's rows; keep its bytes and locations in ``bodies`` and ``locations``."""
        bodies.append(run.body)
        locations.append(run.locations)
        for bulk in run.rows:
            insert_bulk(self.conn, bulk)

    def close_rows(self, closing: Sequence[int]) -> None:
        """End the rows of the latest version's nodes that this version does not keep."""
        for where in id_batches(self.conn, N.c.id, closing):
            self.conn.execute(update(N).where(where).values(last_version=self.number - 1))


def _stored_order(order: Any, base: _OrderBase | None) -> bytes:
    """A version's node order as stored: a delta against ``base`` where that takes at most
    3/4 of the whole encoding, else whole (docs/storage.md §4.1): a delta spanning so much
    churn that it is nearly a whole order saves little, and costs every read of a chain
    through it as much work as a whole order would, and more."""
    whole = orders.encode(order)
    data, depth = whole, 0
    if base is not None:
        try:
            coded = orders.delta(base.order, order, base.version_id, whole)
        except ValueError:  # nodes at one place with two lengths: not this base's
            coded = whole
        if 4 * len(coded) <= 3 * len(whole):
            data, depth = coded, base.depth + 1
    stored_orders.remember_order(data, order, depth)
    return data


def _node_columns(
    nodes: byte_layout.StoredNodes,
    fresh: Sequence[int],
    node_ids: Sequence[int],
    locations: Sequence[Location],
    name_ids: Mapping[str, int],
) -> dict[str, Sequence[Any]]:
    """The ``fresh`` nodes' rows, column by column (tuples per row would cost more)."""
    every = len(fresh) == len(nodes)

    def pick(column: Sequence[_T]) -> Sequence[_T]:
        return column if every else [column[i] for i in fresh]

    where_fresh = pick(locations)
    return {
        "id": node_ids,
        "name_id": list(map(name_ids.__getitem__, pick(nodes.names))),
        "op_id": list(map(name_ids.__getitem__, pick(nodes.ops))),
        "device_id": list(map(name_ids.__getitem__, pick(nodes.devices))),
        "pack_id": [location[0] for location in where_fresh],
        "offset": [location[1] for location in where_fresh],
        "length": [location[2] for location in where_fresh],
        "sha256": pick(nodes.shas),
    }


_Rows = tuple[BulkRows, BulkRows, BulkRows]  # packs, nodes, edges


def _locate(conn: Connection, wanted: Mapping[bytes, int]) -> dict[bytes, Location]:
    """Where the store already holds NodeDefs with these hashes (content addressing).

    ``wanted`` maps each hash to its node's name id: equal bytes mean an equal name, so the
    name index finds the candidates and the full hash decides.
    """
    found: dict[bytes, Location] = {}
    pairs = sorted((name, sha) for sha, name in wanted.items())
    # PostgreSQL: the run in one statement, each list one array parameter.
    step = len(pairs) if conn.dialect.name == "postgresql" else _CHUNK
    for i in range(0, len(pairs), step):
        chunk = pairs[i : i + step]
        names, shas = [name for name, _ in chunk], [sha for _, sha in chunk]
        if conn.dialect.name == "postgresql":
            where = (
                N.c.name_id == any_(cast(bindparam(None, names), postgresql.ARRAY(Integer))),
                N.c.sha256 == any_(cast(bindparam(None, shas), postgresql.ARRAY(LargeBinary))),
            )
        else:
            where = (N.c.name_id.in_(names), N.c.sha256.in_(shas))
        rows = conn.execute(select(N.c.sha256, N.c.pack_id, N.c.offset, N.c.length).where(*where))
        found.update(
            (sha, (pack, offset, length)) for sha, pack, offset, length in rows if sha in wanted
        )
    return found


def write_contents(
    conn: Connection, stored: byte_layout.StoredGraph, prepared: _PreparedCollections
) -> None:
    """Store a version's content-addressed parts: the blobs that frame its nodes, those of its
    collections, and the member lists of its collections (docs/storage.md §5).

    All are kept once for every version that has them, so they can be written before the
    version exists (a version equal to the latest adds nothing here); the blobs go in one
    sorted insert, so that concurrent writers lock them in one order.
    """
    _, collection_blobs, _ = prepared
    parts = [stored.head, stored.graph_tail, stored.tail]
    if stored.debug is not None:
        parts.append(stored.debug)
    blobs = {**collection_blobs, **{byte_layout.sha256(part): part for part in parts}}
    present = set(conn.execute(select(B.c.sha256).where(B.c.sha256.in_(list(blobs)))).scalars())
    insert_blobs(conn, ((sha, data) for sha, data in blobs.items() if sha not in present))


def write_collections(conn: Connection, version_id: int, prepared: _PreparedCollections) -> None:
    """Add a version's collections (their contents are stored by :func:`write_contents`)."""
    rows = prepared[0]
    if rows:
        conn.execute(C.insert(), [{**row, "version_id": version_id} for row in rows])


# Rows; the blobs they name (each CollectionDef's and each member list's, by SHA-256); and
# each collection's member names (sorted), by key.
_PreparedCollections = tuple[list[dict[str, Any]], dict[bytes, bytes], dict[str, list[str]]]


def _prepare_collections(collections: Mapping[str, Any]) -> _PreparedCollections:
    """Rows and blobs of a version's collections; no database needed.

    A collection's member names (which depend on its bytes and its key) are a blob of their
    own, keyed by their digest, the row's ``members_sha256`` (docs/storage.md §5).
    """
    rows: list[dict[str, Any]] = []
    blobs: dict[bytes, bytes] = {}
    by_key: dict[str, list[str]] = {}
    memo: dict[tuple[Any, bytes], set[str]] = {}
    for key, collection in sorted(collections.items()):
        data = io.serialize(collection)
        sha = byte_layout.sha256(data)
        blobs[sha] = data
        by_key[key] = names = sorted(colls.members(key, collection, memo))
        members = members_json(names)
        digest = hashlib.sha256(members).digest()
        blobs[digest] = members
        rows.append(
            {
                "key": key,
                "kind": colls.kind(collection),
                "size": colls.size(collection),
                "blob_sha256": sha,
                "members_sha256": digest.hex(),
            }
        )
    return rows, blobs, by_key


class _IdReserver:
    """Fresh primary keys, so that rows can refer to each other without reading ids back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.next: dict[str, int] = {}

    def reserve(self, *wanted: tuple[Any, int]) -> list[Sequence[int]]:
        """``count`` fresh ids of each ``(table, count)``; on PostgreSQL in one round trip."""
        if self.conn.dialect.name == "postgresql":
            return self._from_sequences(wanted)
        # SQLite: writes hold the database lock (BEGIN IMMEDIATE), so nobody else takes ids.
        out: list[Sequence[int]] = []
        for table, count in wanted:
            start = self.next.get(table.name)
            if start is None and count:
                query = select(func.coalesce(func.max(table.c.id), 0) + 1)
                start = int(self.conn.execute(query).scalar_one())
            if count:
                assert start is not None
                self.next[table.name] = start + count
                out.append(range(start, start + count))
            else:
                out.append(range(0))
        return out

    def _from_sequences(self, wanted: Sequence[tuple[Any, int]]) -> list[Sequence[int]]:
        """PostgreSQL: the ids drawn from each table's sequence by one statement, which
        sends back a range's ends (or, should another writer's draws interleave with ours,
        the ids themselves), not a row per id (docs/storage.md §7)."""
        asked = [(table.name, count) for table, count in wanted if count]
        found: dict[str, Sequence[int]] = {}
        if asked:
            rows = self.conn.execute(
                _RESERVE_IDS,
                {"tables": [name for name, _ in asked], "counts": [n for _, n in asked]},
            )
            for name, low, high, count, ids in rows:
                found[name] = range(low, high + 1) if ids is None else sorted(ids)
                if len(found[name]) != count:
                    raise AssertionError(f"{name}: {len(found[name])} ids for {count}")
        return [found.get(table.name, range(0)) if count else range(0) for table, count in wanted]


# Each sequence is looked up once (the materialized CTE), then drawn from ``count`` times; a
# contiguous draw (the rule: nobody else drew meanwhile) comes back as its two ends.
_RESERVE_IDS = text(
    "WITH seqs AS MATERIALIZED ("
    " SELECT w.t, CAST(pg_get_serial_sequence(w.t, 'id') AS regclass) AS seq, w.n"
    " FROM unnest(CAST(:tables AS text[]), CAST(:counts AS integer[])) AS w(t, n)),"
    " ids AS MATERIALIZED ("
    " SELECT s.t, nextval(s.seq) AS v FROM seqs AS s CROSS JOIN LATERAL generate_series(1, s.n))"
    " SELECT t, min(v), max(v), count(*),"
    " CASE WHEN max(v) - min(v) + 1 = count(*) THEN NULL ELSE array_agg(v) END"
    " FROM ids GROUP BY t"
)

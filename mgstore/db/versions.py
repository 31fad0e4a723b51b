"""Reading stored versions: which node rows a version holds, and its MetaGraphDef bytes.

Shared by the store (checkout), exports and queries (subgraphs): a version's bytes are its
framing blobs around a body of framed NodeDefs, taken from its packs or given by the caller.

Every read of stored bytes here is checked against the hashes recorded when they were
written, so that no caller can hand out damaged or edited content (see docs/audit.md,
"Verify on read"): a whole version against its content hash, a blob against its key, a node
read on its own against its row's hash and indexed columns, a collection's members against
their digest, an import form against its hash. A mismatch raises IntegrityError.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Row,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from mgstore import codec, lazy, original
from mgstore.clock import as_utc
from mgstore.db.orders import order_index, order_runs, read_order
from mgstore.db.refs import damaged
from mgstore.db.tables import ALIASES as A
from mgstore.db.tables import BLOBS as B
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import IMPORT_FORMS as F
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.tables import PACKS as P
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.entities import VersionInfo
from mgstore.errors import IntegrityError

if TYPE_CHECKING:  # the log and refs need neither (see mgstore.lazy)
    from mgstore import byte_layout, graph, proto
else:
    graph, proto, byte_layout = (
        lazy.module(f"mgstore.{name}") for name in ("graph", "proto", "byte_layout")
    )

_CHUNK = 500
# Statements every read runs, built once (see _SLICES below).
_BLOBS = select(B.c.sha256, B.c.data).where(B.c.sha256.in_(bindparam("shas", expanding=True)))


#: ``names`` as the op types and devices of node rows (:func:`described`).
OPS, DEVICES = NM.alias("op_names"), NM.alias("device_names")


def named(nodes: Any = N, names: Any = NM) -> Any:
    """``nodes`` (the table or an alias) joined to the ``names`` row of each (docs/storage.md
    §3.5): select ``names.c.name`` from it. An outer join: a row whose name is missing reads
    as None, which the checks of what was read then report."""
    return nodes.outerjoin(names, names.c.id == nodes.c.name_id)


def described(nodes: Any = N) -> Any:
    """:func:`named`, joined also to the op type (``OPS.c.name``) and the device
    (``DEVICES.c.name``) of each row, by outer joins likewise."""
    return (
        named(nodes)
        .outerjoin(OPS, OPS.c.id == nodes.c.op_id)
        .outerjoin(DEVICES, DEVICES.c.id == nodes.c.device_id)
    )


def strings_of(ids: Any) -> Any:
    """The strings of the ``names`` rows whose ids ``ids`` (a SELECT of one column) gives:
    the distinct op types or devices of a set of node rows."""
    return select(NM.c.name).where(NM.c.id.in_(ids))


def names_in(conn: Connection, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column`` (a name id) is the id of one of ``values``: the ids found through the names'
    index, the names given as one bound parameter (no limit on their number)."""
    if conn.dialect.name == "postgresql":
        given: ColumnElement[bool] = NM.c.name == any_(
            bindparam("names", list(values), type_=postgresql.ARRAY(Text), unique=True)
        )
    elif any("\0" in value for value in values):  # SQLite's JSON functions end strings at NUL
        given = or_(*(NM.c.name.in_(values[i : i + _CHUNK]) for i in range(0, len(values), _CHUNK)))
    else:
        items = func.json_each(bindparam("names", json.dumps(list(values)), unique=True))
        given = NM.c.name.in_(select(items.table_valued("value").c.value))
    found: ColumnElement[bool] = column.in_(select(NM.c.id).where(given))
    return found


def edges_owner(nodes: Any) -> Any:
    """The id of the row whose edge rows are the inputs of a row of ``nodes`` (the table or
    an alias): its own (``edges_from`` 0), or the older row of its name whose inputs it
    repeats (docs/storage.md §3.5, :mod:`mgstore.db.edges`)."""
    return case((nodes.c.edges_from == 0, nodes.c.id), else_=nodes.c.edges_from)


def in_version(
    nodes: Any, graph_id: int, number: int, *, graph_index: bool = True
) -> ColumnElement[bool]:
    """The node rows (of ``nodes``, the table or an alias) that belong to version ``number``.

    ``graph_index=False`` keeps the planner off the (graph_id, op) index and the partial
    indexes on ``last_version`` (``graph_id + 0`` is the same test, unindexed), for conditions
    that another index answers better. The
    conditions asked last are kept (SQL expressions are immutable): a query of a few nodes
    would otherwise spend more building them than running them.
    """
    return _in_version(nodes, int(graph_id), int(number), graph_index)


@functools.lru_cache(maxsize=64)
def _in_version(nodes: Any, graph_id: int, number: int, graph_index: bool) -> ColumnElement[bool]:
    graph = nodes.c.graph_id if graph_index else nodes.c.graph_id + 0
    # Likewise the partial indexes on last_version: PostgreSQL, without statistics, ORed
    # their bitmaps into a scope query, and ix_nodes_graph_last grows with the history.
    last = nodes.c.last_version if graph_index else nodes.c.last_version + 0
    return and_(
        graph == graph_id,
        nodes.c.first_version <= number,
        or_(nodes.c.last_version.is_(None), last >= number),
    )


def blobs(conn: Connection, shas: list[bytes], *, verify: bool = True) -> dict[bytes, bytes]:
    """The data of the blobs with these hashes, each checked against its hash (its key)
    unless ``verify`` is false (for a caller that checks a hash covering them)."""
    rows = conn.execute(_BLOBS, {"shas": shas})
    found: dict[bytes, bytes] = {}
    for sha, data in rows:
        try:
            found[bytes(sha)] = bytes(_INFLATED.decompress(("blob", bytes(sha)), data))
        except ValueError as error:
            if not verify:  # the caller's own hash check fails, naming what it read
                found[bytes(sha)] = bytes(data)
                continue
            raise IntegrityError(
                f"stored blob {bytes(sha).hex()[:16]}... cannot be read ({error}); the store is "
                "damaged or was edited (run `mgstore fsck`)"
            ) from None
    if verify:
        for sha, data in found.items():
            if not _VERIFIED.holds(sha, data) and hashlib.sha256(data).digest() != sha:
                raise IntegrityError(
                    f"stored blob {sha.hex()[:16]}... does not match its hash; the store is "
                    "damaged or was edited (run `mgstore fsck`)"
                )
            _VERIFIED.add(sha, data)
    return found


class _Verified:
    """The large blobs read and checked last, by hash: a blob read again is checked by
    comparing its bytes with these (memcmp, not SHA-256), so that queries reading a large
    version's frame (its collections) do not hash it each time. Thread-safe; bounded."""

    LARGE = 64 * 1024  # smaller blobs hash faster than they are looked up and compared
    BYTES = 64 * 1024 * 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: OrderedDict[bytes, bytes] = OrderedDict()
        self.size = 0

    def holds(self, sha: bytes, data: bytes) -> bool:
        with self.lock:
            known = self.blobs.get(sha)
        return known is not None and known == data

    def add(self, sha: bytes, data: bytes) -> None:
        if len(data) < self.LARGE or len(data) > self.BYTES // 4:
            return
        with self.lock:
            if sha not in self.blobs:
                self.blobs[sha] = data
                self.size += len(data)
            self.blobs.move_to_end(sha)
            while self.size > self.BYTES:
                self.size -= len(self.blobs.popitem(last=False)[1])


_VERIFIED = _Verified()


class _Inflated:
    """The large packs and blobs decompressed last, each with the stored bytes it came from:
    a value read again whose stored bytes equal those (memcmp) is not decompressed again, so
    that a warm query of a few nodes does not inflate whole packs and the frame's collections
    each time (docs/storage.md §3.4, bench/bench_query.py). The stored bytes are read and
    compared on every read: an edited database is seen at once. The key (a pack's id, a
    blob's hash) only says where to look. Thread-safe; bounded."""

    BYTES = 32 * 1024 * 1024  # of inflated data

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: OrderedDict[tuple[str, Any], tuple[bytes, bytes | memoryview]] = OrderedDict()
        self.size = 0

    def decompress(self, key: tuple[str, Any], stored: bytes) -> bytes | memoryview:
        """``codec.decompress(stored)``, from the values kept if ``stored`` is one of them."""
        if stored[:1] != codec.ZLIB:  # raw: nothing to inflate
            return codec.decompress(stored)
        with self.lock:
            known = self.values.get(key)
            if known is not None:
                self.values.move_to_end(key)
        if known is not None and known[0] == stored:
            return known[1]
        data = codec.decompress(stored)
        if len(data) <= self.BYTES // 4:
            with self.lock:
                old = self.values.pop(key, None)
                self.size += len(data) - (0 if old is None else len(old[1]))
                self.values[key] = (bytes(stored), data)
                while self.size > self.BYTES:
                    self.size -= len(self.values.popitem(last=False)[1][1])
        return data


_INFLATED = _Inflated()


def assemble(
    conn: Connection, row: Row[Any], body: bytes | None = None, *, check_frame: bool = True
) -> bytes:
    """The deterministic MetaGraphDef bytes of a version (a ``versions`` row).

    ``body`` (framed NodeDefs) replaces the version's own nodes, for a subgraph (whose nodes
    the caller read with :func:`node_slices`); without it the nodes come from the version's
    packs, joined by contiguous runs, and the result is checked against the content hash.
    With a body, the frame blobs are checked against their keys, unless ``check_frame`` is
    false (for a caller that checks the whole content with :func:`body_chunks`).
    """
    whole = body is None
    if body is None:
        runs = order_runs(conn, row)
        packs = pack_data(conn, {pack for pack, _, _ in runs}, version=row)
        # Appended run by run: a long history scatters a version's nodes over many packs
        # (6,471 runs for 8,049 nodes after 1,000 versions), and this is half the cost of a
        # list of slices joined.
        joined = bytearray()
        for pack, offset, length in runs:
            joined += packs[pack][offset : offset + length]
        body = bytes(joined)
    keys = [row.head_sha256, row.graph_tail_sha256, row.tail_sha256]
    frame = blobs(conn, keys, verify=check_frame and not whole)
    parts = [
        frame.get(bytes(sha)) for sha in (row.head_sha256, row.graph_tail_sha256, row.tail_sha256)
    ]
    if any(part is None for part in parts):
        raise damaged(conn, row, "a blob that frames its nodes is missing")
    head, graph_tail, tail = (part or b"" for part in parts)
    data = byte_layout.assemble(head, graph_tail, tail, row.has_graph_def, body)
    if whole and hashlib.sha256(data).hexdigest() != row.content_hash:
        raise damaged(
            conn, row, f"its stored bytes do not match its content hash {row.content_hash}"
        )
    return data


def _frame(conn: Connection, row: Row[Any]) -> list[bytes | None]:
    """The blobs that frame a version's nodes (head, graph tail, tail); None where missing."""
    keys = [bytes(row.head_sha256), bytes(row.graph_tail_sha256), bytes(row.tail_sha256)]
    found = blobs(conn, keys, verify=False)
    return [found.get(key) for key in keys]


def _content_problem(
    row: Row[Any],
    frame: list[bytes | None],
    packs: Mapping[int, memoryview],
    runs: Sequence[tuple[int, int, int]],
) -> str | None:
    """What is wrong with a version's stored bytes (None if they match its content hash).
    Needs no connection, so that it can run in another thread: the hash releases the GIL."""
    if any(part is None for part in frame):
        return "a blob that frames its nodes is missing"
    head, graph_tail, tail = (part or b"" for part in frame)
    try:  # hashed slice by slice: a joined copy would hold the whole file once more
        body = [packs[pack][offset : offset + length] for pack, offset, length in runs]
    except KeyError:
        return "a pack that holds its nodes is missing"
    stored = byte_layout.StoredGraph((), head, graph_tail, tail, row.has_graph_def, None, {})
    digest, size = stored.content(body)
    if digest != row.content_hash or size != row.size:
        return f"its stored bytes do not match its content hash {row.content_hash}"
    return None


def body_chunks(
    conn: Connection,
    row: Row[Any],
    order: Sequence[int] | None,
    patches: Mapping[int, bytes],
) -> list[bytes | memoryview]:
    """A version's framed NodeDefs, reordered and patched, as slices of its packs.

    ``order`` lists stored positions in the wanted order (None: as stored); ``patches``
    replaces the NodeDef at a position of that order with other (unframed) bytes. Adjacent
    stored bytes are one slice, so the result is a few chunks per patch, not one per node.
    """
    stored = read_order(conn, row)  # flat triples: 24 bytes a node, not a tuple's ~100
    locations = stored[0::3], stored[1::3], stored[2::3]
    packs = pack_data(conn, set(locations[0]), version=row)
    # The content hash is checked in a worker thread while this one cuts the chunks (hashing
    # releases the GIL), and awaited before they are returned.
    with ThreadPoolExecutor(max_workers=1) as worker:
        checking = worker.submit(
            _content_problem, row, _frame(conn, row), packs, order_runs(conn, row)
        )
        chunks = _chunks(locations, packs, order, patches)
        problem = checking.result()
    if problem is not None:
        raise damaged(conn, row, problem)
    return chunks


def _chunks(
    locations: tuple[Sequence[int], Sequence[int], Sequence[int]],
    packs: Mapping[int, memoryview],
    order: Sequence[int] | None,
    patches: Mapping[int, bytes],
) -> list[bytes | memoryview]:
    """The chunks of :func:`body_chunks` from the version's location columns (packs,
    offsets, lengths); a patch goes as its frame's head and its own bytes, not copied."""
    chunks: list[bytes | memoryview] = []
    in_pack, at, size = locations
    frame_head = byte_layout.frame_head
    run_pack, run_start, run_end = -1, 0, 0
    for pos, i in enumerate(range(len(in_pack)) if order is None else order):
        patch = patches.get(pos)
        if patch is None:
            pack, offset = in_pack[i], at[i]
            if pack == run_pack and offset == run_end:
                run_end += size[i]
                continue
            if run_pack >= 0:
                chunks.append(packs[run_pack][run_start:run_end])
            run_pack, run_start, run_end = pack, offset, offset + size[i]
        else:
            if run_pack >= 0:
                chunks.append(packs[run_pack][run_start:run_end])
            run_pack = -1
            chunks += (frame_head(len(patch)), patch)
    if run_pack >= 0:
        chunks.append(packs[run_pack][run_start:run_end])
    return chunks


def pack_data(
    conn: Connection,
    pack_ids: Iterable[int],
    *,
    keep: bool = False,
    version: Row[Any] | None = None,
    complete: bool = True,
) -> dict[int, memoryview]:
    """The (raw) data of these packs, by id, read in batches (one query on PostgreSQL); an
    IntegrityError for a pack that cannot be decompressed or, if ``complete``, is missing (on
    PostgreSQL no foreign key stops a node row naming one, docs/storage.md §8), naming
    ``version`` (the versions row being read) where given. ``keep``: the inflated packs are
    kept for the next read of a few nodes (:class:`_Inflated`); whole-version reads do not
    fill the cache with every pack."""
    packs: dict[int, memoryview] = {}
    ids = sorted(pack_ids)
    if conn.dialect.name == "sqlite":  # one statement, one parameter (no list to expand)
        found = [conn.execute(_PACKS_SQLITE, {"pack_ids": json.dumps(ids)})] if ids else []
    else:
        found = [
            conn.execute(select(P.c.id, P.c.data).where(w)) for w in id_batches(conn, P.c.id, ids)
        ]
    for rows in found:
        for pack_id, data in rows:
            try:
                raw = (
                    _INFLATED.decompress(("pack", pack_id), data)
                    if keep
                    else codec.decompress(data)
                )
                packs[pack_id] = memoryview(raw)
            except ValueError as error:
                what = f"stored pack {pack_id} cannot be read ({error})"
                if version is not None:
                    raise damaged(conn, version, what) from None
                raise IntegrityError(
                    f"{what}; the store is damaged or was edited (run `mgstore fsck`)"
                ) from None
    missing = set(ids) - packs.keys() if complete and len(packs) < len(ids) else set()
    if missing:
        what = f"its pack {min(missing)} is missing"
        if version is not None:
            raise damaged(conn, version, what)
        raise IntegrityError(
            f"a node's {what}; the store is damaged or was edited (run `mgstore fsck`)"
        )
    return packs


#: The packs of a JSON list of ids, on SQLite: a version's packs (hundreds after a long history)
#: in one statement, where ``IN`` lists of 500 cost SQLAlchemy more than the reads.
_PACKS_SQLITE = select(P.c.id, P.c.data).where(
    P.c.id.in_(select(func.json_each(bindparam("pack_ids")).table_valued("value").c.value))
)


def id_batches(
    conn: Connection, column: ColumnElement[Any], ids: Sequence[int]
) -> list[ColumnElement[bool]]:
    """Conditions that together select the rows whose ``column`` is one of ``ids``: on
    PostgreSQL one, ``column = ANY(array)`` (one statement, one parameter, whatever the
    count); elsewhere ``IN`` lists of at most 500 (SQLite's limit on bound parameters)."""
    if not ids:
        return []
    if conn.dialect.name == "postgresql":
        kind = BigInteger() if isinstance(column.type, BigInteger) else Integer()
        return [column == any_(cast(bindparam(None, list(ids)), postgresql.ARRAY(kind)))]
    return [column.in_(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]


#: The columns :func:`node_slices` reads (built once, likewise). No pack bytes: SQLite reads a
#: whole pack (up to 256 KiB over its overflow pages) for each ``substr`` of it, so each pack
#: the rows name is read once instead (:func:`pack_data`).
_SLICES = select(
    N.c.pack_id, N.c.offset, N.c.length, N.c.sha256, NM.c.name, OPS.c.name, DEVICES.c.name
).select_from(described())


def pack_slices(conn: Connection, located: Sequence[tuple[int, int, int]]) -> list[bytes]:
    """The framed bytes of node rows given as (pack, offset, length), each pack read once
    (and its inflated bytes kept for the next read, :func:`pack_data`): SQLite would read a
    whole pack for each slice of it cut in SQL. Empty where the pack is missing."""
    packs = pack_data(conn, {pack for pack, _, _ in located}, keep=True)
    empty = memoryview(b"")
    return [
        bytes(packs.get(pack, empty)[offset : offset + length]) for pack, offset, length in located
    ]


def version_info(conn: Connection, row: Row[Any], name: str | None = None) -> VersionInfo:
    """The user-facing record of a ``versions`` row (``name``: its graph's, if known)."""
    if name is None:
        name = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar_one()
    tags = {
        r.key: r.value
        for r in conn.execute(select(T.c.key, T.c.value).where(T.c.version_id == row.id))
    }
    state = conn.execute(
        select(S.c.deleted_at, S.c.collected_at).where(S.c.version_id == row.id)
    ).first()
    aliases = tuple(
        sorted(conn.execute(select(A.c.name).where(A.c.version_id == row.id)).scalars())
    )
    created = row.created_at
    return VersionInfo(
        name=name,
        number=int(row.number),
        content_hash=row.content_hash,
        created_at=created if created.tzinfo else created.replace(tzinfo=timezone.utc),
        created_by=row.created_by,
        message=row.message,
        tags=MappingProxyType(tags),
        node_count=int(row.node_count),
        size=int(row.size),
        debug_hash=row.debug_hash,
        source_path=row.source_path,
        source_sha256=row.source_sha256,
        source_format=row.source_format,
        deleted_at=None if state is None else as_utc(state.deleted_at),
        collected=state is not None and state.collected_at is not None,
        aliases=aliases,
        form=row.form,
        original_sha256=row.original_sha256,
        original_size=None if row.original_size is None else int(row.original_size),
        meta_graph_index=row.meta_graph_index,
    )


def version_bytes(
    conn: Connection, row: Row[Any], *, graph: bool = True, debug: bool = True
) -> tuple[bytes, proto.GraphDebugInfo | None]:
    """A version's MetaGraphDef bytes (``b""`` without ``graph``) and its stored debug info
    (None without ``debug`` or if it has none)."""
    data = assemble(conn, row) if graph else b""
    if not debug or row.debug_sha256 is None:
        return data, None
    # Checked here against the version's debug hash (its key is the same digest), so that
    # the error names the version.
    found = blobs(conn, [row.debug_sha256], verify=False).get(bytes(row.debug_sha256))
    if (
        found is None
        or hashlib.sha256(found).digest() != bytes(row.debug_sha256)
        or hashlib.sha256(found).hexdigest() != row.debug_hash
    ):
        raise damaged(conn, row, "its stored debug info does not match its debug hash")
    return data, proto.GraphDebugInfo.FromString(found)


def form_bytes(conn: Connection, row: Row[Any], content: bytes, form: str | None = None) -> bytes:
    """A version's file bytes in ``form`` (docs/storage.md §10), given its content bytes (as
    :func:`assemble` returns them, checked). Its own form (``form`` None, or the form it came
    from) gives back the bytes that went in, checked against the hash recorded at ingest;
    another form is that form's canonical encoding of the content."""
    if form is not None and form != row.form:
        return original.reference(form, content)
    if row.original_sha256 is None:  # stored before revision 0007: the canonical bytes
        return content
    ref = original.reference(row.form, content)
    if row.original_delta_sha256 is None:
        data = ref
    else:
        sha = bytes(row.original_delta_sha256)
        delta = blobs(conn, [sha], verify=False).get(sha)
        if delta is None:
            raise damaged(conn, row, "the delta that gives back its original bytes is missing")
        if hashlib.sha256(delta).digest() != sha:
            raise damaged(conn, row, "the delta of its original bytes does not match its hash")
        try:
            data = original.decode(delta, ref, int(row.original_size or 0))
        except original.DeltaError as exc:
            raise damaged(
                conn, row, f"the delta of its original bytes does not decode ({exc})"
            ) from None
    if len(data) != row.original_size or hashlib.sha256(data).hexdigest() != row.original_sha256:
        raise damaged(
            conn, row, f"its original bytes do not match their recorded hash {row.original_sha256}"
        )
    return data


# ------------------------------------------------------------------------------------------
# Parts read on their own: nodes of a subgraph, collection members, import forms


@dataclass(frozen=True)
class NodeSlices:
    """Nodes read on their own: their framed bytes joined in the version's order, each
    one's indexed columns (name, op, device) and its position in the version, in that order."""

    body: bytes
    columns: list[tuple[str, str, str]]
    positions: tuple[int, ...] = ()


def node_slices(conn: Connection, row: Row[Any], selected: ColumnElement[bool]) -> NodeSlices:
    """The framed NodeDefs of the version's node rows that pass ``selected``, in the version's
    order, each checked against its row's hash (a slice of its pack, each pack read once and
    its inflated bytes kept for the next query), with the rows' indexed columns for
    :func:`check_node_columns`."""
    found = conn.execute(_SLICES.where(selected)).all()
    packs = pack_data(conn, {s[0] for s in found}, keep=True, version=row)
    empty = memoryview(b"")
    slices = [(s[0], s[1], packs.get(s[0], empty)[s[1] : s[1] + s[2]], *s[3:7]) for s in found]
    where = byte_layout.positions_in(order_index(conn, row), ((s[0], s[1]) for s in slices))
    try:
        slices.sort(key=lambda s: where[(s[0], s[1])])
    except KeyError:
        raise damaged(conn, row, "a node row lies where the version has no node") from None
    sha, unframe = hashlib.sha256, byte_layout.unframe
    for s in slices:
        try:
            intact = sha(unframe(s[2])).digest() == bytes(s[3])
        except ValueError:
            intact = False
        if not intact:
            raise damaged(conn, row, "a stored node does not match its hash")
    return NodeSlices(
        b"".join(bytes(s[2]) for s in slices),
        [(s[4], s[5], s[6]) for s in slices],
        tuple(where[(s[0], s[1])] for s in slices),
    )


def check_node_columns(
    conn: Connection, row: Row[Any], nodes: Iterable[Any], columns: Sequence[tuple[str, str, str]]
) -> None:
    """Check that the indexed columns (name, op, device) of the rows :func:`node_slices` read
    say what their NodeDefs (``nodes``, parsed, in the same order) say: a query answered from
    an edited index would otherwise return nodes the filter does not match."""
    for node, indexed in zip(nodes, columns, strict=False):
        if indexed != (node.name, node.op, node.device):
            raise damaged(
                conn, row, f"the indexed columns of node {node.name!r} differ from its content"
            )


def check_edges(conn: Connection, row: Row[Any], nodes: Iterable[Any]) -> None:
    """Check that the edge rows of these NodeDefs' rows (which closures follow) say what
    their inputs say (their sources' names read through ``names``)."""
    parse_input = graph.parse_input
    wanted = {node.name: [parse_input(text) for text in node.input] for node in nodes}
    names = sorted(wanted)
    found: dict[str, list[tuple[int, str, int, bool]]] = {}
    source = NM.alias("source")
    for i in range(0, len(names), _CHUNK):
        for name, slot, src, output, control in conn.execute(
            select(NM.c.name, E.c.slot, source.c.name, E.c.src_output, E.c.control)
            .select_from(named().join(E, E.c.node_id == edges_owner(N)))
            .outerjoin(source, source.c.id == E.c.src_id)
            .where(
                in_version(N, row.graph_id, row.number),
                names_in(conn, N.c.name_id, names[i : i + _CHUNK]),
            )
        ):
            found.setdefault(name, []).append((slot, src, int(output), bool(control)))
    for name in names:
        stored = [(s, o, c) for _, s, o, c in sorted(found.get(name, []))]
        if stored != wanted[name]:
            raise damaged(conn, row, f"the edge rows of node {name!r} differ from its inputs")


def members_json(names: Iterable[str]) -> bytes:
    """A collection's member names (sorted) as stored: the JSON its member blob holds, whose
    SHA-256 is the collection's ``members_sha256`` (docs/storage.md §5)."""
    text = json.dumps(sorted(names), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def members_digest(names: Iterable[str]) -> str:
    """The digest of a collection's member names (sorted), kept with each collection row."""
    return hashlib.sha256(members_json(names)).hexdigest()


def member_lists(
    conn: Connection, row: Row[Any], keys: Sequence[str] | None = None
) -> dict[str, frozenset[str]]:
    """The op names each of the version's collections (``keys``, or all) refers to, by key:
    read from the member blobs the collections name, each checked against its digest
    (docs/storage.md §5). A list read before is checked by comparing the stored bytes with
    those it was parsed from, not parsed again (queries read a version's lists each time)."""
    query = select(C.c.key, C.c.members_sha256).where(C.c.version_id == row.id)
    if keys is not None:
        query = query.where(C.c.key.in_(list(keys)))
    digests = {key: digest for key, digest in conn.execute(query)}
    shas = sorted({bytes.fromhex(d) for d in digests.values()})
    blob_rows = conn.execute(select(B.c.sha256, B.c.data).where(B.c.sha256.in_(shas)))
    stored = {bytes(sha): data for sha, data in blob_rows}
    parsed: dict[str, frozenset[str]] = {}
    for key, digest in digests.items():
        if digest not in parsed:
            data = stored.get(bytes.fromhex(digest))
            names = None if data is None else _LISTS.names(digest, bytes(data))
            if names is None:
                raise damaged(conn, row, f"the members of its collection {key!r} were changed")
            parsed[digest] = names
    return {key: parsed[digest] for key, digest in digests.items()}


class _Lists:
    """Member lists parsed last, by digest, with the stored bytes they were parsed from.
    Thread-safe; bounded by those bytes."""

    BYTES = 16 * 1024 * 1024

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lists: OrderedDict[str, tuple[bytes, frozenset[str]]] = OrderedDict()
        self.size = 0

    def names(self, digest: str, stored: bytes) -> frozenset[str] | None:
        """The names ``stored`` holds if it matches ``digest`` (None if it does not)."""
        with self.lock:
            known = self.lists.get(digest)
        if known is not None and known[0] == stored:
            return known[1]
        try:
            data = bytes(codec.decompress(stored))
        except ValueError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        try:
            names = json.loads(data.decode("utf-8", "surrogatepass"))
        except ValueError:  # hashed as recorded, yet not a list: the digest was edited too
            return None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return None
        parsed = frozenset(names)
        with self.lock:
            if digest not in self.lists and len(stored) <= self.BYTES // 4:
                self.lists[digest] = (stored, parsed)
                self.size += len(stored)
            while self.size > self.BYTES:
                self.size -= len(self.lists.popitem(last=False)[1][0])
        return parsed


_LISTS = _Lists()


def collection_members(conn: Connection, row: Row[Any], keys: Sequence[str]) -> list[str]:
    """The op names the version's collections ``keys`` refer to, checked against the digest
    recorded for each collection."""
    return sorted(frozenset().union(*member_lists(conn, row, keys).values()))


def import_form(conn: Connection, row: Row[Any], form_version: int) -> bytes | None:
    """The stored import form of a version's content (None if there is none), checked
    against the hash kept with it."""
    found = conn.execute(
        select(F.c.data, F.c.sha256).where(
            F.c.content_hash == row.content_hash, F.c.form_version == form_version
        )
    ).first()
    if found is None:
        return None
    data = bytes(found.data)
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise damaged(conn, row, "its stored import form does not match its hash")
    return data

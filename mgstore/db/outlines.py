"""Stored outlines: a version's shape (names, ops, devices, edges, collection members),
computed once at ingest and kept compressed, in content-addressed parts.

Reading a version's outline from the node and edge tables takes two indexed scans and
Python work over every row (about a second at 80,000 nodes); decoding the stored parts takes
a few hundredths of that. Each of the five parts (:data:`PARTS`) is one compressed blob in
``outline_parts``, keyed by the SHA-256 of its bytes and checked against it on every read;
``version_outlines`` names a version's five. A version that only moves devices or changes
attr values therefore shares its names, edges and collections with the version before and
adds a few kilobytes, not the whole outline. Its ``ops`` and ``devices`` are kept as a delta
against the version before's where that is smaller (the entries that changed): a whole
column grows with every scattered change its history made, a delta costs its own changes.
``fsck`` compares each stored outline with a recomputation from the tables
(:func:`from_tables`). See docs/storage.md §11.
"""

from __future__ import annotations

import hashlib
import json
import operator
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate, compress, repeat
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, literal_column, select

from mgstore.db.inserts import fetch_raw, insert_ignore
from mgstore.db.refs import damaged
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.tables import OUTLINE_PARTS as OP
from mgstore.db.tables import VERSION_OUTLINES as VO
from mgstore.db.versions import DEVICES, OPS, described, edges_owner, in_version, member_lists
from mgstore.graph import parse_input

__all__ = [
    "Shape", "Columns", "PARTS", "FORMAT", "build", "encode", "decode", "from_tables",
    "columns_from_tables", "write", "read", "DELTA", "DELTA_PARTS", "CHAIN", "delta_base",
]  # fmt: skip


#: The parts of a stored outline, each a column of ``version_outlines``.
PARTS = ("names", "ops", "devices", "edges", "collections")
#: The encoding, on the first line of each part (``mgstore-outline-names 1``). A part in
#: another format is read as absent: the tables answer instead.
FORMAT = 1
#: The format of an ``ops`` or ``devices`` part kept as a delta: the SHA-256 of the part it
#: changes on its first line (``mgstore-outline-devices 2 <hex>``), then the entries that differ.
DELTA = 2
#: The parts that may be deltas, and the longest chain of deltas an ingest writes (a read
#: follows up to :data:`_MAX_CHAIN` before calling it damage).
DELTA_PARTS = ("ops", "devices")
CHAIN = 8
_MAX_CHAIN = 64
_MAGIC = b"mgstore-outline-"
_LEVEL = 1  # zlib: a fifth of the time of its default (6), for a quarter more bytes
_MAX_SIZE = 1 << 31  # decompressed; the largest part of 80,000 nodes' outline is 4 MB
_BIG = sys.byteorder == "big"


class Shape(NamedTuple):
    """The parts of :class:`mgstore.entities.Outline` that the version's content decides."""

    names: tuple[str, ...]
    ops: tuple[str, ...]
    devices: tuple[str, ...]
    edges: tuple[tuple[int, int, bool], ...]
    collections: dict[str, tuple[str, ...]]


class Columns(NamedTuple):
    """A shape as ingest makes it: edges as three columns, sorted by producer, consumer
    and control (cheaper to make and to encode than a tuple per edge)."""

    names: tuple[str, ...]
    ops: tuple[str, ...]
    devices: tuple[str, ...]
    producers: list[int]
    consumers: list[int]
    controls: bytes  # 0 or 1 per edge
    collections: dict[str, tuple[str, ...]]

    def shape(self) -> Shape:
        edges = zip(self.producers, self.consumers, map(bool, self.controls), strict=True)
        return Shape(self.names, self.ops, self.devices, tuple(edges), self.collections)


def _columns(
    names: Sequence[str],
    ops: Sequence[str],
    devices: Sequence[str],
    sources: Iterable[str],
    consumers: Iterable[int],
    controls: Iterable[bool],
    members: Mapping[str, Iterable[str]],
) -> Columns:
    """A shape from node columns (in any order), one entry per input (its source's name, the
    consumer's position in the columns and whether it is a control input), and members.

    C-level maps and sorts of integers only: a Python loop per edge would cost more than
    the rest of the work together.
    """
    count = len(names)
    order = sorted(range(count), key=names.__getitem__)
    rank = sorted(range(count), key=order.__getitem__)  # the inverse permutation
    ordered = tuple(map(names.__getitem__, order))
    index = dict(zip(ordered, range(count), strict=True))
    producers = list(map(index.get, sources, repeat(-1)))  # -1: an input naming no node here
    # Each edge as one integer, (producer, consumer, control) in its bits: sorting those is
    # several times cheaper than sorting tuples.
    shift = max(count, 1).bit_length() + 1
    keys = map(
        operator.or_,
        map(operator.lshift, producers, repeat(shift)),
        map(
            operator.or_,
            map(operator.lshift, map(rank.__getitem__, consumers), repeat(1)),
            controls,
        ),
    )
    found = sorted(compress(keys, map((-1).__ne__, producers)) if -1 in producers else keys)
    mask = (1 << (shift - 1)) - 1
    return Columns(
        names=ordered,
        ops=tuple(map(ops.__getitem__, order)),
        devices=tuple(map(devices.__getitem__, order)),
        producers=list(map(operator.rshift, found, repeat(shift))),
        consumers=list(map(operator.and_, map(operator.rshift, found, repeat(1)), repeat(mask))),
        controls=bytes(map(operator.and_, found, repeat(1))),
        collections={key: tuple(sorted(v)) for key, v in sorted(members.items()) if v},
    )


def build(
    names: Sequence[str],
    ops: Sequence[str],
    devices: Sequence[str],
    inputs: Sequence[Sequence[str]],
    members: Mapping[str, Iterable[str]],
) -> Columns:
    """A version's shape from its nodes' columns and input strings (at ingest, in memory)."""
    sources = [text for texts in inputs for text in texts]
    consumers = [i for i, texts in enumerate(inputs) for _ in texts]
    controls = [False] * len(sources)
    # Most inputs are plain names; the others are parsed (as the edges table keeps them).
    for k in [k for k, text in enumerate(sources) if ":" in text or text[:1] == "^"]:
        sources[k], _, controls[k] = parse_input(sources[k])
    return _columns(names, ops, devices, sources, consumers, controls, members)


def from_tables(conn: Connection, row: Row[Any]) -> Shape:
    """The shape of the version in ``row`` (a ``versions`` row) from its node, edge and
    collection rows: what a stored outline must equal."""
    return columns_from_tables(conn, row).shape()


def columns_from_tables(conn: Connection, row: Row[Any], *, shared: bool = True) -> Columns:
    """:func:`from_tables`, as :class:`Columns` (to be encoded). ``shared=False``: for a
    schema before ``nodes.edges_from`` (revision 0008's upgrade), every row's own edges and
    the names in the rows (before revision 0019's ``names``)."""
    in_row = in_version(N, row.graph_id, row.number)
    # Plain tuples from the driver: SQLAlchemy's per-row processing is most of the cost here.
    # Each row by the id of the row whose edges it uses (its own or a shared one: one per
    # name, so one per row of a version).
    own = edges_owner(N) if shared else N.c.id
    source = NM.alias("source")
    name: Any
    op: Any
    device: Any
    src: Any
    if shared:
        name, op, device = NM.c.name, OPS.c.name, DEVICES.c.name
        nodes, src = described(), source.c.name
        edge_rows = E.join(N, own == E.c.node_id).outerjoin(source, source.c.id == E.c.src_id)
    else:
        name, op, device, src = (
            literal_column(f"{t}.{c}")
            for t, c in (
                ("nodes", "name"),
                ("nodes", "op"),
                ("nodes", "device"),
                ("edges", "src_name"),
            )
        )
        nodes, edge_rows = N, E.join(N, own == E.c.node_id)
    query = select(name, op, device, own).select_from(nodes).where(in_row)
    rows = fetch_raw(conn, query)
    names, ops, devices, ids = (list(c) for c in zip(*rows, strict=True)) if rows else ([],) * 4
    position = {node_id: i for i, node_id in enumerate(ids)}
    inputs = fetch_raw(
        conn, select(src, E.c.node_id, E.c.control).select_from(edge_rows).where(in_row)
    )
    # Column at a time, with C-level maps: a Python loop here is most of the cost at 100k edges.
    sources, nodes, controls = (list(c) for c in zip(*inputs, strict=True)) if inputs else ([],) * 3
    members = member_lists(conn, row)
    consumers = map(position.__getitem__, nodes)
    return _columns(names, ops, devices, sources, consumers, controls, members)


def encode(columns: Columns) -> dict[str, bytes]:
    """The stored parts of a shape, by name (deterministic: equal parts give equal bytes)."""
    payloads = {
        "names": _json(columns.names),
        "ops": _column(columns.ops),
        "devices": _column(columns.devices),
        "edges": _edges(columns),
        "collections": _json(columns.collections),
    }
    return {
        part: zlib.compress(b"%s%s %d\n" % (_MAGIC, part.encode(), FORMAT) + payload, _LEVEL)
        for part, payload in payloads.items()
    }


def _json(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


def _column(values: Sequence[str]) -> bytes:
    """A column of few distinct strings: their table (JSON), then each value's index."""
    table = sorted(set(values))
    index = {value: i for i, value in enumerate(table)}
    text = _json(table)
    return len(text).to_bytes(8, "little") + text + _ints("I", map(index.__getitem__, values))


def _edges(columns: Columns) -> bytes:
    """Edges sorted by producer: the steps between producers, each consumer's offset from
    its producer, and the control flags (small numbers, which compress well)."""
    producers = columns.producers
    steps = map(operator.sub, producers, [0, *producers[:-1]])
    offsets = map(operator.sub, columns.consumers, producers)
    size = len(producers).to_bytes(8, "little")
    return size + _ints("I", steps) + _ints("i", offsets) + columns.controls


def _ints(code: str, values: Iterable[int]) -> bytes:
    packed = array(code, values)
    if _BIG:
        packed.byteswap()
    return packed.tobytes()


def _unints(code: str, data: bytes) -> array[int]:
    packed = array(code)
    packed.frombytes(data)
    if _BIG:
        packed.byteswap()
    return packed


def _parse(part: str, data: bytes) -> tuple[bytes, bytes]:
    """A stored part's first line after its kind (``1``, or ``2 <hex>`` for a delta) and its
    payload; ValueError if the bytes are not one of ``part``."""
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data, _MAX_SIZE)
    except zlib.error as error:
        raise ValueError(f"not compressed data ({error})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise ValueError("not one complete compressed part")
    line, newline, payload = raw.partition(b"\n")
    kind, _, rest = line.partition(b" ")
    if not newline or kind != b"mgstore-outline-" + part.encode():
        raise ValueError(f"not a stored outline's {part}")
    return rest, payload


def _payload(part: str, data: bytes) -> bytes | None:
    """The payload of a stored part (None if it is in another format); ValueError if the
    bytes are not one."""
    rest, payload = _parse(part, data)
    return payload if rest == b"%d" % FORMAT else None


def decode(
    parts: Mapping[str, bytes],
    wanted: Sequence[str] = PARTS,
    resolved: Mapping[str, tuple[str, ...]] | None = None,
) -> Shape | None:
    """The shape stored as ``parts`` (by name; None if one is in another format), with only
    the ``wanted`` parts (the others are left empty); ValueError if they are not a stored
    outline's parts or do not fit together. ``resolved``: columns already decoded (ops and
    devices, which :func:`read` materializes from their deltas): their parts are not read."""
    resolved = resolved or {}
    payloads = {part: _payload(part, parts[part]) for part in wanted if part not in resolved}
    if any(payload is None for payload in payloads.values()):
        return None
    try:
        names = json.loads(payloads.get("names") or b"[]")
        ops, devices = (
            resolved[part] if part in resolved else _uncolumn(payloads.get(part))
            for part in ("ops", "devices")
        )
        count = len(names) if "names" in wanted else len(ops) or len(devices)
        edges = _unedges(payloads.get("edges"), count)
        collections = json.loads(payloads.get("collections") or b"{}")
        collections = {key: tuple(members) for key, members in collections.items()}
    except (ValueError, TypeError, IndexError, AttributeError, UnicodeError) as error:
        raise ValueError(f"its parts cannot be read ({error})") from None
    columns = [len(c) for part, c in (("names", names), ("ops", ops), ("devices", devices))
               if part in wanted]  # fmt: skip
    if not isinstance(names, list) or len(set(columns)) > 1:
        raise ValueError("its parts do not fit together")
    return Shape(tuple(names), ops, devices, edges, collections)


def _uncolumn(payload: bytes | None) -> tuple[str, ...]:
    if payload is None:
        return ()
    size = int.from_bytes(payload[:8], "little")
    table = json.loads(payload[8 : 8 + size])
    return tuple(map(table.__getitem__, _unints("I", payload[8 + size :])))


def _unedges(payload: bytes | None, nodes: int) -> tuple[tuple[int, int, bool], ...]:
    if payload is None:
        return ()
    count = int.from_bytes(payload[:8], "little")
    if len(payload) != 8 + 9 * count:
        raise ValueError(f"{count} edges do not fit in {len(payload)} bytes")
    producers = list(accumulate(_unints("I", payload[8 : 8 + 4 * count])))
    consumers = list(
        map(operator.add, producers, _unints("i", payload[8 + 4 * count : -count or None]))
    )
    if count and not (producers[-1] < nodes and min(consumers) >= 0 and max(consumers) < nodes):
        raise ValueError("an edge names a node the outline does not have")
    controls = map(bool, payload[len(payload) - count :])
    return tuple(zip(producers, consumers, controls, strict=True))


def _delta(part: str, base: bytes, old: Sequence[str], new: Sequence[str]) -> bytes | None:
    """The stored part of column ``new`` as a delta against ``old``, the column stored as
    the part whose SHA-256 is ``base`` (None if they do not have one entry per same node):
    the number of entries, the changed entries' distinct values (JSON), and per changed
    entry the step from the one before and its value's index (deterministic)."""
    if len(old) != len(new):
        return None
    changed = list(compress(range(len(new)), map(operator.ne, old, new)))
    values = list(map(new.__getitem__, changed))
    table = sorted(set(values))
    index = {value: i for i, value in enumerate(table)}
    text = _json(table)
    payload = b"".join([
        len(new).to_bytes(8, "little"), len(text).to_bytes(8, "little"), text,
        len(changed).to_bytes(8, "little"),
        _ints("I", map(operator.sub, changed, [0, *changed[:-1]])),
        _ints("I", map(index.__getitem__, values)),
    ])  # fmt: skip
    line = b"%s%s %d %s\n" % (_MAGIC, part.encode(), DELTA, base.hex().encode())
    return zlib.compress(line + payload, _LEVEL)


def _apply(column: list[str], payload: bytes) -> None:
    """Change ``column`` as the delta ``payload`` says; ValueError if it does not fit."""
    count = int.from_bytes(payload[:8], "little")
    size = int.from_bytes(payload[8:16], "little")
    table = json.loads(payload[16 : 16 + size])
    rest = payload[16 + size :]
    changed = int.from_bytes(rest[:8], "little")
    if count != len(column) or len(rest) != 8 + 8 * changed or not isinstance(table, list):
        raise ValueError("a delta does not fit the part it changes")
    positions = accumulate(_unints("I", rest[8 : 8 + 4 * changed]))
    for position, value in zip(positions, _unints("I", rest[8 + 4 * changed :]), strict=True):
        column[position] = table[value]


def delta_base(data: bytes) -> bytes | None:
    """The SHA-256 of the part a stored ``ops`` or ``devices`` part is a delta against (None:
    it is whole, or not readable as a delta); ``data`` may be its first bytes only."""
    try:
        line = zlib.decompressobj().decompress(data, 256).partition(b"\n")[0]
    except zlib.error:
        return None
    kind, _, rest = line.partition(b" ")
    number, _, base = rest.partition(b" ")
    if number != b"%d" % DELTA or kind[len(_MAGIC) :].decode("ascii", "replace") not in DELTA_PARTS:
        return None
    try:
        sha = bytes.fromhex(base.decode("ascii"))
    except (UnicodeError, ValueError):
        return None
    return sha if len(sha) == 32 else None


def _resolve(conn: Connection, part: str, data: bytes) -> tuple[tuple[str, ...], int] | None:
    """The column stored as ``data`` (an ``ops`` or ``devices`` part, whole or a delta whose
    bases are read from ``outline_parts``, each checked against its key) and the number of
    deltas it took; None if a part of the chain is in a format this mgstore does not read;
    ValueError if one is missing, damaged or the chain too long."""
    deltas: list[bytes] = []
    while True:
        rest, payload = _parse(part, data)
        if rest == b"%d" % FORMAT:
            break
        base = delta_base(data)
        if base is None:
            return None
        if len(deltas) == _MAX_CHAIN:
            raise ValueError(f"its {part} are a chain of more than {_MAX_CHAIN} deltas")
        deltas.append(payload)
        found = conn.execute(select(OP.c.data).where(OP.c.sha256 == base)).scalar()
        if found is None:
            raise ValueError(f"the part its {part} build on is missing")
        data = bytes(found)
        if hashlib.sha256(data).digest() != base:
            raise ValueError(f"the part its {part} build on does not match its hash")
    try:
        column = list(_uncolumn(payload))
        for delta in reversed(deltas):
            _apply(column, delta)
    except (ValueError, TypeError, IndexError, AttributeError, UnicodeError) as error:
        raise ValueError(f"its {part} cannot be read ({error})") from None
    return tuple(column), len(deltas)


def _as_deltas(conn: Connection, parent: int, parts: Mapping[str, bytes]) -> dict[str, bytes]:
    """``parts`` (whole, as :func:`encode` makes them) with ``ops`` and ``devices`` as deltas
    against version ``parent``'s where that is smaller and its chain shorter than
    :data:`CHAIN` (same names: the same node at each position). A parent's part that cannot be
    read leaves the part whole (fsck reports the damage)."""
    out = dict(parts)
    base = conn.execute(select(VO).where(VO.c.version_id == parent)).first()
    if base is None or bytes(base.names) != hashlib.sha256(parts["names"]).digest():
        return out
    for part in DELTA_PARTS:
        sha = bytes(getattr(base, part))
        if sha == hashlib.sha256(parts[part]).digest():
            continue  # the same part: shared
        data = conn.execute(select(OP.c.data).where(OP.c.sha256 == sha)).scalar()
        if data is None or hashlib.sha256(data).digest() != sha:
            continue
        try:
            found = _resolve(conn, part, bytes(data))
        except ValueError:
            continue
        if found is None or found[1] + 1 >= CHAIN:
            continue
        delta = _delta(part, sha, found[0], _uncolumn(_payload(part, parts[part])))
        if delta is not None and len(delta) < len(parts[part]):
            out[part] = delta
    return out


def write(
    conn: Connection, version_id: int, parts: Mapping[str, bytes], parent: int | None = None
) -> None:
    """Keep ``parts`` (an encoded outline) as the outline of version ``version_id``, its ops
    and devices as deltas against version ``parent``'s where smaller; parts already stored
    (by another version) are not written again."""
    if parent is not None:
        parts = _as_deltas(conn, parent, parts)
    shas = {part: hashlib.sha256(data).digest() for part, data in parts.items()}
    present = set(
        conn.execute(select(OP.c.sha256).where(OP.c.sha256.in_(list(shas.values())))).scalars()
    )
    # In sorted order, so that concurrent writers lock shared rows in one order.
    for sha, data in sorted((shas[part], parts[part]) for part in PARTS):
        if sha not in present:
            conn.execute(insert_ignore(conn, OP, ["sha256"]), {"sha256": sha, "data": data})
            present.add(sha)
    conn.execute(VO.insert(), {"version_id": version_id, **{part: shas[part] for part in PARTS}})


def read(conn: Connection, row: Row[Any], wanted: Sequence[str] = PARTS) -> Shape | None:
    """The stored outline of the version in ``row``, with the ``wanted`` parts only (the
    others empty), each checked against its hash (and the parts its deltas build on against
    theirs); None if none is stored, or in a format this mgstore does not read;
    IntegrityError if a part is missing or damaged."""
    found = conn.execute(select(VO).where(VO.c.version_id == row.id)).first()
    if found is None:
        return None
    shas = {part: bytes(getattr(found, part)) for part in wanted}
    stored = {
        bytes(sha): bytes(data)
        for sha, data in conn.execute(
            select(OP.c.sha256, OP.c.data).where(OP.c.sha256.in_(sorted(set(shas.values()))))
        )
    }
    parts: dict[str, bytes] = {}
    for part, sha in shas.items():
        data = stored.get(sha)
        if data is None:
            raise damaged(conn, row, f"its stored outline's {part} are missing")
        if hashlib.sha256(data).digest() != sha:
            raise damaged(conn, row, f"its stored outline's {part} do not match their hash")
        parts[part] = data
    try:
        resolved: dict[str, tuple[str, ...]] = {}
        for part in (part for part in DELTA_PARTS if part in wanted):
            column = _resolve(conn, part, parts[part])
            if column is None:
                return None
            resolved[part] = column[0]
        return decode(parts, wanted, resolved)
    except ValueError as error:
        raise damaged(conn, row, f"its stored outline cannot be read: {error}") from None

"""A version's node order as stored: whole, or as a delta against an earlier version's.

An order is the (pack, offset, length) of each node, in stored order (docs/storage.md §4).
Read, it is one flat ``array('q')`` of those triples (:func:`decode`). Stored, it is either

* **whole**: :func:`encode` (per node, the pack's change, the gap since the previous node's
  end and the length, zlib-compressed); every order written before revision
  ``0012_order_deltas`` is whole, and a zlib stream never begins with the byte 0x01;
* a **delta**: the byte 0x02, the base version's id (8 bytes, big-endian), the SHA-256 of the
  order's whole encoding, then zlib's stream of the edit: the base's and the result's node
  counts and how many steps and literal nodes follow, then the steps (skip, copy, insert) —
  copy ``copy`` nodes of the base starting ``skip`` after where the previous copy ended, then
  ``insert`` literal nodes — and the literals' (pack, gap, length), coded as the whole encoding
  codes them; column by column, each column in the narrowest of 1, 2, 4 or 8-byte integers
  that holds it (its width in a byte before it), so that zlib sees like values together;
* the same edit as the byte 0x01, head as above, and zlib's stream of the counts and then
  each step followed by its literal triples, all 8-byte integers: what revisions
  ``0012_order_deltas`` to ``0017_pg_reference_guards`` wrote. It is read as it is; revision
  ``0018_order_columns`` rewrites it as 0x02 and its downgrade writes it back.

The digest in a delta is what the audit record of the version keeps for its order (the
SHA-256 of the whole encoding, as for whole orders), so a record says the same whether the
order is stored whole or as a delta. No SQL and no protobuf here: :mod:`mgstore.db.versions`
materializes a version's order, :mod:`mgstore.db.write` chooses the encoding.
"""

from __future__ import annotations

import hashlib
import operator
import zlib
from array import array
from collections.abc import Iterable
from itertools import accumulate, chain, count, repeat

__all__ = [
    "DELTA",
    "DELTA_V1",
    "apply_delta",
    "base_of",
    "decode",
    "delta",
    "digest",
    "encode",
    "flat",
    "locations",
    "position_index",
    "runs",
]

DELTA = b"\x02"  #: the first byte of an order stored as a delta (columns)
DELTA_V1 = b"\x01"  #: the first byte of a delta as revisions before 0018 wrote it
_DELTAS = (DELTA, DELTA_V1)
_WIDTHS = {1: "b", 2: "h", 4: "i", 8: "q"}  # a column's width in bytes -> its array type
_HEAD = 1 + 8 + 32  # flag, base id, digest
OFFSET_BITS = 40  # (pack, offset) as one int: offsets within a pack stay far below 2**40

Location = tuple[int, int, int]


def flat(locations: Iterable[Location]) -> array[int]:
    """The triples as one flat array (the form every function here reads)."""
    return array("q", chain.from_iterable(locations))


def encode(order: array[int]) -> bytes:
    """The whole encoding of an order (what ``byte_layout.pack_locations`` gives)."""
    packs, offsets, lengths = order[0::3], order[1::3], order[2::3]
    out = array("q", bytes(len(order) * 8))
    out[0::3] = array("q", map(operator.sub, packs, chain((0,), packs)))
    ends = map(operator.add, offsets, lengths)
    out[1::3] = array("q", map(operator.sub, offsets, chain((0,), ends)))
    out[2::3] = lengths
    return zlib.compress(out.tobytes(), 6)


def decode(data: bytes) -> array[int]:
    """The order a whole encoding holds; ValueError if it is not one."""
    values = array("q")
    try:
        values.frombytes(zlib.decompress(data))
    except (zlib.error, ValueError) as error:
        raise ValueError(f"not an encoded node order ({error})") from None
    if len(values) % 3:
        raise ValueError("an encoded node order's values are not triples")
    lengths = values[2::3]
    # Running sums in C: a node ends where the previous one ended, plus its gap and length.
    ends = accumulate(map(operator.add, values[1::3], lengths))
    out = array("q", bytes(len(values) * 8))
    out[0::3] = array("q", accumulate(values[0::3]))
    out[1::3] = array("q", map(operator.sub, ends, lengths))
    out[2::3] = lengths
    return out


def digest(data: bytes) -> bytes:
    """The SHA-256 of a stored order's whole encoding: of the bytes themselves when whole,
    the one a delta carries otherwise (what the audit record of a version keeps)."""
    if data[:1] in _DELTAS:
        if len(data) < _HEAD:
            raise ValueError("a node order delta is cut short")
        return data[9:_HEAD]
    return hashlib.sha256(data).digest()


def base_of(data: bytes) -> int | None:
    """The id of the version a stored order is a delta against (None: it is whole)."""
    if data[:1] not in _DELTAS:
        return None
    if len(data) < _HEAD:
        raise ValueError("a node order delta is cut short")
    return int.from_bytes(data[1:9], "big")


def delta(base: array[int], order: array[int], base_id: int, whole: bytes) -> bytes:
    """``order`` as a delta against ``base`` (the order of version ``base_id``); ``whole``
    is its whole encoding, whose SHA-256 the delta carries. Checked by applying it:
    ValueError if it does not give ``order`` back (nodes at one place with two lengths)."""
    index = position_index(base)
    found = list(map(index.get, _keys(order)))
    n = len(found)
    # Where a run of consecutive base nodes ends: each node not in the base is a run too.
    bounds = [0, *(j for j, a, b in zip(count(1), found[1:], found, strict=False)
                   if a is None or b is None or a != b + 1), n]  # fmt: skip
    steps: tuple[list[int], ...] = ([], [], [], [], [], [])  # skip, copy, insert; literals
    state = [0, 0, 0]  # where the previous copy ended, the previous literal's pack and end
    start, copied, inserted = 0, 0, []
    for s, e in zip(bounds, bounds[1:], strict=False) if n else ():
        here = found[s]
        if here is None:
            inserted.append(s)
            continue
        _step(steps, state, order, start, copied, inserted)
        start, copied, inserted = here, e - s, []
    _step(steps, state, order, start, copied, inserted)
    counts = array("q", (len(base) // 3, n, len(steps[0]), len(steps[3])))
    body = b"".join([counts.tobytes(), *map(_column, steps)])
    head = DELTA + base_id.to_bytes(8, "big") + hashlib.sha256(whole).digest()
    data = head + zlib.compress(body, 9)
    if apply_delta(base, data) != order:
        raise ValueError("the order cannot be coded against this base")
    return data


def _column(values: list[int]) -> bytes:
    """A column of a delta: its width in a byte, then its values in that width."""
    low, high = (min(values), max(values)) if values else (0, 0)
    for width, kind in _WIDTHS.items():
        bound = 1 << (8 * width - 1)
        if -bound <= low and high < bound:
            return bytes((width,)) + array(kind, values).tobytes()
    raise ValueError("a delta's value does not fit in 8 bytes")


def _step(
    steps: tuple[list[int], ...],
    state: list[int],
    order: array[int],
    start: int,
    copied: int,
    inserted: list[int],
) -> None:
    """Append one step of a delta: copy ``copied`` base nodes from ``start``, then insert
    the nodes of ``order`` at positions ``inserted``."""
    if not copied and not inserted:
        return
    expected, previous_pack, previous_end = state
    steps[0].append(start - expected)
    steps[1].append(copied)
    steps[2].append(len(inserted))
    for i in inserted:
        pack, offset, length = order[3 * i : 3 * i + 3]
        steps[3].append(pack - previous_pack)
        steps[4].append(offset - previous_end)
        steps[5].append(length)
        previous_pack, previous_end = pack, offset + length
    state[:] = [start + copied, previous_pack, previous_end]


def apply_delta(base: array[int], data: bytes) -> array[int]:
    """The order a delta gives from its base's order; ValueError if it does not apply.

    The copied runs are slices of the base's buffer, and the literals one array made by
    running sums, joined once (no per-node work)."""
    try:
        return _applied(base, data)
    except OverflowError:  # running sums of a damaged delta past 8 bytes
        raise ValueError("the delta's values do not fit in 8 bytes") from None


def _applied(base: array[int], data: bytes) -> array[int]:
    base_of(data)  # checks the head
    size, wanted, columns = (_v1_columns if data[:1] == DELTA_V1 else _columns)(data)
    if size * 3 != len(base):
        raise ValueError(f"its base has {len(base) // 3} nodes, the delta expects {size}")
    if sum(columns[2]) != len(columns[5]) or min(columns[2], default=0) < 0:
        raise ValueError("the delta's steps do not match its literals")
    lengths = columns[5]
    literal_ends = accumulate(map(operator.add, columns[4], lengths))
    coded = array("q", bytes(24 * len(lengths)))
    coded[0::3] = array("q", accumulate(columns[3]))
    coded[1::3] = array("q", map(operator.sub, literal_ends, lengths))
    coded[2::3] = array("q", lengths)
    # Step k copies base nodes [ends[k] - copies[k], ends[k]), ends being running sums of
    # skip + copy; its literals follow those of the steps before. Slices are cut in C.
    skips, copies, inserts = columns[:3]
    ends = list(accumulate(map(operator.add, skips, copies)))
    starts = list(map(operator.sub, ends, copies))
    if copies and (min(starts) < 0 or min(copies) < 0 or max(ends) > size):
        raise ValueError("the delta copies nodes its base does not have")
    view, literals = memoryview(base).cast("B"), memoryview(coded).cast("B")
    used = list(accumulate(inserts))
    pieces = chain.from_iterable(
        zip(
            map(view.__getitem__, map(slice, _bytes_at(starts), _bytes_at(ends))),
            map(literals.__getitem__, map(slice, _bytes_at(map(operator.sub, used, inserts)),
                                          _bytes_at(used))),
            strict=True,
        )
    )  # fmt: skip
    out = array("q")
    out.frombytes(b"".join(pieces))
    if len(out) != 3 * wanted:
        raise ValueError(f"the delta gives {len(out) // 3} nodes, not {wanted}")
    return out


def _bytes_at(positions: Iterable[int]) -> Iterable[int]:
    """Node positions as byte offsets in an order's buffer (three 8-byte values a node)."""
    return map(operator.mul, positions, repeat(24))


_Columns = tuple[int, int, list[list[int]]]  # base size, result size; skip, copy, insert, literals


def _columns(data: bytes) -> _Columns:
    """A delta's counts and columns (docs/storage.md §4.1)."""
    try:
        body = zlib.decompress(data[_HEAD:])
    except zlib.error as error:
        raise ValueError(f"the delta cannot be read ({error})") from None
    if len(body) < 32:
        raise ValueError("the delta is cut short")
    counts = array("q")
    counts.frombytes(body[:32])
    size, wanted, steps, literals = counts
    if min(counts) < 0:
        raise ValueError("the delta's counts are negative")
    pos, columns = 32, []
    for length in (steps, steps, steps, literals, literals, literals):
        width = body[pos] if pos < len(body) else 0
        kind, end = _WIDTHS.get(width), pos + 1 + length * width
        if kind is None or end > len(body):
            raise ValueError("the delta is cut short")
        columns.append(array(kind, body[pos + 1 : end]).tolist())
        pos = end
    if pos != len(body):
        raise ValueError("the delta has bytes after its columns")
    return size, wanted, columns


def _v1_columns(data: bytes) -> _Columns:
    """The counts and columns of a delta as revisions before 0018 wrote it: 8-byte values,
    each step followed by its literal triples."""
    coded = array("q")
    try:
        coded.frombytes(zlib.decompress(data[_HEAD:]))
    except (zlib.error, ValueError) as error:
        raise ValueError(f"the delta cannot be read ({error})") from None
    values = coded.tolist()
    if len(values) < 2:
        raise ValueError("the delta is cut short")
    columns: list[list[int]] = [[], [], [], [], [], []]
    pos, end = 2, len(values)
    while pos < end:
        if pos + 3 > end:
            raise ValueError("the delta is cut short")
        inserted = values[pos + 2]
        for column, value in zip(columns, values[pos : pos + 3], strict=False):
            column.append(value)
        pos += 3
        if inserted < 0 or pos + 3 * inserted > end:
            raise ValueError("the delta is cut short" if inserted > 0 else "a negative step")
        for k in range(3):
            columns[3 + k].extend(values[pos + k : pos + 3 * inserted : 3])
        pos += 3 * inserted
    return values[0], values[1], columns


def locations(order: array[int]) -> list[Location]:
    """The (pack, offset, length) of each node, in order."""
    return list(zip(order[0::3], order[1::3], order[2::3], strict=True))


def runs(order: array[int]) -> list[Location]:
    """The order's nodes with those that lie back to back merged into one (pack, offset,
    length) run: a checkout then joins a few slices instead of one per node."""
    out: list[Location] = []
    pack = start = end = -1
    triples = iter(order)
    for p, offset, length in zip(triples, triples, triples, strict=True):
        if p == pack and offset == end:
            end += length
            continue
        if end > start:
            out.append((pack, start, end - start))
        pack, start, end = p, offset, offset + length
    if end > start:
        out.append((pack, start, end - start))
    return out


def position_index(order: array[int]) -> dict[int, int]:
    """(pack << OFFSET_BITS | offset) -> position, built in C (iterators over the array)."""
    return dict(zip(_keys(order), count()))


def _keys(order: array[int]) -> Iterable[int]:
    """Each node's (pack << OFFSET_BITS | offset), in order."""
    return map(operator.or_, map(operator.lshift, order[0::3], repeat(OFFSET_BITS)), order[1::3])

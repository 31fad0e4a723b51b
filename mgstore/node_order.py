"""A version's node order as stored: whole, or as a delta against an earlier version's.

An order is the (pack, offset, length) of each node, in stored order (docs/storage.md §4).
Read, it is one flat ``array('q')`` of those triples (:func:`decode`). Stored, it is either

* **whole**: :func:`encode` (per node, the pack's change, the gap since the previous node's
  end and the length, zlib-compressed); every order written before revision
  ``0012_order_deltas`` is whole, and a zlib stream never begins with the byte 0x01;
* a **delta**: the byte 0x01, the base version's id (8 bytes, big-endian), the SHA-256 of the
  order's whole encoding, then zlib's stream of the edit: the base's and the result's node
  counts, then per step (skip, copy, insert) — copy ``copy`` nodes of the base starting
  ``skip`` after where the previous copy ended, then ``insert`` literal triples, coded as the
  whole encoding codes them.

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

DELTA = b"\x01"  #: the first byte of an order stored as a delta
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
    if data[:1] == DELTA:
        if len(data) < _HEAD:
            raise ValueError("a node order delta is cut short")
        return data[9:_HEAD]
    return hashlib.sha256(data).digest()


def base_of(data: bytes) -> int | None:
    """The id of the version a stored order is a delta against (None: it is whole)."""
    if data[:1] != DELTA:
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
    out = array("q", (len(base) // 3, n))
    state = [0, 0, 0]  # where the previous copy ended, the previous literal's pack and end
    start, copied, inserted = 0, 0, []
    for s, e in zip(bounds, bounds[1:], strict=False) if n else ():
        here = found[s]
        if here is None:
            inserted.append(s)
            continue
        _step(out, state, order, start, copied, inserted)
        start, copied, inserted = here, e - s, []
    _step(out, state, order, start, copied, inserted)
    head = DELTA + base_id.to_bytes(8, "big") + hashlib.sha256(whole).digest()
    data = head + zlib.compress(out.tobytes(), 9)
    if apply_delta(base, data) != order:
        raise ValueError("the order cannot be coded against this base")
    return data


def _step(
    out: array[int],
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
    out.extend((start - expected, copied, len(inserted)))
    for i in inserted:
        pack, offset, length = order[3 * i : 3 * i + 3]
        out.extend((pack - previous_pack, offset - previous_end, length))
        previous_pack, previous_end = pack, offset + length
    state[:] = [start + copied, previous_pack, previous_end]


def apply_delta(base: array[int], data: bytes) -> array[int]:
    """The order a delta gives from its base's order; ValueError if it does not apply."""
    base_of(data)  # checks the head
    values = array("q")
    try:
        values.frombytes(zlib.decompress(data[_HEAD:]))
    except (zlib.error, ValueError) as error:
        raise ValueError(f"the delta cannot be read ({error})") from None
    if len(values) < 2:
        raise ValueError("the delta is cut short")
    size, wanted = values[0], values[1]
    if size * 3 != len(base):
        raise ValueError(f"its base has {len(base) // 3} nodes, the delta expects {size}")
    out = array("q")
    expected = previous_pack = previous_end = 0
    pos, end = 2, len(values)
    while pos < end:
        if pos + 3 > end:
            raise ValueError("the delta is cut short")
        skip, copied, inserted = values[pos : pos + 3]
        start = expected + skip
        literals = values[pos + 3 : pos + 3 + 3 * inserted]
        if start < 0 or copied < 0 or inserted < 0 or start + copied > size:
            raise ValueError("the delta copies nodes its base does not have")
        if len(literals) != 3 * inserted:
            raise ValueError("the delta is cut short")
        out.extend(base[3 * start : 3 * (start + copied)])
        for pack_change, gap, length in zip(*(iter(literals),) * 3, strict=True):
            previous_pack += pack_change
            offset = previous_end + gap
            out.extend((previous_pack, offset, length))
            previous_end = offset + length
        expected, pos = start + copied, pos + 3 + 3 * inserted
    if len(out) != 3 * wanted:
        raise ValueError(f"the delta gives {len(out) // 3} nodes, not {wanted}")
    return out


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

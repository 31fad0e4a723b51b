"""Node orders stored whole or as deltas (mgstore.node_order, docs/storage.md §4): every edit
of an order (nodes changed, added, removed, moved) round-trips through a delta, deltas as
revisions before 0018_order_columns wrote them are read, a whole order is what
``byte_layout.pack_locations`` writes, and damaged deltas are refused."""

from __future__ import annotations

import hashlib
import zlib
from array import array

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from mgstore import byte_layout, node_order

Locations = list[tuple[int, int, int]]


def laid_out(lengths: list[int], pack: int = 1) -> Locations:
    """Nodes of these lengths back to back in packs of at most 1,000 bytes."""
    out, offset = [], 0
    for length in lengths:
        if offset + length > 1000:
            pack, offset = pack + 1, 0
        out.append((pack, offset, length))
        offset += length
    return out


@st.composite
def edited(draw: st.DrawFn) -> tuple[Locations, Locations]:
    """An order and an edit of it: nodes replaced by new content (in a new pack), removed,
    added, and runs moved elsewhere."""
    base = laid_out(draw(st.lists(st.integers(1, 300), max_size=120)))
    new = list(base)
    fresh = iter(laid_out([7 + i for i in range(400)], pack=1000))
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["replace", "remove", "add", "move"]))
        if not new and kind != "add":
            continue
        i = draw(st.integers(0, max(len(new) - 1, 0)))
        if kind == "replace":
            new[i] = next(fresh)
        elif kind == "remove":
            del new[i : i + draw(st.integers(1, 5))]
        elif kind == "add":
            new[i:i] = [next(fresh) for _ in range(draw(st.integers(1, 5)))]
        else:
            run = new[i : i + draw(st.integers(1, 10))]
            del new[i : i + len(run)]
            j = draw(st.integers(0, len(new)))
            new[j:j] = run
    return base, new


@settings(max_examples=300, deadline=None)
@given(edited())
def test_a_delta_gives_the_order_back(orders: tuple[Locations, Locations]) -> None:
    base, new = orders
    whole = byte_layout.pack_locations(new)
    data = node_order.delta(node_order.flat(base), node_order.flat(new), 42, whole)
    assert data[:1] == node_order.DELTA and node_order.base_of(data) == 42
    assert node_order.digest(data) == hashlib.sha256(whole).digest()
    assert node_order.locations(node_order.apply_delta(node_order.flat(base), data)) == new


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**40), st.integers(0, 9))))
def test_the_whole_encoding_is_pack_locations(locations: Locations) -> None:
    order = node_order.flat(locations)
    whole = node_order.encode(order)
    assert whole == byte_layout.pack_locations(locations)
    assert node_order.decode(whole) == order and node_order.base_of(whole) is None
    assert node_order.digest(whole) == hashlib.sha256(whole).digest()
    assert node_order.runs(order) == byte_layout.unpack_runs(whole)


def test_one_changed_node_in_a_hundred_costs_a_few_bytes_per_change() -> None:
    base = laid_out([100 + i % 57 for i in range(20_000)])
    new = list(base)
    fresh = iter(laid_out([90] * 200, pack=10_000))
    for i in range(50, 20_000, 100):
        new[i] = next(fresh)
    whole = byte_layout.pack_locations(new)
    data = node_order.delta(node_order.flat(base), node_order.flat(new), 1, whole)
    assert len(data) < 41 + 4 * 200 < len(whole) / 4


def columns_of(data: bytes) -> tuple[list[int], list[list[int]]]:
    """A delta's counts and its six columns (docs/storage.md §4.1)."""
    body = zlib.decompress(data[41:])
    counts = array("q")
    counts.frombytes(body[:32])
    pos, columns = 32, []
    for length in (*counts[2:3] * 3, *counts[3:4] * 3):
        width = body[pos]
        kind = {1: "b", 2: "h", 4: "i", 8: "q"}[width]
        columns.append(array(kind, body[pos + 1 : pos + 1 + length * width]).tolist())
        pos += 1 + length * width
    assert pos == len(body)
    return counts.tolist(), columns


def as_v1(data: bytes) -> bytes:
    """A delta as revisions before 0018_order_columns wrote it: 8-byte values, each step
    followed by its literal triples."""
    counts, (skips, copies, inserts, packs, gaps, lengths) = columns_of(data)
    values, used = array("q", counts[:2]), 0
    for step in zip(skips, copies, inserts, strict=True):
        values.extend(step)
        for k in range(used, used + step[2]):
            values.extend((packs[k], gaps[k], lengths[k]))
        used += step[2]
    return node_order.DELTA_V1 + data[1:41] + zlib.compress(values.tobytes())


@settings(max_examples=100, deadline=None)
@given(edited())
def test_deltas_written_before_columns_are_read(orders: tuple[Locations, Locations]) -> None:
    base, new = node_order.flat(orders[0]), node_order.flat(orders[1])
    whole = node_order.encode(new)
    old = as_v1(node_order.delta(base, new, 7, whole))
    assert node_order.base_of(old) == 7 and node_order.digest(old) == node_order.digest(whole)
    assert node_order.apply_delta(base, old) == new


def test_columns_take_the_narrowest_width() -> None:
    base = node_order.flat(laid_out([10] * 300))
    new = node_order.flat(laid_out([10] * 100) + [(5, 2**33, 70_000)] + laid_out([10] * 199))
    _, columns = columns_of(node_order.delta(base, new, 3, node_order.encode(new)))
    body = zlib.decompress(node_order.delta(base, new, 3, node_order.encode(new))[41:])
    widths, pos = [], 32
    for column in columns:
        widths.append(body[pos])
        pos += 1 + len(column) * body[pos]
    # skips, copies, inserts; the literal's pack step, gap (2**33) and length (70,000)
    assert widths == [1, 2, 1, 1, 8, 4]


def test_damaged_deltas_are_refused() -> None:
    base = node_order.flat(laid_out([10] * 50))
    new = node_order.flat(laid_out([10] * 20) + laid_out([5] * 3, pack=9) + laid_out([10] * 30))
    data = node_order.delta(base, new, 3, node_order.encode(new))
    head, body = data[:41], data[41:]
    counts, columns = columns_of(data)

    def coded(counts: list[int], columns: list[list[int]], extra: bytes = b"") -> bytes:
        parts = [array("q", counts).tobytes()]
        parts += [b"\x08" + array("q", column).tobytes() for column in columns]
        return head + zlib.compress(b"".join(parts) + extra)

    skips, copies, inserts, *literals = columns
    for damaged, message in [
        (data[:20], "cut short"),
        (head + body[:-3], "cannot be read"),
        (coded([51, *counts[1:]], columns), "its base has 50 nodes"),
        (coded([counts[0], counts[1] + 1, *counts[2:]], columns), "gives 53 nodes, not 54"),
        (coded(counts, [skips, [60, *copies[1:]], inserts, *literals]), "copies nodes its base"),
        (coded(counts, [skips, copies, [inserts[0] + 1, *inserts[1:]], *literals]), "do not match"),
        (coded([*counts[:3], counts[3] + 1], columns), "cut short"),
        (coded(counts, columns, b"\x00"), "bytes after its columns"),
        (coded([*counts[:2], -1, counts[3]], columns), "negative"),
        (coded(counts, [*columns[:3], [2**62] * counts[3], *literals[1:]]), "do not fit"),
        (as_v1(data)[:-2], "cannot be read"),
    ]:
        with pytest.raises(ValueError, match=message):
            node_order.apply_delta(base, damaged)
    with pytest.raises(ValueError, match="not an encoded node order"):
        node_order.decode(b"x\x9c garbage")


def test_an_order_with_a_node_moved_in_place_is_not_coded_against_that_base() -> None:
    """A node at a base's place with another length cannot be copied from it: the delta
    refuses rather than give another order back."""
    base = node_order.flat([(1, 0, 10), (1, 10, 10)])
    new = node_order.flat([(1, 0, 10), (1, 10, 12)])
    with pytest.raises(ValueError, match="cannot be coded"):
        node_order.delta(base, new, 1, node_order.encode(new))
    assert node_order.delta(base, node_order.flat([]), 1, b"") is not None

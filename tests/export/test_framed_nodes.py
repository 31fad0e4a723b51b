"""Nodes read one at a time from their framed bytes (mgstore.export.framed_nodes, and
``byte_layout.node_bodies`` under it): the chunks may be cut anywhere, a frame's head from
its body as the store cuts a patched node, and every node comes back as it was; bytes that
are not whole frames are refused."""

from __future__ import annotations

import gc
import weakref
from array import array

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from mgstore import byte_layout
from mgstore.export.framed_nodes import FramedNodes
from mgstore.proto import NodeDef


def _nodes(sizes: list[int]) -> list[NodeDef]:
    """Nodes whose serialisations have about these sizes (200 bytes and more take a
    two-byte frame length)."""
    return [NodeDef(name=f"n{i}", op="Op", device="d" * size) for i, size in enumerate(sizes)]


def _cut(data: bytes, cuts: list[int]) -> list[bytes | memoryview]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    view = memoryview(data)
    return [view[a:b] for a, b in zip(points, points[1:], strict=False)]


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([0, 1, 100, 126, 127, 128, 300, 20000]), max_size=8),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=12),
)
def test_nodes_come_back_from_chunks_cut_anywhere(sizes: list[int], cuts: list[int]) -> None:
    nodes = _nodes(sizes)
    data = b"".join(byte_layout.frame(n.SerializeToString(deterministic=True)) for n in nodes)
    chunks = _cut(data, cuts)
    assert list(FramedNodes(chunks)) == nodes
    assert list(FramedNodes(chunks)) == nodes  # iterated again: parsed again
    assert [bytes(b) for b in FramedNodes(chunks).bodies()] == [
        n.SerializeToString(deterministic=True) for n in nodes
    ]


def test_a_patch_cut_after_its_head_is_read_without_a_copy() -> None:
    body = NodeDef(name="patched", op="Op").SerializeToString()
    stored = byte_layout.frame(NodeDef(name="a", op="Op").SerializeToString())
    chunks: list[bytes | memoryview] = [stored, byte_layout.frame_head(len(body)), body, stored]
    got = list(byte_layout.node_bodies(chunks))
    assert [bytes(b) for b in got] == [stored[2:], body, stored[2:]]
    assert got[1].obj is body  # a view of the patch itself


@pytest.mark.parametrize(
    ("chunks", "problem"),
    [
        ([b"\x12\x00"], "not a framed NodeDef"),
        ([b"\x0a\x05abc"], "cut short"),
        ([b"\x0a"], "cut short"),
        ([b"\x0a\x80", b"\x80"], "cut short"),
        ([b"\x0a" + b"\x80" * 11, b"\x01"], "not a varint"),
    ],
)
def test_bytes_that_are_not_whole_frames_are_refused(
    chunks: list[bytes | memoryview], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        list(byte_layout.node_bodies(chunks))


def test_taken_nodes_are_released_chunk_by_chunk_and_gone() -> None:
    nodes = _nodes([10, 300, 20])
    chunks = [byte_layout.frame(n.SerializeToString()) for n in nodes]
    kept = FramedNodes(chunks)
    assert list(kept.take()) == nodes and list(kept) == nodes  # without release: as iter
    arrays = [array("B", c) for c in chunks]  # buffers a weak reference can watch
    alive = [weakref.ref(a) for a in arrays]
    once = FramedNodes(arrays, release=True)
    del arrays
    taken = once.take()
    assert next(taken) == nodes[0]
    assert next(taken) == nodes[1]
    gc.collect()
    assert [ref() is not None for ref in alive] == [False, True, True]  # the first let go
    with pytest.raises(ValueError, match="taken"):
        list(once)
    assert list(taken) == nodes[2:]
    with pytest.raises(ValueError, match="taken"):
        once.take()

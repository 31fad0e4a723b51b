"""An imported graph's nodes kept as their framed bytes and parsed one at a time.

A rebuilt export (§3.4) reads each node once, rewrites it and writes it: holding the graph's
nodes as messages costs many times the file (docs/storage.md §6, "Memory"), holding their
bytes about the file. :class:`FramedNodes` iterates like the tuple of messages it stands for,
parsing each node as it is reached; what a caller keeps of a node is its own copy.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from mgstore import byte_layout
from mgstore.proto import NodeDef

__all__ = ["FramedNodes"]


class FramedNodes:
    """Nodes in import order as ``chunks`` of framed NodeDefs (GraphDef node fields, cut
    anywhere; :func:`mgstore.byte_layout.node_bodies`). Each iteration parses every node
    again, one at a time, into a new message."""

    def __init__(self, chunks: Sequence[bytes | memoryview]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[NodeDef]:
        for body in byte_layout.node_bodies(self.chunks):
            yield NodeDef.FromString(body)  # type: ignore[arg-type]  # upb takes any buffer

    def bodies(self) -> Iterator[memoryview]:
        """Each node's (unframed) bytes, in order, unparsed."""
        return byte_layout.node_bodies(self.chunks)

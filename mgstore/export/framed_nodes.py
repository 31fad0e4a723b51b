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
    again, one at a time, into a new message.

    ``release``: the graph serves one export, whose last reading of the nodes (:meth:`take`)
    lets each chunk go once read, so that an export writing the nodes as it reads them holds
    the graph's bytes once, not twice; the nodes are gone afterwards.
    """

    def __init__(self, chunks: Sequence[bytes | memoryview], *, release: bool = False) -> None:
        self.chunks: Sequence[bytes | memoryview] | None = chunks
        self.release = release

    def __iter__(self) -> Iterator[NodeDef]:
        return self._parsed(self.bodies())

    def bodies(self) -> Iterator[memoryview]:
        """Each node's (unframed) bytes, in order, unparsed."""
        if self.chunks is None:
            raise ValueError("these nodes were taken (FramedNodes.take): they are gone")
        return byte_layout.node_bodies(self.chunks)

    def take(self) -> Iterator[NodeDef]:
        """The nodes, read for the last time by their export: as an iteration, but with
        ``release`` each chunk is let go once read (what the caller holds of the chunks
        aside) and the nodes are gone afterwards."""
        if not self.release:
            return iter(self)
        if self.chunks is None:
            raise ValueError("these nodes were taken (FramedNodes.take): they are gone")
        pending = list(reversed(self.chunks))
        self.chunks = None
        return self._parsed(byte_layout.node_bodies(_popped(pending)))

    @staticmethod
    def _parsed(bodies: Iterator[memoryview]) -> Iterator[NodeDef]:
        for body in bodies:
            yield NodeDef.FromString(body)  # type: ignore[arg-type]  # upb takes any buffer


def _popped(pending: list[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """The items of ``pending`` from its end, each removed from it as it is given."""
    while pending:
        yield pending.pop()

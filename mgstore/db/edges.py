"""Edge rows as ingest writes them, shared between the rows of a node whose inputs stay the
same (docs/storage.md §3.5).

An edge row is one input of a node row. A version that changes a node's attrs or device adds
a node row for the new content; when its inputs are those of the row it follows in its graph
(the open row of its name), the new row names that row's edges (``nodes.edges_from``: the row
whose edge rows serve, 0 for its own) instead of repeating them: about 100 KB a version of
the bench graph's 1% mutations. Readers join edges on :func:`owner`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import compress
from typing import Any

from sqlalchemy import Connection, select

from mgstore import byte_layout
from mgstore import graph as nxgraph
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import NODES as N
from mgstore.db.versions import edges_owner as owner
from mgstore.errors import InvalidGraphError

__all__ = ["Inputs", "owner", "edge", "edge_columns", "previous_inputs", "sources"]

_MAX_OUTPUT = 2**31 - 1  # edges.src_output is a 32-bit integer (TensorFlow's is an int32)
_CHUNK = 500

#: A row's inputs as its edge rows keep them: (source's name id, output index, control), by
#: slot.
Inputs = list[tuple[int, int, bool]]


def edge(text: str) -> tuple[str, int, bool]:
    """An input's source name, output index and control flag, as the edges table keeps them."""
    name, output, control = nxgraph.parse_input(text)
    if output > _MAX_OUTPUT:
        raise InvalidGraphError(f"input {text!r}: output index {output} is over {_MAX_OUTPUT}")
    return name, output, control


def previous_inputs(
    conn: Connection, graph_id: int, name_ids: Sequence[int]
) -> dict[int, tuple[int, Inputs]]:
    """For each of ``name_ids`` that has an open row in the graph (its latest version's), the
    row whose edge rows that row uses and its inputs: what a new row of that name may share."""
    owners: dict[int, int] = {}
    ordered = sorted(set(name_ids))
    for i in range(0, len(ordered), _CHUNK):
        # Open rows only, asked of the name index (name, graph, last version): the rows of
        # those names in the graph's history are not read.
        rows = conn.execute(
            select(N.c.name_id, owner(N)).where(
                N.c.name_id.in_(ordered[i : i + _CHUNK]),
                N.c.graph_id == graph_id,
                N.c.last_version.is_(None),
            )
        )
        owners.update((int(name), int(own)) for name, own in rows)
    found: dict[int, list[tuple[int, tuple[int, int, bool]]]] = {}
    ids = sorted(set(owners.values()))
    for i in range(0, len(ids), _CHUNK):
        for node_id, slot, src, output, control in conn.execute(
            select(E.c.node_id, E.c.slot, E.c.src_id, E.c.src_output, E.c.control).where(
                E.c.node_id.in_(ids[i : i + _CHUNK])
            )
        ):
            entry = (-1 if src is None else int(src), int(output), bool(control))
            found.setdefault(int(node_id), []).append((slot, entry))
    return {
        name: (own, [entry for _, entry in sorted(found[own])])
        for name, own in owners.items()
        if own in found
    }


def sources(texts: Sequence[Sequence[str]]) -> set[str]:
    """The names the inputs ``texts`` (each node's input strings) name: those edge rows need
    the ids of (docs/storage.md §3.5)."""
    found = {entry for entries in texts for entry in entries}
    odd = [entry for entry in found if ":" in entry or entry[:1] == "^"]
    found.difference_update(odd)
    found.update(edge(entry)[0] for entry in odd)
    return found


def edge_columns(
    nodes: byte_layout.StoredNodes,
    fresh: Sequence[int],
    node_ids: Sequence[int],
    previous: Mapping[int, tuple[int, Inputs]],
    name_ids: Mapping[str, int],
) -> tuple[dict[str, list[Any]], list[int]]:
    """The ``fresh`` nodes' edge rows, column by column (most inputs are plain names,
    ``(name, 0, False)`` parsed; ``name_ids`` gives each source's id), and each fresh node's
    ``edges_from``: the row in ``previous`` (by name id) whose inputs are its own, else 0
    and rows of its own."""
    every = len(fresh) == len(nodes)
    texts = nodes.inputs if every else [nodes.inputs[i] for i in fresh]
    names = [entry for entries in texts for entry in entries]
    outputs, controls = [0] * len(names), [False] * len(names)
    for k in [k for k, entry in enumerate(names) if ":" in entry or entry[:1] == "^"]:
        names[k], outputs[k], controls[k] = edge(names[k])
    ids = list(map(name_ids.__getitem__, names))
    own = list(map(name_ids.__getitem__, nodes.names if every else [nodes.names[i] for i in fresh]))
    shared, keep = _sharing(own, texts, (ids, outputs, controls), previous)
    node_id = [i for i, t in zip(node_ids, texts, strict=True) for _ in t]
    slot = [s for t in texts for s in range(len(t))]
    columns: dict[str, list[Any]] = {
        "node_id": node_id,
        "slot": slot,
        "src_id": ids,
        "src_output": outputs,
        "control": controls,
    }
    if not all(keep):
        columns = {key: list(compress(column, keep)) for key, column in columns.items()}
    return columns, shared


def _sharing(
    names: Sequence[int],
    texts: Sequence[Sequence[str]],
    parsed: tuple[list[int], list[int], list[bool]],
    previous: Mapping[int, tuple[int, Inputs]],
) -> tuple[list[int], list[bool]]:
    """Each node's ``edges_from`` (the row in ``previous`` whose inputs equal its parsed
    inputs, else 0), and for each of its edges whether it is written (not shared)."""
    shared = [0] * len(texts)
    if not previous:
        return shared, [True] * len(parsed[0])
    ids, outputs, controls = parsed
    keep: list[bool] = []
    start = 0
    for j, (name, entries) in enumerate(zip(names, texts, strict=True)):
        end = start + len(entries)
        before = previous.get(name) if entries else None
        same = before is not None and before[1] == list(
            zip(ids[start:end], outputs[start:end], controls[start:end], strict=True)
        )
        if same and before is not None:
            shared[j] = before[0]
        keep.extend([not same] * len(entries))
        start = end
    return shared, keep

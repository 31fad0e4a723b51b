"""Query results that TensorFlow can import: typed results, edit detection, reference checks,
and the ``inference`` closure.

A query result (:class:`QueryResult`, a ``networkx.MultiDiGraph``) remembers the version it
came from, its filters and a fingerprint of its content taken at query time; exporting it
exports the stored nodes of that version, so an edited result is refused
(:class:`~mgstore.errors.EditedQueryError`) instead of being silently ignored.

Before a query result is written, :func:`resolve` makes every reference in the exported
MetaGraphDef resolve, by these rules (docs/subgraphs.md says why):

* a node input naming a node outside the selection refuses the export
  (:class:`~mgstore.errors.IncompleteSubgraphError` lists them); inputs that ``export_scope``
  marked ``$unbound_inputs_`` are TensorFlow's own form and stay (``input_map`` binds them);
* a colocation entry (``_class``: ``loc:@name``) naming a node outside the selection is
  dropped from the node, as ``export_scope`` drops the entries outside its scope;
* ``saver_def`` names that are not exported refuse the export;
* a collection item is dropped unless every name it holds is exported (a variable stays only
  with its variable op, initializer, snapshot and initial value; a saver with its ops; a
  control-flow context with its pivots, values and external values; a queue runner with its
  queue and ops); a collection left empty is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import networkx as nx
from google.protobuf import message as _message

from mgstore.collections import PROTO_KEYS
from mgstore.errors import EditedQueryError, IncompleteSubgraphError
from mgstore.graph import from_networkx, node_def, parse_input
from mgstore.proto import (
    CondContextDef,
    MetaGraphDef,
    QueueRunnerDef,
    SaverDef,
    VariableDef,
    WhileContextDef,
)

__all__ = [
    "QueryResult",
    "check_unedited",
    "fingerprint",
    "inference_names",
    "resolve",
    "restore_needs",
    "variable_defs",
]

UNBOUND_INPUT_PREFIX = "$unbound_inputs_"
_FINGERPRINT = "query_fingerprint"
_SHOWN = 8  # dangling references named in an error; the rest are counted


class QueryResult(nx.MultiDiGraph):  # type: ignore[misc]
    """A query's result: a networkx graph of mgstore's model that knows where it came from.

    ``g.graph["query"]`` keeps the version (``ref``, ``content_hash``) and the filters, as
    before; ``g.graph["query_fingerprint"]`` the digests of its content at query time
    (:func:`fingerprint`). Copies (``g.copy()``, subgraph views) keep both, so an edited copy
    is recognised as edited too.
    """

    @property
    def ref(self) -> str:
        return str(self.graph["query"]["ref"])

    @property
    def content_hash(self) -> str:
        return str(self.graph["query"]["content_hash"])

    @property
    def filters(self) -> dict[str, Any]:
        return {k: v for k, v in self.graph["query"].items() if k not in ("ref", "content_hash")}

    @property
    def edited(self) -> bool:
        """Whether nodes were added or changed, or graph-level parts changed, since the query
        (removing nodes is no edit: the export writes the nodes the result still has)."""
        try:
            check_unedited(self)
        except EditedQueryError:
            return True
        return False

    @classmethod
    def adopt(
        cls, g: nx.MultiDiGraph, query: dict[str, Any], node_defs: Iterable[Any] | None = None
    ) -> QueryResult:
        """``g`` itself, typed as a query result, with its origin and fingerprint.

        ``node_defs``: the NodeDefs ``g`` was made from (``to_networkx``), whose bytes are
        what the fingerprint digests, without making them again from ``g``."""
        g.__class__ = cls
        g.graph["query"] = query
        g.graph.pop(_FINGERPRINT, None)
        g.graph[_FINGERPRINT] = fingerprint(g, node_defs)
        assert isinstance(g, QueryResult)
        return g


def fingerprint(g: nx.MultiDiGraph, node_defs: Iterable[Any] | None = None) -> dict[str, Any]:
    """Digests of the graph's content: each node's NodeDef (by name) and the graph-level
    parts (collections, saver, library...), so that an export can tell edits from removals.
    ``node_defs``, if given, are the graph's NodeDefs (the networkx form is lossless: they
    serialize to what its nodes make)."""
    if node_defs is None:
        nodes = {
            name: _digest(node_def(name, data, g).SerializeToString(deterministic=True))
            for name, data in g.nodes(data=True)
        }
    else:
        nodes = {
            node.name: _digest(node.SerializeToString(deterministic=True)) for node in node_defs
        }
    frame = nx.MultiDiGraph()
    frame.graph.update(g.graph)
    rest = from_networkx(frame).SerializeToString(deterministic=True)
    return {"nodes": nodes, "graph": _digest(rest)}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def check_unedited(g: nx.MultiDiGraph) -> None:
    """Refuse a query result whose nodes or graph-level parts changed since the query, or
    that gained nodes: its export writes the stored nodes, so the change would be lost.
    Removing nodes is no edit: the export writes the nodes the result still has."""
    expected = g.graph.get(_FINGERPRINT)
    if not isinstance(expected, dict):
        return
    now = fingerprint(g)
    stored = expected.get("nodes", {})
    changed = [n for n, digest in now["nodes"].items() if stored.get(n) != digest]
    if not changed and now["graph"] == expected.get("graph"):
        return
    ref = g.graph.get("query", {}).get("ref", "its version")
    what = f"node {changed[0]!r}" if changed else "its graph-level parts (collections, saver...)"
    more = f" and {len(changed) - 1} more node(s)" if len(changed) > 1 else ""
    raise EditedQueryError(
        f"this query result of {ref} was edited after the query ({what}{more} added or "
        "changed); exporting it would write the stored nodes, not your edits. Ingest the "
        "edited graph as a new version first (store.ingest(g, name=...)) and export that version"
    )


# ------------------------------------------------------------------------------------------
# References of an exported MetaGraphDef


def resolve(meta: MetaGraphDef) -> MetaGraphDef:
    """Make every reference of ``meta`` resolve by the module's rules (in place); returned.

    Raises :class:`~mgstore.errors.IncompleteSubgraphError` naming the dangling references
    when no consistent file exists (node inputs or saver_def names outside the selection).
    """
    names = {node.name for node in meta.graph_def.node}
    dangling = list(_dangling_inputs(meta, names))
    if meta.HasField("saver_def"):
        saver = meta.saver_def
        for field in ("filename_tensor_name", "save_tensor_name", "restore_op_name"):
            value = getattr(saver, field)
            if value and parse_input(value)[0] not in names:
                dangling.append(f"saver_def.{field} names {value!r}, which is not exported")
    if dangling:
        more = f" (and {len(dangling) - _SHOWN} more)" if len(dangling) > _SHOWN else ""
        raise IncompleteSubgraphError(
            "the query result is not a graph TensorFlow can import: "
            + "; ".join(dangling[:_SHOWN])
            + more
            + ". Widen the selection (closure='inference' adds what inference and restoring "
            "its variables need; closure='ancestors' what the nodes read)"
        )
    _drop_dangling_colocation(meta, names)
    for key in list(meta.collection_def):
        _restrict_collection(meta, key, names)
    return meta


def _dangling_inputs(meta: MetaGraphDef, names: set[str]) -> Iterator[str]:
    for node in meta.graph_def.node:
        for text in node.input:
            source = parse_input(text)[0]
            if source not in names and not source.startswith(UNBOUND_INPUT_PREFIX):
                yield f"node {node.name!r} reads {text!r}, which is not selected"


def _drop_dangling_colocation(meta: MetaGraphDef, names: set[str]) -> None:
    for node in meta.graph_def.node:
        if "_class" not in node.attr:
            continue
        entries = node.attr["_class"].list.s
        kept = [
            e
            for e in entries
            if not e.startswith(b"loc:@") or e[5:].decode("utf-8", "replace") in names
        ]
        if len(kept) != len(entries):
            del entries[:]
            entries.extend(kept)


def _restrict_collection(meta: MetaGraphDef, key: str, names: set[str]) -> None:
    collection = meta.collection_def[key]
    which = collection.WhichOneof("kind")
    if which == "node_list":
        field: Any = collection.node_list.value
        values = [v for v in field if parse_input(v)[0] in names]
    elif which == "bytes_list" and key in PROTO_KEYS:
        field = collection.bytes_list.value
        values = [v for v in field if _payload_resolves(key, v, names)]
    else:
        return
    if not values:
        del meta.collection_def[key]
    elif len(values) != len(field):
        del field[:]
        field.extend(values)


def _payload_resolves(key: str, item: bytes, names: set[str]) -> bool:
    try:
        payload = PROTO_KEYS[key].FromString(item)
    except _message.DecodeError:
        return False  # TensorFlow cannot parse it either
    needed = [parse_input(n)[0] for n in payload_names(payload) if n]
    return bool(needed) and all(n in names for n in needed)


def payload_names(payload: Any) -> Iterator[str]:
    """Every tensor or op name TensorFlow's ``from_proto`` looks up for a payload."""
    if isinstance(payload, VariableDef):
        yield from (payload.variable_name, payload.initializer_name, payload.snapshot_name,
                    payload.initial_value_name)  # fmt: skip
    elif isinstance(payload, SaverDef):
        yield from (payload.filename_tensor_name, payload.save_tensor_name, payload.restore_op_name)
    elif isinstance(payload, QueueRunnerDef):
        yield payload.queue_name
        yield from payload.enqueue_op_name
        yield from (payload.close_op_name, payload.cancel_op_name)
    elif isinstance(payload, CondContextDef):
        yield from (payload.pred_name, payload.pivot_name)
        yield from _values_names(payload)
    elif isinstance(payload, WhileContextDef):
        yield from (payload.pivot_name, payload.pivot_for_pred_name, payload.pivot_for_body_name,
                    payload.maximum_iterations_name)  # fmt: skip
        yield from payload.loop_exit_names
        yield from payload.loop_enter_names
        yield from _values_names(payload)


def _values_names(context: Any) -> Iterator[str]:
    yield from context.values_def.values
    yield from context.values_def.external_values.values()
    for nested in context.nested_contexts:
        inner = nested.cond_ctxt if nested.HasField("cond_ctxt") else nested.while_ctxt
        yield from payload_names(inner)


# ------------------------------------------------------------------------------------------
# The inference closure


def variable_defs(meta: MetaGraphDef) -> list[Any]:
    """The VariableDefs of a version's variable collections (each once)."""
    seen: set[bytes] = set()
    found: list[Any] = []
    for key, collection in meta.collection_def.items():
        if PROTO_KEYS.get(key) is not VariableDef or collection.WhichOneof("kind") != "bytes_list":
            continue
        for item in collection.bytes_list.value:
            if item in seen:
                continue
            seen.add(item)
            try:
                found.append(PROTO_KEYS[key].FromString(item))
            except _message.DecodeError:
                continue
    return found


def restore_needs(variables: Iterable[Any]) -> dict[str, list[str]]:
    """For each variable op of these VariableDefs, the ops restoring it needs: its variable op,
    initializer (the assign op), snapshot and initial value (see :func:`inference_names`).
    Depends on the version only, so a caller keeps it for the next closure of that version."""
    by_op: dict[str, list[str]] = {}
    for v in variables:
        needs = [v.initializer_name, v.snapshot_name, v.initial_value_name, v.variable_name]
        by_op.setdefault(parse_input(v.variable_name)[0], []).extend(
            parse_input(n)[0] for n in needs if n
        )
    return by_op


def inference_names(
    seeds: Iterable[str],
    needs: Mapping[str, Sequence[str]],
    ancestors: Callable[[set[str]], set[str]],
) -> set[str]:
    """The seeds' ancestors plus, for every variable they read, what restoring it needs.

    A variable is read when its variable op is an ancestor. Restoring it needs its variable
    op, initializer (the assign op), snapshot and initial value (``needs``, by variable op:
    :func:`restore_needs`), and their ancestors: with them the exported ``variables``
    collection holds it, and ``tf.compat.v1.train.Saver()`` (which ``import_meta_graph``
    builds when no saver_def is exported) restores it from the original checkpoint.
    ``ancestors`` maps names to the names they reach upstream (themselves included); asked
    again for what is newly needed until nothing is, so the work follows what is found
    (docs/subgraphs.md), not the number of variables in the graph.
    """
    found = ancestors(set(seeds))
    asked = set(found)
    new = found
    while True:
        wanted = {n for op in new if op in needs for n in needs[op]} - asked
        if not wanted:
            return found
        asked |= wanted
        new = ancestors(wanted) - found
        found |= new

"""Subgraph queries: the nodes of a version that match filters, found in SQL, as networkx.

:func:`query` selects node rows of one version by name scope, collection, op type, device and
name pattern, optionally widened to their ancestors or descendants (a recursive SQL query over
``edges``), and returns them in the networkx form of :mod:`mgstore.graph`. Only the selected
NodeDefs are read: each is a byte slice of a pack (``substr`` in SQL), never the whole graph.

Filters combine with AND. Every value reaches the database as a bound parameter:

* ``scope``: a plain prefix test on the name, as TensorFlow's ``export_scope`` does
  (``"tower_1"`` also matches ``tower_10/...`` and ``tower_1_1``); with ``strict_scope`` only
  at name-scope boundaries (the name is the scope, or starts with the scope and ``/``; one
  trailing ``/`` of the scope is ignored). Every character matches literally. On PostgreSQL
  the test is ``LIKE`` with escaped wildcards; on SQLite, whose ``LIKE`` ignores ASCII case and
  cannot use the name index, it is ``GLOB`` with escaped wildcards (case-sensitive, indexed).
  A scope query reads the (name, graph_id) index; on PostgreSQL that needs a database whose
  collation orders by code point (C, C.UTF-8), else it falls back to LIKE without the index.
* ``collection``: the ops the named collection(s) of the version refer to (node lists, and the
  names inside variable, saver, queue-runner and control-flow payloads).
* ``op_type``, ``device``: one value or a list of values (exact matches; devices also match
  as TensorFlow canonicalises them, so ``/cpu:0`` finds ``/device:CPU:0``).
* ``name_regex``: a regular expression in RE2's syntax (Python's, less backreferences and
  lookaround), searched for in Python in the names the SQL filters selected, in linear time
  (see :mod:`mgstore.patterns`); the same on both backends, whose regex dialects differ.

With ``closure``, the filtered nodes are seeds and the result is the seeds plus every node
they reach through data and control edges, upstream (``"ancestors"``) or downstream
(``"descendants"``), at most ``depth`` hops away when ``depth`` is given. ``"inference"``
adds to the ancestors what restoring the variables they read needs (see
:mod:`mgstore.subgraph`); exporting it gives a graph TensorFlow imports and restores from the
original checkpoint.

The result carries ``meta_info_def``, ``library``, ``versions``, ``saver_def`` and the graph's
unknown fields unchanged, and the collections restricted to the kept nodes: node lists keep
the values whose op is kept; payload collections (variables, savers...) keep the items every
name of which is kept; other collections (plain bytes, numbers) are kept as they are; a
collection left empty is dropped. Signatures, assets, the object graph and debug info
describe the whole graph and are left out.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from mgstore import byte_layout, subgraph
from mgstore import collections as colls
from mgstore import devices as devs
from mgstore.db import engine as db
from mgstore.db import refs, versions
from mgstore.db.edges import owner
from mgstore.db.prefixes import name_starts_with
from mgstore.db.tables import EDGES as E
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.versions import in_version, named, names_in, strings_of
from mgstore.errors import ArgumentTypeError, InputError
from mgstore.graph import networkx_of
from mgstore.names import check_text
from mgstore.patterns import anchored_prefix, compile_linear, matching_names
from mgstore.proto import MetaGraphDef

CLOSURES = ("ancestors", "descendants", "inference")
#: The largest closure depth: a 32-bit hop count (no graph is that deep; None means no limit).
MAX_DEPTH = 2**31 - 1


def query(
    engine: Engine,
    ref: str,
    scope: str | None = None,
    collection: str | Sequence[str] | None = None,
    op_type: str | Sequence[str] | None = None,
    device: str | Sequence[str] | None = None,
    name_regex: str | None = None,
    closure: str | None = None,
    depth: int | None = None,
    strict_scope: bool = False,
) -> subgraph.QueryResult:
    """The nodes of version ``ref`` that match the filters, as a networkx graph.

    See the module docstring for the filters and for which graph-level parts are kept. The
    nodes keep the version's order; edges join kept nodes. Unknown refs raise NotFoundError.
    The result is a :class:`~mgstore.subgraph.QueryResult`: ``g.graph["query"]`` records the
    version (``ref``, ``content_hash``) and the filters, so that exporting the result
    (``Store.export_meta_graph(graph=g)``) exports from that version and records the query;
    an edited result is refused there.
    """
    _check_scope(scope, strict_scope)
    collections = _str_list(collection, "collection")
    op_types = _str_list(op_type, "op_type")
    devices = _str_list(device, "device")
    pattern = _regex(name_regex)
    _check_closure(closure, depth)
    with db.transaction(engine) as conn:
        row = refs.resolve(conn, ref)
        origin = {"ref": refs.version_ref(conn, row), "content_hash": row.content_hash}
        # An anchored pattern's literal start narrows the rows through the name index.
        prefix = "" if pattern is None else anchored_prefix(pattern)
        cond = node_filter(conn, row, scope, strict_scope, collections, op_types, devices, prefix)
        selected: ColumnElement[bool] = cond  # read in one statement, through the indexes
        if closure is None and pattern is not None:
            found = conn.execute(select(N.c.id, NM.c.name).select_from(named()).where(cond)).all()
            selected = _id_in(conn, _matching(pattern, found))
        elif closure is not None:
            if pattern is not None:  # the seeds are known only after the Python filter
                found = conn.execute(
                    select(N.c.id, NM.c.name).select_from(named()).where(cond)
                ).all()
                seeds = _matching(pattern, found)
                cond = and_(in_version(N, row.graph_id, row.number), _id_in(conn, seeds))
            if closure == "inference":
                selected = _id_in(conn, _inference_ids(conn, row, cond))
            else:
                steps = _closure(cond, row.graph_id, row.number, closure, depth,
                                 graph_index=conn.dialect.name != "sqlite")  # fmt: skip
                selected = N.c.id.in_(steps)
        read = versions.node_slices(conn, row, selected)
        touched = _touched(conn, row, sorted({name for name, _, _ in read.columns}))
        data = versions.assemble(conn, row, read.body)
        meta = MetaGraphDef.FromString(byte_layout.without_fields(data, _unneeded(touched)))
        versions.check_node_columns(conn, row, meta.graph_def.node, read.columns)
        if closure is not None:  # the closure followed edge rows: they must say what inputs say
            versions.check_edges(conn, row, meta.graph_def.node)
    kept = {node.name for node in meta.graph_def.node}
    # The frame's blobs were checked against these hashes when read (versions.assemble).
    frame = bytes(row.head_sha256) + bytes(row.graph_tail_sha256) + bytes(row.tail_sha256)
    _restrict(meta, kept, touched, frame)
    g = networkx_of(meta)  # meta is this query's own: not copied
    filters = {"scope": scope, "strict_scope": strict_scope or None, "collection": collections,
               "op_type": op_types, "device": devices, "name_regex": name_regex,
               "closure": closure, "depth": depth}  # fmt: skip
    return subgraph.QueryResult.adopt(
        g, {**origin, **{k: v for k, v in filters.items() if v is not None}}, meta.graph_def.node
    )


def scopes(engine: Engine, ref: str, depth: int | None = None) -> list[tuple[str, int]]:
    """The name-scope tree of version ``ref``: ``(prefix, node count)`` sorted by prefix.

    Every name contributes to each of its ``/``-prefixes up to ``depth`` levels (all levels
    without ``depth``); a node's count includes itself, so op ``a`` and op ``a/b`` make
    ``("a", 2), ("a/b", 1)``. Computed from the name column only.
    """
    if depth is not None:
        _check_depth(depth)
    counts: Counter[str] = Counter()
    with db.transaction(engine) as conn:
        row = refs.resolve(conn, ref)
        names = conn.execute(
            select(NM.c.name).select_from(named()).where(in_version(N, row.graph_id, row.number))
        ).scalars()
        for name in names:
            parts = name.split("/")
            for k in range(1, len(parts) + 1 if depth is None else min(depth, len(parts)) + 1):
                counts["/".join(parts[:k])] += 1
    return sorted(counts.items())


# ------------------------------------------------------------------------------------------
# SQL


def node_filter(
    conn: Connection,
    row: Any,
    scope: str | None,
    strict: bool,
    collections: list[str] | None,
    op_types: list[str] | None,
    devices: list[str] | None,
    name_prefix: str = "",
) -> ColumnElement[bool]:
    """The SQL condition that selects the version's nodes passing the filters (scope,
    collections, op types, devices, a literal name prefix): what :func:`query` reads."""
    # A scope goes through the (name, graph_id) index. Left alone, planners take the
    # (graph_id, op) index: SQLite has no statistics (nobody runs ANALYZE), PostgreSQL's
    # say a graph is a large share of a small table; for a store of one graph that is a scan.
    named = bool(scope) or bool(name_prefix)
    conds = [in_version(N, row.graph_id, row.number, graph_index=not named)]
    if name_prefix:
        conds.append(_name_is(name_starts_with(conn, name_prefix)))
    if scope is not None and scope != "":
        if strict:
            base = scope[:-1] if scope.endswith("/") else scope
            conds.append(_name_is(or_(NM.c.name == base, name_starts_with(conn, base + "/"))))
        else:
            conds.append(_name_is(name_starts_with(conn, scope)))
    elif scope == "" and strict:
        conds.append(literal(False))  # no name is the empty scope or starts with "/"
    if collections is not None:
        members = versions.collection_members(conn, row, collections)
        conds.append(names_in(conn, N.c.name_id, sorted(members)))
    if op_types is not None:
        conds.append(N.c.op_id.in_(select(NM.c.id).where(NM.c.name.in_(op_types))))
    if devices is not None:
        ids = select(N.c.device_id).distinct().where(in_version(N, row.graph_id, row.number))
        stored = conn.execute(strings_of(ids)).scalars()
        matching = devs.matching(devices, stored)
        conds.append(N.c.device_id.in_(select(NM.c.id).where(NM.c.name.in_(matching))))
    return and_(*conds)


def _name_is(names: ColumnElement[bool]) -> ColumnElement[bool]:
    """The node row's name is one of those ``names`` (a condition on ``names.name``) selects:
    the names' index finds their ids, then the nodes' name index the rows (docs/storage.md
    §3.5)."""
    return N.c.name_id.in_(select(NM.c.id).where(names))


def _id_in(conn: Connection, ids: list[int]) -> ColumnElement[bool]:
    """``nodes.id`` is one of ``ids``, as a single bound parameter (no limit on their number)."""
    if conn.dialect.name == "postgresql":
        return N.c.id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(BigInteger)))
    values = func.json_each(bindparam("ids", json.dumps(ids))).table_valued("value")
    return N.c.id.in_(select(values.c.value))


def _closure(
    seeds: ColumnElement[bool],
    graph_id: int,
    number: int,
    direction: str,
    depth: int | None,
    *,
    graph_index: bool = True,
) -> Select[Any]:
    """A recursive query for the ids of the seed rows and the rows they reach by edges.

    UNION (not UNION ALL) stops at rows already found, so cycles (while loops) end; with a
    depth, the hop count bounds the recursion. ``graph_index=False`` keeps SQLite's planner,
    which has no statistics, off the (graph_id, op) index in each step (it scanned the whole
    graph per step: ancestors 15-20x slower on 80,000 nodes); PostgreSQL chooses well itself.
    """
    found = _reached(seeds, graph_id, number, direction, depth, graph_index=graph_index)
    return select(found.c.id)


def _reached(
    seeds: ColumnElement[bool],
    graph_id: int,
    number: int,
    direction: str,
    depth: int | None,
    *,
    graph_index: bool = True,
) -> Any:
    """The recursive CTE of :func:`_closure`: the (id, name id, and for ancestors the id of
    the row whose edges it uses) of every row reached (docs/storage.md §3.5). Only what the
    step needs: PostgreSQL hashes the rows of a step, and wider rows spilled out of its
    memory, which made it hash them again each step."""
    ancestors = direction == "ancestors"
    columns: list[Any] = [N.c.id.label("id"), N.c.name_id.label("name_id")]
    if ancestors:
        columns.append(owner(N).label("own"))
    if depth is not None:
        columns.append(cast(literal(0), Integer).label("hops"))
    start = select(*columns).where(seeds).cte("closure", recursive=True)
    prev = start.alias("prev")
    nxt = N.alias("nxt")
    if ancestors:  # a row's inputs name the rows that produce them
        in_graph = in_version(nxt, graph_id, number, graph_index=graph_index)
        joined = prev.join(E, E.c.node_id == prev.c.own).join(
            nxt, and_(nxt.c.name_id == E.c.src_id, in_graph)
        )
        step = select(nxt.c.id, nxt.c.name_id, owner(nxt)).select_from(joined)
    else:  # rows whose inputs name a row already found, by its name id; the edges' row may
        # be an older row of the name, shared (docs/storage.md §3.5), so the version's row
        # is found by that row's name (its graph tested unindexed: else each step scanned
        # the version's rows, on SQLite and on PostgreSQL alike)
        in_graph = in_version(nxt, graph_id, number, graph_index=False)
        edges_row = N.alias("edges_row")
        joined = (
            prev.join(E, E.c.src_id == prev.c.name_id)
            .join(edges_row, edges_row.c.id == E.c.node_id)
            .join(
                nxt,
                and_(
                    nxt.c.name_id == edges_row.c.name_id,
                    in_graph,
                    owner(nxt) == edges_row.c.id,
                ),
            )
        )
        step = select(nxt.c.id, nxt.c.name_id).select_from(joined)
    if depth is not None:
        step = step.add_columns(prev.c.hops + 1).where(prev.c.hops < depth)
    return start.union(step)


def _inference_ids(conn: Connection, row: Any, seeds: ColumnElement[bool]) -> list[int]:
    """The ids of the ``inference`` closure of the seed rows (see :mod:`mgstore.subgraph`).

    Each round is one recursive query from what is newly needed, and the rows it reaches come
    back with their ids, so the closure costs what it returns (docs/subgraphs.md); what each
    variable's restore needs is taken from the version's frame once per version and kept."""
    where = in_version(N, row.graph_id, row.number)
    graph_index = conn.dialect.name != "sqlite"
    ids: dict[str, int] = {}

    def ancestors(names: set[str]) -> set[str]:
        cond = and_(where, names_in(conn, N.c.name_id, sorted(names)))
        found = _reached(cond, row.graph_id, row.number, "ancestors", None, graph_index=graph_index)
        joined = found.outerjoin(NM, NM.c.id == found.c.name_id)
        rows = conn.execute(select(found.c.id, NM.c.name).select_from(joined)).all()
        ids.update((name, id_) for id_, name in rows)
        return {name for _, name in rows}

    seed_names = set(conn.execute(select(NM.c.name).select_from(named()).where(seeds)).scalars())
    names = subgraph.inference_names(seed_names, _restore_needs(conn, row), ancestors)
    return sorted(ids[name] for name in names)


def _restore_needs(conn: Connection, row: Any) -> dict[str, list[str]]:
    """What restoring each variable of the version needs (:func:`subgraph.restore_needs`),
    kept for the versions asked last under their frame's hashes (checked when read)."""
    frame = bytes(row.head_sha256) + bytes(row.graph_tail_sha256) + bytes(row.tail_sha256)
    with _NEEDS_LOCK:
        needs = _NEEDS.get(frame)
        if needs is not None:
            _NEEDS.move_to_end(frame)
            return needs
    meta = MetaGraphDef.FromString(versions.assemble(conn, row, b""))
    needs = subgraph.restore_needs(subgraph.variable_defs(meta))
    with _NEEDS_LOCK:
        _NEEDS[frame] = needs
        while len(_NEEDS) > _PayloadIndexes.SIZE:
            _NEEDS.popitem(last=False)
    return needs


_NEEDS: OrderedDict[bytes, dict[str, list[str]]] = OrderedDict()
_NEEDS_LOCK = threading.Lock()


# ------------------------------------------------------------------------------------------
# Graph-level parts


def _touched(conn: Connection, row: Any, kept: list[str]) -> set[str]:
    """The keys of the version's collections that some node of ``kept`` is a member of
    (from the version's member lists, docs/storage.md §5)."""
    # Only payload collections' keys are asked of the result (see _unneeded and _restrict).
    lists = versions.member_lists(conn, row, sorted(colls.PROTO_KEYS))
    return {key for key, names in lists.items() if not names.isdisjoint(kept)}


#: The MetaGraphDef fields a query result leaves out (see _restrict), by number.
_LEFT_OUT = {
    MetaGraphDef.DESCRIPTOR.fields_by_name[name].number
    for name in ("signature_def", "asset_file_def", "object_graph_def")
}
_COLLECTIONS = MetaGraphDef.DESCRIPTOR.fields_by_name["collection_def"].number


def _unneeded(touched: set[str]) -> Callable[[int, memoryview], bool]:
    """Which fields of a version's MetaGraphDef bytes the result drops whole, so that they
    are not parsed: the graph-wide parts, and the payload collections no kept node is a
    member of (a large graph's ``variables`` hold thousands of payloads). What this keeps,
    :func:`_restrict` then cuts as before."""

    def unneeded(number: int, value: memoryview) -> bool:
        if number in _LEFT_OUT:
            return True
        if number != _COLLECTIONS:
            return False
        entry = byte_layout.fields(value)  # a map entry: key (1), CollectionDef (2)
        if entry is None or len(entry) != 2 or entry[0][0] != 1 or entry[1][0] != 2:
            return False
        key = bytes(value[entry[0][1] : entry[0][2]]).decode("utf-8", "replace")
        kind = bytes(value[entry[1][1] : entry[1][1] + 1])
        return key in colls.PROTO_KEYS and key not in touched and kind == _BYTES_LIST_TAG

    return unneeded


_BYTES_LIST_TAG = b"\x12"  # CollectionDef.bytes_list: field 2, length-delimited


def _restrict(meta: Any, kept: set[str], touched: set[str], frame: bytes = b"") -> None:
    """Keep the graph-level parts that belong to the nodes ``kept`` (see the module doc).

    ``touched`` names the collections some kept node is a member of (from the version's
    member lists); payload collections outside it are dropped unparsed.
    ``frame`` identifies the version's graph-level bytes (the hashes of its frame blobs,
    checked when read): the payloads' index by name is kept under it (see _belonging).
    """
    for key in list(meta.collection_def):
        collection = meta.collection_def[key]
        which = collection.WhichOneof("kind")
        if which == "node_list":
            values = [v for v in collection.node_list.value if colls.op_name(v) in kept]
            field = collection.node_list.value
        elif which == "bytes_list" and key in colls.PROTO_KEYS:
            field = collection.bytes_list.value
            values = [] if key not in touched else _belonging(key, field, kept, frame)
        else:
            continue
        if not values:
            del meta.collection_def[key]
        elif len(values) != len(field):
            del field[:]
            field.extend(values)
    meta.ClearField("signature_def")
    meta.ClearField("asset_file_def")
    meta.ClearField("object_graph_def")
    meta.graph_def.ClearField("debug_info")


def _belonging(key: str, items: Sequence[bytes], kept: set[str], frame: bytes) -> list[bytes]:
    """The payloads (of a registered ``key``) every name of which is kept, in their order.

    Found through the payloads' index by name, so that a small result costs in proportion to
    itself, not to the collection (a large graph's ``variables`` hold thousands of items).
    The index is kept for the versions queried last, under ``frame`` (b"": not kept).
    """
    members, by_name = _PAYLOADS.index(frame, key, items)
    if len(kept) < len(by_name):
        candidates = sorted({i for name in kept for i in by_name.get(name, ())})
    else:
        candidates = sorted({i for name, found in by_name.items() if name in kept for i in found})
    return [items[i] for i in candidates if members[i] <= kept]


_Index = tuple[list[frozenset[str]], dict[str, list[int]]]


class _PayloadIndexes:
    """For the payload collections of the versions queried last: the op names each payload
    refers to, and the payloads that refer to each op name. Thread-safe; at most SIZE."""

    SIZE = 16

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.indexes: OrderedDict[tuple[bytes, str], _Index] = OrderedDict()

    def index(self, frame: bytes, key: str, items: Sequence[bytes]) -> _Index:
        with self.lock:
            found = self.indexes.get((frame, key)) if frame else None
            if found is not None:
                self.indexes.move_to_end((frame, key))
                return found
        members = [frozenset(colls.item_members(key, item)) for item in items]
        by_name: dict[str, list[int]] = {}
        for i, names in enumerate(members):
            for name in names:
                by_name.setdefault(name, []).append(i)
        if frame:
            with self.lock:
                self.indexes[(frame, key)] = (members, by_name)
                while len(self.indexes) > self.SIZE:
                    self.indexes.popitem(last=False)
        return members, by_name


_PAYLOADS = _PayloadIndexes()


# ------------------------------------------------------------------------------------------
# Arguments


def _check_scope(scope: object, strict: object) -> None:
    if scope is not None and not isinstance(scope, str):
        raise ArgumentTypeError(f"scope is a str or None; got {type(scope).__name__}")
    if scope is not None:
        check_text(scope, "scope")  # SQLite's GLOB would stop at a NUL: refused on both
    if not isinstance(strict, bool):
        raise ArgumentTypeError(f"strict_scope is a bool; got {type(strict).__name__}")


def _str_list(value: object, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [check_text(value, what)]
    if isinstance(value, (list, tuple, set, frozenset)):
        values = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        if not all(isinstance(v, str) for v in values):
            raise ArgumentTypeError(f"{what} is a str or a list of str; got {value!r}")
        if not values:
            raise InputError(f"{what} is an empty list; give at least one value, or None")
        for item in values:
            check_text(item, what)
        return values
    raise ArgumentTypeError(f"{what} is a str or a list of str; got {type(value).__name__}")


def _regex(pattern: object) -> str | None:
    """The name pattern, checked (compiled once: the compiled forms are cached)."""
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        raise ArgumentTypeError(f"name_regex is a str; got {type(pattern).__name__}")
    compile_linear(pattern, "name_regex")
    return pattern


def _matching(pattern: str, rows: Sequence[Any]) -> list[int]:
    """The ids of the (id, name) rows whose name ``pattern`` finds a match in."""
    return [rows[k][0] for k in matching_names(pattern, "name_regex", [r[1] for r in rows])]


def _check_closure(closure: object, depth: object) -> None:
    if closure is not None and closure not in CLOSURES:
        raise InputError(f"closure is one of {', '.join(CLOSURES)} or None; got {closure!r}")
    if depth is not None:
        if closure is None or closure == "inference":
            raise InputError("depth limits a closure; give closure='ancestors' or 'descendants'")
        _check_depth(depth)


def _check_depth(depth: object) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise ArgumentTypeError(f"depth is an int or None; got {type(depth).__name__}")
    if not 0 <= depth <= MAX_DEPTH:
        raise InputError(f"depth is from 0 to {MAX_DEPTH}; got {depth}")

"""The graph TensorFlow holds after importing a stored MetaGraphDef (§2).

:func:`import_meta_graph` runs the steps of :mod:`mgstore.export.normalize` in TensorFlow's
order and keeps what every export reads: the nodes in import order with their attrs, devices
and ``_output_shapes`` as an export emits them, the merged versions, the function library in
both export orders, and the restored collections. It depends only on the stored version, so
one result serves any number of exports.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from mgstore import byte_layout
from mgstore.errors import RemovedOpError
from mgstore.export import full_types, plain_import
from mgstore.export import normalize as nz
from mgstore.export.framed_nodes import FramedNodes
from mgstore.export.function_bodies import BodyChecker, unregistered_op_error
from mgstore.export.node_validation import NodeValidator, num_outputs
from mgstore.export.registry import load_registry
from mgstore.proto import (
    CollectionDef,
    FunctionDefLibrary,
    GraphDebugInfo,
    GraphDef,
    MetaGraphDef,
    NodeDef,
    OpDef,
    OpList,
    VersionDef,
)

__all__ = [
    "FORM_VERSION",
    "Derived",
    "ImportForm",
    "ImportedGraph",
    "colocation_scan",
    "context_of",
    "derive_form",
    "graph_level",
    "held_size",
    "import_meta_graph",
    "import_with_form",
]

_OUTPUT_SHAPES = "_output_shapes"
_FUNCTIONAL_CONTROL_FLOW = frozenset({"If", "StatelessIf", "While", "StatelessWhile"})


@dataclass(frozen=True)
class ImportedGraph:
    """What ``import_scoped_meta_graph`` of a stored graph leaves in a fresh graph, as export
    reads it.

    ``nodes`` (messages, or read one at a time from their bytes: :class:`FramedNodes`) are in
    import order (§2.2) with the stored input strings (the rebuilt export's), attrs
    normalised (§2.3), final devices (§2.5, §2.6) and the ``_output_shapes`` an export adds: the
    stored shapes for a node with outputs, none otherwise (§2.4; no shape inference).
    ``rewritten_inputs`` are the nodes (by position) whose inputs the as-imported export writes
    otherwise (§2.7). ``size`` bounds what TensorFlow's 2 GB check sums (the stored GraphDef's
    size). ``as_imported_library``/``rebuilt_library`` are the function library in the as-imported
    and the rebuilt export's order (None: absent). ``collections`` are in restoration order.
    ``derived`` keeps what exports derive from the graph alone (:class:`Derived`).
    """

    nodes: tuple[NodeDef, ...] | FramedNodes
    size: int
    rewritten_inputs: Mapping[int, list[str]]
    versions: VersionDef
    as_imported_library: FunctionDefLibrary | None
    rebuilt_library: FunctionDefLibrary | None
    collections: Mapping[str, nz.RestoredCollection]
    debug_info: GraphDebugInfo | None = None
    form: ImportForm | None = None
    derived: Derived = field(default_factory=lambda: Derived(), compare=False, repr=False)


@dataclass
class Derived:
    """What exports derive from an imported graph alone, filled in by the first export that
    needs each part (or by whoever built the graph) and reused by later ones.

    ``graph_def``: the as-imported export's GraphDef (§3.3) as deterministic bytes in chunks,
    with its ``stripped_op_list``; ``names``: ``(name, name)`` for each node (the as-imported
    export renames nothing); ``collections``: each collection key's entry as written without
    scope or removed nodes (None: every item failed).
    """

    graph_def: tuple[list[bytes | memoryview], OpList] | None = None
    names: list[tuple[str, str]] | None = None
    collections: dict[str, CollectionDef | None] = field(default_factory=dict)


def import_meta_graph(
    meta_graph: MetaGraphDef,
    debug_info: GraphDebugInfo | None = None,
    registry: Mapping[str, OpDef] | None = None,
    *,
    plain: bool = True,
) -> ImportedGraph:
    """Import ``meta_graph`` as TensorFlow 2.21 does, raising its errors in its order.

    Every failure is an :class:`~mgstore.errors.InvalidGraphError` (a ``ValueError``) with
    TensorFlow's message where it has one. The result shares ``meta_graph``'s nodes, which are
    normalised in place: pass a message nothing else uses. ``plain``: take the few-pass
    path (:mod:`mgstore.export.plain_import`) where the graph allows it; False runs the
    steps one after the other on every graph (the same result: for tests).
    """
    registry = registry if registry is not None else load_registry()
    graph_def = meta_graph.graph_def
    # 1. a non-empty unbound_inputs collection, 2. the versions
    library = _checked_prelude(meta_graph)
    stored = list(graph_def.node)
    with plain_import.collector_paused():
        found = plain_import.scan(stored) if plain else None
        if found is None:
            order, nodes, changed, moved, rewritten_inputs, rebuilt_library = _general(
                meta_graph, stored, registry, library
            )
        else:  # the same steps, in few passes (mgstore.export.plain_import)
            order, nodes, changed, moved, rewritten_inputs, rebuilt_library = _few_passes(
                meta_graph, found, registry, library
            )
    form = ImportForm(
        ops=tuple(sorted(set(found.ops) if found else {node.op for node in nodes})),
        order=None if order == list(range(len(order))) else tuple(order),
        nodes={
            pos: nodes[pos].SerializeToString(deterministic=True)
            for pos in sorted(set(changed) | set(moved))
        },
        rewritten_inputs=rewritten_inputs,
        context=context_of(meta_graph),
    )
    return _imported(meta_graph, nodes, form, graph_def.ByteSize(), debug_info, rebuilt_library)


def _few_passes(
    meta_graph: MetaGraphDef,
    found: plain_import.Scan,
    registry: Mapping[str, OpDef],
    library: FunctionDefLibrary | None,
) -> _Steps:
    """:func:`_general` of a plain graph (:func:`mgstore.export.plain_import.scan` read it
    as ``found``): the stored order kept, each node read once."""
    stored = list(meta_graph.graph_def.node)
    order = list(range(len(stored)))
    attrs, rebuilt_library = _normalizer(meta_graph, registry, library)
    changed, general = plain_import.normalize(stored, found, attrs)
    placed = plain_import.placements(stored, found, general)
    devices = nz.placed_devices(stored, order, placed, found.index)
    moved = {}
    for i, (device, now) in enumerate(zip(found.devices, devices, strict=True)):
        if device != now:
            stored[i].device = moved[i] = now
    rewritten_inputs = {}
    for i in found.rewrite:
        inputs = _rewritten_inputs(stored[i])
        if inputs is not None:
            rewritten_inputs[i] = inputs
    return order, stored, changed, moved, rewritten_inputs, rebuilt_library


#: What the import's steps 3 to 6 give (:func:`_general`).
_Steps = tuple[
    list[int],
    list[NodeDef],
    list[int],
    dict[int, str],
    dict[int, list[str]],
    "FunctionDefLibrary | None",
]


def _general(
    meta_graph: MetaGraphDef,
    stored: list[NodeDef],
    registry: Mapping[str, OpDef],
    library: FunctionDefLibrary | None,
) -> tuple[
    list[int],
    list[NodeDef],
    list[int],
    dict[int, str],
    dict[int, list[str]],
    FunctionDefLibrary | None,
]:
    """Steps 3 to 6 of :func:`import_meta_graph` on any graph, one after the other: the
    import order, the nodes in it normalised, the positions changed and moved (to their new
    devices), the rewritten inputs and the rebuilt library."""
    graph_def = meta_graph.graph_def
    # 3. names, ops, inputs and (as nodes are created) colocation targets
    order = nz.import_order(stored, versions=graph_def.versions)
    # 4. the function library; 5. registered ops and stored shapes, in import order
    attrs, rebuilt_library = _normalizer(meta_graph, registry, library)
    nodes = [stored[i] for i in order]
    changed = [pos for pos, node in enumerate(nodes) if attrs.normalize(node)]
    # 6. devices and colocation, then collections
    devices = nz.colocated_devices(stored, order)
    moved: dict[int, str] = {}
    for pos, (node, i) in enumerate(zip(nodes, order, strict=True)):
        if node.device != devices[i]:
            node.device = devices[i]
            moved[pos] = devices[i]
    rewritten_inputs = {
        i: new for i, new in enumerate(map(_rewritten_inputs, nodes)) if new is not None
    }
    return order, nodes, changed, moved, rewritten_inputs, rebuilt_library


def derive_form(
    meta_graph: MetaGraphDef,
    parent: ImportForm,
    changed: Sequence[int],
    before: Sequence[NodeDef],
    *,
    colocated: Callable[[Collection[str]], Iterable[int]] | None = None,
    registry: Mapping[str, OpDef] | None = None,
) -> ImportForm | None:
    """The import form of ``meta_graph`` (what :func:`import_meta_graph` would compute, to
    the byte) from the ``parent`` form of a graph with the same nodes, in the same order,
    except at the stored positions ``changed`` (ascending), where it had ``before``.

    Only the changed nodes are checked and normalised; the others keep the parent's result,
    which depends on the node and the :func:`context_of` the graph alone, except their
    devices (a colocated node takes its target's: those colocated with a node whose placement
    changed are placed again) and the checks that span nodes, which are shown to hold: names
    equal, inputs from earlier nodes, no loop ops, output counts not smaller. ``colocated``
    gives the positions of (at least) the nodes whose ``_class`` names one of the given nodes
    (:func:`colocation_scan`); without it every node's ``_class`` is read. None where the
    form is not shown equal (the caller computes it in full, which also raises TensorFlow's
    errors in TensorFlow's order). ``meta_graph`` is left as it is.
    """
    if parent.order is not None or parent.context is None or nz.LOOP_OPS.intersection(parent.ops):
        return None
    if parent.context != context_of(meta_graph):
        return None
    producer = meta_graph.meta_info_def.stripped_op_list
    if any(a.name == "_class" for op in producer.op for a in op.attr):
        return None  # normalising attrs could remove a node's colocation (and move it)
    try:
        return _derived(
            meta_graph, parent, (changed, before), colocated, registry or load_registry()
        )
    except (ValueError, KeyError, IndexError, RecursionError):  # InvalidGraphError included
        return None


def _derived(
    meta_graph: MetaGraphDef,
    parent: ImportForm,
    change: tuple[Sequence[int], Sequence[NodeDef]],
    colocated: Callable[[Collection[str]], Iterable[int]] | None,
    registry: Mapping[str, OpDef],
) -> ImportForm | None:
    attrs = _graph_checks(meta_graph, registry)  # what import_meta_graph checks of the graph
    stored = list(meta_graph.graph_def.node)
    names = [node.name for node in stored]
    index = dict(zip(names, range(len(names)), strict=True))
    if len(index) != len(names) or len(change[0]) != len(change[1]):
        return None
    normalised = _normalised(stored, index, attrs, change)
    if normalised is None:
        return None
    new, old = normalised
    now = _Devices(stored, index, {i: pair[0] for i, pair in new.items()})
    was_placed = _Devices(stored, index, old)
    patches = {i: data for i, data in parent.nodes.items() if i not in new}
    for i in _affected(now, was_placed, colocated, change[0]) - new.keys():
        device = now.device(i)
        if device != was_placed.device(i):
            copy = NodeDef()
            copy.CopyFrom(stored[i])
            patches.pop(i, None)
            _patch(patches, i, copy, attrs.normalize(copy), device)
    rewritten = {i: v for i, v in parent.rewritten_inputs.items() if i not in new}
    for i, (copy, changed) in new.items():
        _patch(patches, i, copy, changed, now.device(i))
        inputs = _rewritten_inputs(copy)
        if inputs is not None:
            rewritten[i] = inputs
    return ImportForm(
        ops=tuple(sorted({node.op for node in stored})),
        order=None,
        nodes=patches,  # to_bytes writes them by position
        rewritten_inputs=rewritten,
        context=parent.context,
    )


def _normalised(
    stored: Sequence[NodeDef],
    index: Mapping[str, int],
    attrs: _AttrNormalizer,
    change: tuple[Sequence[int], Sequence[NodeDef]],
) -> tuple[dict[int, tuple[NodeDef, bool]], dict[int, NodeDef]] | None:
    """The changed nodes, checked and normalised (copies, with whether the import changed
    them), and as they were (attrs normalised), by position; None if a check that spans
    nodes is not shown to hold (:func:`derive_form`)."""
    new: dict[int, tuple[NodeDef, bool]] = {}
    old: dict[int, NodeDef] = {}
    for i, was in zip(*change, strict=True):
        node = stored[i]
        if node.name != was.name or not node.op or {node.op, was.op} & nz.LOOP_OPS:
            return None
        if not _inputs_hold(node, i, index, attrs, stored):
            return None
        for entry in node.attr["_class"].list.s if "_class" in node.attr else ():
            if entry.startswith(b"loc:@") and entry[5:].decode("utf-8", "replace") not in index:
                return None
        copy, previous = NodeDef(), NodeDef()
        copy.CopyFrom(node)
        previous.CopyFrom(was)
        new[i] = (copy, attrs.normalize(copy))
        if attrs.outputs[node.name][0] < attrs.count(previous):
            return None  # a consumer left as it was may name an output no longer there
        attrs.attrs.normalize(previous)  # its attrs as the parent's import left them
        old[i] = previous
    return new, old


def _patch(patches: dict[int, bytes], i: int, node: NodeDef, changed: bool, device: str) -> None:
    """Put the imported ``node`` (normalised; ``changed`` if that changed it) placed on
    ``device`` among the form's ``patches`` if the import changed or moved it."""
    if changed or node.device != device:
        node.device = device
        patches[i] = node.SerializeToString(deterministic=True)


class _Devices:
    """The devices :func:`~mgstore.export.normalize.colocated_devices` gives, node by node
    as asked, for a graph in import order whose nodes are ``stored`` except ``replaced``."""

    def __init__(
        self, stored: Sequence[NodeDef], index: Mapping[str, int], replaced: Mapping[int, NodeDef]
    ) -> None:
        self.stored, self.index, self.replaced = stored, index, replaced
        self.placed: dict[int, list[str] | str] = {}
        self.final: dict[int, str] = {}

    def placement(self, i: int) -> list[str] | str:
        found = self.placed.get(i)
        if found is None:
            node = self.replaced.get(i)
            found = self.placed[i] = nz.placement(self.stored[i] if node is None else node)
        return found

    def device(self, i: int) -> str:
        """Node ``i``'s device: its own, or that of its first target placed before it
        (colocated nodes are placed in import order, after the others)."""
        found = self.final.get(i)
        if found is not None:
            return found
        where = self.placement(i)
        device = ""
        if isinstance(where, str):
            device = where
        else:
            for target in where:
                j = self.index[target]
                placed = self.placement(j)
                device = placed if isinstance(placed, str) else self.device(j) if j < i else ""
                if device:
                    break
        self.final[i] = device
        return device


def _affected(
    now: _Devices,
    before: _Devices,
    colocated: Callable[[Collection[str]], Iterable[int]] | None,
    changed: Sequence[int],
) -> set[int]:
    """The positions whose device may differ between ``before`` and ``now``: the changed
    nodes, and those colocated (through any chain) with a changed node placed otherwise."""
    stored = now.stored
    if colocated is None:
        targets: dict[str, list[int]] = {}
        for i in range(len(stored)):
            where = now.placement(i)
            for name in () if isinstance(where, str) else where:
                targets.setdefault(name, []).append(i)
        colocated = lambda found: [i for name in found for i in targets.get(name, ())]  # noqa: E731
    affected = set(changed)
    names = {stored[i].name for i in changed if now.placement(i) != before.placement(i)}
    while names:
        found = set(colocated(names)) - affected
        affected |= found
        names = {stored[i].name for i in found}
    return affected


def colocation_scan(
    data: bytes, framed_sizes: Sequence[int], *, nodes_at: int | None = None
) -> Callable[[Collection[str]], list[int]] | None:
    """For :func:`derive_form`: the positions of the nodes of ``data`` (a serialized
    MetaGraphDef whose GraphDef begins with its nodes, of these framed sizes; or with
    ``nodes_at``, those nodes framed from that offset on) that hold a string ``loc:@NAME``
    for one of the names asked (a superset of those colocated with them), found in the bytes
    rather than by reading every node's ``_class``. None if ``data`` is not laid out so."""
    if nodes_at is None:
        top = byte_layout.fields(data)
        graph = [(start, end) for number, start, end in top or () if number == 2]
        if len(graph) != 1:
            return None
        nodes_at, end = graph[0]
    else:
        end = len(data)
    starts = list(accumulate(framed_sizes, initial=nodes_at))
    if starts[-1] > end:
        return None
    holders: dict[bytes, list[int]] = {}
    unsure: list[int] = []  # a string too long to read its length here: always included
    for hit in _LOC.finditer(data, starts[0], starts[-1]):
        at = hit.start()
        node = bisect_right(starts, at) - 1
        # a string's varint length ends just before it, after a tag byte (field 2, < 0x80)
        if data[at - 2] < 0x80:
            length = data[at - 1]
        elif data[at - 3] < 0x80:
            length = (data[at - 2] & 0x7F) | data[at - 1] << 7
        else:
            unsure.append(node)
            continue
        holders.setdefault(data[at + 5 : at + length], []).append(node)

    def scan(names: Collection[str]) -> list[int]:
        found = set(unsure)
        for name in names:
            found.update(holders.get(name.encode("utf-8", "surrogatepass"), ()))
        return sorted(found)

    return scan


_LOC = re.compile(b"loc:@")


def _graph_checks(meta_graph: MetaGraphDef, registry: Mapping[str, OpDef]) -> _AttrNormalizer:
    """The graph-level steps of :func:`import_meta_graph` (collections, versions, library),
    raising as they do; the normaliser its nodes go through."""
    attrs, _ = _normalizer(meta_graph, registry, _checked_prelude(meta_graph))
    nz.restore_collections(meta_graph.collection_def, meta_graph.meta_info_def.tensorflow_version)
    return attrs


def graph_level(
    graph_def: GraphDef, rebuilt_library: FunctionDefLibrary | None
) -> tuple[VersionDef, FunctionDefLibrary | None]:
    """An imported graph's versions (the stored ones merged with its library's, §2.8) and
    as-imported library (None where the import rebuilt none), from a stored ``graph_def``."""
    library = graph_def.library if graph_def.HasField("library") else None
    versions = nz.merged_versions(
        graph_def.versions if graph_def.HasField("versions") else None, library
    )
    as_imported = nz.as_imported_library(library) if rebuilt_library is not None else None
    return versions, as_imported


def _checked_prelude(meta_graph: MetaGraphDef) -> FunctionDefLibrary | None:
    """What the import checks before any node, in its order: a non-empty ``unbound_inputs``
    collection fails first (docs/export-semantics.md §2.13), then the versions (merged with
    the library's). Returns the graph's function library, if it has one."""
    graph_def = meta_graph.graph_def
    library = graph_def.library if graph_def.HasField("library") else None
    unbound = nz.UNBOUND_INPUTS_KEY
    if unbound in meta_graph.collection_def:
        nz.restore_collections({unbound: meta_graph.collection_def[unbound]})
    nz.merged_versions(graph_def.versions if graph_def.HasField("versions") else None, library)
    return library


def _normalizer(
    meta_graph: MetaGraphDef, registry: Mapping[str, OpDef], library: FunctionDefLibrary | None
) -> tuple[_AttrNormalizer, FunctionDefLibrary | None]:
    """The function library checked and rebuilt as the import does, and the normaliser of
    the nodes' attrs (registered ops, stored shapes) that it and the producer's op list make."""
    graph_def = meta_graph.graph_def
    rebuilt_library = nz.rebuilt_library(library, registry)
    functions = {
        f.signature.name: f.signature for f in (rebuilt_library.function if rebuilt_library else ())
    }
    bodies = BodyChecker(registry, library, graph_def.versions)
    producer_ops = (
        meta_graph.meta_info_def.stripped_op_list
        if meta_graph.meta_info_def.HasField("stripped_op_list")
        else None
    )
    attrs = _AttrNormalizer(registry, producer_ops, functions, graph_def.versions, bodies)
    return attrs, rebuilt_library


def _inputs_hold(
    node: NodeDef,
    i: int,
    index: Mapping[str, int],
    attrs: _AttrNormalizer,
    stored: Sequence[NodeDef],
) -> bool:
    """Whether ``node``'s inputs (at stored position ``i``) pass the import's checks: data
    before control inputs, each from a known node earlier in the graph, naming an output
    that node has."""
    seen_control = False
    for text in node.input:
        name, output = nz.parse_tensor_name(text)
        control = text.startswith("^")
        if control:
            seen_control = True
        elif seen_control:
            return False
        source = index.get(name)
        if source is None or source >= i:
            return False
        if not control and output >= attrs.count(stored[source]):
            return False
    return True


def import_with_form(
    meta_graph: MetaGraphDef,
    form: ImportForm,
    debug_info: GraphDebugInfo | None = None,
    size: int | None = None,
) -> ImportedGraph:
    """:func:`import_meta_graph` of a graph whose :class:`ImportForm` an import computed
    before: its nodes are reordered and patched rather than checked and normalised again.

    ``size`` bounds the stored GraphDef's size (e.g. the version's file size).
    """
    graph_def = meta_graph.graph_def
    stored = list(graph_def.node)
    nodes = stored if form.order is None else [stored[i] for i in form.order]
    for pos, data in form.nodes.items():
        nodes[pos].Clear()
        nodes[pos].MergeFromString(data)
    library = graph_def.library if graph_def.HasField("library") else None
    return _imported(
        meta_graph,
        nodes,
        form,
        graph_def.ByteSize() if size is None else size,
        debug_info,
        nz.rebuilt_library(library),
    )


def _imported(
    meta_graph: MetaGraphDef,
    nodes: list[NodeDef],
    form: ImportForm,
    size: int,
    debug_info: GraphDebugInfo | None,
    rebuilt_library: FunctionDefLibrary | None,
) -> ImportedGraph:
    versions, as_imported_library = graph_level(meta_graph.graph_def, rebuilt_library)
    return ImportedGraph(
        nodes=tuple(nodes),
        size=size,
        rewritten_inputs=form.rewritten_inputs,
        versions=versions,
        as_imported_library=as_imported_library,
        rebuilt_library=rebuilt_library,
        collections=nz.restore_collections(
            meta_graph.collection_def, meta_graph.meta_info_def.tensorflow_version
        ),
        debug_info=debug_info,
        form=form,
    )


@dataclass(frozen=True)
class ImportForm:
    """How an import turned a stored graph's nodes into the imported ones, compactly.

    ``order``: stored positions in import order (None: unchanged). The rest is by import position:
    ``nodes`` the import changed (device or attrs; their whole normalised bytes),
    ``rewritten_inputs`` as the as-imported export writes them; ``ops`` are the nodes' op names.
    ``context`` is :func:`context_of` the graph: what normalising a node depends on besides the
    node, so that a version with equal context and mostly equal nodes can derive its form from
    this one (:func:`derive_form`). Kept by the store beside a version, so that later exports
    skip the checks and normalisation (see :func:`import_with_form`), or assemble a full export
    from stored bytes without parsing the graph.
    """

    ops: tuple[str, ...]
    order: tuple[int, ...] | None
    nodes: Mapping[int, bytes]
    rewritten_inputs: Mapping[int, list[str]]
    context: str | None = None

    def to_bytes(self) -> bytes:
        """A compact, versioned encoding: a JSON header (ops, order, rewritten_inputs), then each
        patched node as position, length and bytes; zlib-compressed."""
        header = json.dumps(
            {
                "form": FORM_VERSION,
                "ops": list(self.ops),
                "order": None if self.order is None else _pack(self.order),
                "p_inputs": sorted(self.rewritten_inputs.items()),
                "context": self.context,
            },
            separators=(",", ":"),
        ).encode()
        parts = [struct.pack("<I", len(header)), header]
        for pos, data in sorted(self.nodes.items()):
            parts += (struct.pack("<II", pos, len(data)), data)
        return zlib.compress(b"".join(parts), 6)

    @classmethod
    def from_bytes(cls, blob: bytes, *, only: Collection[int] | None = None) -> ImportForm:
        """The form :meth:`to_bytes` encoded. ``only``: the patched nodes at these import
        positions alone (empty: none), for a reader of a few nodes. ValueError (or
        zlib.error, KeyError, TypeError) if ``blob`` is not such a form."""
        try:
            return cls._decoded(blob, only)
        except struct.error:
            raise ValueError("an import form is cut short") from None

    @classmethod
    def _decoded(cls, blob: bytes, only: Collection[int] | None) -> ImportForm:
        raw = memoryview(zlib.decompress(blob))
        (size,) = struct.unpack_from("<I", raw)
        data = json.loads(bytes(raw[4 : 4 + size]))
        if data.get("form") != FORM_VERSION:
            raise ValueError(f"import form {data.get('form')}, expected {FORM_VERSION}")
        nodes: dict[int, bytes] = {}
        offset = 4 + size if only is None or only else len(raw)
        while offset < len(raw):
            pos, length = struct.unpack_from("<II", raw, offset)
            if offset + 8 + length > len(raw):
                raise ValueError("an import form is cut short")
            if only is None or pos in only:
                nodes[pos] = bytes(raw[offset + 8 : offset + 8 + length])
            offset += 8 + length
        return cls(
            ops=tuple(data["ops"]),
            order=None if data["order"] is None else _unpack(data["order"]),
            nodes=nodes,
            rewritten_inputs={int(pos): list(inputs) for pos, inputs in data["p_inputs"]},
            context=data.get("context"),
        )


#: Bumped whenever import normalisation changes, so that stored forms are recomputed.
FORM_VERSION = 7


def context_of(meta_graph: MetaGraphDef) -> str:
    """A digest of what an import's per-node work depends on besides the node itself (and
    this mgstore's op registry, which :data:`FORM_VERSION` covers): the producer's stripped
    op list, the function library and the GraphDef's versions, each present or not."""
    digest = hashlib.sha256()
    graph_def = meta_graph.graph_def
    info = meta_graph.meta_info_def
    parts = (
        (info, "stripped_op_list", info.stripped_op_list),
        (graph_def, "library", graph_def.library),
        (graph_def, "versions", graph_def.versions),
    )
    for holder, name, value in parts:
        if holder.HasField(name):
            data = value.SerializeToString(deterministic=True)
            digest.update(b"+" + struct.pack("<Q", len(data)) + data)
        else:
            digest.update(b"-")
    return digest.hexdigest()


def _pack(values: Sequence[int]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}I", *values)).decode()


def _unpack(text: str) -> tuple[int, ...]:
    data = base64.b64decode(text)
    return struct.unpack(f"<{len(data) // 4}I", data)


class _AttrNormalizer:
    """The importer's attr changes (:class:`~mgstore.export.normalize.AttrNormalizer`), the
    full type it gives nodes without one (:mod:`~mgstore.export.full_types`) and the
    ``_output_shapes`` an export adds (§2.4), in place; unregistered ops fail, as in TF,
    in a node or in the body of a function it calls, and so do ops removed at or before the
    graph's producer version."""

    def __init__(
        self,
        registry: Mapping[str, OpDef],
        producer_ops: OpList | None,
        functions: Mapping[str, OpDef],
        versions: VersionDef,
        bodies: BodyChecker,
    ) -> None:
        self.attrs = nz.AttrNormalizer(registry, producer_ops)
        self.bodies = bodies
        self.registry = registry
        self.functions = functions
        self.versions = versions
        self.ops: dict[str, tuple[OpDef, int | None, bool, str | None, bool]] = {}
        self.outputs: dict[str, tuple[int, str]] = {}  # node -> its output count, op
        self.validator = NodeValidator()
        self.type_rules = full_types.load_rules()
        self.calls = bool(bodies.functions)  # else no node calls a function body

    def normalize(self, node: NodeDef) -> bool:
        """Normalise ``node`` in place; whether anything changed. Checks in TensorFlow's
        order: the op is known, the node valid for its OpDef (defaults added), the op not
        removed; then the node gets its full type (if its op has a constructor and the node
        no type); then the stored shapes, then the bodies of the functions the node calls."""
        if node.input:
            self._check_inputs(node)
        op = node.op
        info = self.ops.get(op)
        if info is None:
            info = self.ops[op] = self._op_info(node)
        op_def, static_outputs, registered, removed, constructs = info
        changed = self.attrs.normalize(node)
        if registered:
            problem = self.validator.error(node, op_def)
            if problem is not None:
                raise nz.import_error(problem, self.versions)
        if removed is not None:
            raise nz.import_error(removed, self.versions, RemovedOpError)
        if constructs and not node.HasField("experimental_type"):
            typed = full_types.constructed_type(node, op_def, self.type_rules)
            if typed is not None:  # Graph::AddNode, after the checks above
                node.experimental_type.CopyFrom(typed)
                changed = True
        outputs = static_outputs if static_outputs is not None else num_outputs(node, op_def)
        self.outputs[node.name] = (outputs or 0, op)
        shapes = node.attr.get(_OUTPUT_SHAPES)
        if shapes is not None and nz.is_shape_list(shapes):
            if not outputs:
                del node.attr[_OUTPUT_SHAPES]
                changed = True
            elif len(shapes.list.shape) != outputs:
                raise nz.import_error(
                    f"Node '{node.name}' has {outputs} outputs but the _output_shapes attribute "
                    f"specifies shapes for {len(shapes.list.shape)} outputs",
                    self.versions,
                )
        # else none stored (TensorFlow would infer them), or not shapes: kept
        if self.calls:
            self.bodies.check_node(node)
        return changed

    def count(self, node: NodeDef) -> int:
        """How many outputs ``node`` has, as :meth:`normalize` counts them (it leaves
        ``node`` as it is)."""
        info = self.ops.get(node.op)
        if info is None:
            info = self.ops[node.op] = self._op_info(node)
        if info[1] is not None:
            return info[1]
        copy = NodeDef()
        copy.CopyFrom(node)
        self.attrs.normalize(copy)
        return num_outputs(copy, info[0]) or 0

    def _check_inputs(self, node: NodeDef) -> None:
        """TensorFlow's check that each data input names an output its source has (sources
        not created yet, a loop's back edges, are checked later by nobody)."""
        outputs = self.outputs
        for text in node.input:
            if text.startswith("^"):
                continue
            if ":" in text:
                name, index = nz.parse_tensor_name(text)
            else:
                name, index = text, 0
            source = outputs.get(name)
            if source is not None and index >= source[0]:
                hint = (
                    " Try using tf.compat.v1.experimental.output_all_intermediates(True)."
                    if source[1] in _FUNCTIONAL_CONTROL_FLOW
                    else ""
                )
                raise nz.import_error(
                    f"Node '{node.name}': Connecting to invalid output {index} of source node "
                    f"{name} which has {source[0]} outputs.{hint}",
                    self.versions,
                )

    def _op_info(self, node: NodeDef) -> tuple[OpDef, int | None, bool, str | None, bool]:
        """The op's definition, its output count if fixed, whether it is a registered op
        (not a function), TensorFlow's message if the graph's producer removed it, and
        whether a registered op has a full-type constructor."""
        registered = self.registry.get(node.op)
        op_def = registered or self.functions.get(node.op)
        if op_def is None:
            raise unregistered_op_error(node.op, self.versions)
        removed = op_def.deprecation if op_def.HasField("deprecation") else None
        message = None
        if removed is not None and self.versions.producer >= removed.version:
            message = (
                f"Op {node.op} is not available in GraphDef version {self.versions.producer}. "
                f"It has been removed in version {removed.version}. {removed.explanation}."
            )
        dynamic = any(a.number_attr or a.type_list_attr for a in op_def.output_arg)
        constructs = registered is not None and full_types.has_constructor(op_def, self.type_rules)
        static = None if dynamic else len(op_def.output_arg)
        return op_def, static, registered is not None, message, constructs


def _rewritten_inputs(node: NodeDef) -> list[str] | None:
    """The inputs the as-imported export writes for ``node`` (§2.7) if they differ from the stored
    ones."""
    controls = 0
    suspect = False
    for text in node.input:
        if text.startswith("^"):
            controls += 1
        elif ":" in text:
            index = text[text.rfind(":") + 1 :]
            suspect = suspect or index.startswith("0") or len(index) > 9
    if controls < 2 and not suspect:
        return None
    stored = list(node.input)
    new = nz.as_imported_inputs(stored)
    return new if new != stored else None


def held_size(node: NodeDef) -> int:
    """``node.ByteSize()`` without its ``_output_shapes`` entry (what the 2 GB check sums)."""
    size: int = node.ByteSize()
    value = node.attr.get(_OUTPUT_SHAPES)
    if value is None:
        return size
    value_size: int = value.ByteSize()
    entry = 1 + 1 + len(_OUTPUT_SHAPES) + 1 + len(byte_layout.varint(value_size)) + value_size
    return size - (1 + len(byte_layout.varint(entry)) + entry)

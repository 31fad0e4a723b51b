"""The import's per-node steps in few passes, for graphs whose import keeps the stored order.

:func:`mgstore.export.imported.import_meta_graph` runs TensorFlow's import steps one after
the other over every node (docs/export-semantics.md §2), each reading the node's fields
through protobuf again: about 2 s of Python on 80,000 nodes. Most stored graphs are plain:
valid unique names, every input from an earlier node under a plain tensor name, no loop ops,
known colocation targets, and nodes that already hold every attr their OpDef declares, valid.
For those, :func:`scan` reads each node's name, op, inputs and device once, and
:func:`normalize` checks each node against a plan compiled once per op, reading only the
attrs that plan names; a node that is not certainly plain goes to the general step
(the general path's ``normalize``, :mod:`mgstore.export.imported`), which raises TensorFlow's
error or makes TensorFlow's change. The result is the general path's to the byte
(docs/storage.md §6; ``tests/export/test_plain_import.py`` compares both).

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from mgstore.export import full_types
from mgstore.export import normalize as nz
from mgstore.export.function_bodies import BodyChecker
from mgstore.export.node_validation import VALID_TYPES, compile_checks, fits, num_outputs
from mgstore.proto import AttrValue, NodeDef, OpDef

__all__ = ["NodeSteps", "Scan", "collector_paused", "normalize", "placements", "scan"]


class NodeSteps(Protocol):
    """What :func:`normalize` uses of the import's per-node steps (the general path's
    normaliser in :mod:`mgstore.export.imported`): the registry, the attr rules, the full
    type rules, each node's output count and op so far, whether functions are called, the
    function bodies' checker and the general step itself."""

    registry: Mapping[str, OpDef]
    attrs: nz.AttrNormalizer
    type_rules: full_types.FullTypeRules
    outputs: dict[str, tuple[int, str]]
    calls: bool
    bodies: BodyChecker

    def normalize(self, node: NodeDef) -> bool: ...


_NAMES = re.compile(
    r"(?:[A-Za-z0-9.][A-Za-z0-9_./-]*(?:>[A-Za-z0-9.][A-Za-z0-9_./-]*)*\n)*"
)  # normalize._VALID_NAME, one name a line
_SHAPE_FIELD = AttrValue.ListValue.DESCRIPTOR.fields_by_name["shape"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off for a while: an import makes some 10^5 small lists and
    tuples, none in a cycle, each few hundred of which set off a collection that walks the
    parsed graph's objects (a fifth of the import's time on 80,000 nodes)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Scan:
    """What :func:`scan` read of each node, by stored position: name, op, device, attrs, the
    positions of its data inputs' sources (and for a node that reads an output other than
    0, each data input's (position, output index)), the nodes whose inputs the as-imported
    export may write otherwise (§2.7), the colocation targets of the nodes with a ``_class``
    attr (None: read them again) and each name's position."""

    names: list[str]
    ops: list[str]
    devices: list[str]
    attrs: list[Any]
    sources: list[list[int]]
    outputs: dict[int, list[tuple[int, int]]]
    rewrite: list[int]
    targets: dict[int, list[str] | None]
    index: dict[str, int]


def scan(nodes: Sequence[NodeDef]) -> Scan | None:
    """Each node's fields, read once; None unless the graph is plain (see the module's
    docstring): then the import keeps the stored order and none of the checks of
    :func:`~mgstore.export.normalize.import_order` fails."""
    names = [node.name for node in nodes]
    joined = "".join(name + "\n" for name in names)
    if len(names) != len(set(names)) or joined.count("\n") != len(names):
        return None
    if not _NAMES.fullmatch(joined):
        return None
    index = dict(zip(names, range(len(names)), strict=True))
    ops = [node.op for node in nodes]
    if "" in ops or nz.LOOP_OPS.intersection(ops):
        return None
    inputs = _inputs(nodes, index)
    if inputs is None:
        return None
    classes = _classes(nodes, names, index)
    if classes is None:
        return None
    devices = [node.device for node in nodes]
    return Scan(names, ops, devices, classes[0], *inputs, classes[1], index)


def _inputs(
    nodes: Sequence[NodeDef], index: dict[str, int]
) -> tuple[list[list[int]], dict[int, list[tuple[int, int]]], list[int]] | None:
    """:func:`scan`'s inputs: each node's data inputs' sources, the (source, output) pairs
    of the nodes that read an output other than 0, and the nodes whose inputs the
    as-imported export may rewrite (an output index with a leading zero, control inputs not
    sorted by name or repeated; §2.7); None unless every input names an earlier node
    plainly, control inputs last."""
    sources: list[list[int]] = []
    outputs: dict[int, list[tuple[int, int]]] = {}
    rewrite: list[int] = []
    get = index.get
    for i, node in enumerate(nodes):
        row: list[Any] = list(map(get, node.input))  # a name: a data input of output 0
        if None in row:  # control inputs, or other outputs
            read = _read(node.input, index, i)
            if read is None:
                return None
            row, pairs, suspect = read
            if pairs:
                outputs[i] = pairs
            if suspect:
                rewrite.append(i)
        elif row and max(row) >= i:
            return None  # not earlier: the import may reorder
        sources.append(row)
    return sources, outputs, rewrite


def _read(
    texts: Iterable[str], index: dict[str, int], i: int
) -> tuple[list[int], list[tuple[int, int]], bool] | None:
    """:func:`_inputs` of node ``i`` whose inputs ``texts`` are not all names: its data
    inputs' sources, the (source, output) pairs of those of an output other than 0, and
    whether the as-imported export may rewrite them; None unless plain."""
    row: list[int] = []
    pairs: list[tuple[int, int]] = []
    controls = 0
    suspect = False
    last = ""
    for text in texts:
        source = index.get(text)
        if source is not None:
            if controls or source >= i:
                return None  # after a control input, or not earlier
            row.append(source)
            continue
        if text[:1] == "^":
            controls += 1
            if index.get(text[1:], i) >= i:
                return None
            suspect = suspect or text <= last  # not sorted by name, or repeated
            last = text
            continue
        found = None if controls else _tensor(text, index, i)
        if found is None:
            return None
        row.append(found[0])
        pairs.append(found)
        suspect = suspect or text[text.rfind(":") + 1] == "0"
    return row, pairs, suspect


def _tensor(text: str, index: dict[str, int], i: int) -> tuple[int, int] | None:
    """The source position and output index of the data input ``text`` of node ``i``
    (``name:k``); None unless that names an earlier node plainly."""
    colon = text.rfind(":")
    digits = text[colon + 1 :]
    if colon <= 0 or not (digits.isdigit() and digits.isascii()) or len(digits) > 9:
        return None
    source = index.get(text[:colon], i)
    return None if source >= i else (source, int(digits))


def _classes(
    nodes: Sequence[NodeDef], names: Sequence[str], index: dict[str, int]
) -> tuple[list[Any], dict[int, list[str] | None]] | None:
    """:func:`scan`'s attrs: each node's attr map, and the colocation targets of those with a
    ``_class`` (:func:`~mgstore.export.normalize.colocation_targets`; None: read again, by
    :func:`~mgstore.export.normalize.placement`, which raises TensorFlow's error on it);
    None if a node names an unknown target."""
    attrs = []
    targets: dict[int, list[str] | None] = {}
    for i, node in enumerate(nodes):
        attr = node.attr
        attrs.append(attr)
        value = attr.get("_class")
        if value is None:
            continue
        entries = value.list.s
        found: list[str] | None = [] if entries else None  # strings: the value is a list
        for entry in entries:
            if entry[:5] == b"loc:@":
                target = entry[5:].decode("utf-8", "replace")
                if target not in index:
                    return None  # an unknown target
                if found is not None and target != names[i]:
                    found.append(target)  # a name, so UTF-8
            elif found is not None and not _utf8(entry):
                found = None
        targets[i] = found
    return attrs, targets


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: How an attr is tested: its type is one of a set, its value is of a field, or the
#: validator's check (:func:`~mgstore.export.node_validation.fits`) passes.
_TYPE, _SET, _FITS = 0, 1, 2
#: A compiled op: its attr tests (name, how, what with), its input lists' length attrs
#: (number, type list), how many single inputs it has, its fixed output count (None: from
#: attrs), whether a node without a type gets one, and the op's definition.
_Plan = tuple[
    list[tuple[str, int, Any]],
    list[tuple[str, str]],
    int,
    "int | None",
    bool,
    Any,
]


def _plan(normalizer: NodeSteps, op: str) -> _Plan | None:
    """How to check a node of ``op`` quickly; None if every node of it goes to the general
    step (not a plain registered op, or one whose attrs the producer's op list changes)."""
    op_def = normalizer.registry.get(op)
    if op_def is None or op_def.HasField("deprecation"):
        return None
    defaults, producer_defaults = normalizer.attrs.ops.get(op) or normalizer.attrs.rules(op)
    if producer_defaults:
        return None
    checks, signature = compile_checks(op_def)
    lists = [arg for arg in signature if arg[0] or arg[1]]
    tests = _tests(checks)
    if {name for name, _ in defaults} - {t[0] for t in tests}:
        return None
    static = (
        None
        if any(a.number_attr or a.type_list_attr for a in op_def.output_arg)
        else (len(op_def.output_arg))
    )
    constructs = full_types.has_constructor(op_def, normalizer.type_rules)
    return tests, lists, len(signature) - len(lists), static, constructs, op_def


def _tests(checks: Sequence[Any]) -> list[tuple[str, int, Any]]:
    """A plan's attr tests, from the validator's checks of an op's attrs
    (:func:`~mgstore.export.node_validation.compile_checks`)."""
    tests: list[tuple[str, int, Any]] = []
    for check in checks:
        name, kind, field, minimum, allowed = check
        if kind == "type":  # a valid type, allowed: then the value is set
            types = VALID_TYPES if allowed is None else VALID_TYPES.intersection(allowed)
            tests.append((name, _TYPE, types))
        elif field and minimum is None and allowed is None and not kind.startswith("list("):
            tests.append((name, _SET, field))  # any value of the field fits
        else:
            tests.append((name, _FITS, check))
    return tests


def normalize(
    nodes: Sequence[NodeDef], found: Scan, normalizer: NodeSteps
) -> tuple[list[int], list[int]]:
    """Normalise ``nodes`` (in stored order, which is the import's) in place as
    ``normalizer.normalize`` does, node by node; the positions it changed, and those handed
    to the general step (whose attrs may have changed otherwise than in ``_output_shapes``).
    Raises TensorFlow's errors in TensorFlow's order (through the general step)."""
    plans: dict[str, _Plan | None] = {}
    counts: list[int] = []
    zero: set[int] = set()  # the nodes without outputs
    changed: list[int] = []
    general: list[int] = []
    outputs = normalizer.outputs
    calls = normalizer.calls
    for i, node in enumerate(nodes):
        op = found.ops[i]
        plan = plans[op] if op in plans else plans.setdefault(op, _plan(normalizer, op))
        count = None if plan is None else _plain(node, plan, found, i, counts, zero)
        if count is None:
            general.append(i)
            if normalizer.normalize(node):
                changed.append(i)
            counts.append(outputs[found.names[i]][0])
            if not counts[-1]:
                zero.add(i)
            continue
        outputs[found.names[i]] = (count, op)
        counts.append(count)
        if not count:
            zero.add(i)
        shapes = None if count else found.attrs[i].get("_output_shapes")
        if shapes is not None and _is_shape_list(shapes):
            del node.attr["_output_shapes"]
            changed.append(i)
        if calls:
            normalizer.bodies.check_node(node)
    return changed, general


def _plain(
    node: NodeDef, plan: _Plan, found: Scan, i: int, counts: list[int], zero: set[int]
) -> int | None:
    """``node``'s output count if it is certainly plain under ``plan`` (its inputs name
    outputs their sources have, every declared attr present and valid, its data inputs as
    its signature says, a type if its op constructs one, stored shapes that fit); else None."""
    if zero and not zero.isdisjoint(found.sources[i]):
        return None  # an input from a node without outputs
    for source, output in found.outputs.get(i, ()):
        if output >= counts[source]:
            return None
    tests, lists, expected, static, constructs, op_def = plan
    attr = found.attrs[i]
    if not _fit(attr, tests):
        return None
    for number, type_list in lists:
        expected += attr[number].i if number else len(attr[type_list].list.type)
    if expected != len(found.sources[i]):
        return None
    if constructs and not node.HasField("experimental_type"):
        return None
    count = static
    if count is None:
        count = num_outputs(node, op_def) or 0
    shapes = attr.get("_output_shapes")
    if shapes is not None and count and len(shapes.list.shape) != count:
        return None  # too many or too few stored shapes, or not a list of shapes
    return count


def _fit(attr: Any, tests: Sequence[tuple[str, int, Any]]) -> bool:
    """Whether the attr map ``attr`` passes a plan's ``tests``."""
    for name, how, arg in tests:
        value = attr.get(name)
        if value is None:
            return False
        if how == _TYPE:
            if value.type not in arg:
                return False
        elif how == _SET:
            if value.WhichOneof("value") != arg:
                return False
        elif not fits(value, arg):
            return False
    return True


def _is_shape_list(value: AttrValue) -> bool:
    """:func:`~mgstore.export.normalize.is_shape_list`, in fewer calls."""
    if value.WhichOneof("value") != "list":
        return False
    return all(field is _SHAPE_FIELD for field, _ in value.list.ListFields())


def placements(
    nodes: Sequence[NodeDef], found: Scan, general: Sequence[int]
) -> list[list[str] | str]:
    """Each node's :func:`~mgstore.export.normalize.placement` after normalising, by stored
    position: the nodes with a ``_class`` and those the general step normalised are read
    again; the others are placed on their canonical device."""
    device_of: Callable[[str], str] = nz.canonical_device
    known: dict[str, str] = {}
    targets = found.targets
    again = set(general)
    placed: list[list[str] | str] = []
    for i, device in enumerate(found.devices):
        if i in targets or i in again:  # in this order, so that the first bad node raises
            where = None if i in again else targets[i]
            if where is None:
                placed.append(nz.placement(nodes[i]))
                continue
            if where:
                placed.append(where)
                continue
        got = known.get(device)
        if got is None:
            got = known[device] = device_of(device)
        placed.append(got)
    return placed

"""What importing a MetaGraphDef into a fresh TensorFlow 2.21 graph does (§2).

Pure functions on mgstore's messages, each mirroring one step of
``import_scoped_meta_graph`` on a stored graph; export code combines them. Inputs are never modified
(:class:`AttrNormalizer` works in place, on purpose). The collections (§2.10, §2.11) are in
:mod:`mgstore.export.restored_collections`, re-exported here.

TensorFlow reports import failures in this order (the first one wins), and so should callers:

1. a non-empty ``unbound_inputs`` collection (:func:`restore_collections`, §2.13);
2. versions (:func:`merged_versions`, §2.8);
3. per node in stored order: name, uniqueness, op, control-after-data; then unknown inputs
   (:func:`import_order`, §2.13);
4. the function library, C++ checks (:func:`rebuilt_library_order`);
5. per node in import order: unknown colocation targets (:func:`import_order`), inputs
   naming outputs their source lacks, unregistered ops, the node against its OpDef
   (:mod:`mgstore.export.node_validation`), ops the producer version removed, stored shapes,
   unregistered ops in the bodies of the functions the node calls
   (:mod:`mgstore.export.function_bodies`); then cycles (§2.2);
6. Python, in import order: device strings and ``_class`` values (:func:`colocated_devices`);
   then the library's gradients (:func:`rebuilt_library_order`); then ``tensorflow_version``
   and the collections (:func:`restore_collections`).

Every failure is an :class:`~mgstore.errors.InvalidGraphError` (a ``ValueError``) carrying
TensorFlow's message (:class:`~mgstore.errors.UnregisteredOpError` and
:class:`~mgstore.errors.RemovedOpError` where TensorFlow raises NotFoundError and
UnimplementedError); C++ errors of step 2-4 get TensorFlow's forward-compatibility note when
the producer is more than 21 versions ahead (:func:`import_error`). Where TensorFlow crashes
instead (a failed CHECK, a TypeError), the message says so.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import functools
import heapq
import re
from collections.abc import Container, Iterable, Mapping, Sequence

from mgstore.collections import PROTO_KEYS
from mgstore.errors import InvalidGraphError
from mgstore.export.function_order import library_order
from mgstore.proto import (
    AttrValue,
    DataType,
    FunctionDef,
    FunctionDefLibrary,
    NodeDef,
    OpDef,
    OpList,
    VersionDef,
)

GRAPH_DEF_VERSION = 2474  # producer of an empty graph; also the consumer version checked
GRAPH_DEF_VERSION_MIN_CONSUMER = 0
GRAPH_DEF_VERSION_MIN_PRODUCER = 0
TF_VERSION = "2.21.0"
_MERGE_OPS = frozenset({"Merge", "RefMerge", "_XlaMerge"})
_NEXT_ITERATION_OPS = frozenset({"NextIteration", "RefNextIteration"})
#: Ops whose nodes the import orders otherwise than by their inputs alone (§2.2).
LOOP_OPS = _MERGE_OPS | _NEXT_ITERATION_OPS
_VALID_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_./-]*(?:>[A-Za-z0-9.][A-Za-z0-9_./-]*)*")
_DEVICE_TYPES = frozenset({"CPU", "GPU", "TPU", "CUSTOM", "EPU"})


# ------------------------------------------------------------------------------------------
# Errors, tensor names


def import_error(
    message: str,
    versions: VersionDef | None = None,
    kind: type[InvalidGraphError] = InvalidGraphError,
) -> InvalidGraphError:
    """The error TensorFlow's graph import raises (§2.13), as an InvalidGraphError (``kind``).

    ``versions`` is the stored graph's ``graph_def.versions``: when its producer is more than 21
    above 2474, TensorFlow wraps every C++ import error (not the version checks) in a long note.
    """
    if versions is not None and versions.producer - GRAPH_DEF_VERSION > 21:
        message = (
            f"Converting GraphDef to Graph has failed with an error: '{message}' The binary "
            f"trying to import the GraphDef was built when GraphDef version was "
            f"{GRAPH_DEF_VERSION}. The GraphDef was produced by a binary built when GraphDef "
            f"version was {versions.producer}. The difference between these versions is larger "
            "than TensorFlow's forward compatibility guarantee, and might be the root cause for "
            "failing to import the GraphDef."
        )
    return kind(message)


def parse_tensor_name(text: str) -> tuple[str, int]:
    """TensorFlow's C++ ``ParseTensorName`` (§2.7): ``(node, index)``, -1 for ``^control``.

    ``a:01`` is ``(a, 1)``; ``^a:1`` is a data input of node ``^a``; ``a:`` and ``:1`` are
    node names; the index wraps like C++'s 32-bit arithmetic.
    """
    end = len(text) - 1
    index, mul = 0, 1
    while end > 0 and "0" <= text[end] <= "9":
        index = (index + (ord(text[end]) - 48) * mul) & 0xFFFFFFFF
        mul = (mul * 10) & 0xFFFFFFFF
        end -= 1
    if end > 0 and text[end] == ":" and mul > 1:
        return text[:end], index - (1 << 32) if index >= 1 << 31 else index
    if text.startswith("^"):
        return text[1:], -1
    return text, 0


# ------------------------------------------------------------------------------------------
# §2.2 node order


def import_order(
    nodes: Sequence[NodeDef], *, versions: VersionDef | None = None, check_colocation: bool = True
) -> list[int]:
    """Positions of ``nodes`` in the order TensorFlow's importer creates them (§2.2).

    Kahn's algorithm taking the ready node with the smallest stored position first; a
    Merge/RefMerge/_XlaMerge with a data input from a NextIteration/RefNextIteration waits only
    for its control inputs plus one input, and NextIteration -> Merge edges are never counted.
    Raises TensorFlow's errors for invalid or duplicate names, a missing op, control inputs
    before data inputs, unknown inputs, unknown colocation targets (``check_colocation``, §2.6,
    checked as each node is created) and cycles (``N nodes in a cycle``).
    """
    index, inputs = _checked_nodes(nodes, versions)
    next_iterations = {n.name for n in nodes if n.op in _NEXT_ITERATION_OPS}
    sources, in_order = _input_sources(nodes, inputs, index, versions)
    if in_order and not next_iterations:
        if check_colocation:
            for node in nodes:  # _check_colocation, inlined: 80,000 calls cost
                value = node.attr.get("_class")
                if value is None:
                    continue
                for entry in value.list.s:
                    if entry[:5] == b"loc:@" and entry[5:].decode("utf-8", "replace") not in index:
                        _check_colocation(node, index, versions)
        return list(range(len(nodes)))
    pending, outputs = _dependency_counts(nodes, inputs, sources, next_iterations)
    order = _ready_first(nodes, pending, outputs, index if check_colocation else None, versions)
    if len(order) < len(nodes):
        raise import_error(f"{len(nodes) - len(order)} nodes in a cycle", versions)
    return order


def _checked_nodes(
    nodes: Sequence[NodeDef], versions: VersionDef | None
) -> tuple[dict[str, int], list[list[str]]]:
    """:func:`import_order`'s first phase: each node's name, op and input order checked in
    stored order; returns the position of each name and each node's input strings."""
    index: dict[str, int] = {}
    inputs: list[list[str]] = []
    for i, node in enumerate(nodes):
        name = node.name
        if not _VALID_NAME.fullmatch(name):
            raise import_error(f"Node '{name}': Node name contains invalid characters", versions)
        if name in index:
            raise import_error(f"Node '{name}' is not unique", versions)
        index[name] = i
        if not node.op:
            raise import_error(f"Node '{name}' does not specify an operation", versions)
        texts = list(node.input)
        inputs.append(texts)
        seen_control = False
        for text in texts:
            if text.startswith("^"):
                seen_control = True
            elif seen_control:
                raise import_error(
                    f"Node '{name}': Control dependencies must come after regular dependencies",
                    versions,
                )
    return index, inputs


def _input_sources(
    nodes: Sequence[NodeDef],
    inputs: Sequence[Sequence[str]],
    index: Mapping[str, int],
    versions: VersionDef | None,
) -> tuple[list[list[int]], bool]:
    """:func:`import_order`'s second phase: the position of each input's source node (an
    unknown one raises), and whether every input comes from an earlier node."""
    sources: list[list[int]] = []
    in_order = True  # every input comes from an earlier node: the order is kept as is
    for i, texts in enumerate(inputs):
        row = []
        for text in texts:
            source = index.get(_source_name(text))
            if source is None:
                raise import_error(f"Node '{nodes[i].name}': Unknown input node '{text}'", versions)
            row.append(source)
            in_order = in_order and source < i
        sources.append(row)
    return sources, in_order


def _dependency_counts(
    nodes: Sequence[NodeDef],
    inputs: Sequence[Sequence[str]],
    sources: Sequence[Sequence[int]],
    next_iterations: Container[str],
) -> tuple[list[int], list[list[int]]]:
    """:func:`import_order`'s third phase: how many inputs each node waits for (a Merge fed by
    a NextIteration waits for its control inputs plus one), and each node's consumers."""
    pending: list[int] = []
    outputs: list[list[int]] = [[] for _ in nodes]
    for i, node in enumerate(nodes):
        count = len(inputs[i])
        if node.op in _MERGE_OPS and _fed_by(inputs[i], next_iterations):
            count = sum(1 for t in inputs[i] if t.startswith("^")) + 1
        for source in sources[i]:
            outputs[source].append(i)
        pending.append(count)
    return pending, outputs


def _fed_by(inputs: Iterable[str], names: Container[str]) -> bool:
    """Whether a data input among ``inputs`` comes from a node in ``names``."""
    return any(not t.startswith("^") and parse_tensor_name(t)[0] in names for t in inputs)


def _ready_first(
    nodes: Sequence[NodeDef],
    pending: list[int],
    outputs: Sequence[Sequence[int]],
    colocation_index: Mapping[str, int] | None,
    versions: VersionDef | None,
) -> list[int]:
    """:func:`import_order`'s last phase: Kahn's algorithm, the ready node with the smallest
    stored position first (``pending`` is consumed); colocation targets are checked against
    ``colocation_index`` as each node is created. Nodes in a cycle are left out."""
    ready = [i for i, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        o = heapq.heappop(ready)
        order.append(o)
        if colocation_index is not None:
            _check_colocation(nodes[o], colocation_index, versions)
        from_next_iteration = nodes[o].op in _NEXT_ITERATION_OPS
        for c in outputs[o]:
            if from_next_iteration and nodes[c].op in _MERGE_OPS:
                continue
            if pending[c] == 0:  # TensorFlow aborts the process here (failed CHECK)
                raise import_error(
                    f"Node '{nodes[c].name}': a Merge fed by a NextIteration must have exactly "
                    "one other data input; TensorFlow 2.21 aborts the process on this graph "
                    "(graph_constructor.cc: Check failed: *current_pending_count > 0)",
                    versions,
                )
            pending[c] -= 1
            if pending[c] == 0:
                heapq.heappush(ready, c)
    return order


def _source_name(text: str) -> str:
    """The node an input string names: :func:`parse_tensor_name`'s node, fast."""
    colon = text.rfind(":")
    if colon > 0 and text[colon + 1 :].isdigit() and text[colon + 1 :].isascii():
        return text[:colon]
    return text[1:] if text.startswith("^") else text


def _check_colocation(node: NodeDef, index: Mapping[str, int], versions: VersionDef | None) -> None:
    for entry in _cpp_colocation_entries(node):
        if entry.startswith(b"loc:@") and entry[5:].decode("utf-8", "replace") not in index:
            raise import_error(
                f"Node '{node.name}' expects to be colocated with unknown node "
                f"'{entry[5:].decode('utf-8', 'replace')}'",
                versions,
            )


# ------------------------------------------------------------------------------------------
# §2.5 / §2.6 devices


@functools.lru_cache(maxsize=4096)
def canonical_device(device: str) -> str:
    """The device string TensorFlow gives a node placed on ``device`` (§2.5).

    ``DeviceSpec.from_string(device).to_string()``: ``/job:J/replica:R/task:T/device:TYPE:I``,
    absent parts omitted. Short types (``cpu``, ``gpu:1``, ``tpu``, ``custom``, ``epu``, any
    case) are upper-cased; in ``/device:TYPE:I`` only exactly ``cpu``/``gpu`` are. Missing
    index: ``*``. Replica, task and index are Python ints (``task:01`` -> ``task:1``). A
    malformed string raises TensorFlow's ValueError message.
    """
    fields: dict[str, str] = {}  # job, replica, task
    kind: str | None = None
    number: int | None = None
    for part in device.split("/"):
        y = part.split(":")
        if len(y) == 2 and y[0] in ("job", "replica", "task"):
            fields[y[0]] = y[1]
        elif _names_device_type(y):
            if kind is not None:
                raise InvalidGraphError(
                    "Multiple device types are not allowed while parsing the device spec: "
                    f"{device}."
                )
            kind = y[1] if len(y) == 3 else y[0].upper()
            if len(y) > 1 and y[-1] != "*":
                number = _python_int(y[-1])
        elif y[0] != "":
            raise InvalidGraphError(
                f"Unknown attribute '{y[0]}' is encountered while parsing the device spec: "
                f"'{device}'."
            )
    out = f"/job:{fields['job']}" if "job" in fields else ""
    for key in ("replica", "task"):
        out += f"/{key}:{_python_int(fields[key])}" if key in fields else ""
    if kind is not None:
        kind = kind.upper() if kind in ("cpu", "gpu") else kind
        out += f"/device:{kind}:{'*' if number is None else number}"
    return out


def _names_device_type(y: Sequence[str]) -> bool:
    """Whether a device-spec part split at ``:`` names a device type: ``cpu``, ``GPU:1``
    (a short type, any case) or ``device:TYPE:I``."""
    return (len(y) in (1, 2) and y[0].upper() in _DEVICE_TYPES) or (
        len(y) == 3 and y[0] == "device"
    )


def _python_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:  # "invalid literal for int() with base 10: 'x'"
        raise InvalidGraphError(str(exc)) from exc


def _cpp_colocation_entries(node: NodeDef) -> Sequence[bytes]:
    return node.attr["_class"].list.s if "_class" in node.attr else ()


def colocation_targets(node: NodeDef) -> list[str]:
    """The ``loc:@X`` targets of ``node``'s ``_class`` attr other than itself (§2.6).

    Raises where TensorFlow's Python import crashes: a ``_class`` that is neither a list of
    strings nor empty, or an entry that is not UTF-8.
    """
    value = node.attr.get("_class")
    return [] if value is None else _targets(node, value)


def _targets(node: NodeDef, value: AttrValue) -> list[str]:
    """:func:`colocation_targets` of ``node``, whose ``_class`` attr is ``value``."""
    which = value.WhichOneof("value")
    entries: Sequence[bytes] = ()
    if which == "list":
        entries = value.list.s
        others = ("i", "f", "b", "type", "shape", "tensor", "func")
        bad = not entries and any(len(getattr(value.list, f)) for f in others)
    else:
        bad = which is not None and not (which == "s" and not value.s)
    if bad:
        raise InvalidGraphError(
            f"Node '{node.name}': attr '_class' must be a list of strings, got {which}; "
            "TensorFlow 2.21 fails on it with a TypeError"
        )
    targets = []
    for entry in entries:
        try:
            text = entry.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidGraphError(
                f"Node '{node.name}': a '_class' entry is not UTF-8 ({exc}); TensorFlow 2.21 "
                "fails on it with a UnicodeDecodeError"
            ) from exc
        if text.startswith("loc:@") and text[5:] != node.name:
            targets.append(text[5:])
    return targets


def colocated_devices(nodes: Sequence[NodeDef], order: Sequence[int] | None = None) -> list[str]:
    """The device of each node after import, by stored position (§2.5, §2.6).

    A node with colocation targets drops its own device and takes the device of its first
    target that has one, as set so far: nodes without targets first, then colocated nodes in
    import order, so a chained target placed later still has ``""``. Other nodes get
    :func:`canonical_device`. ``order`` is :func:`import_order`'s result (computed if None).
    """
    if order is None:
        order = import_order(nodes)
    placed = [placement(nodes[i]) for i in order]
    return placed_devices(nodes, order, placed)


def placement(node: NodeDef) -> list[str] | str:
    """What a node's device after import depends on, of the node itself: its colocation
    targets (:func:`colocation_targets`), or if it has none its :func:`canonical_device`."""
    value = node.attr.get("_class")
    targets = None if value is None else _targets(node, value)
    return targets if targets else canonical_device(node.device)


def placed_devices(
    nodes: Sequence[NodeDef],
    order: Sequence[int],
    placed: Sequence[list[str] | str],
    index: Mapping[str, int] | None = None,
) -> list[str]:
    """:func:`colocated_devices` from each node's :func:`placement`, given in import
    ``order`` (``placed[k]`` is node ``order[k]``'s); ``index``: each node's position by
    name, if the caller has it."""
    devices = [""] * len(nodes)
    colocated: list[tuple[int, list[str]]] = []
    for i, where in zip(order, placed, strict=True):
        if isinstance(where, str):
            devices[i] = where
        else:
            colocated.append((i, where))
    if not colocated:
        return devices
    if index is None:
        index = {node.name: i for i, node in enumerate(nodes)}
    for i, targets in colocated:
        for target in targets:
            j = index.get(target)
            if j is None:
                raise InvalidGraphError(
                    f"Node '{nodes[i].name}' expects to be colocated with unknown node '{target}'"
                )
            if devices[j]:
                devices[i] = devices[j]
                break
    return devices


# ------------------------------------------------------------------------------------------
# §2.7 inputs, §2.8 versions


def as_imported_inputs(inputs: Iterable[str]) -> list[str]:
    """A node's inputs as the as-imported export writes them (§2.7).

    Data inputs in order, as ``name`` for output 0 and ``name:k`` otherwise (``a:0`` -> ``a``,
    ``a:01`` -> ``a:1``); then the control inputs without duplicates, sorted by name.
    The rebuilt and given-graph_def exports write the stored strings unchanged.
    """
    data: list[str] = []
    controls: set[str] = set()
    for text in inputs:
        name, k = parse_tensor_name(text)
        if k == -1 and text.startswith("^"):
            controls.add(name)
        elif k < 0:
            raise InvalidGraphError(f"input '{text}': output index out of range")
        else:
            data.append(name if k == 0 else f"{name}:{k}")
    return data + [f"^{name}" for name in sorted(controls)]


def merged_versions(
    versions: VersionDef | None, library: FunctionDefLibrary | None = None
) -> VersionDef:
    """The imported graph's GraphDef versions (§2.8).

    The empty graph's (producer 2474, min_consumer 0) merged with the stored graph's: producer =
    min, min_consumer = max, bad_consumers = sorted union. Absent versions read as all zeros, so the
    result is then empty (but written: ``versions {}``). If the stored ``library`` holds a function,
    min_consumer is at least 12 (TensorFlow's ``Graph::AddFunctionLibrary``). Raises TensorFlow's
    errors for a min_consumer above 2474, a negative producer and a bad consumer equal to 2474.
    """
    given = versions if versions is not None else VersionDef()
    if given.min_consumer > GRAPH_DEF_VERSION:
        raise InvalidGraphError(
            f"GraphDef min consumer version {given.min_consumer} above current version "
            f"{GRAPH_DEF_VERSION} for TensorFlow {TF_VERSION}.  Please upgrade TensorFlow."
        )
    if given.producer < GRAPH_DEF_VERSION_MIN_PRODUCER:
        raise InvalidGraphError(
            f"GraphDef producer version {given.producer} below min producer "
            f"{GRAPH_DEF_VERSION_MIN_PRODUCER} supported by TensorFlow {TF_VERSION}.  Please "
            "regenerate your graph."
        )
    if GRAPH_DEF_VERSION in given.bad_consumers:
        raise InvalidGraphError(
            f"GraphDef disallows consumer version {GRAPH_DEF_VERSION}.  Please upgrade "
            "TensorFlow: this version is likely buggy."
        )
    out = VersionDef(
        producer=min(GRAPH_DEF_VERSION, given.producer),
        min_consumer=max(
            12 if library is not None and library.function else GRAPH_DEF_VERSION_MIN_CONSUMER,
            given.min_consumer,
        ),
    )
    out.bad_consumers.extend(sorted(set(given.bad_consumers)))
    return out


# ------------------------------------------------------------------------------------------
# §2.9 function library


def rebuilt_library_order(
    library: FunctionDefLibrary | None, ops: Container[str] = ()
) -> list[FunctionDef]:
    """The functions in the order Python registers them at import: the rebuilt export's order
    (§2.9).

    A stack, seeded with the functions that have no gradient (stored order): take the last,
    then push the functions whose gradient it is. Functions reachable only through a cycle of
    gradients are never registered and are left out. Empty when there are no functions
    (gradients and ``registered_gradients`` alone are dropped). Raises TensorFlow's errors:
    C++ (different functions with one name, two gradients for one function), then Python
    (a gradient naming a missing function, only cyclic gradients, an argument type that is
    no DataType). ``ops``: the registered op names, which no function may take.
    """
    if library is None or not library.function:
        return []
    funcs = _functions_by_name(library, ops)
    func_to_grad = _gradient_of(library, funcs)
    grad_to_funcs: dict[str, list[str]] = {}
    for gdef in library.gradient:
        grad_to_funcs.setdefault(gdef.gradient_func, []).append(gdef.function_name)
    ready = [f for f in library.function if f.signature.name not in func_to_grad]
    if not ready:
        raise InvalidGraphError(
            f"FunctionDefLibrary contains cyclic gradient functions!\n{library}"
        )
    taken: dict[str, FunctionDef] = {}
    valid_types = set(DataType.values()) - {DataType.DT_INVALID}
    while ready:
        fdef = ready.pop()
        for arg in fdef.signature.input_arg:
            if arg.type not in valid_types:
                raise InvalidGraphError(
                    f"Cannot convert the argument `type_value`: {arg.type} to a TensorFlow DType."
                )
        taken[fdef.signature.name] = fdef
        ready.extend(funcs[f] for f in grad_to_funcs.get(fdef.signature.name, ()))
    return list(taken.values())


def _functions_by_name(library: FunctionDefLibrary, ops: Container[str]) -> dict[str, FunctionDef]:
    """The library's functions by name, checked as TensorFlow's C++ adds them: one function a
    name, no function named like a registered op (§2.9)."""
    funcs: dict[str, FunctionDef] = {}
    for fdef in library.function:
        name = fdef.signature.name
        if name in funcs and funcs[name] != fdef:
            raise InvalidGraphError(
                f"Cannot add function '{name}' because a different function with the same name "
                "already exists."
            )
        if name not in funcs and name in ops:
            raise InvalidGraphError(
                f"Cannot add function '{name}' because an op with the same name already exists."
            )
        funcs[name] = fdef
    return funcs


def _gradient_of(library: FunctionDefLibrary, funcs: Container[str]) -> dict[str, str]:
    """Each function's gradient function, checked: one gradient a function (C++), then both
    names of every GradientDef defined in the library (Python) (§2.9)."""
    func_to_grad: dict[str, str] = {}
    for gdef in library.gradient:
        known = func_to_grad.get(gdef.function_name)
        if known is not None and known != gdef.gradient_func:
            raise InvalidGraphError(
                f"Cannot assign gradient function '{gdef.gradient_func}' to "
                f"'{gdef.function_name}' because it already has gradient function '{known}'"
            )
        func_to_grad[gdef.function_name] = gdef.gradient_func
    for gdef in library.gradient:
        for name in (gdef.function_name, gdef.gradient_func):
            if name not in funcs:
                raise InvalidGraphError(
                    f"FunctionDefLibrary missing '{name}' FunctionDef\n{library}"
                )
    return func_to_grad


def rebuilt_library(
    library: FunctionDefLibrary | None, ops: Container[str] = ()
) -> FunctionDefLibrary | None:
    """The rebuilt export's ``graph_def.library`` (§2.9, §3.2): None (absent) without functions.

    Functions in :func:`rebuilt_library_order` (``ops`` as there), each followed in
    ``gradient`` by its GradientDef.
    """
    functions = rebuilt_library_order(library, ops)
    if not functions:
        return None
    assert library is not None
    grads = {g.function_name: g.gradient_func for g in library.gradient}
    out = FunctionDefLibrary()
    for fdef in functions:
        out.function.add().CopyFrom(fdef)
        if fdef.signature.name in grads:
            out.gradient.add(
                function_name=fdef.signature.name, gradient_func=grads[fdef.signature.name]
            )
    return out


def as_imported_library(library: FunctionDefLibrary | None) -> FunctionDefLibrary | None:
    """The as-imported export's ``graph_def.library``, in the order of TensorFlow's C++ function
    tables.

    The functions and the gradients in the iteration order of TensorFlow's function tables
    after the import (:func:`mgstore.export.function_order.library_order`). None (absent)
    without functions; duplicate functions and gradients appear once;
    ``registered_gradients`` are dropped. Raises where TensorFlow's export fails with a
    KeyError: functions that Python never registered (cyclic gradients).
    """
    taken = rebuilt_library_order(library)
    if library is None or not taken:
        return None
    registered = {f.signature.name for f in taken}
    first: dict[str, FunctionDef] = {}
    for fdef in library.function:
        name = fdef.signature.name
        if name not in registered:
            raise InvalidGraphError(
                f"function '{name}' is only reachable through cyclic gradients: TensorFlow "
                f"2.21's export without options fails on it (KeyError: '{name}')"
            )
        first.setdefault(name, fdef)
    grads = {g.function_name: g.gradient_func for g in library.gradient}
    functions, gradients = library_order(
        (f.signature.name for f in library.function),
        (g.function_name for g in library.gradient),
        [f.signature.name for f in taken if f.signature.name in grads],
    )
    out = FunctionDefLibrary()
    for name in functions:
        out.function.add().CopyFrom(first[name])
    for name in gradients:
        out.gradient.add(function_name=name, gradient_func=grads[name])
    return out


# ------------------------------------------------------------------------------------------
# §2.3 attributes


def normalize_attrs(
    node: NodeDef,
    registry: Mapping[str, OpDef] | None = None,
    producer_ops: OpList | None = None,
    *,
    remove_output_shapes: bool = False,
) -> NodeDef:
    """A copy of ``node`` with its attrs as the importer leaves them (§2.3).

    ``registry``: op name -> OpDef of TensorFlow 2.21 (default: the bundled snapshot,
    ``mgstore.export.registry``). ``producer_ops``: the stored ``meta_info_def.stripped_op_list``
    when that field is present, else None. See :class:`AttrNormalizer` for the rules.
    ``remove_output_shapes``: also drop ``_output_shapes`` if it holds a list of shapes (as every
    import does; other values are kept).
    """
    if registry is None:
        from mgstore.export.registry import load_registry

        registry = load_registry()
    out = NodeDef()
    out.CopyFrom(node)
    AttrNormalizer(registry, producer_ops).normalize(out)
    shapes = out.attr.get("_output_shapes")
    if remove_output_shapes and shapes is not None and is_shape_list(shapes):
        del out.attr["_output_shapes"]
    return out


class AttrNormalizer:
    """The importer's attr changes (§2.3), in place, with per-op caches (most stored
    nodes need none). For an op in ``registry``:

    * each attr with a default that is missing or has no value set gets the default;
    * if the op is in ``producer_ops`` (the last entry of that name), an attr that the current
      OpDef does not declare (private ones included) is removed when it equals (protobuf ``==``)
      the default declared for it by the first such attr of the producer's OpDef.

    Ops the registry does not know are left alone.
    """

    def __init__(self, registry: Mapping[str, OpDef], producer_ops: OpList | None) -> None:
        self.registry = registry
        self.producer: dict[str, OpDef] = (
            {op.name: op for op in producer_ops.op} if producer_ops is not None else {}
        )
        self.ops: dict[str, tuple[tuple[tuple[str, AttrValue], ...], dict[str, AttrValue]]] = {}

    def normalize(self, node: NodeDef) -> bool:
        """Normalise ``node``'s attrs in place; whether anything changed."""
        rules = self.ops.get(node.op)
        if rules is None:
            rules = self.ops[node.op] = self.rules(node.op)
        defaults, producer_defaults = rules
        attr = node.attr
        changed = False
        for name, default in defaults:
            if name not in attr or attr[name].WhichOneof("value") is None:
                attr[name].CopyFrom(default)
                changed = True
        if producer_defaults:
            for key in [k for k in attr if k in producer_defaults]:
                if attr[key] == producer_defaults[key]:
                    del attr[key]
                    changed = True
        return changed

    def rules(self, op: str) -> tuple[tuple[tuple[str, AttrValue], ...], dict[str, AttrValue]]:
        """What the import does to the attrs of ``op``'s nodes (§2.2): the defaults it adds
        (the registry's, in its order) and the producer's defaults it removes where a node
        holds them and the registry no longer declares the attr."""
        current = self.registry.get(op)
        if current is None:
            return (), {}
        defaults = tuple(
            (a.name, a.default_value) for a in current.attr if a.HasField("default_value")
        )
        declared = {a.name for a in current.attr}
        first: dict[str, AttrValue | None] = {}
        for a in getattr(self.producer.get(op), "attr", ()):
            if a.name not in declared and a.name not in first:
                first[a.name] = a.default_value if a.HasField("default_value") else None
        return defaults, {k: v for k, v in first.items() if v is not None}


def is_shape_list(value: AttrValue) -> bool:
    """Whether ``value`` is a list holding only shapes (what import drops, §2.3)."""
    if value.WhichOneof("value") != "list":
        return False
    lst = value.list
    return not (lst.s or lst.i or lst.f or lst.b or lst.type or lst.tensor or lst.func)


# §2.10 and §2.11 live in their own module; these names stay importable from here.
from mgstore.export.restored_collections import (  # noqa: E402
    OUT_OF_RANGE,
    UNBOUND_INPUTS_KEY,
    CollectionItem,
    NodeRef,
    RestoredCollection,
    element_name,
    exported_collection_def,
    regenerate,
    restore_collections,
)

__all__ = [
    "GRAPH_DEF_VERSION",
    "LOOP_OPS",
    "OUT_OF_RANGE",
    "PROTO_KEYS",
    "TF_VERSION",
    "UNBOUND_INPUTS_KEY",
    "AttrNormalizer",
    "CollectionItem",
    "NodeRef",
    "RestoredCollection",
    "element_name",
    "exported_collection_def",
    "regenerate",
    "canonical_device",
    "colocated_devices",
    "colocation_targets",
    "placed_devices",
    "placement",
    "import_error",
    "import_order",
    "is_shape_list",
    "merged_versions",
    "normalize_attrs",
    "as_imported_inputs",
    "parse_tensor_name",
    "as_imported_library",
    "rebuilt_library",
    "rebuilt_library_order",
    "restore_collections",
]

"""Collections as importing a MetaGraphDef restores them (§2.10, §2.11).

What ``G.get_collection(key)`` holds after ``import_scoped_meta_graph(S)``: node references,
raw values, and the registered payloads (VariableDef, SaverDef, QueueRunnerDef,
CondContextDef, WhileContextDef) regenerated as TensorFlow's ``from_proto(...).to_proto()``.
Pure functions on mgstore's messages; inputs are never modified.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from google.protobuf.message import Message

from mgstore.collections import PROTO_KEYS
from mgstore.errors import InvalidGraphError
from mgstore.proto import (
    CollectionDef,
    CondContextDef,
    QueueRunnerDef,
    SaverDef,
    VariableDef,
    WhileContextDef,
    copy_of,
)

if TYPE_CHECKING:
    from mgstore.proto.xla.tsl.protobuf.error_codes_pb2 import Code

UNBOUND_INPUTS_KEY = "unbound_inputs"
OUT_OF_RANGE = 11  # tensorflow.error.Code.OUT_OF_RANGE


_NAME_FIELDS: dict[type[Message], tuple[str, ...]] = {  # names read via as_graph_element
    VariableDef: ("variable_name", "initializer_name", "snapshot_name", "initial_value_name"),
    QueueRunnerDef: ("queue_name", "enqueue_op_name", "close_op_name", "cancel_op_name"),
    CondContextDef: ("pred_name", "pivot_name"),
    WhileContextDef: ("maximum_iterations_name", "pivot_for_pred_name", "pivot_for_body_name",
                      "pivot_name", "loop_exit_names", "loop_enter_names"),
}  # fmt: skip


@dataclass(frozen=True)
class NodeRef:
    """A node_list item: a Tensor (``op:k``) or an Operation (``op``), by canonical name."""

    name: str


#: One object of a restored collection: a node, bytes, int, float, an ``Any`` message, or a
#: regenerated payload (VariableDef, SaverDef, QueueRunnerDef, CondContextDef, WhileContextDef).
CollectionItem: TypeAlias = "NodeRef | bytes | int | float | Message"


@dataclass(frozen=True)
class RestoredCollection:
    """What ``G.get_collection(key)`` holds after import (§2.10, §2.11).

    ``kind`` is the stored CollectionDef kind, ``items`` keep the stored order. Payloads under
    :data:`PROTO_KEYS` are regenerated: they equal ``to_proto()`` without a scope.
    ``exportable`` is False when every export drops the key: a kind other than bytes_list
    under a proto-function key (e.g. an old ``local_variables`` node_list). Under
    ``variables``, int64/float/any items make every export without scope fail in TensorFlow
    (``AttributeError: 'int' object has no attribute 'name'``).
    """

    key: str
    kind: str
    items: tuple[CollectionItem, ...]
    exportable: bool


def restore_collections(
    collection_def: Mapping[str, CollectionDef],
    tensorflow_version: str = "",
    *,
    unbound_inputs_col_name: str | None = UNBOUND_INPUTS_KEY,
    wanted: Callable[[str], bool] | None = None,
) -> dict[str, RestoredCollection]:
    """The imported graph's collections, in restoration order (§2.10, §2.11).

    ``trainable_variables`` first, then the other keys sorted; ``unbound_inputs`` is skipped
    (a non-empty one fails the import, §2.13); kindless and empty collections are left out.
    ``tensorflow_version`` (``S.meta_info_def.tensorflow_version``) below 1.9 sets each
    VariableDef's ``trainable`` to "first seen in ``trainable_variables``" (identical
    VariableDefs of the variable collections are one object; ``global_step`` is not one).
    Names are canonicalised as ``Graph.as_graph_element`` does; their existence is not checked.

    ``wanted``: a VariableDef whose (canonical) ``variable_name`` it refuses is checked as
    its regeneration would check it, and stands as a :class:`NodeRef` of that name, not
    regenerated (for an export whose scope leaves it out, docs/export-semantics.md §3.4).
    """
    if unbound_inputs_col_name:
        _check_unbound(collection_def.get(unbound_inputs_col_name), unbound_inputs_col_name)
    force = bool(tensorflow_version) and not at_least_1_9(tensorflow_version)
    keys = sorted(collection_def, key=lambda k: (k != "trainable_variables", k))
    shared: dict[bytes, CollectionItem] = {}
    out: dict[str, RestoredCollection] = {}
    for key in keys:
        col = collection_def[key]
        kind = col.WhichOneof("kind")
        if key == unbound_inputs_col_name or kind is None or not getattr(col, kind).value:
            continue
        values = list(getattr(col, kind).value)
        proto_type = PROTO_KEYS.get(key)
        items: list[CollectionItem]
        if proto_type is not None and kind == "bytes_list":
            items = _payloads(key, proto_type, values, force, shared, wanted)
        elif kind == "node_list":
            items = [NodeRef(element_name(v)) for v in values]
        else:
            items = [copy_of(v) if kind == "any_list" else v for v in values]
        out[key] = RestoredCollection(
            key, kind, tuple(items), proto_type is None or kind == "bytes_list"
        )
    return out


def _check_unbound(unbound: CollectionDef | None, key: str) -> None:
    """A non-empty unbound-inputs collection (``key``) fails the import (§2.13)."""
    if unbound is None:
        return
    kind = unbound.WhichOneof("kind")
    if kind is None:
        raise InvalidGraphError(
            f"collection '{key}' has no kind: TensorFlow 2.21 fails (TypeError)"
        )
    if getattr(unbound, kind).value:
        names = ",".join(v.decode() if isinstance(v, bytes) else str(v)
                         for v in getattr(unbound, kind).value)  # fmt: skip
        raise InvalidGraphError(f"Graph contains unbound inputs: {names}. Must provide "
                                "these inputs through input_map.")  # fmt: skip


def _payloads(
    key: str,
    proto_type: type[Message],
    values: list[bytes],
    force: bool,
    shared: dict[bytes, CollectionItem],
    wanted: Callable[[str], bool] | None = None,
) -> list[CollectionItem]:
    """The regenerated payloads of a proto-function collection (§2.11). VariableDefs (but
    under ``global_step``) with equal bytes are one object across the collections
    (``shared``); ``force``: below TensorFlow 1.9, ``trainable`` is set by the key;
    ``wanted``: see :func:`restore_collections`."""
    is_shared = proto_type is VariableDef and key != "global_step"
    items: list[CollectionItem] = []
    for raw in values:
        if is_shared and raw in shared:
            items.append(shared[raw])
            continue
        payload: Any = proto_type.FromString(raw)
        if wanted is not None and proto_type is VariableDef:
            name = _unwanted_variable(payload, wanted)
            if name is not None:  # equal bytes: the same name, checked alike
                items.append(name)
                if is_shared:
                    shared[raw] = name
                continue
        if force and is_shared:
            payload.trainable = key == "trainable_variables"
        regenerated = regenerate(payload)
        items.append(regenerated)
        if is_shared:
            shared[raw] = regenerated
    return items


def _unwanted_variable(payload: VariableDef, wanted: Callable[[str], bool]) -> NodeRef | None:
    """A stand-in for ``payload`` if ``wanted`` refuses its name, after the checks
    :func:`regenerate` makes of it (its modes, then its names, in that order); None if wanted
    or its name is not valid (then regenerated, which raises in its order)."""
    try:
        name = element_name(payload.variable_name)
    except InvalidGraphError:
        return None
    if wanted(name):
        return None
    _check_variable_modes(payload)
    for field in _NAME_FIELDS[VariableDef]:
        element_name(getattr(payload, field))
    return NodeRef(name)


def exported_collection_def(restored: RestoredCollection) -> CollectionDef | None:
    """The CollectionDef an export without scope writes for ``restored`` (§5; None: none)."""
    items: list[Any] = list(restored.items)
    if not restored.exportable or not items:
        return None
    out = CollectionDef()
    if restored.key in PROTO_KEYS:
        out.bytes_list.value.extend(i.SerializeToString(deterministic=True) for i in items)
    elif isinstance(items[0], bytes):
        out.bytes_list.value.extend(items)
    elif isinstance(items[0], int):
        out.int64_list.value.extend(items)
    elif isinstance(items[0], float):
        out.float_list.value.extend(items)
    elif isinstance(items[0], NodeRef):
        out.node_list.value.extend(i.name for i in items)
    else:
        out.any_list.value.extend(items)
    return out


def element_name(name: str) -> str:
    """``Graph.as_graph_element(name).name`` (§2.10): ``op:k`` with k as Python's int(k).

    (A negative k picks an output from the end in TensorFlow; it is kept as is here.)
    """
    parts = name.split(":")
    if len(parts) == 1:
        return name
    try:
        if len(parts) != 2:
            raise ValueError(name)
        return f"{parts[0]}:{int(parts[1])}"
    except ValueError as exc:
        raise InvalidGraphError(
            f"The name {name!r} looks a like a Tensor name, but is not a valid one. Tensor names "
            'must be of the form "<op_name>:<output_index>".'
        ) from exc


def regenerate(payload: Any) -> Message:
    """``from_proto(payload).to_proto()`` for the payloads of PROTO_KEYS (§2.11).

    SaverDef: the object itself. Others: known fields only, names canonical; a resource
    VariableDef without snapshot gets ``<handle>/Read/ReadVariableOp:0``; a QueueRunnerDef
    without exception types gets OUT_OF_RANGE; contexts get sorted, deduplicated values.
    """
    if isinstance(payload, SaverDef):
        for field in ("save_tensor_name", "restore_op_name"):
            if not getattr(payload, field):
                raise InvalidGraphError(f"saver_def must specify the {field}: {payload}")
        return payload
    if isinstance(payload, VariableDef):
        _check_variable_modes(payload)
    out: Message = copy_of(payload)
    out.DiscardUnknownFields()
    for field in _NAME_FIELDS[type(payload)]:
        value = getattr(out, field)
        if isinstance(value, str):
            setattr(out, field, element_name(value))
        else:
            value[:] = [element_name(v) for v in value]
    if isinstance(out, VariableDef) and out.is_resource and not out.snapshot_name:
        out.snapshot_name = f"{out.variable_name.split(':')[0]}/Read/ReadVariableOp:0"
    elif isinstance(out, QueueRunnerDef):
        _complete_queue_runner(out)
    elif isinstance(out, (CondContextDef, WhileContextDef)):
        _complete_context(out, payload)
    return out


def _check_variable_modes(payload: VariableDef) -> None:
    for field, bad in (
        ("aggregation", payload.aggregation),
        ("synchronization", payload.synchronization),
    ):
        if bad not in range(4):
            raise InvalidGraphError(f"Invalid variable {field} mode: {bad} for variable: "
                                    f"{payload.variable_name}")  # fmt: skip


def _complete_queue_runner(out: QueueRunnerDef) -> None:
    """OUT_OF_RANGE where no exception type is given; codes checked."""
    if not out.queue_closed_exception_types:
        out.queue_closed_exception_types.append(cast("Code", OUT_OF_RANGE))
    for code in out.queue_closed_exception_types:
        if not 1 <= code <= 16:  # the codes with an exception class
            raise InvalidGraphError(f"QueueRunnerDef '{out.queue_name}': KeyError: {code}")


def _complete_context(out: Any, payload: Any) -> None:
    """A control-flow context's values sorted and deduplicated, its external values' names
    canonical, its nested contexts regenerated."""
    values = sorted(set(out.values_def.values))
    out.values_def.values[:] = values
    for k, v in payload.values_def.external_values.items():
        out.values_def.external_values[k] = element_name(v)
    for nested in out.nested_contexts:
        which = nested.WhichOneof("ctxt")
        if which is None:
            raise InvalidGraphError("Unknown ControlFlowContextDef field: None")
        getattr(nested, which).CopyFrom(regenerate(getattr(nested, which)))


# PEP 440, as ``packaging.version.parse`` (TensorFlow's parser here) reads it.
_PEP440 = re.compile(
    r"\s*v?(?a:(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?P<pre>[-_.]?(?:alpha|a|beta|b|preview|pre|c|rc)[-_.]?[0-9]*)?"
    r"(?P<post>-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?P<dev>[-_.]?dev[-_.]?[0-9]*)?)(?a:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?\s*",
    re.IGNORECASE,
)


def at_least_1_9(version: str) -> bool:
    """``packaging.version.parse(version) >= packaging.version.parse("1.9")``."""
    m = _PEP440.fullmatch(version)
    if m is None:
        raise InvalidGraphError(f"Invalid version: {version!r}")
    release = [int(x) for x in m["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    if int(m["epoch"] or 0) > 0 or release != [1, 9]:
        return int(m["epoch"] or 0) > 0 or release > [1, 9]
    return m["pre"] is None and (m["post"] is not None or m["dev"] is None)

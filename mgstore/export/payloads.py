"""The collections an export writes (§5, §7).

Mirrors TensorFlow 2.21's ``meta_graph.add_collection_def`` over the collections an import
restored (:class:`~mgstore.export.normalize.RestoredCollection`): which items survive the
scope and the removed saver nodes, how registered payloads are rewritten for a scope
(``to_proto(export_scope)``), and which kind each entry is written as.

Section numbers (§) refer to docs/export-semantics.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from mgstore.export.restored_collections import CollectionItem, NodeRef
from mgstore.export.scope import UNBOUND_INPUT_PREFIX, strip_scope
from mgstore.graph import parse_input
from mgstore.proto import (
    CollectionDef,
    CondContextDef,
    MetaGraphDef,
    QueueRunnerDef,
    SaverDef,
    VariableDef,
    WhileContextDef,
    copy_of,
)

__all__ = ["add_collection", "item_name", "scoped_payload"]

_M = TypeVar("_M", bound=Message)


class _Unserializable(Exception):
    """TensorFlow logs "Issue encountered when serializing <key>" and drops the key."""


def item_name(item: CollectionItem | str) -> str | None:
    """The ``.name`` TensorFlow's filters read for a collection item; None: it has none."""
    if isinstance(item, str):
        return item
    if isinstance(item, NodeRef):
        return item.name
    if isinstance(item, VariableDef):
        return str(item.variable_name)
    if isinstance(item, QueueRunnerDef):
        return str(item.queue_name)
    if isinstance(item, (CondContextDef, WhileContextDef)):
        return str(item.context_name)
    return None  # bytes, numbers, Any and Savers have no name


def included(
    item: CollectionItem | str,
    scope: str,
    excluded: Collection[str],
    selection: Collection[str] | None = None,
) -> bool:
    """TensorFlow's ``_should_include_node`` for a collection item (§5.2); with a
    ``selection`` (mgstore's), also whether the op the item names is selected."""
    name = item_name(item)
    if name is None:
        return True
    if name in excluded:
        return False
    if name.startswith(UNBOUND_INPUT_PREFIX):
        return True
    if selection is not None and parse_input(name)[0] not in selection:
        return False
    return name.startswith(UNBOUND_INPUT_PREFIX) or not scope or name.startswith(scope)


def scoped_payload(item: Message, scope: str) -> Message | None:
    """``to_proto(export_scope=scope)`` of a regenerated payload (§5.4); None: out of scope.

    ``item`` equals ``to_proto()`` without a scope (§2.11), so the scoped form is a copy with
    the names of §5.4 stripped. A variable whose ``SaveSliceInfoDef`` lies outside the scope
    makes TensorFlow fail on the whole collection: raises :class:`_Unserializable`.
    """
    if not scope:
        return item  # regenerated payloads already are to_proto() without a scope
    if isinstance(item, SaverDef):
        names = ("filename_tensor_name", "save_tensor_name", "restore_op_name")
        if not all(getattr(item, n).startswith(scope) for n in names):
            return None
        return _stripped(item, scope, names)
    name = item_name(item)
    if name is not None and not name.startswith(scope):
        return None
    if isinstance(item, VariableDef):
        return _scoped_variable(item, scope)
    if isinstance(item, QueueRunnerDef):
        out = _stripped(item, scope, ("queue_name", "close_op_name", "cancel_op_name"))
        out.enqueue_op_name[:] = [strip_scope(n, scope) for n in item.enqueue_op_name]
        return out
    return _scoped_context(item, scope)


def _scoped_variable(item: VariableDef, scope: str) -> VariableDef:
    out = _stripped(item, scope, ("variable_name", "initializer_name", "snapshot_name"))
    if item.initial_value_name:
        out.initial_value_name = strip_scope(item.initial_value_name, scope)
    if item.HasField("save_slice_info_def"):
        full_name = item.save_slice_info_def.full_name
        if not full_name.startswith(scope):
            raise _Unserializable("Parameter to MergeFrom() must be instance of same class")
        out.save_slice_info_def.full_name = strip_scope(full_name, scope)
    return out


def _scoped_context(item: Message, scope: str) -> Message:
    """A CondContextDef or WhileContextDef for a non-empty ``scope``; any other message
    cannot be serialised."""
    out: CondContextDef | WhileContextDef
    if isinstance(item, CondContextDef):
        out = _stripped(item, scope, ("context_name", "pred_name", "pivot_name"))
    elif isinstance(item, WhileContextDef):
        out = _stripped(item, scope, ("context_name", "pivot_for_pred_name",
                                      "pivot_for_body_name", "pivot_name"))  # fmt: skip
        if item.maximum_iterations_name:
            out.maximum_iterations_name = strip_scope(item.maximum_iterations_name, scope)
        out.loop_exit_names[:] = [strip_scope(n, scope) for n in item.loop_exit_names]
        out.loop_enter_names[:] = [strip_scope(n, scope) for n in item.loop_enter_names]
    else:
        raise _Unserializable(f"'{type(item).__name__}' object has no attribute 'to_proto'")
    # values are sorted before stripping; nested contexts keep their names (§5.4)
    out.values_def.values[:] = [strip_scope(v, scope) for v in item.values_def.values]
    out.values_def.ClearField("external_values")
    for key, value in item.values_def.external_values.items():
        out.values_def.external_values[strip_scope(key, scope)] = strip_scope(value, scope)
    return out


def add_collection(
    meta_graph: MetaGraphDef,
    key: str,
    items: Sequence[CollectionItem | str],
    scope: str,
    excluded: Collection[str],
    *,
    proto_function: bool,
    selection: Collection[str] | None = None,
) -> None:
    """Add ``items`` of collection ``key`` to ``meta_graph`` as ``add_collection_def`` does.

    Items are filtered (:func:`included`); nothing left adds nothing. Otherwise the entry is
    created, or extended when ``key`` was added before (a repeated name in
    ``collection_list``), and filled by kind: registered payloads (``proto_function``)
    rewritten for the scope, an empty entry if all are out of scope; else by the first item's
    type. An item TensorFlow cannot serialise removes the whole key, earlier values included.
    """
    kept = [item for item in items if included(item, scope, excluded, selection)]
    if not kept:
        return
    entry = meta_graph.collection_def[key]
    try:
        _fill(entry, kept, scope, proto_function=proto_function)
    except (_Unserializable, TypeError, ValueError):
        del meta_graph.collection_def[key]


def _fill(entry: CollectionDef, items: list[Any], scope: str, *, proto_function: bool) -> None:
    if proto_function:
        for item in items:
            if not isinstance(item, Message):
                raise _Unserializable(f"'{type(item).__name__}' object has no attribute 'to_proto'")
            proto = scoped_payload(item, scope)
            if proto is not None:
                entry.bytes_list.value.append(proto.SerializeToString(deterministic=True))
        return
    first = items[0]
    if isinstance(first, (str, bytes)):
        entry.bytes_list.value.extend(_as_bytes(x) for x in items)
    elif isinstance(first, int):
        entry.int64_list.value.extend(items)
    elif isinstance(first, float):
        entry.float_list.value.extend(items)
    elif isinstance(first, NodeRef):
        for item in items:
            name = item_name(item)
            if name is None:
                raise _Unserializable(f"'{type(item).__name__}' object has no attribute 'name'")
            if not scope or name.startswith(scope):
                entry.node_list.value.append(strip_scope(name, scope))
    else:
        entry.any_list.value.extend(items)


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    raise _Unserializable(f"Expected binary or unicode string, got {item!r}")


def _stripped(item: _M, scope: str, fields: Sequence[str]) -> _M:
    out = copy_of(item)
    for field in fields:
        setattr(out, field, strip_scope(getattr(item, field), scope))
    return out

"""Which ops a collection refers to: node lists, and the names inside proto payloads.

TensorFlow keeps variables, savers, queue runners and control-flow contexts in collections as
serialized messages (``bytes_list``) under registered keys; their op names are read from the
message fields, so a collection query finds e.g. a variable's VariableV2, Assign and read ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf import message as _message

from mgstore.graph import parse_input
from mgstore.proto import CondContextDef, QueueRunnerDef, SaverDef, VariableDef, WhileContextDef

#: TensorFlow 2.21's keys whose bytes_list items are serialized messages, and their types.
PROTO_KEYS: dict[str, Any] = {
    "variables": VariableDef,
    "trainable_variables": VariableDef,
    "moving_average_variables": VariableDef,
    "local_variables": VariableDef,
    "model_variables": VariableDef,
    "global_step": VariableDef,
    "metric_variables": VariableDef,
    "savers": SaverDef,
    "cond_context": CondContextDef,
    "while_context": WhileContextDef,
    "queue_runners": QueueRunnerDef,
}


def kind(collection: Any) -> str:
    """``node_list``, ``bytes_list``, ``int64_list``, ``float_list``, ``any_list`` or ``none``."""
    return collection.WhichOneof("kind") or "none"


def size(collection: Any) -> int:
    which = collection.WhichOneof("kind")
    return len(getattr(collection, which).value) if which else 0


def members(
    key: str, collection: Any, memo: dict[tuple[Any, bytes], set[str]] | None = None
) -> set[str]:
    """The op names a collection refers to (tensor names reduced to their ops).

    ``memo`` keeps what payloads name across calls (``variables`` and ``trainable_variables``
    share most of theirs).
    """
    which = collection.WhichOneof("kind")
    if which == "node_list":
        return {op_name(v) for v in collection.node_list.value}
    if which != "bytes_list" or key not in PROTO_KEYS:
        return set()
    memo = {} if memo is None else memo
    cls = PROTO_KEYS[key]
    names: set[str] = set()
    for item in collection.bytes_list.value:
        found = memo.get((cls, item))
        if found is None:
            found = memo[cls, item] = item_members(key, item)
        names.update(found)
    return names


def item_members(key: str, item: bytes) -> set[str]:
    """The op names one serialized payload of a registered key refers to (empty if unknown)."""
    cls = PROTO_KEYS.get(key)
    if cls is None:
        return set()
    try:
        payload = cls.FromString(item)
    except _message.DecodeError:
        return set()
    return {op_name(n) for n in _names(payload) if n}


def op_name(tensor_or_op: str) -> str:
    """``"a/b:1"`` → ``"a/b"``; ``"^a"`` → ``"a"``; ``"a"`` → ``"a"``."""
    return parse_input(tensor_or_op)[0]


def _names(payload: Any) -> Iterator[str]:
    if isinstance(payload, VariableDef):
        yield from (
            payload.variable_name,
            payload.initializer_name,
            payload.snapshot_name,
            payload.initial_value_name,
        )
    elif isinstance(payload, SaverDef):
        yield from (payload.filename_tensor_name, payload.save_tensor_name, payload.restore_op_name)
    elif isinstance(payload, QueueRunnerDef):
        yield payload.queue_name
        yield from payload.enqueue_op_name
        yield from (payload.close_op_name, payload.cancel_op_name)
    elif isinstance(payload, CondContextDef):
        yield from (payload.pred_name, payload.pivot_name)
        yield from payload.values_def.values
    elif isinstance(payload, WhileContextDef):
        yield from (
            payload.pivot_name,
            payload.pivot_for_pred_name,
            payload.pivot_for_body_name,
            payload.maximum_iterations_name,
        )
        yield from payload.loop_exit_names
        yield from payload.loop_enter_names
        yield from payload.values_def.values

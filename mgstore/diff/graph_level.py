"""Graph-level differences between two MetaGraphDefs (their nodes left out): collections,
saver, signatures, assets, function library, GraphDef versions, meta_info_def."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf import message as _message

from mgstore.collections import PROTO_KEYS
from mgstore.diff import values
from mgstore.diff.entities import NamedChange, ValueChange

_SEEN = frozenset(
    ("meta_info_def", "graph_def", "saver_def", "collection_def", "signature_def",
     "asset_file_def")
)  # fmt: skip


def graph_changes(old: Any, new: Any) -> dict[str, Any]:
    """The graph-level fields of :class:`~mgstore.diff.Diff`, for two MetaGraphDefs."""
    return {
        "collections": tuple(_collections(old.collection_def, new.collection_def)),
        "saver_def": _fields(old, new, "saver_def"),
        "signatures": tuple(_named(dict(old.signature_def), dict(new.signature_def))),
        "assets": tuple(
            _named(
                {a.filename: a for a in old.asset_file_def},
                {a.filename: a for a in new.asset_file_def},
            )
        ),
        "functions": tuple(_functions(old.graph_def.library, new.graph_def.library)),
        "versions": _fields(old.graph_def, new.graph_def, "versions"),
        "meta_info_def": _fields(old, new, "meta_info_def"),
        "other": tuple(
            f.name
            for f in old.DESCRIPTOR.fields
            if f.name not in _SEEN and getattr(old, f.name) != getattr(new, f.name)
        )
        + _graph_def_other(old.graph_def, new.graph_def),
    }


def _fields(old: Any, new: Any, name: str) -> tuple[ValueChange, ...]:
    return tuple(values.field_changes(getattr(old, name), getattr(new, name)))


def _graph_def_other(old: Any, new: Any) -> tuple[str, ...]:
    return tuple(
        f"graph_def.{f.name}"
        for f in old.DESCRIPTOR.fields
        if f.name not in ("node", "versions", "library")
        and getattr(old, f.name) != getattr(new, f.name)
    )


def _named(
    old: Mapping[str, Any], new: Mapping[str, Any], label: Callable[[str], str] = str
) -> list[NamedChange]:
    changes = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a is None:
            changes.append(NamedChange(label(name), "added"))
        elif b is None:
            changes.append(NamedChange(label(name), "removed"))
        elif a != b:
            changes.append(NamedChange(label(name), "changed", tuple(values.field_changes(a, b))))
    return changes


def _functions(old: Any, new: Any) -> list[NamedChange]:
    functions = _named(
        {f.signature.name: f for f in old.function}, {f.signature.name: f for f in new.function}
    )
    gradients = _named(
        {g.function_name: g for g in old.gradient},
        {g.function_name: g for g in new.gradient},
        lambda name: f"{name} (gradient)",
    )
    return functions + gradients


def _collections(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[NamedChange]:
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        items_a = Counter(_items(key, a))
        items_b = Counter(_items(key, b))
        status = "added" if a is None else "removed" if b is None else "changed"
        changes.append(
            NamedChange(
                key,
                status,
                members_added=tuple((items_b - items_a).elements()),
                members_removed=tuple((items_a - items_b).elements()),
            )
        )
    return changes


def _items(key: str, collection: Any | None) -> list[str]:
    """A collection's items as text: node names, numbers, payloads in text format."""
    if collection is None:
        return []
    kind = collection.WhichOneof("kind")
    if kind is None:
        return []
    items = getattr(collection, kind).value
    if kind == "node_list":
        return list(items)
    if kind == "bytes_list":
        return [_payload(key, item) for item in items]
    if kind == "any_list":
        return [values.text(item) for item in items]
    return [str(item) for item in items]


def _payload(key: str, item: bytes) -> str:
    cls = PROTO_KEYS.get(key)
    if cls is not None:
        try:
            return values.text(cls.FromString(item))
        except _message.DecodeError:
            pass
    return values.quoted(item)

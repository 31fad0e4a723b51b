"""Node-level differences: what changed in a node, scopes counted, scope renames found.

The caller (the store) has already matched node rows by name and content hash, so only the
nodes whose bytes differ are decoded and compared here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from mgstore.diff import values
from mgstore.diff.entities import NodeChange, NodeInfo, ScopeRename, ScopeStat, ValueChange
from mgstore.proto import NodeDef

_COMPARED = ("name", "op", "device", "input", "attr")
_RENAME_DEPTH = 4  # scope levels searched for renames
_OTHER = tuple(f.name for f in NodeDef.DESCRIPTOR.fields if f.name not in _COMPARED)


def node_change(old: Any, new: Any) -> NodeChange:
    """How NodeDef ``new`` differs from ``old`` (same name)."""
    attrs = []
    for key in sorted(set(old.attr) | set(new.attr)):
        a, b = old.attr.get(key), new.attr.get(key)
        if a is None or b is None or a != b:
            attrs.append(
                ValueChange(
                    key,
                    None if a is None else values.attr(a),
                    None if b is None else values.attr(b),
                )
            )
    other = tuple(name for name in _OTHER if getattr(old, name) != getattr(new, name))
    return NodeChange(
        name=new.name,
        op=ValueChange("op", old.op, new.op) if old.op != new.op else None,
        device=ValueChange("device", old.device, new.device) if old.device != new.device else None,
        inputs=None if old.input == new.input else (tuple(old.input), tuple(new.input)),
        attrs=tuple(attrs),
        other=other,
    )


def group(name: str, scope: str | None) -> str:
    """The scope a change is counted under: the top-level scope (``block_7/``), or with
    ``scope`` the level below it (``scope/dense/``); ``""`` (or ``scope/``) for a node at
    that level itself."""
    base = f"{scope}/" if scope else ""
    rest = name[len(base) :] if base and name.startswith(base) else name
    head, slash, _ = rest.partition("/")
    return f"{base}{head}/" if slash else base


def scope_stats(
    added: Iterable[str], removed: Iterable[str], changed: Iterable[str], scope: str | None
) -> tuple[ScopeStat, ...]:
    """Changes counted per scope, by scope."""
    counts = [Counter(group(n, scope) for n in names) for names in (added, removed, changed)]
    keys = sorted(set().union(*counts))
    return tuple(ScopeStat(k, counts[0][k], counts[1][k], counts[2][k]) for k in keys)


def find_renames(
    removed: Mapping[str, Any], added: Mapping[str, Any], scope: str | None
) -> list[ScopeRename]:
    """Scopes whose removed nodes all reappear among the added ones under another prefix, with
    the same content once names inside the scope are rewritten (inputs, ``_class``).

    Scopes are tried from the top down (``block_3/`` before ``model/block_3/``), at most
    ``_RENAME_DEPTH`` levels below ``scope``; a node belongs to one rename at most.
    """
    base = len(scope.split("/")) if scope else 0
    renames: list[ScopeRename] = []
    removed, added = dict(removed), dict(added)
    for depth in range(base + 1, base + _RENAME_DEPTH + 1):
        old_groups, new_groups = _groups(removed, depth), _groups(added, depth)
        by_names: dict[frozenset[str], list[str]] = {}
        for prefix, nodes in new_groups.items():
            by_names.setdefault(frozenset(nodes), []).append(prefix)
        for old, old_nodes in sorted(old_groups.items()):
            for new in by_names.get(frozenset(old_nodes), []):
                new_nodes = new_groups[new]
                if all(_renamed(old_nodes[r], old, new) == _bytes(new_nodes[r]) for r in old_nodes):
                    renames.append(ScopeRename(old, new, len(old_nodes)))
                    by_names[frozenset(old_nodes)].remove(new)
                    for rel in old_nodes:
                        del removed[old + rel], added[new + rel]
                    break
    return sorted(renames, key=lambda r: r.old)


def _groups(nodes: Mapping[str, Any], depth: int) -> dict[str, dict[str, Any]]:
    """Nodes by the scope of their first ``depth`` name components (nodes deeper than that
    only), each group keyed by the rest of the name."""
    groups: dict[str, dict[str, Any]] = {}
    for name, node in nodes.items():
        parts = name.split("/")
        if len(parts) > depth:
            prefix = "/".join(parts[:depth]) + "/"
            groups.setdefault(prefix, {})[name[len(prefix) :]] = node
    return groups


def _renamed(node: NodeDef, old: str, new: str) -> bytes:
    """``node``'s bytes with the scope prefix ``old`` replaced by ``new`` wherever it names
    a node: its name, its inputs, its colocation attr."""
    copy = type(node)()
    copy.CopyFrom(node)
    copy.name = _move(node.name, old, new)
    for i, entry in enumerate(node.input):
        control = entry.startswith("^")
        copy.input[i] = ("^" if control else "") + _move(entry[control:], old, new)
    if "_class" in node.attr:
        items = node.attr["_class"].list.s
        del copy.attr["_class"].list.s[:]
        for item in items:
            if item.startswith(b"loc:@"):
                item = b"loc:@" + _move(item[5:].decode(), old, new).encode()
            copy.attr["_class"].list.s.append(item)
    return _bytes(copy)


def _move(name: str, old: str, new: str) -> str:
    return new + name[len(old) :] if name.startswith(old) else name


def _bytes(node: NodeDef) -> bytes:
    return bytes(node.SerializeToString(deterministic=True))


def node_info(node: NodeDef) -> NodeInfo:
    return NodeInfo(node.name, node.op, node.device)

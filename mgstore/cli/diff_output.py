"""How ``mgstore diff`` prints a :class:`~mgstore.diff.Diff`: in full, or ``--stat``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mgstore.cli.output import echo

if TYPE_CHECKING:  # (importing mgstore.diff loads the protos: not for `mgstore --help`)
    from mgstore.diff import Diff, NamedChange, NodeChange, ValueChange

WIDTH = 100  # long values are cut to this many characters in text output (never in --json)


def print_diff(diff: Diff) -> None:
    """Every change, one per line, graph level after the nodes."""
    echo(f"--- {diff.a.ref} ({diff.a.content_hash[:12]})")
    echo(f"+++ {diff.b.ref} ({diff.b.content_hash[:12]})")
    for rename in diff.renamed_scopes:
        echo(f"renamed {rename.old} -> {rename.new} ({rename.nodes} nodes)")
    for node in diff.removed:
        echo(f"- {node.name} ({node.op})")
    for node in diff.added:
        echo(f"+ {node.name} ({node.op})")
    for node_change in diff.changed:
        _print_node(node_change)
    for title in ("saver_def", "versions", "meta_info_def"):
        changes: tuple[ValueChange, ...] = getattr(diff, title)
        if changes:
            echo(f"{title}:")
            for change in changes:
                echo(f"    {_value(change)}")
    for title in ("collections", "signatures", "assets", "functions"):
        items: tuple[NamedChange, ...] = getattr(diff, title)
        if items:
            echo(f"{title}:")
            for item in items:
                _print_named(item)
    for name in diff.other:
        echo(f"~ {name} differs")
    if diff.debug_info:
        echo("~ debug info differs")
    if diff.node_order:
        echo("~ the same nodes in another order")


def print_stat(diff: Diff) -> None:
    """One line per scope with counts, then a summary line."""
    rows = [
        (s.scope or "(top level)", f"+{s.added}", f"-{s.removed}", f"~{s.changed}")
        for s in diff.scopes
    ]
    rows += [(f"{r.old} -> {r.new}", f"={r.nodes}", "", "renamed") for r in diff.renamed_scopes]
    width = max((len(r[0]) for r in rows), default=0)
    for scope, *counts in rows:
        echo(f" {scope.ljust(width)}  " + " ".join(c.rjust(6) for c in counts).rstrip())
    graph_level = [
        name
        for name in (
            "collections", "saver_def", "signatures", "assets", "functions", "versions",
            "meta_info_def", "other", "debug_info", "node_order",
        )
        if getattr(diff, name)
    ]  # fmt: skip
    echo(
        f" {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed "
        f"nodes in {len(diff.scopes)} scopes; {len(diff.renamed_scopes)} renamed scopes"
        + (f"; graph level: {', '.join(graph_level)}" if graph_level else "")
    )


def _print_node(change: NodeChange) -> None:
    echo(f"~ {change.name}")
    for value in (change.op, change.device):
        if value is not None:
            echo(f"    {_value(value)}")
    if change.inputs is not None:
        old, new = change.inputs
        echo(
            f"    inputs: {_cut('[' + ', '.join(old) + ']')} -> {_cut('[' + ', '.join(new) + ']')}"
        )
    for attr in change.attrs:
        echo(f"    attr {_value(attr)}")
    for name in change.other:
        echo(f"    {name} differs")


def _print_named(item: NamedChange) -> None:
    mark = {"added": "+", "removed": "-"}.get(item.status, "~")
    counts = ""
    if item.members_added or item.members_removed:
        counts = f": +{len(item.members_added)} -{len(item.members_removed)} items"
    echo(f"  {mark} {item.name}{counts}")
    for member in item.members_removed:
        echo(f"      - {_cut(member)}")
    for member in item.members_added:
        echo(f"      + {_cut(member)}")
    for field in item.fields:
        echo(f"      {_value(field)}")


def _value(change: ValueChange) -> str:
    old = "(none)" if change.old is None else _cut(change.old)
    new = "(none)" if change.new is None else _cut(change.new)
    return f"{change.key}: {old} -> {new}"


def _cut(text: str) -> str:
    if not text:
        return '""'
    return text if len(text) <= WIDTH else f"{text[: WIDTH - 1]}… ({len(text)} chars)"

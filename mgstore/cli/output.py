"""How commands print: tables, JSON, sizes, dates, a progress bar; and parsing of typed values."""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from mgstore.entities import Summary, VersionInfo
from mgstore.errors import InputError
from mgstore.names import UNPRINTABLE_CATEGORIES, first_unprintable


def clean(text: object) -> str:
    """``text`` safe to print on a terminal: every control, format or separator character
    (and lone surrogate) shown as an escape (``\\x1b``, ``\\u202e``), so that text from the
    store (tag values, messages, paths, names made before names were checked) cannot move the
    cursor, recolour or reorder what the terminal shows."""
    value = str(text)
    if first_unprintable(value) is None:
        return value
    return "".join(_escaped(c) if unicodedata.category(c) in UNPRINTABLE_CATEGORIES else c
                   for c in value)  # fmt: skip


def _escaped(char: str) -> str:
    """Python's escape of one unprintable character: ``\\n``, ``\\x1b``, ``\\u202e``."""
    return repr(char)[1:-1]


def echo(text: object = "", *, file: TextIO | None = None) -> None:
    """Print one line of output (or of an error) through :func:`clean`: every command prints
    with this, never with ``print``."""
    print(clean(text), file=file or sys.stdout)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell; ``(none)`` for no rows."""
    if not rows:
        echo("(none)")
        return
    rows = [[clean(cell) for cell in row] for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def describe_form(v: VersionInfo) -> str:
    """What a version came from and what a checkout gives back: ``graphdef-text (exact
    bytes, 1.2 KB)``, or ``meta (canonical bytes)`` for the deterministic MetaGraphDef
    bytes (and versions stored before forms were recorded)."""
    if v.original_sha256 is None:
        return f"{v.form} (canonical bytes)"
    where = "" if v.meta_graph_index is None else f", meta graph {v.meta_graph_index}"
    return f"{v.form} (exact bytes, {size(v.original_size or 0)}{where})"


def print_summary(s: Summary) -> None:
    v: VersionInfo = s.version
    echo(f"{v.ref}  {v.content_hash}")
    echo(f"  created    {v.created_at:%Y-%m-%d %H:%M:%S} UTC by {v.created_by}")
    if v.message:
        echo(f"  message    {v.message}")
    for key, value in v.tags.items():
        echo(f"  tag        {key}={value}")
    if v.aliases:
        echo(f"  aliases    {', '.join(f'{v.name}@{a}' for a in v.aliases)}")
    if v.source_path:
        echo(f"  source     {v.source_path} ({v.source_format})")
    echo(f"  form       {describe_form(v)}")
    echo(
        f"  size       {size(v.size)}, {v.node_count} nodes, {len(s.op_counts)} op types, "
        f"{s.functions} functions"
    )
    echo(
        f"  saver      {'yes' if s.has_saver else 'no'}; debug info "
        f"{'yes' if s.has_debug_info else 'no'}"
    )
    _print_counts("ops", s.op_counts, 10)
    _print_counts("scopes", s.scopes, 15)
    _print_counts("devices", s.devices, 10)
    _print_counts("collections", s.collections, 30)
    if s.signatures:
        echo(f"  signatures {', '.join(s.signatures)}")


def _print_counts(title: str, counts: Any, limit: int) -> None:
    if not counts:
        return
    items = list(counts.items())
    shown = ", ".join(f"{k or '(none)'}: {n}" for k, n in items[:limit])
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    echo(f"  {title:<10} {shown}{more}")


def size(n: int) -> str:
    """A byte count for people: ``512 B``, ``1.5 KB``."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def timestamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


def parse_date(text: str | None) -> datetime | None:
    """An ISO date or time from the command line, in UTC unless it names its zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r}: expected an ISO date or time, e.g. 2026-11-23T14:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs as a dict."""
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


def progress_bar(stream: TextIO) -> Callable[[str, int, int], None] | None:
    """A one-line progress bar on a terminal; nothing when the output is piped."""
    if not stream.isatty():
        return None

    def show(stage: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if stage in ("done", "failed") else ""
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {stage:<10}{end}")
        stream.flush()

    return show


def delayed_progress_bar(
    stream: TextIO, after: float = 1.0
) -> Callable[[str, int, int], None] | None:
    """:func:`progress_bar` for work that is often quick: shown only once ``after`` seconds
    have passed, so fast commands print nothing extra; nothing when the output is piped.
    Stage ``"failed"`` ends a bar already shown, so that an error gets a line of its own."""
    show = progress_bar(stream)
    if show is None:
        return None
    started = time.monotonic()
    shown = False

    def report(stage: str, done: int, total: int) -> None:
        nonlocal shown
        if shown or time.monotonic() - started >= after:
            shown = True
            show(stage, done, total)

    return report

"""How commands print: tables, JSON, sizes, dates, a progress bar; and parsing of typed values."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from mgstore.entities import Summary, VersionInfo
from mgstore.errors import InputError


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell; ``(none)`` for no rows."""
    if not rows:
        print("(none)")
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def print_summary(s: Summary) -> None:
    v: VersionInfo = s.version
    print(f"{v.ref}  {v.content_hash}")
    print(f"  created    {v.created_at:%Y-%m-%d %H:%M:%S} UTC by {v.created_by}")
    if v.message:
        print(f"  message    {v.message}")
    for key, value in v.tags.items():
        print(f"  tag        {key}={value}")
    if v.source_path:
        print(f"  source     {v.source_path} ({v.source_format})")
    print(
        f"  size       {size(v.size)}, {v.node_count} nodes, {len(s.op_counts)} op types, "
        f"{s.functions} functions"
    )
    print(
        f"  saver      {'yes' if s.has_saver else 'no'}; debug info "
        f"{'yes' if s.has_debug_info else 'no'}"
    )
    _print_counts("ops", s.op_counts, 10)
    _print_counts("scopes", s.scopes, 15)
    _print_counts("devices", s.devices, 10)
    _print_counts("collections", s.collections, 30)
    if s.signatures:
        print(f"  signatures {', '.join(s.signatures)}")


def _print_counts(title: str, counts: Any, limit: int) -> None:
    if not counts:
        return
    items = list(counts.items())
    shown = ", ".join(f"{k or '(none)'}: {n}" for k, n in items[:limit])
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    print(f"  {title:<10} {shown}{more}")


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
        end = "\n" if stage == "done" else ""
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {stage:<10}{end}")
        stream.flush()

    return show

"""Which filters of a query or export match nothing in a version, and the nearest names.

The command line prints these notes on stderr so that a typo (``--op-type Matmul``) is not
mistaken for an empty result; the API itself keeps TensorFlow's behaviour (an
``export_scope`` that matches nothing exports an empty graph). Each filter is tested on its
own, against the whole version, so a note names the filter that matches nothing by itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from mgstore import devices as devs
from mgstore.db.tables import COLLECTIONS as C
from mgstore.db.tables import NAMES as NM
from mgstore.db.tables import NODES as N
from mgstore.db.versions import in_version, named, strings_of

__all__ = ["unmatched"]


def unmatched(
    conn: Connection,
    row: Any,
    *,
    scope: str | None = None,
    strict_scope: bool = False,
    collection: Sequence[str] = (),
    op_type: Sequence[str] = (),
    device: Sequence[str] = (),
    export_scope: str | None = None,
    collection_list: Sequence[str] = (),
) -> list[str]:
    """One note per filter value that matches nothing in the version ``row``."""
    where = in_version(N, row.graph_id, row.number)
    notes: list[str] = []
    if scope or export_scope:
        query = select(NM.c.name).select_from(named()).where(where)
        names = list(conn.execute(query).scalars())
        notes.extend(_scope_notes(names, scope, strict_scope, export_scope))
    if op_type:
        ops = set(conn.execute(strings_of(select(N.c.op_id).where(where))).scalars())
        notes.extend(_note("op type", op, ops) for op in op_type if op not in ops)
    if device:
        query = strings_of(select(N.c.device_id).where(where)).order_by(NM.c.name)
        stored = list(conn.execute(query).scalars())
        notes.extend(_device_notes(stored, device))
    if collection or collection_list:
        keys = set(conn.execute(select(C.c.key).where(C.c.version_id == row.id)).scalars())
        for key in dict.fromkeys([*collection, *collection_list]):
            if key not in keys:
                notes.append(_note("collection", key, keys))
    return notes


def _scope_notes(
    names: Sequence[str], scope: str | None, strict: bool, export_scope: str | None
) -> list[str]:
    notes: list[str] = []
    if scope and not _scope_matches(names, scope, strict):
        notes.append(_note("scope", scope, _scopes(names), strip="/"))
    if export_scope and not any(n.startswith(export_scope) for n in names):
        notes.append(_note("export scope", export_scope, _scopes(names), strip="/"))
    return notes


def _device_notes(stored: Sequence[str], wanted: Sequence[str]) -> list[str]:
    shown = [d for d in stored if d] or ["(no node has a device)"]
    return [_note("device", w, shown) for w in wanted if not devs.matching([w], stored)]


def _scope_matches(names: Iterable[str], scope: str, strict: bool) -> bool:
    if not strict:
        return any(n.startswith(scope) for n in names)
    base = scope[:-1] if scope.endswith("/") else scope
    return any(n == base or n.startswith(base + "/") for n in names)


def _scopes(names: Iterable[str]) -> set[str]:
    """Every name and ``/``-prefix of a name: the scopes one could have meant."""
    found: set[str] = set()
    for name in names:
        parts = name.split("/")
        found.update("/".join(parts[:k]) for k in range(1, len(parts) + 1))
    return found


def _note(what: str, value: str, existing: Iterable[str], strip: str = "") -> str:
    candidates = sorted(set(existing))
    close = difflib.get_close_matches(value.rstrip(strip) if strip else value, candidates, n=3)
    if not close:  # case typos of short names score low with difflib
        close = [c for c in candidates if c.lower() == value.rstrip(strip).lower()][:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"no {what} {value!r} in this version{hint}"

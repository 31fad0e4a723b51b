"""Refs: how users name versions, resolved in one place.

::

    NAME            the latest version of NAME (deleted versions skipped)
    NAME@latest     the same
    NAME@N          version N
    NAME@ALIAS      the version alias ALIAS points at (``mgstore alias set``)
    REF~K           the K-th version before REF (``resnet~1``, ``resnet@production~2``)
    HEX             the version whose content hash starts with HEX (at least 4 digits)

Deleted versions are hidden unless ``deleted=True`` (restore, ``log --all``): naming one says
it was deleted (or collected) rather than "not found". ``~K`` counts the versions that are
not deleted.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from sqlalchemy import Connection, Row, bindparam, exists, func, select

from mgstore import names
from mgstore.db.tables import ALIASES as A
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSION_STATES as S
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import AmbiguousRefError, ArgumentTypeError, IntegrityError, NotFoundError

HEX_PREFIX = re.compile(r"[0-9a-f]{4,64}")
_BACK = re.compile(r"(?s)(.+)~([0-9]+)")
MAX_VERSION = 2**31 - 1  # versions.number is a 32-bit integer
LATEST = "latest"


def resolve(conn: Connection, ref: str, *, deleted: bool = False) -> Row[Any]:
    """The ``versions`` row ``ref`` names (see the module docstring)."""
    if not isinstance(ref, str) or not ref:
        raise ArgumentTypeError(
            f"a ref is a non-empty str (NAME, NAME@N, NAME@ALIAS, NAME~K or a hash prefix); "
            f"got {ref!r}"
        )
    names.check_text(ref, "a ref")
    back = _BACK.fullmatch(ref)
    if back is not None and "@" not in ref and _graph_row(conn, ref) is not None:
        back = None  # a graph whose own name ends in ~K
    if back is None:
        return _base(conn, ref, deleted)
    row = _base(conn, back.group(1), deleted)
    steps = _whole(back.group(2), ref)
    if steps == 0:
        return row
    before = conn.execute(
        _versions(row.graph_id, deleted)
        .where(V.c.number < row.number)
        .order_by(V.c.number.desc())
        .offset(steps - 1)
        .limit(1)
    ).first()
    if before is None:
        raise NotFoundError(f"{ref!r}: there are fewer than {steps} versions before {row.number}")
    return before


def _base(conn: Connection, ref: str, deleted: bool) -> Row[Any]:
    name, at, selector = ref.rpartition("@")
    if at and name:
        numbered = selector.isascii() and selector.isdigit()
        number = _whole(selector, ref) if numbered else 0  # too large: said before the name
        graph_id = graph_id_of(conn, name)
        if selector == LATEST:
            return _latest(conn, graph_id, name, deleted)
        if numbered:
            return _numbered(conn, graph_id, name, number, deleted)
        version_id = conn.execute(
            select(A.c.version_id).where(A.c.graph_id == graph_id, A.c.name == selector)
        ).scalar()
        if version_id is None:
            aliases = list(conn.execute(select(A.c.name).where(A.c.graph_id == graph_id)).scalars())
            known = f"; its aliases: {', '.join(sorted(aliases))}" if aliases else ""
            raise NotFoundError(f"{name!r} has no version or alias {selector!r}{known}")
        row = conn.execute(select(V).where(V.c.id == version_id)).one()
        if not deleted:
            _check_live(conn, row, f"{name}@{row.number} (where {name}@{selector} points)")
        return row
    graph = _graph_row(conn, ref)
    if graph is not None:
        return _latest(conn, graph.id, ref, deleted)
    if HEX_PREFIX.fullmatch(ref.lower()):
        query = select(V).where(V.c.content_hash.startswith(ref.lower(), autoescape=True))
        if not deleted:
            query = query.where(~_is_deleted())
        rows = conn.execute(query.order_by(V.c.id).limit(10)).all()
        if rows and len({r.content_hash for r in rows}) == 1:
            return rows[0]  # one content, maybe in several versions: the earliest
        if len(rows) > 1:
            names = ", ".join(
                f"{graph_name(conn, r.graph_id)}@{r.number} ({r.content_hash[:12]})" for r in rows
            )
            raise AmbiguousRefError(f"hash prefix {ref!r} matches several versions: {names}")
    raise NotFoundError(f"no graph, version or content hash matches {ref!r}{nearby(conn, ref)}")


def _whole(digits: str, ref: str) -> int:
    """A version number or step count; NotFoundError if larger than any version number
    (``int()`` of thousands of digits would be an error of its own)."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > len(str(MAX_VERSION)) or int(digits) > MAX_VERSION:
        raise NotFoundError(f"{ref!r}: no version number is that large")
    return int(digits)


def _latest(conn: Connection, graph_id: int, name: str, deleted: bool) -> Row[Any]:
    row = conn.execute(_LATEST[deleted], {"graph_id": graph_id}).first()
    if row is None:
        raise NotFoundError(f"every version of {name!r} is deleted (see mgstore log --all)")
    return row


def _numbered(conn: Connection, graph_id: int, name: str, number: int, deleted: bool) -> Row[Any]:
    row = conn.execute(select(V).where(V.c.graph_id == graph_id, V.c.number == number)).first()
    if row is None:
        latest = conn.execute(select(func.max(V.c.number)).where(V.c.graph_id == graph_id)).scalar()
        raise NotFoundError(f"{name!r} has no version {number}; it has versions 1 to {latest}")
    if not deleted:
        _check_live(conn, row, f"{name}@{number}")
    return row


def _check_live(conn: Connection, row: Row[Any], label: str) -> None:
    """NotFoundError if the version is deleted, saying whether it can be restored."""
    state = conn.execute(select(S).where(S.c.version_id == row.id)).first()
    if state is not None and state.collected_at is not None:
        raise NotFoundError(f"{label} was deleted and garbage-collected")
    if state is not None:
        ref = f"{graph_name(conn, row.graph_id)}@{row.number}"
        raise NotFoundError(f"{label} is deleted (mgstore restore {ref} brings it back)")


def _versions(graph_id: Any, deleted: bool) -> Any:
    query = select(V).where(V.c.graph_id == graph_id)
    return query if deleted else query.where(~_is_deleted())


def _is_deleted() -> Any:
    return exists().where(S.c.version_id == V.c.id)


def is_deleted() -> Any:
    """A condition on ``versions`` rows: the version is deleted (or collected)."""
    return _is_deleted()


def _graph_row(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(_GRAPH_ID, {"name": name}).first()


def graph_id_of(conn: Connection, name: str) -> int:
    """The id of the graph named ``name``; NotFoundError (with names nearby) if none."""
    names.check_text(name, "a graph name")
    row = _graph_row(conn, name)
    if row is None:
        raise NotFoundError(f"no graph named {name!r}{nearby(conn, name)}")
    return int(row.id)


def graph_name(conn: Connection, graph_id: int) -> str:
    """The name of the graph with id ``graph_id``."""
    return str(conn.execute(_GRAPH_NAME, {"graph_id": graph_id}).scalar_one())


# The statements every read resolves a ref with, built once (with bound parameters): building
# and keying them cost more than running them, in a query of a few nodes (bench/bench_query.py).
_GRAPH_ID = select(G.c.id).where(G.c.name == bindparam("name"))
_GRAPH_NAME = select(G.c.name).where(G.c.id == bindparam("graph_id"))
_LATEST = {
    deleted: _versions(bindparam("graph_id"), deleted).order_by(V.c.number.desc()).limit(1)
    for deleted in (False, True)
}


def version_ref(conn: Connection, row: Row[Any]) -> str:
    """``NAME@N``: the canonical ref of a ``versions`` row."""
    return f"{graph_name(conn, row.graph_id)}@{row.number}"


def nearby(conn: Connection, name: str) -> str:
    """A hint naming graphs close to ``name`` (or some graphs, or that the store is empty)."""
    names = list(conn.execute(select(G.c.name).order_by(G.c.name)).scalars())
    if not names:
        return " (the store is empty)"
    close = difflib.get_close_matches(name.split("@")[0], names, n=5, cutoff=0.5)
    shown = close or names[:10]
    label = "did you mean" if close else "graphs here"
    more = "" if close or len(names) <= 10 else f", … ({len(names)} in all)"
    return f"; {label}: {', '.join(shown)}{more}"


def damaged(conn: Connection, row: Row[Any], what: str) -> IntegrityError:
    """The error for a version whose stored data is not what was recorded."""
    name = conn.execute(select(G.c.name).where(G.c.id == row.graph_id)).scalar()
    return IntegrityError(
        f"{name}@{row.number}: {what}; the store is damaged or was edited "
        f"(run `mgstore fsck {name}@{row.number}`); nothing was written"
    )

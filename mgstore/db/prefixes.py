"""Prefix matches on node names (``names.name``) that every backend answers through the names'
index, each character literal: scope queries and diffs of a scope."""

from __future__ import annotations

import re

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    table,
)

from mgstore.db.tables import NAMES as NM

__all__ = ["name_starts_with"]


def name_starts_with(conn: Connection, prefix: str) -> ColumnElement[bool]:
    """``names.name`` starts with ``prefix``, every character literal, through its index."""
    if conn.dialect.name == "sqlite":
        # SQLite's LIKE ignores ASCII case and uses no BINARY index; GLOB does both right.
        escaped = re.sub(r"([*?\[])", r"[\1]", prefix)
        return NM.c.name.op("GLOB")(bindparam("scope_glob", escaped + "*", unique=True))
    like = NM.c.name.startswith(prefix, autoescape=True)
    upper = _successor(prefix)
    if upper is None or not _codepoint_order(conn):
        return like
    # LIKE with a parameter uses a btree only in the "C" collation; in one that orders by
    # code point (C.UTF-8...) the range [prefix, successor) holds every match, so the index
    # finds the range and LIKE decides. Other collations need a text_pattern_ops index.
    return and_(NM.c.name >= prefix, NM.c.name < upper, like)


_CODEPOINT_COLLATIONS = {"c", "posix", "c.utf-8", "c.utf8", "ucs_basic"}
_collation_cache: dict[str, bool] = {}


def _codepoint_order(conn: Connection) -> bool:
    """Whether the database orders text by code point (so a prefix is a range of the index)."""
    key = conn.engine.url.render_as_string(hide_password=True)
    if key not in _collation_cache:
        collation = conn.execute(
            select(literal_column("datcollate"))
            .select_from(table("pg_database"))
            .where(literal_column("datname") == func.current_database())
        ).scalar()
        _collation_cache[key] = str(collation).lower() in _CODEPOINT_COLLATIONS
    return _collation_cache[key]


def _successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (code points)."""
    while prefix:
        code = ord(prefix[-1]) + 1
        if code <= 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if 0xD800 <= code <= 0xDFFF else code)
        prefix = prefix[:-1]
    return None

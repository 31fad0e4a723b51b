"""Interned node names: the ``names`` row of each name that node and edge rows refer to
(docs/storage.md §3.5), found or added in bulk by an ingest.

Every distinct name is one row for the whole store; node rows (``nodes.name_id``) and edge
rows (``edges.src_id``) keep its id. An ingest asks for the ids of a run's new rows' names
and their inputs' sources: two statements (which are there, then add the rest and read
their ids), each with the names as one bound parameter.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from sqlalchemy import Connection, Text, any_, bindparam, func, select
from sqlalchemy.dialects import postgresql

from mgstore.db.inserts import executemany
from mgstore.db.tables import NAMES as NM

__all__ = ["NameIds"]

_CHUNK = 500


class NameIds:
    """The ids of the names one ingest has asked for, kept for its later runs (each
    connection's writer has its own)."""

    def __init__(self) -> None:
        self.known: dict[str, int] = {}

    def ids(self, conn: Connection, wanted: Collection[str]) -> dict[str, int]:
        """The id of each name in ``wanted``, adding the names the store lacks."""
        known = self.known
        missing = sorted(name for name in wanted if name not in known)
        if missing:
            known.update(_found(conn, missing))
            absent = [name for name in missing if name not in known]
            if absent:
                _add(conn, absent)
                known.update(_found(conn, absent))
        return {name: known[name] for name in wanted}


def _found(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    """The ids of those of ``names`` the store holds."""
    query = select(NM.c.id, NM.c.name)
    if conn.dialect.name == "postgresql":
        array = bindparam("names", list(names), type_=postgresql.ARRAY(Text))
        wheres = [NM.c.name == any_(array)]
    elif any("\0" in name for name in names):  # SQLite's JSON functions end strings at NUL
        wheres = [NM.c.name.in_(names[i : i + _CHUNK]) for i in range(0, len(names), _CHUNK)]
    else:
        items = func.json_each(bindparam("names", json.dumps(list(names))))
        wheres = [NM.c.name.in_(select(items.table_valued("value").c.value))]
    return {name: int(id_) for where in wheres for id_, name in conn.execute(query.where(where))}


def _add(conn: Connection, names: Sequence[str]) -> None:
    """Add ``names`` (sorted, so that one call takes its rows' locks in one order); a name
    another writer added meanwhile is skipped. On PostgreSQL a writer adding a name another
    uncommitted ingest has added waits for it; two ingests that add shared new names in
    different runs can deadlock, which ends as ConflictError and the ingest's retry."""
    if conn.dialect.name == "postgresql":
        array = bindparam("names", list(names), type_=postgresql.ARRAY(Text))
        statement = postgresql.insert(NM).from_select(["name"], select(func.unnest(array)))
        conn.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    else:  # the write lock is held: nobody else adds names meanwhile
        executemany(conn, NM.insert(), ("name",), [(name,) for name in names])

"""Least privilege on PostgreSQL: what a writer role and a reader role may do with the tables.

The tables belong to an admin role (the one that runs ``mgstore db upgrade``); only an owner
can drop a table, or drop or disable its triggers. :func:`grant` gives another role exactly
what ingests and exports need (``writer``) or what reading needs (``reader``), so that the
account a service runs as cannot edit or remove audit records, versions or tags. See
docs/postgres-roles.md.
"""

from __future__ import annotations

import re
from typing import Literal

from sqlalchemy import Connection, Engine, text

from mgstore.db.engine import errors_mapped
from mgstore.db.models import metadata
from mgstore.errors import InputError, NotFoundError

__all__ = ["Kind", "WRITER_EXTRA", "grant"]

Kind = Literal["writer", "reader"]

#: Beyond SELECT and INSERT on every table, what a writer needs, by table: column lists for
#: UPDATE (row locks ``SELECT ... FOR UPDATE`` need UPDATE on some column too) and DELETE.
#: Ingest and export need the first five; the lifecycle commands (aliases, tags, delete,
#: restore, gc) the rest, within what the guards of migration 0009 allow
#: (docs/postgres-roles.md, "Lifecycle commands as a writer").
WRITER_EXTRA: dict[str, tuple[str, ...]] = {
    "graphs": ("UPDATE (id)",),  # the row lock of a graph's next version; its id cannot move
    "nodes": ("UPDATE (last_version)", "DELETE"),  # a row ends when a version drops it; gc
    "audit_head": ("UPDATE (seq, record_hash)",),  # forward one step only (a trigger checks)
    "import_forms": ("DELETE",),  # a cache: an unreadable form is replaced
    "export_journal": ("UPDATE (state)", "DELETE"),  # exports in flight come and go
    "aliases": ("UPDATE (version_id, updated_at, updated_by)", "DELETE"),  # alias set, rm
    "version_tags": ("UPDATE (value)", "DELETE"),  # tag, tag --rm
    "version_states": ("UPDATE (collected_at)", "DELETE"),  # gc; restore
    # gc clears a collected version's node order, debug info and original's delta
    "versions": ("UPDATE (node_order, debug_sha256, original_delta_sha256)",),
    "edges": ("DELETE",),  # gc
    "packs": ("DELETE",),  # gc
    "blobs": ("DELETE",),  # gc
    "collections": ("DELETE",),  # gc
    "version_outlines": ("DELETE",),  # gc
    "outline_parts": ("DELETE",),  # gc
}
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def grant(engine: Engine, role: str, kind: Kind) -> list[str]:
    """Give ``role`` the privileges of a ``writer`` or a ``reader`` on mgstore's tables in the
    database's current schema, replacing whatever it had on them; the statements run.

    Run by the tables' owner. Refuses SQLite, an unknown or ill-formed role name, a superuser
    (nothing can be withheld from one) and the tables' owner.
    """
    if kind not in ("writer", "reader"):
        raise InputError(f"a role is granted as 'writer' or 'reader'; got {kind!r}")
    if not isinstance(role, str) or not _ROLE.fullmatch(role) or role.lower() == "public":
        raise InputError(
            f"{role!r} is not a role name mgstore grants to: letters, digits and '_', at most "
            "63, not starting with a digit, not PUBLIC"
        )
    if engine.dialect.name != "postgresql":
        raise InputError(
            "roles are a PostgreSQL feature; on SQLite, access is the database file's permissions"
        )
    with errors_mapped(), engine.connect() as conn, conn.begin():
        _check_role(conn, role)
        statements = _statements(conn, role, kind)
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements


def _check_role(conn: Connection, role: str) -> None:
    found = conn.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if found is None:
        raise NotFoundError(f"no role named {role!r} (create it first: CREATE ROLE ... LOGIN)")
    if found.rolsuper:
        raise InputError(f"{role!r} is a superuser: no privilege can be withheld from it")
    owner = conn.execute(
        text(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = 'exports'"
        )
    ).scalar()
    if owner is None:
        raise InputError("this database has no mgstore schema yet: run `mgstore db upgrade`")
    if owner == role:
        raise InputError(f"{role!r} owns the tables; grant to another role")


def _statements(conn: Connection, role: str, kind: Kind) -> list[str]:
    """The GRANT and REVOKE statements, identifiers quoted by the dialect (never user text)."""
    quote = conn.dialect.identifier_preparer.quote_identifier
    schema = quote(str(conn.execute(text("SELECT current_schema()")).scalar_one()))
    who = quote(role)
    present = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )
    tables = [t for t in [*metadata.tables, "alembic_version"] if t in present]
    every = ", ".join(f"{schema}.{quote(t)}" for t in tables)
    statements = [
        f"REVOKE ALL ON {every} FROM {who}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"GRANT SELECT ON {every} TO {who}",
    ]
    if kind == "writer":
        written = ", ".join(f"{schema}.{quote(t)}" for t in tables if t != "alembic_version")
        statements.append(f"GRANT INSERT ON {written} TO {who}")
        for table, privileges in WRITER_EXTRA.items():
            if table in present:
                for privilege in privileges:
                    statements.append(f"GRANT {privilege} ON {schema}.{quote(table)} TO {who}")
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}")
    return statements

"""The chain indexed by version, for reads that check a version's metadata against it.

* ``audit_events.graph`` and ``audit_events.number``: the graph and version number a record's
  payload names (NULL where it names none), indexed (``ix_audit_events_version``), so that a
  read that prints a version's message, author, time or tags finds its ``ingest`` and ``tag``
  records cheaply (docs/audit.md, "Version metadata checked on read"). They are not part of
  a record's link; ``audit check`` compares them with the payload. Existing records get them
  here (around revision 0006's append-only trigger, which is the same again afterwards).

Downgrade drops the two columns and their index.

Revision ID: 0009_trust_gaps
Revises: 0006
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_trust_gaps"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revision 0006's trigger that refuses UPDATE on audit_events, stepped around while the new
# columns are filled (and created again exactly as 0006 makes it).
UPDATE_TRIGGER = {
    "postgresql": (
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
    ),
    "sqlite": (
        "DROP TRIGGER audit_events_no_update",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on audit_events"
        " refused'); END",
    ),
}

events_t = sa.Table(
    "audit_events", sa.MetaData(), sa.Column("seq"), sa.Column("payload"),
    sa.Column("graph"), sa.Column("number"),
)  # fmt: skip


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("graph", sa.String(length=512), nullable=True))
    op.add_column("audit_events", sa.Column("number", sa.Integer(), nullable=True))
    _fill_names()
    op.create_index("ix_audit_events_version", "audit_events", ["graph", "number"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_version", table_name="audit_events")
    # SQLite (3.35+) and PostgreSQL both drop a column in place: no table rebuild, so the
    # append-only triggers stay.
    op.execute("ALTER TABLE audit_events DROP COLUMN number")
    op.execute("ALTER TABLE audit_events DROP COLUMN graph")


def _fill_names() -> None:
    from mgstore.audit.events import indexed_names

    conn = op.get_bind()
    named = []
    for seq, payload in conn.execute(sa.select(events_t.c.seq, events_t.c.payload)).all():
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        if isinstance(value, dict):
            graph, number = indexed_names(value)
            if graph is not None:
                named.append({"at": int(seq), "graph": graph, "number": number})
    if not named:
        return
    disable, enable = UPDATE_TRIGGER[conn.dialect.name]
    op.execute(disable)
    conn.execute(
        events_t.update()
        .where(events_t.c.seq == sa.bindparam("at"))
        .values(graph=sa.bindparam("graph"), number=sa.bindparam("number")),
        named,
    )
    op.execute(enable)

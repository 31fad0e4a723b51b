"""Lifecycle of versions: deletions and GC state, aliases, and the history of their changes.

``version_states`` marks deleted (and collected) versions, ``aliases`` names versions, and
``lifecycle_events`` keeps every alias move, tag change, deletion, restore and GC run,
append-only (triggers refuse UPDATE and DELETE, as on ``exports``). Two indexes on ``nodes``
find the rows a version added or closed, for diffs (partial indexes: other queries are never
planned on them).

The downgrade drops these tables: deleted versions become visible again (their content is all
still there) and aliases and their history are lost. A store where ``gc`` has collected
versions cannot go below this revision (0005): those versions' content is gone, and the older schema
would offer them as whole versions; the downgrade refuses and changes nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mgstore.errors import StoreError

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = "the lifecycle history is append-only"

# PostgreSQL reuses the function of revision 0002, which raises restrict_violation.
PG_TRIGGERS = [
    "CREATE TRIGGER lifecycle_events_append_only BEFORE UPDATE OR DELETE ON lifecycle_events"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER lifecycle_events_no_truncate BEFORE TRUNCATE ON lifecycle_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION mgstore_audit_refuse()",
]
SQLITE_TRIGGERS = [
    "CREATE TRIGGER lifecycle_events_no_update BEFORE UPDATE ON lifecycle_events"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on lifecycle_events refused'); END",
    "CREATE TRIGGER lifecycle_events_no_delete BEFORE DELETE ON lifecycle_events"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on lifecycle_events refused'); END",
]


def upgrade() -> None:
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_nodes_graph_first",
            ["graph_id", "first_version"],
            sqlite_where=sa.text("first_version > 1"),
            postgresql_where=sa.text("first_version > 1"),
        )
        batch_op.create_index(
            "ix_nodes_graph_last",
            ["graph_id", "last_version"],
            sqlite_where=sa.text("last_version IS NOT NULL"),
            postgresql_where=sa.text("last_version IS NOT NULL"),
        )
    op.create_table(
        "version_states",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.String(length=256), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "aliases",
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("graph_id", "name"),
    )
    with op.batch_alter_table("aliases", schema=None) as batch_op:
        batch_op.create_index("ix_aliases_version", ["version_id"], unique=False)
    op.create_table(
        "lifecycle_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("graph", sa.String(length=512), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    with op.batch_alter_table("lifecycle_events", schema=None) as batch_op:
        batch_op.create_index("ix_lifecycle_events_graph", ["graph", "kind"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    collected = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM version_states WHERE collected_at IS NOT NULL"))
        .scalar_one()
    )
    if collected:
        raise StoreError(
            f"{collected} version(s) were garbage-collected: their content is gone, and the "
            "schema below revision 0005 cannot mark them so; the downgrade changes nothing"
        )
    # Dropping a table drops its triggers (and its indexes).
    op.drop_table("lifecycle_events")
    op.drop_table("aliases")
    op.drop_table("version_states")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_nodes_graph_last")
        batch_op.drop_index("ix_nodes_graph_first")

"""The audit log of exports: ``exports`` (append-only, hash-chained) and its head, ``audit_head``.

Triggers refuse to change or remove records (UPDATE, DELETE and TRUNCATE on ``exports``;
DELETE, TRUNCATE and anything but a one-step advance on ``audit_head``), on PostgreSQL and on
SQLite alike. They keep honest mistakes out; the hash chain, which ``audit check`` verifies, is
what exposes a change made around them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:22:19.965987
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = "the audit log is append-only"

# PostgreSQL: one function raises for every trigger (restrict_violation, an integrity error).
PG_FUNCTION = f"""
CREATE FUNCTION mgstore_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSED}: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER exports_append_only BEFORE UPDATE OR DELETE ON exports"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER exports_no_truncate BEFORE TRUNCATE ON exports"
    " FOR EACH STATEMENT EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head"
    " FOR EACH STATEMENT EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head FOR EACH ROW"
    " WHEN (NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1)"
    " EXECUTE FUNCTION mgstore_audit_refuse()",
]

# SQLite: RAISE(ABORT) fails the statement with a constraint error.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER exports_no_update BEFORE UPDATE ON exports"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on exports refused'); END",
    "CREATE TRIGGER exports_no_delete BEFORE DELETE ON exports"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on exports refused'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on audit_head refused'); END",
    "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head"
    " WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on audit_head refused'); END",
]


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "exports",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("graph", sa.String(length=512), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("debug_path", sa.Text(), nullable=True),
        sa.Column("debug_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.Column("mgstore_version", sa.String(length=64), nullable=False),
        sa.Column("protobuf_version", sa.String(length=64), nullable=False),
        sa.Column("duration", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("status IN ('ok', 'failed')", name="ck_exports_status"),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id", name="uq_exports_id"),
        sa.UniqueConstraint("record_hash", name="uq_exports_record_hash"),
    )
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.create_index("ix_exports_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_exports_debug_sha256", ["debug_sha256"], unique=False)
        batch_op.create_index("ix_exports_graph", ["graph"], unique=False)
        batch_op.create_index("ix_exports_sha256", ["sha256"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # Dropping a table drops its triggers; PostgreSQL's trigger function goes after them.
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_index("ix_exports_sha256")
        batch_op.drop_index("ix_exports_graph")
        batch_op.drop_index("ix_exports_debug_sha256")
        batch_op.drop_index("ix_exports_created_at")

    op.drop_table("exports")
    op.drop_table("audit_head")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION mgstore_audit_refuse()")

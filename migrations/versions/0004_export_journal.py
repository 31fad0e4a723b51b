"""Export journal: exports that are being published, so that a crash can be undone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 03:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "export_journal",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'recorded')", name="ck_export_journal_state"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("export_journal", schema=None) as batch_op:
        batch_op.create_index("ix_export_journal_path", ["path"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_journal", schema=None) as batch_op:
        batch_op.drop_index("ix_export_journal_path")
    op.drop_table("export_journal")

"""Import forms: how TensorFlow's import changes each stored graph, kept for fast exports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_forms",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("form_version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", "form_version"),
    )


def downgrade() -> None:
    op.drop_table("import_forms")

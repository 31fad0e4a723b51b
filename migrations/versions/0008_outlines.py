"""Stored outlines: each version's outline, made once and kept compressed, for fast pictures.

* ``outline_parts``: the parts of encoded outlines (mgstore.db.outlines), keyed by the
  SHA-256 of their bytes.
* ``version_outlines``: which parts make a version's outline.

The upgrade computes the outline of every version that gc has not collected, from its node,
edge and collection rows, with mgstore's own functions for it (mgstore.db.outlines), so
that what this revision stores is what ``fsck`` of this revision expects. The downgrade
drops both tables: their rows are derived from the others, and an upgrade makes them again.

Revision ID: 0008_outlines
Revises: 0007_source_form
Create Date: 2026-12-07 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mgstore.db import outlines

# The parts as this revision stores them (mgstore.db.outlines.PARTS when it was written).
PARTS = ("names", "ops", "devices", "edges", "collections")

revision: str = "0008_outlines"
down_revision: str | None = "0007_source_form"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

meta = sa.MetaData()
versions_t = sa.Table("versions", meta, sa.Column("id"), sa.Column("graph_id"), sa.Column("number"))
states_t = sa.Table("version_states", meta, sa.Column("version_id"), sa.Column("collected_at"))


def upgrade() -> None:
    op.create_table(
        "outline_parts",
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "version_outlines",
        sa.Column("version_id", sa.Integer(), nullable=False),
        *(sa.Column(part, sa.LargeBinary(length=32), nullable=False) for part in PARTS),
        sa.ForeignKeyConstraint(["version_id"], ["versions.id"]),
        *(sa.ForeignKeyConstraint([part], ["outline_parts.sha256"]) for part in PARTS),
        sa.PrimaryKeyConstraint("version_id"),
    )
    conn = op.get_bind()
    collected = sa.select(states_t.c.version_id).where(states_t.c.collected_at.is_not(None))
    rows = conn.execute(
        sa.select(versions_t).where(versions_t.c.id.not_in(collected)).order_by(versions_t.c.id)
    ).all()
    for row in rows:  # one version's rows in memory at a time
        shape = outlines.columns_from_tables(conn, row, shared=False)  # no edges_from yet
        outlines.write(conn, row.id, outlines.encode(shape))


def downgrade() -> None:
    op.drop_table("version_outlines")
    op.drop_table("outline_parts")

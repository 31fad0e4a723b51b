"""Shared edges: a node row whose inputs are those of the row it follows keeps no edge rows.

A version that changes a node's attrs or device (most edits) adds a node row for its new
content; until now it also repeated the node's edge rows, about 100 KB a version of the bench
graph's 1% mutations (edges and ``ix_edges_src_key``). ``nodes.edges_from`` names the row whose
edge rows serve (0: its own), the row it follows in its graph under its name
(docs/storage.md §3.5).

The upgrade adds the column (0 everywhere: every existing row keeps its own edges). The
downgrade gives each row that shares its edges a copy of them, then drops the column.

Revision ID: 0016_shared_edges
Revises: 0015_name_index_versions
Create Date: 2026-12-07 20:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_shared_edges"
down_revision: str | None = "0015_name_index_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.MetaData()
nodes = sa.Table(
    "nodes", _meta, sa.Column("id", sa.BigInteger), sa.Column("edges_from", sa.BigInteger)
)
edges = sa.Table(
    "edges",
    _meta,
    sa.Column("node_id", sa.BigInteger),
    sa.Column("slot", sa.Integer),
    sa.Column("src_name", sa.Text),
    sa.Column("src_output", sa.Integer),
    sa.Column("control", sa.Boolean),
    sa.Column("src_key", sa.Integer),
)


def upgrade() -> None:
    kind = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.add_column("nodes", sa.Column("edges_from", kind, nullable=False, server_default="0"))


def downgrade() -> None:
    # Each sharing row's copy of the edge rows it uses, in one statement.
    owner = edges.alias("owner")
    copies = sa.select(
        nodes.c.id,
        owner.c.slot,
        owner.c.src_name,
        owner.c.src_output,
        owner.c.control,
        owner.c.src_key,
    ).select_from(nodes.join(owner, owner.c.node_id == nodes.c.edges_from))
    op.get_bind().execute(
        edges.insert().from_select(
            ["node_id", "slot", "src_name", "src_output", "control", "src_key"],
            copies.where(nodes.c.edges_from != 0),
        )
    )
    # SQLite (3.35+) and PostgreSQL drop a column in place: no rebuild, triggers stay.
    op.execute("ALTER TABLE nodes DROP COLUMN edges_from")

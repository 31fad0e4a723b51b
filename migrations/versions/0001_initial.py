"""The initial schema: packs, blobs, graphs, versions, temporal node rows, edges, collections.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 21:32:53.068058
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "graphs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "packs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "collection_members",
        sa.Column("blob_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("node_name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["blobs.sha256"],
        ),
        sa.PrimaryKeyConstraint("blob_sha256", "key", "node_name"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("collection_members", schema=None) as batch_op:
        batch_op.create_index("ix_collection_members_node", ["node_name"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("op", sa.Text(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("pack_id", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("first_version", sa.Integer(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["graph_id"],
            ["graphs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pack_id"],
            ["packs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index("ix_nodes_name_graph", ["name", "graph_id"], unique=False)
        batch_op.create_index("ix_nodes_graph_op", ["graph_id", "op"], unique=False)

    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("debug_hash", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("node_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("node_order", sa.LargeBinary(), nullable=False),
        sa.Column("has_graph_def", sa.Boolean(), nullable=False),
        sa.Column("head_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("graph_tail_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("tail_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("debug_sha256", sa.LargeBinary(length=32), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("source_format", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["debug_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["graph_id"],
            ["graphs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["graph_tail_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["head_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["tail_sha256"],
            ["blobs.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("graph_id", "number", name="uq_versions_graph_number"),
    )
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_versions_content_hash"), ["content_hash"], unique=False
        )

    op.create_table(
        "collections",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("blob_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["blob_sha256"],
            ["blobs.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
        ),
        sa.PrimaryKeyConstraint("version_id", "key"),
    )
    op.create_table(
        "edges",
        sa.Column("node_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("src_name", sa.Text(), nullable=False),
        sa.Column("src_output", sa.Integer(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["nodes.id"],
        ),
        sa.PrimaryKeyConstraint("node_id", "slot"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.create_index("ix_edges_src", ["src_name"], unique=False)

    op.create_table(
        "version_tags",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["versions.id"],
        ),
        sa.PrimaryKeyConstraint("version_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("version_tags")
    with op.batch_alter_table("edges", schema=None) as batch_op:
        batch_op.drop_index("ix_edges_src")

    op.drop_table("edges")
    op.drop_table("collections")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_versions_content_hash"))

    op.drop_table("versions")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_nodes_graph_op")
        batch_op.drop_index("ix_nodes_name_graph")

    op.drop_table("nodes")
    with op.batch_alter_table("collection_members", schema=None) as batch_op:
        batch_op.drop_index("ix_collection_members_node")

    op.drop_table("collection_members")
    op.drop_table("packs")
    op.drop_table("graphs")
    op.drop_table("blobs")

"""The name index of node rows carries their version span.

``ix_nodes_name_graph`` was (name, graph_id): a scope query of one version found every row of
those names in the graph's history and read each from the table to test its version span, so
its cost grew with the history (a 408-node scope after 1,000 versions with 1% of the nodes
changed per version: 4,533 rows read for 408 returned). As (name, graph_id, last_version,
first_version) the span is tested in the index and only the version's rows are read from the
table (docs/storage.md §2); the index grows by a few bytes per row. Closures, which join rows
by name within a version, and content lookups by name use it as before.

Nothing else changes; the downgrade puts the two-column index back.

Revision ID: 0015_name_index_versions
Revises: 0014_exports_content_index
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015_name_index_versions"
down_revision: str | None = "0014_exports_content_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_nodes_name_graph", table_name="nodes")
    op.create_index(
        "ix_nodes_name_graph", "nodes", ["name", "graph_id", "last_version", "first_version"]
    )


def downgrade() -> None:
    op.drop_index("ix_nodes_name_graph", table_name="nodes")
    op.create_index("ix_nodes_name_graph", "nodes", ["name", "graph_id"])

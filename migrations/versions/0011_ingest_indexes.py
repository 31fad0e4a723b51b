"""Two indexes that keep an ingest's cost independent of the store's history.

* ``ix_nodes_graph_open``: the graph's open node rows (``last_version IS NULL``), which an
  ingest reads as the latest version's nodes; without it the read went through
  ``ix_nodes_graph_op`` and visited every row of the graph's history.
* ``ix_collections_blob``: the collections that already hold a CollectionDef, asked by every
  ingest; without it the ingest scanned the whole ``collections`` table.

See docs/storage.md §7. Nothing else changes, so the downgrade drops both.

Revision ID: 0011_ingest_indexes
Revises: 0010_compact
Create Date: 2026-12-07 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_ingest_indexes"
down_revision: str | None = "0010_compact"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "last_version IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_nodes_graph_open",
        "nodes",
        ["graph_id"],
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )
    op.create_index("ix_collections_blob", "collections", ["blob_sha256"])


def downgrade() -> None:
    op.drop_index("ix_collections_blob", table_name="collections")
    op.drop_index("ix_nodes_graph_open", table_name="nodes")

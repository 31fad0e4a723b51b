"""An index of the export log by content hash.

``ix_exports_content_hash``: with ``prepare_export``, each ingest asks whether any export
record names the content of the version it follows (mgstore.db.forms.drop_unexported), to
keep that version's import form; without the index the question scanned the whole export
log, so an ingest's cost grew with the number of exports (docs/storage.md §7).

Nothing else changes, so the downgrade drops it.

Revision ID: 0014_exports_content_index
Revises: 0013_compact_rows
Create Date: 2026-12-07 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_exports_content_index"
down_revision: str | None = "0013_compact_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_exports_content_hash", "exports", ["content_hash"])


def downgrade() -> None:
    op.drop_index("ix_exports_content_hash", table_name="exports")

"""The form each version came from, and its exact bytes (docs/storage.md §10).

``versions`` gains ``form`` (``meta``, ``meta-text``, ``graphdef``, ``graphdef-text``,
``saved-model``, ``saved-model-text``), ``original_sha256`` and ``original_size`` (the bytes
that went in), ``original_delta_sha256`` (the blob that holds them as a delta against the form's
canonical encoding; NULL when none is needed) and ``meta_graph_index`` (a SavedModel's chosen
MetaGraphDef). Existing versions become ``form = 'meta'`` with no original recorded: they give
back the canonical MetaGraphDef bytes, as they did before.

The downgrade drops the columns and the delta blobs only they name. It loses what went in for
every version recorded with it, so mgstore's guard refuses it without ``--drop-data``
(it counts ``versions.original_sha256``).

Revision ID: 0007_source_form
Revises: 0006
Create Date: 2026-12-07 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_source_form"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

meta = sa.MetaData()
blobs_t = sa.Table("blobs", meta, sa.Column("sha256"), sa.Column("data"))
versions_t = sa.Table(
    "versions", meta, sa.Column("id"), sa.Column("head_sha256"), sa.Column("graph_tail_sha256"),
    sa.Column("tail_sha256"), sa.Column("debug_sha256"), sa.Column("original_delta_sha256"),
)  # fmt: skip
collections_t = sa.Table("collections", meta, sa.Column("blob_sha256"))


def upgrade() -> None:
    op.add_column(
        "versions", sa.Column("form", sa.String(length=32), nullable=False, server_default="meta")
    )
    op.add_column("versions", sa.Column("original_sha256", sa.String(length=64), nullable=True))
    op.add_column("versions", sa.Column("original_size", sa.BigInteger(), nullable=True))
    op.add_column(
        "versions", sa.Column("original_delta_sha256", sa.LargeBinary(length=32), nullable=True)
    )
    op.add_column("versions", sa.Column("meta_graph_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    conn = op.get_bind()
    deltas = set(
        conn.execute(
            sa.select(versions_t.c.original_delta_sha256).where(
                versions_t.c.original_delta_sha256.is_not(None)
            )
        ).scalars()
    )
    named = set()
    for column in (versions_t.c.head_sha256, versions_t.c.graph_tail_sha256,
                   versions_t.c.tail_sha256, versions_t.c.debug_sha256):  # fmt: skip
        named.update(conn.execute(sa.select(column).where(column.is_not(None))).scalars())
    named.update(conn.execute(sa.select(collections_t.c.blob_sha256)).scalars())
    for sha in sorted(bytes(d) for d in deltas - {bytes(n) for n in named}):
        conn.execute(blobs_t.delete().where(blobs_t.c.sha256 == sha))
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch rebuild of ``versions`` would
    # drop the table that tags, collections and export records refer to.
    for column in ("meta_graph_index", "original_delta_sha256", "original_size",
                   "original_sha256", "form"):  # fmt: skip
        op.drop_column("versions", column)

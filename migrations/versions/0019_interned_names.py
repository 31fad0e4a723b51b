"""Interned names: node rows and edge rows name nodes, op types and devices by the id of a row
of ``names``.

Each changed node row repeated its name (about 40 bytes on the bench graph), op type and
device (about 30) in ``nodes``, the name in ``ix_nodes_name_graph`` and the op in
``ix_nodes_graph_op``, and each edge row its source's name, beside 32-bit keys of the names
(revision 0013) that a descendants step looked edges up by. Now ``names`` holds every distinct
string once (unique index: lookups and the range scans of scope queries), and
``nodes.name_id``, ``op_id``, ``device_id`` and ``edges.src_id`` refer to it; the id serves as
the key, so ``nodes.name_key`` and ``edges.src_key`` go (docs/storage.md §3.5).

The upgrade fills ``names`` with the names of node rows and edge sources, op types and devices
(in order), adds and fills the id columns, swaps the indexes and drops the string and key
columns. The columns are nullable because SQLite's ALTER TABLE adds only such columns without a
rebuild; every writer fills them and fsck checks them. On PostgreSQL the guard of node rows
(revision 0009) names the node through ``names``; the reference guards of revision
0017_pg_reference_guards look rows up by ``pack_id``, ``graph_id`` and ``node_id`` only, and
revision 0018_order_columns changed node orders, not rows: neither needs a change. The
downgrade puts the names and keys back (keys as revision 0013 computed them) and drops
``names``.

Revision ID: 0019_interned_names
Revises: 0018_order_columns
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_interned_names"
down_revision: str | None = "0018_order_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

_meta = sa.MetaData()
names = sa.Table("names", _meta, sa.Column("id", sa.Integer), sa.Column("name", sa.Text))
nodes = sa.Table(
    "nodes",
    _meta,
    sa.Column("name", sa.Text),
    sa.Column("name_key", sa.Integer),
    sa.Column("name_id", sa.Integer),
    sa.Column("op", sa.Text),
    sa.Column("op_id", sa.Integer),
    sa.Column("device", sa.Text),
    sa.Column("device_id", sa.Integer),
)
edges = sa.Table(
    "edges",
    _meta,
    sa.Column("src_name", sa.Text),
    sa.Column("src_key", sa.Integer),
    sa.Column("src_id", sa.Integer),
)

# PostgreSQL's guard of node rows (revision 0009), naming the node by its name row, and as
# revision 0009 made it.
_GUARD_NODES = """CREATE OR REPLACE FUNCTION mgstore_guard_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID)
            AND mgstore_uncollected_in(OLD.graph_id, OLD.first_version, OLD.last_version) THEN
        PERFORM mgstore_guard_refuse('node ' || %s || ' is in a version not collected');
    END IF;
    RETURN OLD;
END
$$"""
_NAMED = "coalesce((SELECT n.name FROM names n WHERE n.id = OLD.name_id), '?')"


def upgrade() -> None:
    op.create_table(
        "names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    every = sa.union(
        sa.select(nodes.c.name),
        sa.select(edges.c.src_name),
        sa.select(nodes.c.op),
        sa.select(nodes.c.device),
    ).subquery()
    conn.execute(names.insert().from_select(["name"], sa.select(every.c[0]).order_by(every.c[0])))
    op.create_index("ix_names_name", "names", ["name"], unique=True)
    for column in ("name_id", "op_id", "device_id"):
        op.add_column("nodes", sa.Column(column, sa.Integer()))
    op.add_column("edges", sa.Column("src_id", sa.Integer()))
    conn.execute(
        nodes.update().values(
            name_id=_id_of(nodes.c.name), op_id=_id_of(nodes.c.op), device_id=_id_of(nodes.c.device)
        )
    )
    conn.execute(edges.update().values(src_id=_id_of(edges.c.src_name)))
    op.drop_index("ix_nodes_name_graph", table_name="nodes")
    op.drop_index("ix_nodes_graph_op", table_name="nodes")
    op.drop_index("ix_edges_src_key", table_name="edges")
    if conn.dialect.name == "postgresql":
        op.execute(_GUARD_NODES % _NAMED)
    # SQLite (3.35+) and PostgreSQL drop a column in place: no rebuild, triggers stay.
    dropped = [("nodes", "name"), ("nodes", "name_key"), ("nodes", "op"), ("nodes", "device"),
               ("edges", "src_name"), ("edges", "src_key")]  # fmt: skip
    for table, column in dropped:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.create_index(
        "ix_nodes_name_graph", "nodes", ["name_id", "graph_id", "last_version", "first_version"]
    )
    op.create_index("ix_nodes_graph_op", "nodes", ["graph_id", "op_id"])
    _open_rows_index_last()
    op.create_index("ix_edges_src", "edges", ["src_id"])


def downgrade() -> None:
    conn = op.get_bind()
    postgresql = conn.dialect.name == "postgresql"
    # NOT NULL as revision 0001 made them; SQLite adds such a column only with a default.
    default = None if postgresql else sa.text("''")
    for table, column in (("nodes", "name"), ("nodes", "op"), ("nodes", "device"),
                          ("edges", "src_name")):  # fmt: skip
        op.add_column(
            table, sa.Column(column, sa.Text(), nullable=postgresql, server_default=default)
        )
    op.add_column("nodes", sa.Column("name_key", sa.Integer(), nullable=True))
    op.add_column("edges", sa.Column("src_key", sa.Integer(), nullable=True))
    conn.execute(
        nodes.update().values(
            name=_string_of(nodes.c.name_id),
            op=_string_of(nodes.c.op_id),
            device=_string_of(nodes.c.device_id),
        )
    )
    conn.execute(edges.update().values(src_name=_string_of(edges.c.src_id)))
    # The keys of revision 0013, by name id (through the indexes on the ids).
    rows = [(int(i), str(n)) for i, n in conn.execute(sa.select(names.c.id, names.c.name))]
    for table, id_, key in ((nodes, nodes.c.name_id, "name_key"),
                            (edges, edges.c.src_id, "src_key")):  # fmt: skip
        update = table.update().where(id_ == sa.bindparam("i")).values({key: sa.bindparam("k")})
        for start in range(0, len(rows), BATCH):
            conn.execute(update, [{"i": i, "k": _key(n)} for i, n in rows[start : start + BATCH]])
    if postgresql:
        for table, column in (("nodes", "name"), ("nodes", "op"), ("nodes", "device"),
                              ("edges", "src_name")):  # fmt: skip
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
        op.execute(_GUARD_NODES % "OLD.name")
    op.drop_index("ix_nodes_name_graph", table_name="nodes")
    op.drop_index("ix_nodes_graph_op", table_name="nodes")
    op.drop_index("ix_edges_src", table_name="edges")
    for table, column in (("nodes", "name_id"), ("nodes", "op_id"), ("nodes", "device_id"),
                          ("edges", "src_id")):  # fmt: skip
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.create_index(
        "ix_nodes_name_graph", "nodes", ["name", "graph_id", "last_version", "first_version"]
    )
    op.create_index("ix_nodes_graph_op", "nodes", ["graph_id", "op"])
    _open_rows_index_last()
    op.create_index("ix_edges_src_key", "edges", ["src_key"])
    op.drop_index("ix_names_name", table_name="names")
    op.drop_table("names")


def _open_rows_index_last() -> None:
    """Make ``ix_nodes_graph_open`` (revision 0011) again, after ``ix_nodes_graph_op``: SQLite,
    without statistics, reads a graph's open rows through whichever of the two indexes on
    ``graph_id`` was made last (docs/storage.md §7)."""
    op.drop_index("ix_nodes_graph_open", table_name="nodes")
    where = sa.text("last_version IS NULL")
    op.create_index(
        "ix_nodes_graph_open", "nodes", ["graph_id"], sqlite_where=where, postgresql_where=where
    )


def _string_of(id_: sa.Column[int]) -> sa.ColumnElement[str]:
    """The string of the ``names`` row ``id_`` names (a lookup by primary key); '' where the
    id is missing or names no row (damaged: fsck at the older revision then reports the row,
    whose NodeDef names it otherwise, instead of the downgrade failing on NOT NULL)."""
    found = sa.select(names.c.name).where(names.c.id == id_).scalar_subquery()
    return sa.func.coalesce(found, "")


def _id_of(name: sa.Column[str]) -> sa.ScalarSelect[int]:
    """The id of the ``names`` row of ``name`` (a correlated lookup through its index)."""
    return sa.select(names.c.id).where(names.c.name == name).scalar_subquery()


def _key(name: str) -> int:
    """As mgstore.db.versions.name_key at revision 0013: CRC-32 of the UTF-8, signed."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) - 0x80000000

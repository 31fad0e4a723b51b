"""PostgreSQL: the references of node and edge rows kept by guards on delete, not by foreign keys.

PostgreSQL checks a foreign key row by row: a trigger and an index lookup (and a row lock on
the referenced row) for every node row and every edge row an ingest copies in, about a third
of the server's time on a first version (docs/storage.md §7). The three foreign keys that an
ingest's bulk rows carry, ``nodes.pack_id -> packs``, ``nodes.graph_id -> graphs`` and
``edges.node_id -> nodes``, go; what they did is done on the (rare) delete side instead:

* a statement trigger after ``DELETE`` on ``packs``, ``nodes`` and ``graphs``
  (``mgstore_keep_referenced``) refuses the statement if a node row still points into a
  deleted pack, an edge row still belongs to a deleted node row, or a node row to a deleted
  graph, for every role, owner included, as the foreign key did (SQLSTATE 23503);
* before it looks, it takes the versions lock exclusively (the advisory lock that every
  ingest holds shared and gc exclusive, :mod:`mgstore.db.lifecycle`), so a delete waits for
  the ingests in flight and then sees their rows: a pack that an uncommitted ingest has just
  found its content in is never deleted under it (gc already holds that lock).

Inserts are not checked: mgstore's own writers make the references, and fsck finds a node row
whose pack is missing (docs/storage.md §8). SQLite keeps its foreign keys (its checks are
cheap, and its writers are serialized): this revision changes nothing there.

Downgrade drops the triggers and the function and adds the three foreign keys back (which
checks every row: it fails on a store whose references were broken by hand).

Revision ID: 0017_pg_reference_guards
Revises: 0016_shared_edges
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_pg_reference_guards"
down_revision: str | None = "0016_shared_edges"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# mgstore.db.lifecycle._VERSIONS_LOCK, as of this revision.
_VERSIONS_LOCK = 0x6D6773746F7265

#: (constraint, table, column, referenced table): the foreign keys this revision replaces.
FOREIGN_KEYS = (
    ("nodes_pack_id_fkey", "nodes", "pack_id", "packs"),
    ("nodes_graph_id_fkey", "nodes", "graph_id", "graphs"),
    ("edges_node_id_fkey", "edges", "node_id", "nodes"),
)

# One function for the three tables; each trigger passes what refers to its rows. The
# referring rows are looked up per deleted row through an index where there is one (edges
# by node_id, nodes by graph_id: LATERAL ... LIMIT 1 keeps it a nested loop), and by one
# scan of nodes for packs (nodes.pack_id has no index: it would cost every ingest a row).
PG_FUNCTION = f"""CREATE FUNCTION mgstore_keep_referenced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    gone_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock({_VERSIONS_LOCK});
    IF TG_TABLE_NAME = 'packs' THEN
        SELECT n.pack_id INTO gone_id FROM nodes n
            WHERE n.pack_id IN (SELECT g.id FROM gone g) LIMIT 1;
    ELSIF TG_TABLE_NAME = 'nodes' THEN
        SELECT g.id INTO gone_id FROM gone g,
            LATERAL (SELECT 1 FROM edges e WHERE e.node_id = g.id LIMIT 1) r LIMIT 1;
    ELSE
        SELECT g.id INTO gone_id FROM gone g,
            LATERAL (SELECT 1 FROM nodes n WHERE n.graph_id = g.id LIMIT 1) r LIMIT 1;
    END IF;
    IF gone_id IS NOT NULL THEN
        RAISE EXCEPTION
            'delete on table "%" violates foreign key: row id=% is still referenced from "%"',
            TG_TABLE_NAME, gone_id, TG_ARGV[0] USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$"""

PG_TRIGGERS = {
    table: f"CREATE TRIGGER {table}_keep_referenced AFTER DELETE ON {table}"
    f" REFERENCING OLD TABLE AS gone FOR EACH STATEMENT"
    f" EXECUTE FUNCTION mgstore_keep_referenced('{referring}')"
    for table, referring in (("packs", "nodes"), ("nodes", "edges"), ("graphs", "nodes"))
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    found = sa.inspect(op.get_bind())
    for _, table, column, referred in FOREIGN_KEYS:  # by what they refer, whatever their names
        for fk in found.get_foreign_keys(table):
            if fk["constrained_columns"] == [column] and fk["referred_table"] == referred:
                op.drop_constraint(fk["name"], table, type_="foreignkey")
    op.execute(PG_FUNCTION)
    for statement in PG_TRIGGERS.values():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_keep_referenced ON {table}")
    op.execute("DROP FUNCTION mgstore_keep_referenced()")
    for name, table, column, referred in FOREIGN_KEYS:
        op.create_foreign_key(name, table, referred, [column], ["id"])

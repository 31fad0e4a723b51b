"""Migration 0008_outlines (stored outlines) down and up again with data present, on SQLite
and PostgreSQL: the downgrade drops only derived rows (so it needs no --drop-data); the
upgrade stores the outline of every version gc has not collected, the very parts ingest
stored, and fsck accepts them."""

from __future__ import annotations

from sqlalchemy import Engine, inspect, select

from mgstore import Store
from mgstore.db import engine as db
from mgstore.db import migrate, outlines
from mgstore.db.models import metadata
from tests.web import hostile

OUTLINES = "0008_outlines"
TABLES = metadata.tables
V, VO, OP = TABLES["versions"], TABLES["version_outlines"], TABLES["outline_parts"]


def filled(db_url: str) -> None:
    """Versions that share parts, one deleted and collected, one deleted and kept."""
    if not db_url.startswith("sqlite"):
        migrate.upgrade_database(db_url)
    with Store(db_url) as store:
        store.ingest(hostile.scoped_meta(), "net", tags={"stage": "dev"})
        store.ingest(hostile.changed_meta(), "net")
        moved = hostile.changed_meta()
        moved.graph_def.node[0].device = "/gpu:0"
        store.ingest(moved, "net")
        store.ingest(hostile.hostile_meta(), "other")
        store.ingest(hostile.scoped_meta(), "other")
        store.delete("other@1")
        store.gc()
        store.delete("net@2")


def stored(engine: Engine) -> tuple[dict[int, tuple[bytes, ...]], dict[bytes, bytes]]:
    with engine.connect() as conn:
        rows = {
            int(r.version_id): tuple(bytes(r._mapping[p]) for p in outlines.PARTS)
            for r in conn.execute(select(VO))
        }
        parts = {bytes(sha): bytes(data) for sha, data in conn.execute(select(OP))}
    return rows, parts


def test_down_and_up_with_data(db_url: str) -> None:
    filled(db_url)
    engine = db.create(db_url)
    try:
        rows, parts = stored(engine)
        assert len(rows) == 4  # not the collected version
        assert len(parts) < 4 * len(outlines.PARTS)  # shared
        below = migrate.scripts().get_revision(OUTLINES).down_revision
        assert isinstance(below, str)
        migrate.downgrade(engine, below)  # derived rows only: no --drop-data needed
        assert migrate.current(engine) == below
        assert not {"outline_parts", "version_outlines"} & set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert stored(engine) == (rows, parts)  # made again, byte for byte
        with db.transaction(engine) as conn:
            for row in conn.execute(select(V).where(V.c.id.in_(list(rows)))).all():
                assert outlines.read(conn, row) == outlines.from_tables(conn, row)
    finally:
        engine.dispose()
    with Store(db_url) as store:
        assert store.fsck().ok
        moved = store.outline("net@3")
        assert moved.devices[moved.names.index("input")] == "/gpu:0"
        store.restore("net@2")
        assert "head/extra" in store.outline("net@2").names

"""Compact rows: a collection's members as one blob instead of a row each; edges found by
their source's 32-bit key instead of an index repeating every source name.

Member lists. ``collection_members`` held one row per (CollectionDef blob, key, member
name), and an index on the names, about 5 MB for the bench graph's one version. A collection
row already keeps ``members_sha256``, the SHA-256 of the JSON of its sorted member names
(mgstore.db.versions.members_digest); that JSON is now a blob keyed by that digest (compressed
as other blobs are, docs/storage.md §3.4), read and checked by it (docs/storage.md §5).

The upgrade writes each distinct member list as a blob (a list whose rows no longer match their
digest is left out, so that reads and fsck report it as they reported the rows) and drops the
table and its index; on PostgreSQL, the guard of its rows goes with it, and the guard of
``blobs`` also refuses a writer the member list of a collection a version still has
(docs/postgres-roles.md). The downgrade rebuilds the rows from the blobs and puts the guards back
as revision 0009 made them; it leaves the lists in ``blobs`` (the release before never reads
them, and a downgrade that lost rows would be refused), where the next upgrade finds them.

Edge sources. ``ix_edges_src`` indexed ``edges.src_name``, repeating each source name (about
40 bytes) in the index, 6.9 MB of the bench graph's 7.3 MB of edges. Now ``edges.src_key`` and
``nodes.name_key`` hold CRC-32 of the name (signed; mgstore.db.versions.name_key) and
``ix_edges_src_key`` indexes the key: a descendants step finds edges by the key of a row's
name, then compares the names (docs/storage.md §3.5). The upgrade adds both columns, fills
them by name, and swaps the indexes; the downgrade swaps them back and drops the columns. The
columns are nullable because SQLite's ALTER TABLE adds only such columns without a rebuild;
every writer fills them and fsck checks them.

This revision keeps its own copy of the JSON form, the codec and the key, so that what it
writes stays what it wrote when mgstore's do.

Revision ID: 0013_compact_rows
Revises: 0012_order_deltas
Create Date: 2026-12-07 16:45:00
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_compact_rows"
down_revision: str | None = "0012_order_deltas"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RAW, ZLIB = b"\x00", b"\x01"
COMPRESS_MIN = 4096
LEVEL = 3
BATCH = 500

_meta = sa.MetaData()
blobs = sa.Table(
    "blobs", _meta, sa.Column("sha256", sa.LargeBinary), sa.Column("data", sa.LargeBinary)
)
collections = sa.Table(
    "collections",
    _meta,
    sa.Column("version_id", sa.Integer),
    sa.Column("key", sa.Text),
    sa.Column("blob_sha256", sa.LargeBinary),
    sa.Column("members_sha256", sa.String(64)),
)
members = sa.Table(
    "collection_members",
    _meta,
    sa.Column("blob_sha256", sa.LargeBinary),
    sa.Column("key", sa.Text),
    sa.Column("node_name", sa.Text),
)
nodes = sa.Table("nodes", _meta, sa.Column("name", sa.Text), sa.Column("name_key", sa.Integer))
edges = sa.Table("edges", _meta, sa.Column("src_name", sa.Text), sa.Column("src_key", sa.Integer))

# PostgreSQL's guards (revision 0009): that of blobs, then and now, and that of member rows.
_GUARD_BLOBS = """CREATE OR REPLACE FUNCTION mgstore_guard_blobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND EXISTS (
            SELECT 1 FROM exports x
            WHERE strpos(x.options, encode(OLD.sha256, 'hex')) > 0) THEN
        PERFORM mgstore_guard_refuse('a blob that an export record names');
    END IF;%s
    RETURN OLD;
END
$$"""
_GUARD_LISTS = """
    IF mgstore_guarded(TG_RELID) AND EXISTS (
            SELECT 1 FROM collections c
            WHERE c.members_sha256 = encode(OLD.sha256, 'hex')) THEN
        PERFORM mgstore_guard_refuse('the member list of a collection a version still has');
    END IF;"""
_GUARD_MEMBERS = [
    """CREATE FUNCTION mgstore_guard_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND EXISTS (
            SELECT 1 FROM collections c
            WHERE c.blob_sha256 = OLD.blob_sha256 AND c.key = OLD.key) THEN
        PERFORM mgstore_guard_refuse('the members of a collection a version still has');
    END IF;
    RETURN OLD;
END
$$""",
    "CREATE TRIGGER collection_members_guard BEFORE DELETE ON collection_members"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_members()",
]


def upgrade() -> None:
    _members_to_blobs()
    op.drop_index("ix_collection_members_node", table_name="collection_members")
    op.drop_table("collection_members")  # and, on PostgreSQL, the trigger on it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION mgstore_guard_members()")
        op.execute(_GUARD_BLOBS % _GUARD_LISTS)
    op.add_column("nodes", sa.Column("name_key", sa.Integer(), nullable=True))
    op.add_column("edges", sa.Column("src_key", sa.Integer(), nullable=True))
    _fill_keys(nodes, nodes.c.name, nodes.c.name_key)
    _fill_keys(edges, edges.c.src_name, edges.c.src_key)  # through ix_edges_src, then gone
    op.drop_index("ix_edges_src", table_name="edges")
    op.create_index("ix_edges_src_key", "edges", ["src_key"])


def downgrade() -> None:
    op.create_index("ix_edges_src", "edges", ["src_name"])
    op.drop_index("ix_edges_src_key", table_name="edges")
    # SQLite (3.35+) and PostgreSQL drop a column in place: no rebuild, triggers stay.
    op.execute("ALTER TABLE edges DROP COLUMN src_key")
    op.execute("ALTER TABLE nodes DROP COLUMN name_key")
    op.create_table(
        "collection_members",
        sa.Column("blob_sha256", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("node_name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["blob_sha256"], ["blobs.sha256"]),
        sa.PrimaryKeyConstraint("blob_sha256", "key", "node_name"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_collection_members_node", "collection_members", ["node_name"])
    _blobs_to_members()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_GUARD_BLOBS % "")
        for statement in _GUARD_MEMBERS:
            op.execute(statement)


def _lists(conn: sa.Connection) -> list[tuple[bytes, str, str]]:
    """Each distinct (CollectionDef blob, key, member digest) of the store, sorted."""
    query = sa.select(collections.c.blob_sha256, collections.c.key, collections.c.members_sha256)
    return sorted(
        {(bytes(sha), key, digest) for sha, key, digest in conn.execute(query.distinct())}
    )


def _members_to_blobs() -> None:
    conn = op.get_bind()
    rows: dict[tuple[bytes, str], list[str]] = {}
    for sha, key, name in conn.execute(
        sa.select(members.c.blob_sha256, members.c.key, members.c.node_name)
    ):
        rows.setdefault((bytes(sha), key), []).append(name)
    found: dict[bytes, bytes] = {}
    for sha, key, digest in _lists(conn):
        text = _json(rows.get((sha, key), []))
        if hashlib.sha256(text).hexdigest() == digest:  # else: reads report it, as before
            found[bytes.fromhex(digest)] = text
    present = set()
    for chunk in _chunks(sorted(found)):
        query = sa.select(blobs.c.sha256).where(blobs.c.sha256.in_(chunk))
        present.update(bytes(sha) for sha in conn.execute(query).scalars())
    fresh = [{"sha256": sha, "data": _compress(found[sha])} for sha in found if sha not in present]
    if fresh:
        conn.execute(blobs.insert(), fresh)


def _blobs_to_members() -> None:
    conn = op.get_bind()
    lists = _lists(conn)
    digests = sorted({bytes.fromhex(digest) for _, _, digest in lists})
    texts: dict[bytes, bytes] = {}
    for chunk in _chunks(digests):
        query = sa.select(blobs.c.sha256, blobs.c.data).where(blobs.c.sha256.in_(chunk))
        texts.update((bytes(sha), _decompress(bytes(data))) for sha, data in conn.execute(query))
    for sha, key, digest in lists:
        text = texts.get(bytes.fromhex(digest))
        if text is None or hashlib.sha256(text).hexdigest() != digest:
            continue  # a damaged list: no rows, which reads report as before
        rows = [
            {"blob_sha256": sha, "key": key, "node_name": n}
            for n in json.loads(text.decode("utf-8", "surrogatepass"))
        ]
        if rows:
            conn.execute(members.insert(), rows)


def _fill_keys(table: sa.Table, name: sa.Column[str], key: sa.Column[int]) -> None:
    """Set each row's key to that of its name (by name, through the name's index)."""
    conn = op.get_bind()
    names = sorted(set(conn.execute(sa.select(name).distinct()).scalars()))
    update = table.update().where(name == sa.bindparam("n")).values({key.name: sa.bindparam("k")})
    for i in range(0, len(names), 10 * BATCH):
        conn.execute(update, [{"n": n, "k": _key(n)} for n in names[i : i + 10 * BATCH]])


def _key(name: str) -> int:
    """As mgstore.db.versions.name_key at this revision: CRC-32 of the UTF-8, signed."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass")) - 0x80000000


def _json(names: Iterable[str]) -> bytes:
    """The member list as mgstore.db.versions.members_json wrote it at this revision."""
    text = json.dumps(sorted(names), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def _compress(data: bytes) -> bytes:
    """As mgstore.codec.compress at this revision (docs/storage.md §3.4)."""
    if len(data) >= COMPRESS_MIN:
        packed = zlib.compress(data, LEVEL)
        if len(packed) + 1 < len(data):
            return ZLIB + packed
    return RAW + data if data[:1] in (RAW, ZLIB) else data


def _decompress(stored: bytes) -> bytes:
    if stored[:1] == ZLIB:
        try:
            return zlib.decompress(stored[1:])
        except zlib.error:
            return stored
    return stored[1:] if stored[:1] == RAW else stored


def _chunks(values: Sequence[bytes]) -> Iterable[Sequence[bytes]]:
    for i in range(0, len(values), BATCH):
        yield values[i : i + BATCH]

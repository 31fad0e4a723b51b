"""The SQL schema: SQLAlchemy Core tables on one ``metadata``, owned by the Alembic migrations in
migrations/. Core, not the ORM: nothing maps rows to classes, and `mgstore log` starts without
loading sqlalchemy.orm (bench/bench_startup.py).

How a graph is kept (content-addressed, so a version costs about its change, not its size):

* ``packs``: the NodeDefs an ingest brought that the store did not hold yet (by SHA-256),
  each framed as a GraphDef ``node`` field and concatenated, in rows of at most 256 KiB.
* ``nodes``: one row per node *while its content stays the same*: ``first_version`` and
  ``last_version`` (NULL while it is still current) bound the versions of its graph that
  contain it, so an unchanged node adds no row to a new version. Each row has its content's
  SHA-256 and where those bytes sit (pack, offset, length), and the columns that queries
  filter on (name, op, device: ids of ``names`` rows), indexed. Identical content anywhere
  in the store is found by its hash and its bytes stored once.
* ``names``: every distinct node name, op type and device once; node and edge rows keep
  its id (docs/storage.md §3.5).
* ``edges``: the inputs of each node row, by slot (data and control, with output indexes),
  indexed by the id of the source's name; a later row of the same name with the same
  inputs uses them instead of repeating them (``nodes.edges_from``, docs/storage.md §3.5).
* ``blobs``: every other distinct serialized part (the graph-level frame of a MetaGraphDef,
  a CollectionDef, a GraphDebugInfo) once, keyed by its SHA-256.
* ``versions``: one row per immutable, numbered version, with its node order (a compressed
  array of locations, or a delta against an earlier version's, :mod:`mgstore.node_order`) and
  the blobs that frame the nodes, so a checkout joins byte slices; and
  its input form, with the exact bytes that went in as a delta blob against that form's
  canonical encoding (:mod:`mgstore.original`).
* ``collections``: each version's collections, each naming its CollectionDef's blob and the
  blob that lists the op names it refers to (JSON, keyed by its SHA-256), for collection
  queries.
* ``outline_parts`` and ``version_outlines``: each version's outline (what pictures need),
  made at ingest and kept in compressed, content-addressed parts (:mod:`mgstore.db.outlines`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()


BLOBS = Table(
    "blobs",
    metadata,
    Column("sha256", LargeBinary(32), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


PACKS = Table(
    "packs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


GRAPHS = Table(
    "graphs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(512), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


VERSIONS = Table(
    "versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("graph_id", ForeignKey("graphs.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False, index=True),
    Column("debug_hash", String(64)),
    Column("message", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(256), nullable=False),
    Column("node_count", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("node_order", LargeBinary, nullable=False),
    Column("has_graph_def", Boolean, nullable=False),
    Column("head_sha256", ForeignKey("blobs.sha256"), nullable=False),
    Column("graph_tail_sha256", ForeignKey("blobs.sha256"), nullable=False),
    Column("tail_sha256", ForeignKey("blobs.sha256"), nullable=False),
    Column("debug_sha256", ForeignKey("blobs.sha256")),
    Column("source_path", Text),
    Column("source_sha256", String(64)),
    Column("source_format", String(64)),
    #: What went in and what a checkout gives back (mgstore.original, docs/storage.md §10):
    #: the input form; the SHA-256 and size of the exact bytes (NULL: the canonical encoding
    #: of the form, as for versions stored before revision 0007); the blob holding their delta
    #: against that encoding (NULL: none needed); a SavedModel's chosen MetaGraphDef.
    Column("form", String(32), nullable=False, server_default="meta"),
    Column("original_sha256", String(64)),
    Column("original_size", BigInteger),
    Column("original_delta_sha256", LargeBinary(32)),
    Column("meta_graph_index", Integer),
    UniqueConstraint("graph_id", "number", name="uq_versions_graph_number"),
)


VERSION_TAGS = Table(
    "version_tags",
    metadata,
    Column("version_id", ForeignKey("versions.id"), primary_key=True),
    Column("key", String(256), primary_key=True),
    Column("value", Text, nullable=False),
)


# Every distinct node name, op type and device of the store, once (docs/storage.md §3.5): node
# rows and edge rows refer to them by id. One table for every graph, so that content found in
# another graph (docs/storage.md §3.3) and the same name in many graphs cost one row; the
# unique index serves lookups by name and the range scans of scope queries (``name >=
# 'scope/' AND name < 'scope0'``).
NAMES = Table(
    "names",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Index("ix_names_name", "name", unique=True),
)


NODES = Table(
    "nodes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("graph_id", ForeignKey("graphs.id"), nullable=False),
    # The node's name (``names.id``). Every writer fills it (NULL only as SQLite's ALTER TABLE
    # adds a column, revision 0019); fsck checks it against the NodeDef. No foreign key:
    # SQLite drops no such column in place (the downgrade), and names are never deleted.
    Column("name_id", Integer),
    # The op type and device (``names.id``, as ``name_id``).
    Column("op_id", Integer),
    Column("device_id", Integer),
    Column("sha256", LargeBinary(32), nullable=False),
    Column("pack_id", ForeignKey("packs.id"), nullable=False),
    Column("offset", Integer, nullable=False),
    Column("length", Integer, nullable=False),
    Column("first_version", Integer, nullable=False),
    Column("last_version", Integer),
    # The row whose edge rows are this row's inputs (docs/storage.md §3.5): 0 for its own;
    # else the row it follows in its graph under its name, whose inputs it repeats (a changed
    # attr or device), so that it adds no edge rows. Always a row of the same graph and name.
    Column(
        "edges_from",
        BigInteger().with_variant(Integer, "sqlite"),
        nullable=False,
        server_default="0",
    ),  # fmt: skip
    # (name_id, graph_id) serves scope queries within a graph and content lookups across
    # graphs alike: identical NodeDef bytes always carry the same name. The version span
    # follows, so that a version's rows are told from the rest of the history in the index,
    # and a scope query reads from the table only the rows it returns (0015).
    Index("ix_nodes_name_graph", "name_id", "graph_id", "last_version", "first_version"),
    Index("ix_nodes_graph_op", "graph_id", "op_id"),
    # The rows a version added, and those it closed: what a diff of two versions reads.
    # Both are partial, so that other queries, whose conditions do not imply theirs, are
    # never planned on them; and first versions' rows (most rows) and open rows stay out.
    Index(
        "ix_nodes_graph_first",
        "graph_id",
        "first_version",
        sqlite_where=text("first_version > 1"),
        postgresql_where=text("first_version > 1"),
    ),
    Index(
        "ix_nodes_graph_last",
        "graph_id",
        "last_version",
        sqlite_where=text("last_version IS NOT NULL"),
        postgresql_where=text("last_version IS NOT NULL"),
    ),
    # The open rows of a graph: what an ingest reads as the latest version's nodes, at a
    # cost that does not grow with the graph's history (docs/storage.md §7).
    Index(
        "ix_nodes_graph_open",
        "graph_id",
        sqlite_where=text("last_version IS NULL"),
        postgresql_where=text("last_version IS NULL"),
    ),
)


#: The foreign keys that PostgreSQL does not keep as constraints, as (table, column, referred
#: table): checked row by row, they cost every ingest a trigger and a lookup per node and edge
#: row; there a guard on delete keeps them instead (revision 0017_pg_reference_guards,
#: docs/storage.md §8). SQLite keeps them as declared here.
GUARDED_ON_POSTGRESQL = (
    ("nodes", "pack_id", "packs"),
    ("nodes", "graph_id", "graphs"),
    ("edges", "node_id", "nodes"),
)


# The inputs of a node row, by slot (a node row's content never changes). The source is a name
# id (``src_id``, indexed): descendants find the edges that name a row by its ``name_id``
# (docs/storage.md §3.5).
EDGES = Table(
    "edges",
    metadata,
    Column("node_id", ForeignKey("nodes.id"), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("src_output", Integer, nullable=False),
    Column("control", Boolean, nullable=False),
    # The source's name (``names.id``; NULL only as for ``nodes.name_id``).
    Column("src_id", Integer),
    Index("ix_edges_src", "src_id"),
    sqlite_with_rowid=False,
)


COLLECTIONS = Table(
    "collections",
    metadata,
    Column("version_id", ForeignKey("versions.id"), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("blob_sha256", ForeignKey("blobs.sha256"), nullable=False),
    # The digest of the op names the collection refers to (mgstore.db.versions.members_digest),
    # and the key of the blob that lists them (docs/storage.md §5), checked on every read.
    Column("members_sha256", String(64), nullable=False),
    # Which collections already hold a CollectionDef: asked by every ingest (docs/storage.md §7).
    Index("ix_collections_blob", "blob_sha256"),
)


# The audit log of exports (see :mod:`mgstore.audit`): append-only, one row per export,
# successful (``ok``) or ``failed``, chained by hashes.
#
# ``seq`` numbers the records 1, 2, 3... in the order they were appended; ``record_hash`` is
# the SHA-256 of ``prev_hash`` (the previous record's ``record_hash``, 64 zeros for the first)
# followed by the canonical JSON of every other column. The graph name, version number and
# content hash are kept beside ``version_id`` so that a record says what it exported by itself.
# Triggers (migration 0002) refuse UPDATE and DELETE; a later migration that rebuilds this
# table (SQLite's batch mode does) must create them again.
EXPORTS = Table(
    "exports",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("id", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("version_id", ForeignKey("versions.id")),
    Column("graph", String(512)),
    Column("version", Integer),
    Column("content_hash", String(64)),
    Column("query", Text),
    Column("options", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64)),
    Column("size", BigInteger),
    Column("debug_path", Text),
    Column("debug_sha256", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("username", String(256), nullable=False),
    Column("hostname", String(256), nullable=False),
    Column("mgstore_version", String(64), nullable=False),
    Column("protobuf_version", String(64), nullable=False),
    Column("duration", Double, nullable=False),
    Column("error", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False),
    UniqueConstraint("id", name="uq_exports_id"),
    UniqueConstraint("record_hash", name="uq_exports_record_hash"),
    CheckConstraint("status IN ('ok', 'failed')", name="ck_exports_status"),
    Index("ix_exports_sha256", "sha256"),
    # Whether an export names a content hash: asked by ingest with prepare_export (db/forms.py).
    Index("ix_exports_content_hash", "content_hash"),
    Index("ix_exports_debug_sha256", "debug_sha256"),
    Index("ix_exports_graph", "graph"),
    Index("ix_exports_created_at", "created_at"),
)


# The end of the export chain, one row: the last record's ``seq`` and ``record_hash``.
#
# Appenders lock it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock covers it),
# and ``audit check`` compares it with the last record, so that records removed from the end
# of the log are noticed too.
AUDIT_HEAD = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("record_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_head_single_row"),
)


# How TensorFlow's import changes a stored graph (node order, devices, attrs), by content.
#
# Computed at ingest, or by the first export where none is stored
# (:class:`mgstore.export.imported.ImportForm`), so that exports, in any process, skip that
# work. ``form_version`` changes when mgstore's import normalisation does; rows of other
# versions are ignored.
IMPORT_FORMS = Table(
    "import_forms",
    metadata,
    Column("content_hash", String(64), primary_key=True),
    Column("form_version", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),  # of data, checked on read
)


# Exports between "about to publish" and "published and recorded" (see docs/durability.md).
#
# A row is committed before an export touches the file system and removed once its files
# are in place, its audit record committed and its backups gone; a row that outlives its
# owner (a crash) tells :mod:`mgstore.journal` what to undo. ``files`` is JSON: for each
# file, its target, temporary, backup and "no previous file" marker paths and the SHA-256 of
# the new bytes. ``state`` is ``pending`` until the audit record commits, then ``recorded``.
# ``host``, ``pid`` and ``started`` say which process owns the row (on PostgreSQL the owner
# also holds an advisory lock while it lives). Not part of the audit chain: rows come and go.
EXPORT_JOURNAL = Table(
    "export_journal",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("path", Text, nullable=False),
    Column("files", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("host", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("state IN ('pending', 'recorded')", name="ck_export_journal_state"),
    Index("ix_export_journal_path", "path"),
)


# A retired version (``mgstore rm``): one row while it is deleted, removed by a restore.
#
# A deleted version is hidden from the log and from refs; ``collected_at`` is set once
# ``gc`` has removed the content only it used (then it can no longer be restored). The
# version row itself stays, so that audit records of its exports keep their reference.
VERSION_STATES = Table(
    "version_states",
    metadata,
    Column("version_id", ForeignKey("versions.id"), primary_key=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
    Column("deleted_by", String(256), nullable=False),
    Column("collected_at", DateTime(timezone=True)),
)


# A movable name for one version of a graph (``resnet@production``); its moves are in
# ``lifecycle_events``.
ALIASES = Table(
    "aliases",
    metadata,
    Column("graph_id", ForeignKey("graphs.id"), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("version_id", ForeignKey("versions.id"), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(256), nullable=False),
    Index("ix_aliases_version", "version_id"),
)


# Append-only history of alias moves, tag changes, deletions, restores and GC runs
# (see :mod:`mgstore.db.lifecycle`). Triggers (migration 0005) refuse UPDATE and DELETE.
LIFECYCLE_EVENTS = Table(
    "lifecycle_events",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("graph", String(512)),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("username", String(256), nullable=False),
    Column("hostname", String(256), nullable=False),
    Index("ix_lifecycle_events_graph", "graph", "kind"),
)


# The tamper-evident log of every change to the store (see :mod:`mgstore.audit` and
# docs/audit.md): one row per change, of any ``kind`` (``ingest``, ``export``, ``tag``...),
# in one hash chain, appended in the transaction that makes the change.
#
# ``payload`` is the canonical JSON of what the change was; ``record_hash`` is SHA-256 (or,
# with ``signed``, HMAC-SHA256 under a key kept outside the database) of ``prev_hash``
# followed by the canonical JSON of the other columns. Triggers (migration 0006) refuse
# UPDATE and DELETE; ``audit_head`` holds the last record's ``seq`` and hash.
#
# ``graph`` and ``number`` repeat the version (or graph) the payload names, for the index
# that reads use to find a version's records (migration 0009); they are not part of the
# link, and ``audit check`` compares them with the payload.
AUDIT_EVENTS = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("username", String(256), nullable=False),
    Column("hostname", String(256), nullable=False),
    Column("signed", Boolean, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("graph", String(512)),
    Column("number", Integer),
    UniqueConstraint("record_hash", name="uq_audit_events_record_hash"),
    Index("ix_audit_events_kind", "kind"),
    Index("ix_audit_events_version", "graph", "number"),
)


# A part of a version's outline (its names, ops, devices, edges or collection members),
# encoded and compressed by :mod:`mgstore.db.outlines`, keyed by the SHA-256 of ``data``
# (checked on read): versions share the parts they have in common. Derived from the node,
# edge and collection rows at ingest; ``fsck`` compares the outline with them.
OUTLINE_PARTS = Table(
    "outline_parts",
    metadata,
    Column("sha256", LargeBinary(32), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)


# The parts of a version's outline (one row per version; gc removes collected ones').
VERSION_OUTLINES = Table(
    "version_outlines",
    metadata,
    Column("version_id", ForeignKey("versions.id"), primary_key=True),
    Column("names", ForeignKey("outline_parts.sha256"), nullable=False),
    Column("ops", ForeignKey("outline_parts.sha256"), nullable=False),
    Column("devices", ForeignKey("outline_parts.sha256"), nullable=False),
    Column("edges", ForeignKey("outline_parts.sha256"), nullable=False),
    Column("collections", ForeignKey("outline_parts.sha256"), nullable=False),
)

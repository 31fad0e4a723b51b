"""The SQL schema: SQLAlchemy table definitions, owned by the Alembic migrations in migrations/.

How a graph is kept (content-addressed, so a version costs about its change, not its size):

* ``packs``: the NodeDefs an ingest brought that the store did not hold yet (by SHA-256),
  each framed as a GraphDef ``node`` field and concatenated, in rows of at most 256 KiB.
* ``nodes``: one row per node *while its content stays the same*: ``first_version`` and
  ``last_version`` (NULL while it is still current) bound the versions of its graph that
  contain it, so an unchanged node adds no row to a new version. Each row has its content's
  SHA-256 and where those bytes sit (pack, offset, length), and the columns that queries
  filter on (name, op), indexed. Identical content anywhere in the store is found by its hash
  and its bytes stored once.
* ``edges``: the inputs of each node row, by slot (data and control, with output indexes),
  indexed by a 32-bit key of the source's name (docs/storage.md §3.5).
* ``blobs``: every other distinct serialized part (the graph-level frame of a MetaGraphDef,
  a CollectionDef, a GraphDebugInfo) once, keyed by its SHA-256.
* ``versions``: one row per immutable, numbered version, with its node order as a compressed
  array of locations and the blobs that frame the nodes, so a checkout joins byte slices; and
  its input form, with the exact bytes that went in as a delta blob against that form's
  canonical encoding (:mod:`mgstore.original`).
* ``collections``: each version's collections, each naming its CollectionDef's blob and the
  blob that lists the op names it refers to (JSON, keyed by its SHA-256), for collection
  queries.
* ``outline_parts`` and ``version_outlines``: each version's outline (what pictures need),
  made at ingest and kept in compressed, content-addressed parts (:mod:`mgstore.db.outlines`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Blob(Base):
    __tablename__ = "blobs"

    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Pack(Base):
    __tablename__ = "packs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Graph(Base):
    __tablename__ = "graphs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(512), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("graph_id", "number", name="uq_versions_graph_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    debug_hash: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(256), nullable=False)
    node_count: Mapped[int] = mapped_column(Integer, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    node_order: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    has_graph_def: Mapped[bool] = mapped_column(Boolean, nullable=False)
    head_sha256: Mapped[bytes] = mapped_column(ForeignKey("blobs.sha256"), nullable=False)
    graph_tail_sha256: Mapped[bytes] = mapped_column(ForeignKey("blobs.sha256"), nullable=False)
    tail_sha256: Mapped[bytes] = mapped_column(ForeignKey("blobs.sha256"), nullable=False)
    debug_sha256: Mapped[bytes | None] = mapped_column(ForeignKey("blobs.sha256"))
    source_path: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    source_format: Mapped[str | None] = mapped_column(String(64))
    #: What went in and what a checkout gives back (mgstore.original, docs/storage.md §10):
    #: the input form; the SHA-256 and size of the exact bytes (NULL: the canonical encoding
    #: of the form, as for versions stored before revision 0007); the blob holding their delta
    #: against that encoding (NULL: none needed); a SavedModel's chosen MetaGraphDef.
    form: Mapped[str] = mapped_column(String(32), nullable=False, server_default="meta")
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    original_size: Mapped[int | None] = mapped_column(BigInteger)
    original_delta_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    meta_graph_index: Mapped[int | None] = mapped_column(Integer)


class Tag(Base):
    __tablename__ = "version_tags"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (
        # (name, graph_id) serves scope queries within a graph and content lookups across
        # graphs alike: identical NodeDef bytes always carry the same name.
        Index("ix_nodes_name_graph", "name", "graph_id"),
        Index("ix_nodes_graph_op", "graph_id", "op"),
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

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id"), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    op: Mapped[str] = mapped_column(Text, nullable=False)
    device: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id"), nullable=False)
    offset: Mapped[int] = mapped_column(Integer, nullable=False)
    length: Mapped[int] = mapped_column(Integer, nullable=False)
    first_version: Mapped[int] = mapped_column(Integer, nullable=False)
    last_version: Mapped[int | None] = mapped_column(Integer)
    #: The 32-bit key of ``name`` (mgstore.db.versions.name_key) that edge rows index their
    #: sources by (docs/storage.md §3.5). Every writer fills it (NULL only as SQLite's ALTER
    #: TABLE adds a column); fsck checks it against the name.
    name_key: Mapped[int | None] = mapped_column(Integer)


class Edge(Base):
    """The inputs of a node row, by slot (a node row's content never changes).

    The rows that name a source are found by the 32-bit key of its name (``src_key``,
    indexed), then by the name: an index of the names themselves repeated each one
    (docs/storage.md §3.5).
    """

    __tablename__ = "edges"
    __table_args__ = (Index("ix_edges_src_key", "src_key"), {"sqlite_with_rowid": False})

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    src_name: Mapped[str] = mapped_column(Text, nullable=False)
    src_output: Mapped[int] = mapped_column(Integer, nullable=False)
    control: Mapped[bool] = mapped_column(Boolean, nullable=False)
    #: mgstore.db.versions.name_key of ``src_name`` (NULL only as for ``nodes.name_key``).
    src_key: Mapped[int | None] = mapped_column(Integer)


class Collection(Base):
    __tablename__ = "collections"
    # Which collections already hold a CollectionDef: asked by every ingest (docs/storage.md §7).
    __table_args__ = (Index("ix_collections_blob", "blob_sha256"),)

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    blob_sha256: Mapped[bytes] = mapped_column(ForeignKey("blobs.sha256"), nullable=False)
    #: The digest of the op names the collection refers to (mgstore.db.versions.members_digest),
    #: and the key of the blob that lists them (docs/storage.md §5), checked on every read.
    members_sha256: Mapped[str] = mapped_column(String(64), nullable=False)


class Export(Base):
    """The audit log of exports (see :mod:`mgstore.audit`): append-only, one row per export,
    successful (``ok``) or ``failed``, chained by hashes.

    ``seq`` numbers the records 1, 2, 3... in the order they were appended; ``record_hash`` is
    the SHA-256 of ``prev_hash`` (the previous record's ``record_hash``, 64 zeros for the first)
    followed by the canonical JSON of every other column. The graph name, version number and
    content hash are kept beside ``version_id`` so that a record says what it exported by itself.
    Triggers (migration 0002) refuse UPDATE and DELETE; a later migration that rebuilds this
    table (SQLite's batch mode does) must create them again.
    """

    __tablename__ = "exports"
    __table_args__ = (
        UniqueConstraint("id", name="uq_exports_id"),
        UniqueConstraint("record_hash", name="uq_exports_record_hash"),
        CheckConstraint("status IN ('ok', 'failed')", name="ck_exports_status"),
        Index("ix_exports_sha256", "sha256"),
        Index("ix_exports_debug_sha256", "debug_sha256"),
        Index("ix_exports_graph", "graph"),
        Index("ix_exports_created_at", "created_at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("versions.id"))
    graph: Mapped[str | None] = mapped_column(String(512))
    version: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[str | None] = mapped_column(Text)
    options: Mapped[str] = mapped_column(Text, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    debug_path: Mapped[str | None] = mapped_column(Text)
    debug_sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    username: Mapped[str] = mapped_column(String(256), nullable=False)
    hostname: Mapped[str] = mapped_column(String(256), nullable=False)
    mgstore_version: Mapped[str] = mapped_column(String(64), nullable=False)
    protobuf_version: Mapped[str] = mapped_column(String(64), nullable=False)
    duration: Mapped[float] = mapped_column(Double, nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class AuditHead(Base):
    """The end of the export chain, one row: the last record's ``seq`` and ``record_hash``.

    Appenders lock it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock covers it),
    and ``audit check`` compares it with the last record, so that records removed from the end
    of the log are noticed too.
    """

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_audit_head_single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class ImportFormRow(Base):
    """How TensorFlow's import changes a stored graph (node order, devices, attrs), by content.

    Computed by the first export of a version (:class:`mgstore.export.imported.ImportForm`)
    and kept so that later exports, in any process, skip that work. ``form_version`` changes
    when mgstore's import normalisation does; rows of other versions are ignored.
    """

    __tablename__ = "import_forms"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    form_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)  # of data, checked on read


class ExportJournal(Base):
    """Exports between "about to publish" and "published and recorded" (see docs/durability.md).

    A row is committed before an export touches the file system and removed once its files
    are in place, its audit record committed and its backups gone; a row that outlives its
    owner (a crash) tells :mod:`mgstore.journal` what to undo. ``files`` is JSON: for each
    file, its target, temporary, backup and "no previous file" marker paths and the SHA-256 of
    the new bytes. ``state`` is ``pending`` until the audit record commits, then ``recorded``.
    ``host``, ``pid`` and ``started`` say which process owns the row (on PostgreSQL the owner
    also holds an advisory lock while it lives). Not part of the audit chain: rows come and go.
    """

    __tablename__ = "export_journal"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'recorded')", name="ck_export_journal_state"),
        Index("ix_export_journal_path", "path"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    files: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    host: Mapped[str] = mapped_column(String(256), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    started: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class VersionState(Base):
    """A retired version (``mgstore rm``): one row while it is deleted, removed by a restore.

    A deleted version is hidden from the log and from refs; ``collected_at`` is set once
    ``gc`` has removed the content only it used (then it can no longer be restored). The
    version row itself stays, so that audit records of its exports keep their reference.
    """

    __tablename__ = "version_states"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    deleted_by: Mapped[str] = mapped_column(String(256), nullable=False)
    collected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Alias(Base):
    """A movable name for one version of a graph (``resnet@production``); its moves are in
    ``lifecycle_events``."""

    __tablename__ = "aliases"
    __table_args__ = (Index("ix_aliases_version", "version_id"),)

    graph_id: Mapped[int] = mapped_column(ForeignKey("graphs.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(String(256), nullable=False)


class LifecycleEvent(Base):
    """Append-only history of alias moves, tag changes, deletions, restores and GC runs
    (see :mod:`mgstore.db.lifecycle`). Triggers (migration 0005) refuse UPDATE and DELETE."""

    __tablename__ = "lifecycle_events"
    __table_args__ = (Index("ix_lifecycle_events_graph", "graph", "kind"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    graph: Mapped[str | None] = mapped_column(String(512))
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    username: Mapped[str] = mapped_column(String(256), nullable=False)
    hostname: Mapped[str] = mapped_column(String(256), nullable=False)


class AuditEventRow(Base):
    """The tamper-evident log of every change to the store (see :mod:`mgstore.audit` and
    docs/audit.md): one row per change, of any ``kind`` (``ingest``, ``export``, ``tag``...),
    in one hash chain, appended in the transaction that makes the change.

    ``payload`` is the canonical JSON of what the change was; ``record_hash`` is SHA-256 (or,
    with ``signed``, HMAC-SHA256 under a key kept outside the database) of ``prev_hash``
    followed by the canonical JSON of the other columns. Triggers (migration 0006) refuse
    UPDATE and DELETE; ``audit_head`` holds the last record's ``seq`` and hash.

    ``graph`` and ``number`` repeat the version (or graph) the payload names, for the index
    that reads use to find a version's records (migration 0009); they are not part of the
    link, and ``audit check`` compares them with the payload.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("record_hash", name="uq_audit_events_record_hash"),
        Index("ix_audit_events_kind", "kind"),
        Index("ix_audit_events_version", "graph", "number"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    username: Mapped[str] = mapped_column(String(256), nullable=False)
    hostname: Mapped[str] = mapped_column(String(256), nullable=False)
    signed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    graph: Mapped[str | None] = mapped_column(String(512))
    number: Mapped[int | None] = mapped_column(Integer)


class OutlinePart(Base):
    """A part of a version's outline (its names, ops, devices, edges or collection members),
    encoded and compressed by :mod:`mgstore.db.outlines`, keyed by the SHA-256 of ``data``
    (checked on read): versions share the parts they have in common. Derived from the node,
    edge and collection rows at ingest; ``fsck`` compares the outline with them."""

    __tablename__ = "outline_parts"

    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class VersionOutline(Base):
    """The parts of a version's outline (one row per version; gc removes collected ones')."""

    __tablename__ = "version_outlines"

    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), primary_key=True)
    names: Mapped[bytes] = mapped_column(ForeignKey("outline_parts.sha256"), nullable=False)
    ops: Mapped[bytes] = mapped_column(ForeignKey("outline_parts.sha256"), nullable=False)
    devices: Mapped[bytes] = mapped_column(ForeignKey("outline_parts.sha256"), nullable=False)
    edges: Mapped[bytes] = mapped_column(ForeignKey("outline_parts.sha256"), nullable=False)
    collections: Mapped[bytes] = mapped_column(ForeignKey("outline_parts.sha256"), nullable=False)

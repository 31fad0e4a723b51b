"""One chain for the whole history, and hashes for every stored part that reads check.

* ``audit_events``: every change to the store, of any kind, in one hash chain (append-only:
  triggers refuse UPDATE, DELETE and TRUNCATE, as on ``exports``). ``audit_head`` now ends
  this chain.
* Existing stores get their history: one ``ingest`` record per existing version and one
  ``export`` record per existing export, merged in the order they happened (by time; at equal
  times, ingests before exports; versions by id, exports by their old number), signed when
  ``$MGSTORE_AUDIT_KEY`` is set during the upgrade. The rows of existing exports keep their
  old links; their records keep each row's digest.
* ``collections.members_sha256`` and ``import_forms.sha256``: digests that reads check.

Downgrade drops the chain and the digests, and links the ``exports`` rows again as one chain
of their own (as revision 0002 keeps them).

The records are made with mgstore's own functions for them (mgstore.audit), so that what
this revision writes is exactly what ``audit check`` of this revision expects.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 04:00:00
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSED = "the audit log is append-only"
PG_TRIGGERS = [
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION mgstore_audit_refuse()",
]
SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on audit_events refused'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
    f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on audit_events refused'); END",
]
# Revision 0002's triggers that this revision steps around while it relinks.
HEAD_TRIGGER = {
    "postgresql": (
        "DROP TRIGGER audit_head_forward_only ON audit_head",
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head FOR EACH ROW"
        " WHEN (NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1)"
        " EXECUTE FUNCTION mgstore_audit_refuse()",
    ),
    "sqlite": (
        "DROP TRIGGER audit_head_forward_only",
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head"
        " WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1"
        f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on audit_head refused'); END",
    ),
}
EXPORTS_TRIGGER = {
    "postgresql": (
        "DROP TRIGGER exports_append_only ON exports",
        "CREATE TRIGGER exports_append_only BEFORE UPDATE OR DELETE ON exports"
        " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()",
    ),
    "sqlite": (
        "DROP TRIGGER exports_no_update",
        "CREATE TRIGGER exports_no_update BEFORE UPDATE ON exports"
        f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE on exports refused'); END",
    ),
}

meta = sa.MetaData()
graphs_t = sa.Table("graphs", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String))
tags_t = sa.Table(
    "version_tags", meta, sa.Column("version_id"), sa.Column("key"), sa.Column("value")
)
collections_t = sa.Table(
    "collections", meta, sa.Column("version_id"), sa.Column("key"), sa.Column("blob_sha256"),
    sa.Column("members_sha256"),
)  # fmt: skip
members_t = sa.Table(
    "collection_members", meta, sa.Column("blob_sha256"), sa.Column("key"),
    sa.Column("node_name"),
)  # fmt: skip
forms_t = sa.Table(
    "import_forms", meta, sa.Column("content_hash"), sa.Column("form_version"),
    sa.Column("data"), sa.Column("sha256"),
)  # fmt: skip
head_t = sa.Table("audit_head", meta, sa.Column("id"), sa.Column("seq"), sa.Column("record_hash"))


def upgrade() -> None:
    op.add_column("collections", sa.Column("members_sha256", sa.String(length=64), nullable=True))
    op.add_column("import_forms", sa.Column("sha256", sa.String(length=64), nullable=True))
    _fill_digests()
    with op.batch_alter_table("collections") as batch_op:
        batch_op.alter_column("members_sha256", existing_type=sa.String(64), nullable=False)
    with op.batch_alter_table("import_forms") as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(64), nullable=False)

    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("hostname", sa.String(length=256), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("record_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("record_hash", name="uq_audit_events_record_hash"),
    )
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.create_index("ix_audit_events_kind", ["kind"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in PG_TRIGGERS if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    _record_history()


def downgrade() -> None:
    _relink_exports()
    op.drop_table("audit_events")  # its triggers go with it
    with op.batch_alter_table("import_forms") as batch_op:
        batch_op.drop_column("sha256")
    with op.batch_alter_table("collections") as batch_op:
        batch_op.drop_column("members_sha256")


# ------------------------------------------------------------------------------------------
# Upgrade: digests and history


def _fill_digests() -> None:
    from mgstore.db.versions import members_digest

    conn = op.get_bind()
    members: dict[tuple[bytes, str], list[str]] = {}
    for sha, key, name in conn.execute(sa.select(members_t)):
        members.setdefault((bytes(sha), key), []).append(name)
    for version_id, key, sha in conn.execute(
        sa.select(collections_t.c.version_id, collections_t.c.key, collections_t.c.blob_sha256)
    ).all():
        conn.execute(
            collections_t.update()
            .where(collections_t.c.version_id == version_id, collections_t.c.key == key)
            .values(members_sha256=members_digest(members.get((bytes(sha), key), [])))
        )
    for content_hash, form_version, data in conn.execute(
        sa.select(forms_t.c.content_hash, forms_t.c.form_version, forms_t.c.data)
    ).all():
        conn.execute(
            forms_t.update()
            .where(forms_t.c.content_hash == content_hash, forms_t.c.form_version == form_version)
            .values(sha256=hashlib.sha256(bytes(data)).hexdigest())
        )


def _record_history() -> None:
    """One record per existing version and export, in the order they happened, linked."""
    from mgstore.audit.canonical import canonical_json
    from mgstore.audit.events import GENESIS, audit_key, link_hash
    from mgstore.audit.history import version_fields
    from mgstore.audit.log import export_payload
    from mgstore.audit.log import normalized as export_row

    conn = op.get_bind()
    events_t = sa.Table("audit_events", sa.MetaData(), autoload_with=conn)
    exports_t = sa.Table("exports", sa.MetaData(), autoload_with=conn)
    versions_t = sa.Table("versions", sa.MetaData(), autoload_with=conn)
    tags: dict[int, dict[str, str]] = {}
    for version_id, key, value in conn.execute(sa.select(tags_t)):
        tags.setdefault(int(version_id), {})[key] = value
    history: list[tuple[datetime, int, int, str, dict[str, Any], str, str]] = []
    rows = conn.execute(
        sa.select(versions_t, graphs_t.c.name.label("graph_name")).join(
            graphs_t, graphs_t.c.id == versions_t.c.graph_id
        )
    ).all()
    for row in rows:
        payload = version_fields(row._mapping, row.graph_name)
        payload["tags"] = tags.get(int(row.id), {})
        user, _, host = str(row.created_by).rpartition("@")
        when = _utc(row.created_at)
        history.append((when, 0, int(row.id), "ingest", payload, user or "unknown", host))
    for row in conn.execute(sa.select(exports_t)).all():
        values = export_row(row._mapping)
        user, host = values["username"], values["hostname"]
        payload = export_payload(values)
        history.append((values["created_at"], 1, values["seq"], "export", payload, user, host))
    history.sort(key=lambda item: item[:3])
    key = audit_key()
    prev_hash, seq = GENESIS, 0
    for when, _, _, kind, payload, user, host in history:
        seq += 1
        values = {"seq": seq, "kind": kind, "payload": canonical_json(payload),
                  "created_at": when, "username": user[:256], "hostname": host[:256],
                  "signed": key is not None, "prev_hash": prev_hash}  # fmt: skip
        values["record_hash"] = link_hash(values, key)
        conn.execute(events_t.insert(), values)
        prev_hash = values["record_hash"]
    _set_head(seq, prev_hash)


def _set_head(seq: int, record_hash: str) -> None:
    """Point the head at (seq, record_hash), around revision 0002's forward-only trigger."""
    conn = op.get_bind()
    drop, create = HEAD_TRIGGER.get(conn.dialect.name, (None, None))
    if drop:
        op.execute(drop)
    if conn.execute(sa.select(head_t.c.id)).first() is None:
        if seq:
            conn.execute(head_t.insert().values(id=1, seq=seq, record_hash=record_hash))
    else:
        conn.execute(head_t.update().values(seq=seq, record_hash=record_hash))
    if create:
        op.execute(create)


def _utc(value: datetime) -> datetime:
    return (
        value.replace(tzinfo=timezone.utc)
        if value.tzinfo is None
        else value.astimezone(timezone.utc)
    )


# ------------------------------------------------------------------------------------------
# Downgrade: the exports as one chain of their own again


def _relink_exports() -> None:
    """Number the exports 1, 2, 3... in order and link them as revision 0002 does: SHA-256 of
    the previous hash and the canonical JSON of every other column."""
    from mgstore.audit.canonical import canonical_json
    from mgstore.audit.events import GENESIS
    from mgstore.audit.log import _HASHED
    from mgstore.audit.log import normalized as export_row

    conn = op.get_bind()
    exports_t = sa.Table("exports", sa.MetaData(), autoload_with=conn)
    drop, create = EXPORTS_TRIGGER.get(conn.dialect.name, (None, None))
    if drop:
        op.execute(drop)
    prev_hash, seq = GENESIS, 0
    for row in conn.execute(sa.select(exports_t).order_by(exports_t.c.seq)).all():
        seq += 1
        values = export_row(row._mapping)
        old_seq = values["seq"]
        values["seq"], values["prev_hash"] = seq, prev_hash
        fields = {name: values[name] for name in _HASHED}
        fields["created_at"] = values["created_at"].isoformat(timespec="microseconds")
        record_hash = hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()
        conn.execute(
            exports_t.update()
            .where(exports_t.c.seq == old_seq)
            .values(seq=seq, prev_hash=prev_hash, record_hash=record_hash)
        )
        prev_hash = record_hash
    if create:
        op.execute(create)
    head_drop, _ = HEAD_TRIGGER.get(conn.dialect.name, (None, None))
    if seq == 0 and conn.execute(sa.select(head_t.c.id)).first() is not None:
        # No exports: no head, as revision 0002 starts (its delete trigger stepped around).
        no_delete = {
            "postgresql": ("DROP TRIGGER audit_head_no_delete ON audit_head",
                           "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head"
                           " FOR EACH ROW EXECUTE FUNCTION mgstore_audit_refuse()"),
            "sqlite": ("DROP TRIGGER audit_head_no_delete",
                       "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head"
                       f" BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE on audit_head refused');"
                       " END"),
        }.get(conn.dialect.name)  # fmt: skip
        if no_delete:
            op.execute(no_delete[0])
        conn.execute(head_t.delete())
        if no_delete:
            op.execute(no_delete[1])
        return
    if head_drop is not None or seq:
        _set_head(seq, prev_hash)

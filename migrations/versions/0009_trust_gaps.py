"""The chain indexed by version, for reads that check a version's metadata against it.

* ``audit_events.graph`` and ``audit_events.number``: the graph and version number a record's
  payload names (NULL where it names none), indexed (``ix_audit_events_version``), so that a
  read that prints a version's message, author, time or tags finds its ``ingest`` and ``tag``
  records cheaply (docs/audit.md, "Version metadata checked on read"). They are not part of
  a record's link; ``audit check`` compares them with the payload. Existing records get them
  here (around revision 0006's append-only trigger, which is the same again afterwards).

* PostgreSQL: guards that let a writer role (one that does not own the tables, see
  docs/postgres-roles.md and ``mgstore db grant``) run every lifecycle command and nothing
  else. Row triggers refuse what no lifecycle command does: a version row changes only when
  gc clears a collected version; node rows, edges, collections and outlines go only when no
  version that uses them is left uncollected; collection members only when no collection
  names them; blobs only when no export record names them; a collected version cannot be
  un-deleted or un-collected. Constraint triggers, checked at commit, refuse a version
  without its ingest record, and tags, aliases and deletions that differ from what the audit
  chain last recorded of them (and a collected version that no ``gc`` record names). They
  do not apply to the tables' owner, who can drop them anyway.

Downgrade drops the guards, the two columns and their index.

Revision ID: 0009_trust_gaps
Revises: 0008_outlines
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_trust_gaps"
down_revision: str | None = "0008_outlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revision 0006's trigger that refuses UPDATE on audit_events, stepped around while the new
# columns are filled (and created again exactly as 0006 makes it).
UPDATE_TRIGGER = {
    "postgresql": (
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only",
    ),
    "sqlite": (
        "DROP TRIGGER audit_events_no_update",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE on audit_events"
        " refused'); END",
    ),
}

events_t = sa.Table(
    "audit_events", sa.MetaData(), sa.Column("seq"), sa.Column("payload"),
    sa.Column("graph"), sa.Column("number"),
)  # fmt: skip


# ------------------------------------------------------------------------------------------
# PostgreSQL guards for writer roles (docs/postgres-roles.md, "Lifecycle commands as a writer")

_REFUSE = (
    "RAISE EXCEPTION 'permission denied for a writer: %', what "
    "USING ERRCODE = 'insufficient_privilege'"
)
PG_FUNCTIONS = [
    # Whether the guards apply: to every role but the tables' owner (and superusers).
    """CREATE FUNCTION mgstore_guarded(relid oid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = relid),
                           'MEMBER')
$$""",
    f"""CREATE FUNCTION mgstore_guard_refuse(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    {_REFUSE};
END
$$""",
    # Whether a version of graph g between first_ and last_ (NULL: open) is not collected.
    """CREATE FUNCTION mgstore_uncollected_in(g integer, first_ integer, last_ integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM versions v
        WHERE v.graph_id = g AND v.number >= first_ AND (last_ IS NULL OR v.number <= last_)
          AND NOT EXISTS (SELECT 1 FROM version_states s
                          WHERE s.version_id = v.id AND s.collected_at IS NOT NULL))
$$""",
    """CREATE FUNCTION mgstore_collected(vid integer) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM version_states s
                   WHERE s.version_id = vid AND s.collected_at IS NOT NULL)
$$""",
    """CREATE FUNCTION mgstore_guard_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND (NEW.node_order <> ''::bytea
            OR NEW.debug_sha256 IS NOT NULL OR NEW.original_delta_sha256 IS NOT NULL
            OR NOT mgstore_collected(OLD.id)) THEN
        PERFORM mgstore_guard_refuse(
            'a version row changes only when gc clears a collected version');
    END IF;
    RETURN NEW;
END
$$""",
    """CREATE FUNCTION mgstore_guard_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID)
            AND mgstore_uncollected_in(OLD.graph_id, OLD.first_version, OLD.last_version) THEN
        PERFORM mgstore_guard_refuse('node ' || OLD.name || ' is in a version not collected');
    END IF;
    RETURN OLD;
END
$$""",
    """CREATE FUNCTION mgstore_guard_edges() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n record;
BEGIN
    IF mgstore_guarded(TG_RELID) THEN
        SELECT graph_id, first_version, last_version INTO n FROM nodes WHERE id = OLD.node_id;
        IF FOUND AND mgstore_uncollected_in(n.graph_id, n.first_version, n.last_version) THEN
            PERFORM mgstore_guard_refuse('the edges of a node in a version not collected');
        END IF;
    END IF;
    RETURN OLD;
END
$$""",
    """CREATE FUNCTION mgstore_guard_collections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND NOT mgstore_collected(OLD.version_id) THEN
        PERFORM mgstore_guard_refuse('the collections of a version not collected');
    END IF;
    RETURN OLD;
END
$$""",
    """CREATE FUNCTION mgstore_guard_outlines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND NOT mgstore_collected(OLD.version_id) THEN
        PERFORM mgstore_guard_refuse('the outline of a version not collected');
    END IF;
    RETURN OLD;
END
$$""",
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
    """CREATE FUNCTION mgstore_guard_blobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND EXISTS (
            SELECT 1 FROM exports x
            WHERE strpos(x.options, encode(OLD.sha256, 'hex')) > 0) THEN
        PERFORM mgstore_guard_refuse('a blob that an export record names');
    END IF;
    RETURN OLD;
END
$$""",
    """CREATE FUNCTION mgstore_guard_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF mgstore_guarded(TG_RELID) AND OLD.collected_at IS NOT NULL THEN
        PERFORM mgstore_guard_refuse('a collected version stays collected');
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$""",
    # Checked at commit: the state of a row agrees with the chain's last word on it.
    """CREATE FUNCTION mgstore_check_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_graph text;
BEGIN
    IF mgstore_guarded(TG_RELID) THEN
        SELECT name INTO v_graph FROM graphs WHERE id = NEW.graph_id;
        IF NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.graph = v_graph
                       AND e.number = NEW.number AND e.kind = 'ingest') THEN
            PERFORM mgstore_guard_refuse(
                'version ' || v_graph || '@' || NEW.number || ' has no ingest record');
        END IF;
    END IF;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION mgstore_check_tag() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
    v_key text;
    v_graph text;
    v_number integer;
    v_now text;
    v_recorded text;
    r record;
BEGIN
    IF NOT mgstore_guarded(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        v_id := OLD.version_id; v_key := OLD.key;
    ELSE
        v_id := NEW.version_id; v_key := NEW.key;
    END IF;
    SELECT g.name, v.number INTO v_graph, v_number
        FROM versions v JOIN graphs g ON g.id = v.graph_id WHERE v.id = v_id;
    SELECT t.value INTO v_now FROM version_tags t WHERE t.version_id = v_id AND t.key = v_key;
    FOR r IN SELECT e.kind, e.payload::jsonb AS p FROM audit_events e
             WHERE e.graph = v_graph AND e.number = v_number AND e.kind IN ('ingest', 'tag')
             ORDER BY e.seq DESC LOOP
        IF r.kind = 'ingest' THEN
            v_recorded := r.p -> 'tags' ->> v_key;
            EXIT;
        ELSIF r.p ->> 'key' = v_key THEN
            v_recorded := r.p ->> 'value';
            EXIT;
        END IF;
    END LOOP;
    IF v_recorded IS DISTINCT FROM v_now THEN
        PERFORM mgstore_guard_refuse('tag ' || v_key || ' of ' || v_graph || '@' || v_number
                                     || ' differs from its record in the audit chain');
    END IF;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION mgstore_check_alias() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_graph_id integer;
    v_alias text;
    v_graph text;
    v_now integer;
    v_by text;
    v_recorded integer;
    v_recorded_by text;
    r record;
BEGIN
    IF NOT mgstore_guarded(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        v_graph_id := OLD.graph_id; v_alias := OLD.name;
    ELSE
        v_graph_id := NEW.graph_id; v_alias := NEW.name;
    END IF;
    SELECT name INTO v_graph FROM graphs WHERE id = v_graph_id;
    SELECT v.number, a.updated_by INTO v_now, v_by
        FROM aliases a JOIN versions v ON v.id = a.version_id
        WHERE a.graph_id = v_graph_id AND a.name = v_alias;
    FOR r IN SELECT e.kind, e.payload::jsonb AS p, e.username, e.hostname FROM audit_events e
             WHERE e.graph = v_graph AND e.kind IN ('alias_set', 'alias_removed')
             ORDER BY e.seq DESC LOOP
        IF r.p ->> 'alias' = v_alias THEN
            IF r.kind = 'alias_set' THEN
                v_recorded := (r.p ->> 'number')::integer;
                v_recorded_by := r.username || '@' || r.hostname;
            END IF;
            EXIT;
        END IF;
    END LOOP;
    IF v_recorded IS DISTINCT FROM v_now OR v_recorded_by IS DISTINCT FROM v_by THEN
        PERFORM mgstore_guard_refuse('alias ' || v_graph || '@' || v_alias
                                     || ' differs from its record in the audit chain');
    END IF;
    RETURN NULL;
END
$$""",
    """CREATE FUNCTION mgstore_check_state() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_id integer;
    v_graph text;
    v_number integer;
    v_deleted boolean;
    v_collected timestamptz;
    v_last text;
BEGIN
    IF NOT mgstore_guarded(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        v_id := OLD.version_id;
    ELSE
        v_id := NEW.version_id;
    END IF;
    SELECT g.name, v.number INTO v_graph, v_number
        FROM versions v JOIN graphs g ON g.id = v.graph_id WHERE v.id = v_id;
    SELECT collected_at INTO v_collected FROM version_states WHERE version_id = v_id;
    v_deleted := FOUND;
    SELECT e.kind INTO v_last FROM audit_events e
        WHERE e.graph = v_graph AND e.number = v_number AND e.kind IN ('delete', 'restore')
        ORDER BY e.seq DESC LIMIT 1;
    IF COALESCE(v_last = 'delete', false) <> v_deleted THEN
        PERFORM mgstore_guard_refuse('the deletion of ' || v_graph || '@' || v_number
                                     || ' differs from its record in the audit chain');
    END IF;
    IF v_collected IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM audit_events e WHERE e.kind = 'gc'
            AND e.payload::jsonb -> 'versions' @> to_jsonb(v_graph || '@' || v_number)) THEN
        PERFORM mgstore_guard_refuse(v_graph || '@' || v_number
                                     || ' is collected, but no gc record says so');
    END IF;
    RETURN NULL;
END
$$""",
]
PG_GUARDS = [
    "CREATE TRIGGER versions_guard BEFORE UPDATE ON versions"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_versions()",
    "CREATE TRIGGER nodes_guard BEFORE DELETE ON nodes"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_nodes()",
    "CREATE TRIGGER edges_guard BEFORE DELETE ON edges"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_edges()",
    "CREATE TRIGGER collections_guard BEFORE DELETE ON collections"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_collections()",
    "CREATE TRIGGER version_outlines_guard BEFORE DELETE ON version_outlines"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_outlines()",
    "CREATE TRIGGER collection_members_guard BEFORE DELETE ON collection_members"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_members()",
    "CREATE TRIGGER blobs_guard BEFORE DELETE ON blobs"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_blobs()",
    "CREATE TRIGGER version_states_guard BEFORE UPDATE OR DELETE ON version_states"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_guard_states()",
    "CREATE CONSTRAINT TRIGGER versions_recorded AFTER INSERT ON versions"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mgstore_check_version()",
    "CREATE CONSTRAINT TRIGGER version_tags_recorded AFTER INSERT OR UPDATE OR DELETE"
    " ON version_tags DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_check_tag()",
    "CREATE CONSTRAINT TRIGGER aliases_recorded AFTER INSERT OR UPDATE OR DELETE ON aliases"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION mgstore_check_alias()",
    "CREATE CONSTRAINT TRIGGER version_states_recorded AFTER INSERT OR UPDATE OR DELETE"
    " ON version_states DEFERRABLE INITIALLY DEFERRED"
    " FOR EACH ROW EXECUTE FUNCTION mgstore_check_state()",
]


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("graph", sa.String(length=512), nullable=True))
    op.add_column("audit_events", sa.Column("number", sa.Integer(), nullable=True))
    _fill_names()
    op.create_index("ix_audit_events_version", "audit_events", ["graph", "number"])
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_FUNCTIONS + PG_GUARDS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_GUARDS:
            words = statement.split()
            name = words[3] if words[1] == "CONSTRAINT" else words[2]
            op.execute(f"DROP TRIGGER {name} ON {words[words.index('ON') + 1]}")
        for statement in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {statement.split()[2].split('(')[0]}")
    op.drop_index("ix_audit_events_version", table_name="audit_events")
    # SQLite (3.35+) and PostgreSQL both drop a column in place: no table rebuild, so the
    # append-only triggers stay.
    op.execute("ALTER TABLE audit_events DROP COLUMN number")
    op.execute("ALTER TABLE audit_events DROP COLUMN graph")


def _fill_names() -> None:
    from mgstore.audit.events import indexed_names

    conn = op.get_bind()
    named = []
    for seq, payload in conn.execute(sa.select(events_t.c.seq, events_t.c.payload)).all():
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        if isinstance(value, dict):
            graph, number = indexed_names(value)
            if graph is not None:
                named.append({"at": int(seq), "graph": graph, "number": number})
    if not named:
        return
    disable, enable = UPDATE_TRIGGER[conn.dialect.name]
    op.execute(disable)
    conn.execute(
        events_t.update()
        .where(events_t.c.seq == sa.bindparam("at"))
        .values(graph=sa.bindparam("graph"), number=sa.bindparam("number")),
        named,
    )
    op.execute(enable)

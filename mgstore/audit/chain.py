"""Checking the chain: every record against its link, its predecessor, the numbering, the head,
a head written down elsewhere, the signing key; and the store against the records.

The second part (:func:`check_references`) is what makes edited rows visible: every version
row and its tags must equal what its ingest record (and later tag records) say, every export
row must match the digest its record keeps, and every record must name what exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from mgstore.audit.entities import ChainProblem, ChainReport, ProblemKind
from mgstore.audit.events import GENESIS, audit_key, indexed_names, link_holds, normalized
from mgstore.audit.history import differences, version_fields
from mgstore.audit.log import normalized as export_normalized
from mgstore.audit.log import row_digest
from mgstore.db.tables import AUDIT_EVENTS as A
from mgstore.db.tables import AUDIT_HEAD as H
from mgstore.db.tables import EXPORTS as X
from mgstore.db.tables import GRAPHS as G
from mgstore.db.tables import VERSION_STATES
from mgstore.db.tables import VERSION_TAGS as T
from mgstore.db.tables import VERSIONS as V
from mgstore.errors import AuditError, InputError

_PAGE = 500
_REMOVING: set[str] = set()


def register_kind(kind: str, *, removes_version: bool = False) -> None:
    """Declare a kind of record whose payload names a version (``graph``, ``number``) that it
    removes: records before it may name that version although it no longer exists."""
    if removes_version:
        _REMOVING.add(kind)


def check_chain(
    conn: Connection, *, expect: str | None = None, references: bool = True
) -> ChainReport:
    """Verify the whole log: every record's link, the numbering, the head; with ``expect``
    (a head hash written down earlier) that the log still contains that record; with
    ``references`` (the default) that the store agrees with the records.

    With ``$MGSTORE_AUDIT_KEY`` set, signed links are checked with the key and the log must
    end in signed records; without it, signed links are counted as ``unverified``.
    """
    wanted = _expected_head(expect)
    scan = _Scan(audit_key())
    scan.read(conn)
    while True:
        head = conn.execute(select(H.c.seq, H.c.record_hash).where(H.c.id == 1)).first()
        if head is None or head.seq <= scan.seq:
            break
        before = scan.seq
        scan.read(conn)  # appended since the last page (PostgreSQL, read committed)
        if scan.seq == before:
            break
    problems = scan.problems
    problems.extend(_head_problems(head, scan))
    if scan.key is not None and scan.records and not scan.last_signed:
        problems.append(
            _problem(
                "unsigned",
                None,
                "the log does not end in records signed with the key: "
                "it was appended to or rewritten without it",
            )
        )
    if wanted is not None and not any(h.startswith(wanted) for h in scan.hashes):
        problems.append(
            _problem(
                "expect",
                None,
                f"the log no longer contains the head {wanted[:16]}... "
                "that was written down: it was rewritten",
            )
        )
    if references:
        problems.extend(check_references(conn, scan.payloads))
    return ChainReport(scan.records, scan.seq, scan.hash, tuple(problems), scan.unverified)


def ensure_chain(conn: Connection) -> ChainReport:
    """:func:`check_chain`, raising AuditError with the problems when the log was tampered with."""
    report = check_chain(conn)
    if not report.ok:
        shown = "; ".join(str(p) for p in report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise AuditError(
            f"the audit log was changed outside mgstore: {len(report.problems)} problem(s): "
            f"{shown}{more}"
        )
    return report


def _expected_head(expect: str | None) -> str | None:
    if expect is None:
        return None
    wanted = expect.strip().lower()
    if len(wanted) < 12 or any(c not in "0123456789abcdef" for c in wanted):
        raise InputError(
            f"--expect takes a head hash (at least 12 hexadecimal digits); got {expect!r}"
        )
    return wanted


def _head_problems(head: Any, scan: _Scan) -> list[ChainProblem]:
    if head is None:
        if scan.records:
            return [_problem("head", None, "the log's head row is missing")]
        return []
    if (head.seq, head.record_hash) == (scan.seq, scan.hash):
        return []
    if head.seq > scan.seq:
        detail = f"records were removed from the end: the log ends at record {scan.seq}"
    elif head.seq < scan.seq:
        detail = f"records were added at the end directly: the log ends at record {scan.seq}"
    else:
        detail = "the last record is not the one that was appended"
    return [
        _problem(
            "head",
            None,
            f"{detail}, but the head says record {head.seq} with hash {head.record_hash[:16]}...",
        )
    ]


def _problem(
    kind: ProblemKind,
    seq: int | None,
    detail: str,
    record_kind: str | None = None,
    export_id: str | None = None,
    ref: str | None = None,
) -> ChainProblem:
    return ChainProblem(kind, seq, export_id, detail, record_kind, ref)


@dataclass
class _Record:
    seq: int
    kind: str
    payload: dict[str, Any]


class _Scan:
    """Walks the records in ``seq`` order, checking each against its link and its predecessor."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self.records = 0
        self.seq = 0
        self.hash = GENESIS
        self.unverified = 0
        self.seen_signed = False
        self.last_signed = False
        self.hashes: list[str] = []
        self.payloads: list[_Record] = []
        self.problems: list[ChainProblem] = []

    def read(self, conn: Connection) -> None:
        while True:
            rows = conn.execute(
                select(A).where(A.c.seq > self.seq).order_by(A.c.seq).limit(_PAGE)
            ).all()
            for row in rows:
                self._check(normalized(row._mapping))
            if len(rows) < _PAGE:
                return

    def _check(self, values: dict[str, Any]) -> None:
        seq, kind = values["seq"], values["kind"]
        self.records += 1
        payload = _payload(values["payload"])
        export_id = payload.get("id") if kind == "export" else None
        if seq != self.seq + 1:
            missing = (
                f"record {self.seq + 1} is missing"
                if seq == self.seq + 2
                else f"records {self.seq + 1} to {seq - 1} are missing"
            )
            self.problems.append(_problem("gap", seq, missing, kind, export_id))
        elif values["prev_hash"] != self.hash:
            self.problems.append(
                _problem(
                    "unlinked",
                    seq,
                    f"it follows a record with hash {values['prev_hash'][:16]}..., but the "
                    f"record before it has hash {self.hash[:16]}...: records were inserted, "
                    "removed or reordered",
                    kind,
                    export_id,
                )
            )
        if not self._link_holds(values):
            self.problems.append(
                _problem(
                    "altered",
                    seq,
                    "its fields do not match its hash: it was changed",
                    kind,
                    export_id,
                )
            )
        elif (values.get("graph"), values.get("number")) != indexed_names(payload):
            self.problems.append(
                _problem(
                    "altered",
                    seq,
                    "its graph and number columns do not say what its payload names: they were "
                    "changed",
                    kind,
                    export_id,
                )
            )
        if values["signed"]:
            self.seen_signed = True
        elif self.seen_signed:
            self.problems.append(
                _problem(
                    "unsigned",
                    seq,
                    "it is not signed, but a record before it is: it was appended without the key",
                    kind,
                    export_id,
                )
            )
        self.last_signed = values["signed"]
        self.seq, self.hash = seq, values["record_hash"]
        self.hashes.append(values["record_hash"])
        self.payloads.append(_Record(seq, kind, payload))

    def _link_holds(self, values: dict[str, Any]) -> bool:
        holds = link_holds(values, self.key)
        if holds is None:
            self.unverified += 1
            return True
        return holds


def _payload(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------------------
# The store against the records


@dataclass
class _Versions:
    """The store's versions, by (graph, number): their fields and tags as rows say."""

    fields: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    tags: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    collected: set[tuple[str, int]] = field(default_factory=set)  # gc removed their content


def check_references(conn: Connection, records: Iterable[_Record]) -> list[ChainProblem]:
    """The store against the records: every version row and its tags equal their ingest and
    tag records, every export row its record's digest; every record names what exists; no
    version or export is missing its record."""
    records = list(records)
    replay = _Replay(conn, records)
    for record in records:
        replay.names_what_exists(record)
        replay.apply(record)
    problems = replay.problems
    problems.extend(_version_problems(replay.store, replay.ingested, replay.tags))
    for export_id in sorted(set(replay.exports) - replay.exported):
        problems.append(
            _problem(
                "unrecorded",
                None,
                f"export {export_id} has no record in the chain: it was added outside mgstore",
            )
        )
    return problems


class _Replay:
    """The records replayed in order: what versions, tags and exports they say exist."""

    def __init__(self, conn: Connection, records: list[_Record]) -> None:
        self.store = _read_versions(conn)
        self.exports = {row.id: export_normalized(row._mapping) for row in conn.execute(select(X))}
        self.removed = {
            (r.payload.get("graph"), r.payload.get("number"))
            for r in records
            if r.kind in _REMOVING
        }
        self.graphs = set(conn.execute(select(G.c.name)).scalars())
        self.graphs.update(graph for graph, _ in self.removed if isinstance(graph, str))
        self.problems: list[ChainProblem] = []
        self.ingested: dict[tuple[str, int], dict[str, Any]] = {}
        self.tags: dict[tuple[str, int], dict[str, str]] = {}
        self.exported: set[str] = set()

    def names_what_exists(self, record: _Record) -> None:
        """A record naming a version (or a graph) that is not in the store is forged."""
        payload, where = record.payload, _version_key(record.payload)
        graph = payload.get("graph")
        if where is None:
            if isinstance(graph, str) and graph not in self.graphs:
                self._add(record, f"it names the graph {graph!r}, which is not in the store")
            return
        if where in self.removed:
            return
        found = self.store.fields.get(where)
        if found is None:
            self._add(record, f"it names {_ref(where)}, which is not in the store", where)
        elif payload.get("content_hash") not in (None, found["content_hash"]):
            self._add(
                record,
                f"it names {_ref(where)} with content {payload.get('content_hash')}, but that "
                f"version has content {found['content_hash']}",
                where,
            )

    def apply(self, record: _Record) -> None:
        """What an ingest, tag or export record says the store holds."""
        payload, where = record.payload, _version_key(record.payload)
        if record.kind == "ingest" and where is not None:
            if where in self.ingested:
                self._add(record, f"a second ingest of {_ref(where)}", where)
            self.ingested[where] = payload
            self.tags[where] = dict(payload.get("tags") or {})
        elif record.kind == "tag" and where is not None:
            key, value = payload.get("key"), payload.get("value")
            if isinstance(key, str):
                if value is None:
                    self.tags.setdefault(where, {}).pop(key, None)
                else:
                    self.tags.setdefault(where, {})[key] = value
        elif record.kind == "export":
            self.problems.extend(_export_problems(record, self.exports))
            self.exported.add(str(payload.get("id")))

    def _add(self, record: _Record, detail: str, where: tuple[str, int] | None = None) -> None:
        ref = None if where is None else _ref(where)
        self.problems.append(_problem("reference", record.seq, detail, record.kind, ref=ref))


def _ref(where: tuple[str, int]) -> str:
    return f"{where[0]}@{where[1]}"


def _version_key(payload: dict[str, Any]) -> tuple[str, int] | None:
    graph, number = payload.get("graph"), payload.get("number")
    if isinstance(graph, str) and isinstance(number, int) and not isinstance(number, bool):
        return graph, number
    return None


def _read_versions(conn: Connection) -> _Versions:
    store = _Versions()
    names: dict[int, tuple[str, int]] = {}
    for row in conn.execute(
        select(V, G.c.name.label("graph_name")).join(G, G.c.id == V.c.graph_id)
    ):
        key = (row.graph_name, int(row.number))
        store.fields[key] = version_fields(row._mapping, row.graph_name)
        store.tags[key] = {}
        names[int(row.id)] = key
    for (version_id,) in conn.execute(
        select(VERSION_STATES.c.version_id).where(VERSION_STATES.c.collected_at.is_not(None))
    ):
        if int(version_id) in names:
            store.collected.add(names[int(version_id)])
    for version_id, tag_key, value in conn.execute(select(T.c.version_id, T.c.key, T.c.value)):
        where = names.get(int(version_id))
        if where is not None:
            store.tags[where][tag_key] = value
    return store


def _version_problems(
    store: _Versions,
    ingested: dict[tuple[str, int], dict[str, Any]],
    tags: dict[tuple[str, int], dict[str, str]],
) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    for where, fields in sorted(store.fields.items()):
        ref = f"{where[0]}@{where[1]}"
        recorded = ingested.get(where)
        if recorded is None:
            problems.append(
                _problem(
                    "unrecorded",
                    None,
                    f"version {ref} has no ingest record: it was added outside mgstore",
                    ref=ref,
                )
            )
            continue
        changed = differences(
            fields,
            recorded,
            store.tags.get(where, {}),
            tags.get(where, {}),
            collected=where in store.collected,
        )
        if changed:
            problems.append(
                _problem(
                    "mismatch",
                    None,
                    f"version {ref} differs from its records in "
                    f"{', '.join(changed)}: its row was edited",
                    ref=ref,
                )
            )
    return problems


def _export_problems(record: _Record, exports: dict[str, dict[str, Any]]) -> list[ChainProblem]:
    export_id = str(record.payload.get("id"))
    where = _version_key(record.payload)
    ref = None if where is None else _ref(where)
    row = exports.get(export_id)
    if row is None:
        return [
            _problem("reference", record.seq, "its export row is missing", "export", export_id, ref)
        ]
    if row_digest(row) != record.payload.get("row"):
        return [
            _problem(
                "mismatch",
                record.seq,
                "its export row differs from the recorded digest: the row was edited",
                "export",
                export_id,
                ref,
            )
        ]
    return []

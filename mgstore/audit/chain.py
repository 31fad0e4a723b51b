"""Checking the chain: every record against its hash, its predecessor, the numbering, the head."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from mgstore.audit.entities import ChainProblem, ChainReport
from mgstore.audit.log import GENESIS, H, X, chain_hash, normalized
from mgstore.errors import AuditError

_PAGE = 500


def check_chain(conn: Connection) -> ChainReport:
    """Verify the whole log: every record's hash, the links, the numbering and the head.

    Reads the log in pages; records appended while it runs are checked too.
    """
    scan = _Scan()
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
    if head is None:
        if scan.records:
            problems.append(ChainProblem("head", None, None, "the log's head row is missing"))
    elif (head.seq, head.record_hash) != (scan.seq, scan.hash):
        if head.seq > scan.seq:
            detail = f"records were removed from the end: the log ends at record {scan.seq}"
        elif head.seq < scan.seq:
            detail = f"records were added at the end directly: the log ends at record {scan.seq}"
        else:
            detail = "the last record is not the one that was appended"
        problems.append(
            ChainProblem(
                "head",
                None,
                None,
                f"{detail}, but the head says record {head.seq} "
                f"with hash {head.record_hash[:16]}...",
            )
        )
    return ChainReport(scan.records, scan.seq, scan.hash, tuple(problems))


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


class _Scan:
    """Walks the records in ``seq`` order, checking each against its hash and its predecessor."""

    def __init__(self) -> None:
        self.records = 0
        self.seq = 0
        self.hash = GENESIS
        self.problems: list[ChainProblem] = []

    def read(self, conn: Connection) -> None:
        while True:
            rows = conn.execute(
                select(X).where(X.c.seq > self.seq).order_by(X.c.seq).limit(_PAGE)
            ).all()
            for row in rows:
                self._check(normalized(row._mapping))
            if len(rows) < _PAGE:
                return

    def _check(self, values: dict[str, Any]) -> None:
        seq, export_id = values["seq"], values["id"]
        self.records += 1
        if seq != self.seq + 1:
            missing = (
                f"record {self.seq + 1} is missing"
                if seq == self.seq + 2
                else f"records {self.seq + 1} to {seq - 1} are missing"
            )
            self.problems.append(ChainProblem("gap", seq, export_id, missing))
        elif values["prev_hash"] != self.hash:
            self.problems.append(
                ChainProblem(
                    "unlinked",
                    seq,
                    export_id,
                    f"it follows a record with hash {values['prev_hash'][:16]}..., but the record "
                    f"before it has hash {self.hash[:16]}...: records were inserted, removed "
                    "or reordered",
                )
            )
        if chain_hash(values) != values["record_hash"]:
            self.problems.append(
                ChainProblem(
                    "altered", seq, export_id, "its fields do not match its hash: it was changed"
                )
            )
        self.seq, self.hash = seq, values["record_hash"]

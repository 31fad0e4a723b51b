"""Commands of the audit trail: exports, verify, reproduce, which, audit check|head|log."""

from __future__ import annotations

import argparse
import sys

from mgstore.cli.base import Commands, open_store
from mgstore.cli.output import (
    delayed_progress_bar,
    echo,
    parse_date,
    print_json,
    print_table,
    timestamp,
)
from mgstore.errors import InputError


def register(commands: Commands) -> None:
    sub = commands.add(
        "exports",
        exports,
        "list the recorded exports, newest first",
        "mgstore exports --graph resnet --since 2026-11-01",
        [commands.data],
    )
    sub.add_argument("--graph", metavar="NAME", help="only exports of this graph")
    sub.add_argument("--since", metavar="DATE", help="only exports at or after (ISO, UTC)")
    sub.add_argument("--until", metavar="DATE", help="only exports at or before (ISO, UTC)")
    sub.add_argument("--user", help="only exports by this user")
    sub.add_argument("--limit", type=int, metavar="N", help="at most N records, newest first")

    sub = commands.add(
        "verify",
        verify,
        "check that exported files still have their recorded bytes (exit 1 if not)",
        "mgstore verify --all",
        [commands.data],
    )
    sub.add_argument("id", nargs="?", help="an export id (or a unique prefix)")
    sub.add_argument("--all", action="store_true", help="every successful export")

    sub = commands.add(
        "reproduce",
        reproduce,
        "export a recorded export again and check the bytes are the same",
        "mgstore reproduce 3f2a9c -o again.meta",
        [commands.data],
    )
    sub.add_argument("id", help="an export id (or a unique prefix)")
    sub.add_argument("-o", "--output", help="write the new file here (default: compare only)")

    sub = commands.add(
        "which",
        which,
        "find the export that wrote a file, by its bytes: export, version, ingest source",
        "mgstore which ~/Downloads/model.meta",
        [commands.data],
    )
    sub.add_argument("file")

    group = commands.group(
        "audit", "check, list and pin the audit log of every change", "mgstore audit check"
    )
    sub = commands.action(
        group, "check", audit_check, "verify the hash chain and the store against it", True
    )
    sub.add_argument(
        "--expect",
        metavar="HASH",
        help="a head hash written down earlier: the log must still contain it",
    )
    commands.action(group, "head", audit_head, "print the hash of the last record", True)
    sub = commands.action(group, "log", audit_log, "list the records, oldest first", True)
    sub.add_argument("--kind", help="only records of this kind (ingest, export, tag...)")


def exports(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        records = store.exports(
            graph=args.graph,
            since=parse_date(args.since),
            until=parse_date(args.until),
            user=args.user,
            limit=args.limit,
        )
    if args.json:
        print_json([r.to_dict() for r in records])
    else:
        print_table(
            ["ID", "WHEN (UTC)", "REF", "STATUS", "BY", "PATH"],
            [
                [
                    r.id[:12],
                    timestamp(r.created_at),
                    r.ref or "",
                    r.status,
                    r.user,
                    r.path if r.ok else f"{r.path} ({r.error})",
                ]
                for r in records
            ],
        )
    return 0


def verify(args: argparse.Namespace) -> int:
    if (args.id is None) == (not args.all):
        raise InputError("give an export ID or --all")
    with open_store(args) as store:
        results = store.verify(args.id, progress=delayed_progress_bar(sys.stderr))
    if args.json:
        print_json([v.to_dict() for v in results])
    else:
        print_table(
            ["ID", "STATUS", "PATH"],
            [
                [
                    v.export_id[:12],
                    f"superseded by {v.superseded_by}" if v.superseded_by else v.status,
                    v.path,
                ]
                for v in results
            ],
        )
    return 0 if all(v.ok for v in results) else 1


def reproduce(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        record = store.reproduce(args.id, args.output)
    if args.json:
        print_json(record.to_dict())
        return 0
    echo(f"reproduced: {record.path}  sha256:{record.sha256}")
    return 0


def which(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        found = store.which(args.file)
    if args.json:
        print_json([p.to_dict() for p in found])
        return 0 if found else 1
    if not found:
        echo(f"{args.file}: no recorded export wrote these bytes")
        return 1
    for p in found:
        e = p.export
        echo(f"file     {p.path}  sha256:{p.sha256}")
        echo(f"export   {e.id}  {timestamp(e.created_at)} UTC by {e.user}@{e.host}")
        echo(f"         to {e.path}{'  (moved since)' if p.moved else ''}")
        echo(f"version  {e.ref}  {e.content_hash}")
        if p.version is not None and p.version.source_path:
            echo(f"source   {p.version.source_path}  sha256:{p.version.source_sha256}")
        if p.problem is not None:
            echo(f"WARNING  {p.problem}: run `mgstore audit check`")
    return 0


def audit_check(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = store.audit_check(expect=args.expect)
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        unverified = (
            f" ({report.unverified} signed records not verified: no key in $MGSTORE_AUDIT_KEY)"
            if report.unverified
            else ""
        )
        echo(f"audit log intact: {report.records} records, head {report.head_hash}{unverified}")
    else:
        for problem in report.problems:
            echo(f"audit log: {problem}")
    return 0 if report.ok else 1


def audit_head(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        head = store.audit_head()
    if args.json:
        print_json({"head_hash": head})
    else:
        echo(head)
    return 0


def audit_log(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        records = store.audit_log(kind=args.kind)
    if args.json:
        print_json([r.to_dict() for r in records])
        return 0
    print_table(
        ["SEQ", "WHEN (UTC)", "KIND", "REF", "BY", "HASH"],
        [
            [str(r.seq), timestamp(r.created_at), r.kind, r.ref or "", r.user, r.record_hash[:16]]
            for r in records
        ],
    )
    return 0

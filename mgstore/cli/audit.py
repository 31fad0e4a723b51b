"""Commands of the audit trail: exports, verify, reproduce, which, audit check."""

from __future__ import annotations

import argparse
import sys

from mgstore.cli.base import Commands
from mgstore.cli.output import (
    delayed_progress_bar,
    echo,
    parse_date,
    print_json,
    print_table,
    timestamp,
)
from mgstore.errors import InputError
from mgstore.store import Store


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

    group = commands.group("audit", "check the audit log", "mgstore audit check")
    commands.action(group, "check", audit_check, "verify the hash chain of the whole log", True)


def exports(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
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
    with Store(args.db) as store:
        results = store.verify(args.id, progress=delayed_progress_bar(sys.stderr))
    if args.json:
        print_json([v.to_dict() for v in results])
    else:
        print_table(
            ["ID", "STATUS", "PATH"], [[v.export_id[:12], v.status, v.path] for v in results]
        )
    return 0 if all(v.ok for v in results) else 1


def reproduce(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        record = store.reproduce(args.id, args.output)
    if args.json:
        print_json(record.to_dict())
        return 0
    echo(f"reproduced: {record.path}  sha256:{record.sha256}")
    return 0


def which(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
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
    return 0


def audit_check(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        report = store.audit_check()
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        echo(f"audit log intact: {report.records} records, head {report.head_hash}")
    else:
        for problem in report.problems:
            echo(f"audit log: {problem}")
    return 0 if report.ok else 1

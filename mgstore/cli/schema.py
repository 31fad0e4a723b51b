"""Commands of the database schema: db upgrade, db downgrade, db current, db grant."""

from __future__ import annotations

import argparse

from mgstore.cli.base import Commands
from mgstore.cli.output import echo, print_json


def register(commands: Commands) -> None:
    group = commands.group("db", "manage the database schema", "mgstore db upgrade")
    sub = commands.action(group, "upgrade", upgrade, "migrate to the newest schema", True)
    sub.add_argument("revision", nargs="?", default="head")
    sub = commands.action(group, "downgrade", downgrade, "migrate down to REVISION", True)
    sub.add_argument("revision", help="a revision id, -1 for one step, or base")
    sub.add_argument(
        "--drop-data",
        action="store_true",
        help="drop the rows of tables the downgrade removes (refused without it)",
    )
    commands.action(group, "current", current, "print the revision", True)
    sub = commands.action(
        group, "grant", grant, "PostgreSQL: give a role a writer's or a reader's privileges"
    )
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--writer", metavar="ROLE", help="may ingest and export, never alter history"
    )
    which.add_argument("--reader", metavar="ROLE", help="may only read")


def upgrade(args: argparse.Namespace) -> int:
    from mgstore.db import migrate

    revision = migrate.upgrade_database(args.db, args.revision)
    print_json({"current": revision}) if args.json else echo(f"database at revision {revision}")
    return 0


def downgrade(args: argparse.Namespace) -> int:
    from mgstore.db import migrate

    revision = migrate.downgrade_database(args.db, args.revision, drop_data=args.drop_data)
    if args.json:
        print_json({"current": revision})
    else:
        echo(f"database at revision {revision or 'base'}")
    return 0


def current(args: argparse.Namespace) -> int:
    from mgstore.db import migrate

    revision = migrate.database_revision(args.db)
    head = migrate.head()
    if args.json:
        print_json({"current": revision, "head": head})
    else:
        state = "up to date" if revision == head else f"this mgstore needs {head}"
        echo(f"{revision or 'none'} ({state})")
    return 0


def grant(args: argparse.Namespace) -> int:
    from mgstore.db import migrate, roles

    kind: roles.Kind = "writer" if args.writer else "reader"
    role = args.writer or args.reader
    with migrate.database(args.db) as engine:
        roles.grant(engine, role, kind)
    echo(f"{role}: {kind} privileges granted (see docs/postgres-roles.md)")
    return 0

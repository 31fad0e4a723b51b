"""Commands of a graph's life: diff, alias, tag, rm, restore, gc."""

from __future__ import annotations

import argparse
import sys

from mgstore.cli.base import REF_HELP, Commands, open_store
from mgstore.cli.diff_output import print_diff, print_stat
from mgstore.cli.output import echo, parse_tags, print_json, print_table, size, timestamp
from mgstore.errors import MgstoreError


def register(commands: Commands) -> None:
    sub = commands.add(
        "diff",
        diff,
        "compare two versions: nodes added, removed, changed; scopes; graph level "
        "(exit 0 if equal, 1 if different, 2 on error)",
        "mgstore diff resnet@1 resnet@2 --stat",
        [commands.data],
    )
    sub.add_argument("a", help=REF_HELP)
    sub.add_argument("b", help=REF_HELP)
    sub.add_argument("--scope", help="only nodes at or under this name scope")
    sub.add_argument("--stat", action="store_true", help="counts per scope only")
    register_lifecycle(commands)


def diff(args: argparse.Namespace) -> int:
    """Exit status as diff(1)'s: 0 equal, 1 different, 2 trouble."""
    try:
        with open_store(args) as store:
            result = store.diff(args.a, args.b, scope=args.scope)
    except MgstoreError as error:
        echo(f"mgstore: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print_json(result.to_dict())
    elif args.stat:
        print_stat(result)
    else:
        print_diff(result)
    return 0 if result.equal else 1


def register_lifecycle(commands: Commands) -> None:
    """alias, tag, rm, restore, gc."""
    group = commands.group("alias", "name versions: set, rm, ls, log", "mgstore alias ls resnet")
    sub = commands.action(group, "set", alias_set, "point NAME@ALIAS at REF (recorded)", True)
    sub.add_argument("name", help="the graph")
    sub.add_argument("alias", help="the alias (not a number, not 'latest')")
    sub.add_argument("ref", help=f"{REF_HELP}, or a version number of NAME")
    sub = commands.action(group, "rm", alias_rm, "remove NAME@ALIAS (recorded)", True)
    sub.add_argument("name")
    sub.add_argument("alias")
    sub = commands.action(group, "ls", alias_ls, "list aliases (of one graph, or all)", True)
    sub.add_argument("name", nargs="?")
    sub = commands.action(group, "log", alias_log, "every alias move, with user and time", True)
    sub.add_argument("name")

    sub = commands.add(
        "tag",
        tag,
        "set or remove tags of a version (recorded)",
        "mgstore tag resnet@2 stage=prod --rm candidate",
        [commands.data],
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument("tags", nargs="*", metavar="KEY=VALUE", help="tags to set")
    sub.add_argument("--rm", action="append", default=[], metavar="KEY", help="tag to remove")

    sub = commands.add(
        "rm",
        rm,
        "delete a version (undo with restore until gc; recorded)",
        "mgstore rm resnet@3",
        [commands.data],
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument(
        "--force", action="store_true", help="delete even with recorded exports or aliases"
    )

    sub = commands.add(
        "restore",
        restore,
        "bring back a deleted version (before gc)",
        "mgstore restore resnet@3",
        [commands.data],
    )
    sub.add_argument("ref", help="NAME@N or a content-hash prefix of the deleted version")

    sub = commands.add(
        "gc",
        gc,
        "remove the content only deleted versions use; print what was freed (recorded)",
        "mgstore gc --dry-run",
        [commands.data],
    )
    sub.add_argument("--dry-run", action="store_true", help="report only, remove nothing")
    sub.add_argument(
        "--vacuum", action="store_true", help="then VACUUM the database (SQLite: the file shrinks)"
    )


def alias_set(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        info = store.set_alias(args.name, args.alias, args.ref)
    print_json(info.to_dict()) if args.json else echo(f"{info.graph}@{info.alias} -> {info.ref}")
    return 0


def alias_rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        move = store.remove_alias(args.name, args.alias)
    if args.json:
        print_json(move.to_dict())
    else:
        echo(f"removed {args.name}@{args.alias}")
    return 0


def alias_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        aliases = store.aliases(args.name)
    if args.json:
        print_json([a.to_dict() for a in aliases])
    else:
        print_table(
            ["ALIAS", "VERSION", "SINCE (UTC)", "BY"],
            [
                [f"{a.graph}@{a.alias}", a.ref, timestamp(a.updated_at), a.updated_by]
                for a in aliases
            ],
        )
    return 0


def alias_log(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        moves = store.alias_log(args.name)
    if args.json:
        print_json([m.to_dict() for m in moves])
    else:
        print_table(
            ["WHEN (UTC)", "ALIAS", "FROM", "TO", "BY"],
            [
                [
                    timestamp(m.at),
                    f"{m.graph}@{m.alias}",
                    "-" if m.old is None else f"{m.graph}@{m.old}",
                    "(removed)" if m.new is None else f"{m.graph}@{m.new}",
                    m.by,
                ]
                for m in moves
            ],
        )
    return 0


def tag(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        version = store.tag(args.ref, parse_tags(args.tags), remove=args.rm)
    if args.json:
        print_json(version.to_dict())
    else:
        tags = " ".join(f"{k}={v}" for k, v in sorted(version.tags.items()))
        echo(f"{version.ref}  {tags or '(no tags)'}")
    return 0


def rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        version = store.delete(args.ref, force=args.force)
    if args.json:
        print_json(version.to_dict())
    else:
        echo(f"deleted {version.ref} (mgstore restore {version.ref} undoes it until gc)")
    return 0


def restore(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        version = store.restore(args.ref)
    print_json(version.to_dict()) if args.json else echo(f"restored {version.ref}")
    return 0


def gc(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = store.gc(dry_run=args.dry_run, vacuum=args.vacuum)
    if args.json:
        print_json(report.to_dict())
        return 0
    verb = "would free" if report.dry_run else "freed"
    echo(
        f"{verb} {size(report.freed_bytes)}: {len(report.versions)} versions, "
        f"{report.node_rows} node rows, {report.edges} edges, {report.packs} packs "
        f"({size(report.pack_bytes)}), {report.blobs} blobs ({size(report.blob_bytes)}), "
        f"{report.import_forms} import forms"
    )
    for ref in report.versions:
        echo(f"  {ref}")
    return 0

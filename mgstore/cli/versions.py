"""Commands that store and read versions: ingest, ls, log, show, checkout, scopes."""

from __future__ import annotations

import argparse
import sys

from mgstore.cli.base import REF_HELP, Commands, open_store
from mgstore.cli.output import (
    echo,
    parse_tags,
    print_json,
    print_summary,
    print_table,
    progress_bar,
    size,
    timestamp,
)
from mgstore.entities import VersionInfo
from mgstore.original import FORMS


def register(commands: Commands) -> None:
    _register_ingest(commands)
    _register_reading(commands)
    _register_checkout(commands)
    _register_scopes(commands)


def _register_ingest(commands: Commands) -> None:
    sub = commands.add(
        "ingest",
        ingest,
        "store a graph file as the next version of a name",
        "mgstore ingest model.meta --name resnet --tag stage=dev",
        [commands.data],
    )
    sub.add_argument("path", help="MetaGraphDef/GraphDef file (binary or text) or SavedModel dir")
    sub.add_argument("--name", required=True, help="the graph's name")
    sub.add_argument("--message", help="a note kept with the version")
    sub.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tag kept with the version (repeatable)",
    )
    sub.add_argument(
        "--saved-model-tags",
        metavar="TAG[,TAG]",
        help="the tag set that picks a SavedModel's MetaGraphDef",
    )
    sub.add_argument(
        "--allow-unchanged",
        action="store_true",
        help="record a new version even if the content equals the latest version's",
    )
    sub.add_argument(
        "--prepare-export",
        action="store_true",
        help="also work out how TensorFlow's import changes the version, so that its first "
        "export is as fast as a later one (the ingest takes that much longer)",
    )


def _register_reading(commands: Commands) -> None:
    """ls, log, show."""
    sub = commands.add("ls", ls, "list the stored graphs", "mgstore ls --json", [commands.data])
    _tag_filter(sub)

    sub = commands.add(
        "log", log, "list a graph's versions, newest first", "mgstore log resnet", [commands.data]
    )
    sub.add_argument("name")
    _tag_filter(sub)
    sub.add_argument("--limit", type=int, metavar="N", help="at most N versions")
    sub.add_argument("--all", action="store_true", help="deleted versions too, marked")

    sub = commands.add(
        "show",
        show,
        "summarize a version: nodes, ops, scopes, collections",
        "mgstore show resnet@2",
        [commands.data],
    )
    sub.add_argument("ref", help=REF_HELP)


def _register_checkout(commands: Commands) -> None:
    sub = commands.add(
        "checkout",
        checkout,
        "write a version's file byte for byte as ingested, or converted with --as",
        "mgstore checkout resnet@2 -o resnet.meta",
        [commands.data],
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument("-o", "--output", required=True, help="the file to write")
    sub.add_argument(
        "--as",
        dest="form",
        choices=FORMS,
        metavar="FORM",
        help=f"convert to this form, written canonically ({', '.join(FORMS)}); "
        "default: the form it came from, byte for byte",
    )
    sub.add_argument(
        "--as-text",
        action="store_true",
        help="the text form of its kind (meta-text for a meta...)",
    )
    sub.add_argument(
        "--no-debug",
        action="store_true",
        help="do not write the stored debug info beside the file (<stem>.debug)",
    )


def _register_scopes(commands: Commands) -> None:
    sub = commands.add(
        "scopes",
        scopes,
        "list a version's name scopes with node counts",
        "mgstore scopes resnet --depth 2",
        [commands.data],
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument("--depth", type=int, help="levels of the scope tree to show")


def _tag_filter(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only versions with this tag (repeatable: all of them)",
    )


def ingest(args: argparse.Namespace) -> int:
    with open_store(
        args, create=True
    ) as store:  # the one command (with db upgrade) that creates a store
        version = store.ingest(
            args.path,
            args.name,
            message=args.message,
            tags=parse_tags(args.tag),
            saved_model_tags=args.saved_model_tags.split(",") if args.saved_model_tags else None,
            progress=progress_bar(sys.stderr),
            allow_unchanged=args.allow_unchanged,
            prepare_export=args.prepare_export,
        )
    if args.json:
        print_json(version.to_dict())
    elif version.unchanged:
        echo(f"unchanged: {version.ref}")
    else:
        echo(f"{version.content_hash[:12]}  {version.node_count} nodes, {size(version.size)}")
        echo(version.ref)
    return 0


def ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        graphs = store.graphs(tags=parse_tags(args.tag))
    if args.json:
        print_json([g.to_dict() for g in graphs])
    else:
        print_table(
            ["NAME", "VERSIONS", "LATEST", "UPDATED"],
            [
                [g.name, str(g.versions), f"{g.name}@{g.latest}", timestamp(g.updated_at)]
                for g in graphs
            ],
        )
    return 0


def log(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        versions = store.versions(
            args.name, tags=parse_tags(args.tag), limit=args.limit, deleted=args.all
        )
    if args.json:
        print_json([v.to_dict() for v in versions])
    else:
        print_table(
            ["REF", "HASH", "NODES", "SIZE", "CREATED", "BY", "MESSAGE"],
            [
                [
                    v.ref + _marks(v),
                    v.content_hash[:12],
                    str(v.node_count),
                    size(v.size),
                    timestamp(v.created_at),
                    v.created_by,
                    v.message or "",
                ]
                for v in versions
            ],
        )
    return 0


def _marks(v: VersionInfo) -> str:
    """`` (deleted)``, `` (collected)``, and the aliases, for the log."""
    mark = " (collected)" if v.collected else " (deleted)" if v.deleted_at else ""
    return mark + "".join(f" @{a}" for a in v.aliases)


def show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        summary = store.summary(args.ref)
    if args.json:
        print_json(summary.to_dict())
    else:
        print_summary(summary)
    return 0


def checkout(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        written = store.checkout_files(
            args.ref, args.output, form=args.form, as_text=args.as_text, debug=not args.no_debug
        )
    if args.json:
        print_json([str(path) for path in written])
        return 0
    for path in written:
        echo(path)
    return 0


def scopes(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        tree = store.scopes(args.ref, depth=args.depth)
    if args.json:
        print_json([{"scope": scope, "nodes": count} for scope, count in tree])
    else:
        print_table(["SCOPE", "NODES"], [[scope, str(count)] for scope, count in tree])
    return 0

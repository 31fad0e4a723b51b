"""The ``mgstore`` command line: one command per API call, no logic of its own.

Every command takes ``--db URL`` (default: ``$MGSTORE_DB``, else ``sqlite:///mgstore.db``);
commands that print data take ``--json``. An mgstore error prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from mgstore.db import migrate
from mgstore.entities import GraphInfo, Summary, VersionInfo
from mgstore.errors import InputError, MgstoreError
from mgstore.store import Store

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mgstore`` command; the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.db = getattr(args, "db_here", None) or args.db  # --db before or after the command
    try:
        handler: Handler = args.handler
        return handler(args)
    except MgstoreError as error:
        print(f"mgstore: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mgstore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


# --------------------------------------------------------------------------------------------
# Commands


def _ingest(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        version = store.ingest(
            args.path,
            args.name,
            message=args.message,
            tags=_tags(args.tag),
            saved_model_tags=args.saved_model_tags.split(",") if args.saved_model_tags else None,
            progress=_progress_bar(sys.stderr),
        )
    if args.json:
        _print_json(version.to_dict())
    else:
        print(f"{version.content_hash[:12]}  {version.node_count} nodes, {_size(version.size)}")
        print(version.ref)
    return 0


def _ls(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        graphs = store.graphs()
    if args.json:
        _print_json([g.to_dict() for g in graphs])
    else:
        _print_table(
            ["NAME", "VERSIONS", "LATEST", "UPDATED"],
            [[g.name, str(g.versions), f"{g.name}@{g.latest}", _when(g)] for g in graphs],
        )
    return 0


def _log(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        versions = store.versions(args.name)
    if args.json:
        _print_json([v.to_dict() for v in versions])
    else:
        _print_table(
            ["REF", "HASH", "NODES", "SIZE", "CREATED", "BY", "MESSAGE"],
            [
                [
                    v.ref,
                    v.content_hash[:12],
                    str(v.node_count),
                    _size(v.size),
                    v.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    v.created_by,
                    v.message or "",
                ]
                for v in versions
            ],
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        summary = store.summary(args.ref)
    if args.json:
        _print_json(summary.to_dict())
    else:
        _print_summary(summary)
    return 0


def _checkout(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        written = store.checkout_files(
            args.ref, args.output, as_text=args.as_text, debug=not args.no_debug
        )
    for path in written:
        print(path)
    return 0


def _query(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        g = store.query(
            args.ref,
            scope=args.scope,
            collection=args.collection or None,
            op_type=args.op_type or None,
            device=args.device or None,
            name_regex=args.name_regex,
            closure=args.closure,
            depth=args.depth,
            strict_scope=args.strict_scope,
        )
    nodes = [
        {"name": name, "op": data["op"], "device": data["device"], "inputs": data["inputs"]}
        for name, data in g.nodes(data=True)
    ]
    if args.json:
        _print_json(nodes)
    else:
        _print_table(
            ["NAME", "OP", "DEVICE", "INPUTS"],
            [[n["name"], n["op"], n["device"], ", ".join(n["inputs"])] for n in nodes],
        )
    return 0


def _scopes(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        tree = store.scopes(args.ref, depth=args.depth)
    if args.json:
        _print_json([{"scope": scope, "nodes": count} for scope, count in tree])
    else:
        _print_table(["SCOPE", "NODES"], [[scope, str(count)] for scope, count in tree])
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    print(f"database at revision {migrate.upgrade_database(args.db, args.revision)}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    print(f"database at revision {migrate.downgrade_database(args.db, args.revision) or 'base'}")
    return 0


def _db_current(args: argparse.Namespace) -> int:
    revision = migrate.database_revision(args.db)
    head = migrate.head()
    if args.json:
        _print_json({"current": revision, "head": head})
    else:
        state = "up to date" if revision == head else f"this mgstore needs {head}"
        print(f"{revision or 'none'} ({state})")
    return 0


# --------------------------------------------------------------------------------------------
# Parser


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="URL",
        dest="db_here",
        default=argparse.SUPPRESS,
        help="SQLAlchemy database URL (default: $MGSTORE_DB, else sqlite:///mgstore.db)",
    )
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--json", action="store_true", help="print JSON instead of text")

    parser = argparse.ArgumentParser(
        prog="mgstore",
        description="A versioned, SQL-backed store for TensorFlow graphs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  mgstore ingest model.meta --name resnet\n  mgstore log resnet",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="SQLAlchemy database URL (default: $MGSTORE_DB, else sqlite:///mgstore.db)",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(
        name: str,
        handler: Handler,
        help: str,
        example: str,
        parents: Sequence[argparse.ArgumentParser] = (),
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help,
            description=help,
            parents=[common, *parents],
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    sub = command(
        "ingest",
        _ingest,
        "store a graph file as the next version of a name",
        "mgstore ingest model.meta --name resnet --tag stage=dev",
        [data],
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

    command("ls", _ls, "list the stored graphs", "mgstore ls --json", [data])

    sub = command(
        "log", _log, "list a graph's versions, newest first", "mgstore log resnet", [data]
    )
    sub.add_argument("name")

    sub = command(
        "show",
        _show,
        "summarize a version: nodes, ops, scopes, collections",
        "mgstore show resnet@2",
        [data],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")

    sub = command(
        "checkout",
        _checkout,
        "write a version's MetaGraphDef exactly as ingested",
        "mgstore checkout resnet@2 -o resnet.meta",
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument("-o", "--output", required=True, help="the file to write")
    sub.add_argument("--as-text", action="store_true", help="write the text format")
    sub.add_argument(
        "--no-debug",
        action="store_true",
        help="do not write the stored debug info beside the file (<stem>.debug)",
    )

    sub = command(
        "query",
        _query,
        "list the nodes of a version that pass every filter (in SQL)",
        "mgstore query resnet --scope block_7/ --strict-scope --closure ancestors",
        [data],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument("--scope", help="name prefix, as export_scope matches")
    sub.add_argument(
        "--strict-scope", action="store_true", help="match the scope at name-scope boundaries only"
    )
    sub.add_argument(
        "--collection",
        action="append",
        default=[],
        metavar="NAME",
        help="nodes a collection refers to (repeatable)",
    )
    sub.add_argument(
        "--op-type", action="append", default=[], metavar="OP", help="op type (repeatable)"
    )
    sub.add_argument("--device", action="append", default=[], help="device (repeatable)")
    sub.add_argument("--name-regex", metavar="REGEX", help="node names matching (re.search)")
    sub.add_argument(
        "--closure",
        choices=["ancestors", "descendants"],
        help="add everything the selection depends on, or that depends on it",
    )
    sub.add_argument("--depth", type=int, help="with --closure: at most this many hops")

    sub = command(
        "scopes",
        _scopes,
        "list a version's name scopes with node counts",
        "mgstore scopes resnet --depth 2",
        [data],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument("--depth", type=int, help="levels of the scope tree to show")

    db = command("db", _no_subcommand, "manage the database schema", "mgstore db upgrade")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    sub = db_commands.add_parser("upgrade", parents=[common], help="migrate to the newest schema")
    sub.add_argument("revision", nargs="?", default="head")
    sub.set_defaults(handler=_db_upgrade)
    sub = db_commands.add_parser("downgrade", parents=[common], help="migrate down to REVISION")
    sub.add_argument("revision", help="a revision id, -1 for one step, or base")
    sub.set_defaults(handler=_db_downgrade)
    sub = db_commands.add_parser("current", parents=[common, data], help="print the revision")
    sub.set_defaults(handler=_db_current)
    return parser


def _no_subcommand(args: argparse.Namespace) -> int:
    raise InputError("a db command needs an action: upgrade, downgrade or current")


# --------------------------------------------------------------------------------------------
# Output


def _tags(pairs: Sequence[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--tag {pair!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


def _progress_bar(stream: TextIO) -> Callable[[str, int, int], None] | None:
    """A one-line progress bar on a terminal; nothing when the output is piped."""
    if not stream.isatty():
        return None

    def show(stage: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        end = "\n" if done >= total else ""
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {stage:<10}{end}")
        stream.flush()

    return show


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _print_summary(s: Summary) -> None:
    v: VersionInfo = s.version
    print(f"{v.ref}  {v.content_hash}")
    print(f"  created    {v.created_at:%Y-%m-%d %H:%M:%S} UTC by {v.created_by}")
    if v.message:
        print(f"  message    {v.message}")
    for key, value in v.tags.items():
        print(f"  tag        {key}={value}")
    if v.source_path:
        print(f"  source     {v.source_path} ({v.source_format})")
    print(
        f"  size       {_size(v.size)}, {v.node_count} nodes, {len(s.op_counts)} op types, "
        f"{s.functions} functions"
    )
    print(
        f"  saver      {'yes' if s.has_saver else 'no'}; debug info "
        f"{'yes' if s.has_debug_info else 'no'}"
    )
    _print_counts("ops", s.op_counts, 10)
    _print_counts("scopes", s.scopes, 15)
    _print_counts("devices", s.devices, 10)
    _print_counts("collections", s.collections, 30)
    if s.signatures:
        print(f"  signatures {', '.join(s.signatures)}")


def _print_counts(title: str, counts: Any, limit: int) -> None:
    if not counts:
        return
    items = list(counts.items())
    shown = ", ".join(f"{k or '(none)'}: {n}" for k, n in items[:limit])
    more = f", … ({len(items)} in all)" if len(items) > limit else ""
    print(f"  {title:<10} {shown}{more}")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def _when(g: GraphInfo) -> str:
    return g.updated_at.strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":
    sys.exit(main())

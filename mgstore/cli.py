"""The ``mgstore`` command line: one command per API call, no logic of its own.

Every command takes ``--db URL`` (default: ``$MGSTORE_DB``, else ``sqlite:///mgstore.db``);
commands that print data take ``--json``. An mgstore error prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
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
            collection=args.query_collection or None,
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


def _export(args: argparse.Namespace) -> int:
    if args.no_collections and args.collection_list:
        raise InputError("--collection and --no-collections exclude each other")
    with Store(args.db) as store:
        graph: Any = args.ref
        if _query_options(args):
            graph = store.query(args.ref, **_query_options(args))
        record = store.export(
            args.output,
            graph,
            collection_list=[] if args.no_collections else (args.collection_list or None),
            as_text=args.as_text,
            saver_def=_stored_saver_def(store, args.ref) if args.saver_def else None,
            export_scope=args.export_scope,
            clear_devices=args.clear_devices,
            clear_extraneous_savers=args.clear_extraneous_savers,
            strip_default_attrs=args.strip_default_attrs,
            save_debug_info=args.save_debug_info,
        )
    if args.json:
        _print_json(record.to_dict())
    else:
        print(f"{record.path}  sha256:{record.sha256}")
        if record.debug_path:
            print(f"{record.debug_path}  sha256:{record.debug_sha256}")
    return 0


def _stored_saver_def(store: Store, ref: str) -> Any:
    saver_def = store.saver_def(ref)
    if saver_def is None:
        raise InputError(f"--saver-def: {ref} has no saver_def")
    return saver_def


def _query_options(args: argparse.Namespace) -> dict[str, Any]:
    options = {
        "scope": args.scope,
        "strict_scope": args.strict_scope,
        "collection": args.query_collection or None,
        "op_type": args.op_type or None,
        "device": args.device or None,
        "name_regex": args.name_regex,
        "closure": args.closure,
        "depth": args.depth,
    }
    return {k: v for k, v in options.items() if v is not None and v is not False}


def _exports(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        records = store.exports(
            graph=args.graph, since=_date(args.since), until=_date(args.until), user=args.user
        )
    if args.json:
        _print_json([r.to_dict() for r in records])
    else:
        _print_table(
            ["ID", "WHEN (UTC)", "REF", "STATUS", "BY", "PATH"],
            [
                [
                    r.id[:12],
                    f"{r.created_at:%Y-%m-%d %H:%M:%S}",
                    r.ref or "",
                    r.status,
                    r.user,
                    r.path if r.ok else f"{r.path} ({r.error})",
                ]
                for r in records
            ],
        )
    return 0


def _verify(args: argparse.Namespace) -> int:
    if (args.id is None) == (not args.all):
        raise InputError("give an export ID or --all")
    with Store(args.db) as store:
        results = store.verify(args.id)
    if args.json:
        _print_json([v.to_dict() for v in results])
    else:
        _print_table(
            ["ID", "STATUS", "PATH"], [[v.export_id[:12], v.status, v.path] for v in results]
        )
    return 0 if all(v.ok for v in results) else 1


def _reproduce(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        record = store.reproduce(args.id, args.output)
    print(f"reproduced: {record.path}  sha256:{record.sha256}")
    return 0


def _which(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        found = store.which(args.file)
    if args.json:
        _print_json([p.to_dict() for p in found])
        return 0 if found else 1
    if not found:
        print(f"{args.file}: no recorded export wrote these bytes")
        return 1
    for p in found:
        e = p.export
        print(f"file     {p.path}  sha256:{p.sha256}")
        print(f"export   {e.id}  {e.created_at:%Y-%m-%d %H:%M:%S} UTC by {e.user}@{e.host}")
        print(f"         to {e.path}{'  (moved since)' if p.moved else ''}")
        print(f"version  {e.ref}  {e.content_hash}")
        if p.version is not None and p.version.source_path:
            print(f"source   {p.version.source_path}  sha256:{p.version.source_sha256}")
    return 0


def _audit_check(args: argparse.Namespace) -> int:
    with Store(args.db) as store:
        report = store.audit_check()
    if args.json:
        _print_json(report.to_dict())
    elif report.ok:
        print(f"audit log intact: {report.records} records, head {report.head_hash}")
    else:
        for problem in report.problems:
            print(f"audit log: {problem}")
    return 0 if report.ok else 1


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

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--scope", help="name prefix, as export_scope matches")
    filters.add_argument(
        "--strict-scope", action="store_true", help="match the scope at name-scope boundaries only"
    )
    filters.add_argument(
        "--op-type", action="append", default=[], metavar="OP", help="op type (repeatable)"
    )
    filters.add_argument("--device", action="append", default=[], help="device (repeatable)")
    filters.add_argument("--name-regex", metavar="REGEX", help="node names matching (re.search)")
    filters.add_argument(
        "--closure",
        choices=["ancestors", "descendants"],
        help="add everything the selection depends on, or that depends on it",
    )
    filters.add_argument("--depth", type=int, help="with --closure: at most this many hops")

    sub = command(
        "query",
        _query,
        "list the nodes of a version that pass every filter (in SQL)",
        "mgstore query resnet --scope block_7/ --strict-scope --closure ancestors",
        [data, filters],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument(
        "--collection",
        dest="query_collection",
        action="append",
        default=[],
        metavar="NAME",
        help="nodes a collection refers to (repeatable)",
    )

    sub = command(
        "export",
        _export,
        "write a version as tf.compat.v1.train.export_meta_graph would (TensorFlow 2.21)",
        "mgstore export resnet@2 -o block_7.meta --export-scope block_7 --clear-devices",
        [data, filters],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument("-o", "--output", required=True, help="the file to write")
    sub.add_argument("--export-scope", metavar="SCOPE", help="export_scope: keep and strip it")
    sub.add_argument(
        "--collection",
        dest="collection_list",
        action="append",
        default=[],
        metavar="NAME",
        help="collection_list: export these collections, in order, repeats kept (repeatable)",
    )
    sub.add_argument(
        "--no-collections", action="store_true", help="collection_list=[]: export none"
    )
    sub.add_argument("--clear-devices", action="store_true", help="clear_devices=True")
    sub.add_argument(
        "--clear-extraneous-savers", action="store_true", help="clear_extraneous_savers=True"
    )
    sub.add_argument(
        "--saver-def",
        action="store_true",
        help="pass the version's own saver_def (keeps its saver with --clear-extraneous-savers)",
    )
    sub.add_argument("--strip-default-attrs", action="store_true", help="strip_default_attrs=True")
    sub.add_argument("--as-text", action="store_true", help="as_text=True: the text format")
    sub.add_argument(
        "--save-debug-info",
        action="store_true",
        help="save_debug_info=True: also write <stem>.debug from the stored debug info",
    )
    sub.add_argument(
        "--in-collection",
        dest="query_collection",
        action="append",
        default=[],
        metavar="NAME",
        help="query filter: only the nodes this collection refers to (repeatable)",
    )

    sub = command(
        "scopes",
        _scopes,
        "list a version's name scopes with node counts",
        "mgstore scopes resnet --depth 2",
        [data],
    )
    sub.add_argument("ref", help="NAME, NAME@N or a content-hash prefix")
    sub.add_argument("--depth", type=int, help="levels of the scope tree to show")

    sub = command(
        "exports",
        _exports,
        "list the recorded exports, newest first",
        "mgstore exports --graph resnet --since 2026-11-01",
        [data],
    )
    sub.add_argument("--graph", metavar="NAME", help="only exports of this graph")
    sub.add_argument("--since", metavar="DATE", help="only exports at or after (ISO, UTC)")
    sub.add_argument("--until", metavar="DATE", help="only exports at or before (ISO, UTC)")
    sub.add_argument("--user", help="only exports by this user")

    sub = command(
        "verify",
        _verify,
        "check that exported files still have their recorded bytes (exit 1 if not)",
        "mgstore verify --all",
        [data],
    )
    sub.add_argument("id", nargs="?", help="an export id (or a unique prefix)")
    sub.add_argument("--all", action="store_true", help="every successful export")

    sub = command(
        "reproduce",
        _reproduce,
        "export a recorded export again and check the bytes are the same",
        "mgstore reproduce 3f2a9c -o again.meta",
    )
    sub.add_argument("id", help="an export id (or a unique prefix)")
    sub.add_argument("-o", "--output", help="write the new file here (default: compare only)")

    sub = command(
        "which",
        _which,
        "find the export that wrote a file, by its bytes: export, version, ingest source",
        "mgstore which ~/Downloads/model.meta",
        [data],
    )
    sub.add_argument("file")

    audit_cmd = command("audit", _no_subcommand, "check the audit log", "mgstore audit check")
    audit_commands = audit_cmd.add_subparsers(title="audit commands", metavar="ACTION",
                                              required=True)  # fmt: skip
    sub = audit_commands.add_parser(
        "check", parents=[common, data], help="verify the hash chain of the whole log"
    )
    sub.set_defaults(handler=_audit_check)

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


def _no_subcommand(args: argparse.Namespace) -> int:  # unreachable: actions are required
    raise InputError("this command needs an action (see --help)")


# --------------------------------------------------------------------------------------------
# Output


def _date(text: str | None) -> datetime | None:
    """An ISO date or time from the command line, in UTC unless it names its zone."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r}: expected an ISO date or time, e.g. 2026-11-23T14:00") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


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
        end = "\n" if stage == "done" else ""
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

"""Commands that select and export nodes: query, export."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from mgstore.cli.base import REF_HELP, Commands, open_store
from mgstore.cli.output import delayed_progress_bar, echo, print_json, print_table
from mgstore.errors import InputError

if TYPE_CHECKING:
    from mgstore.store import Store


def register(commands: Commands) -> None:
    sub = commands.add(
        "query",
        query,
        "list the nodes of a version that pass every filter (in SQL)",
        "mgstore query resnet --scope block_7/ --strict-scope --closure ancestors",
        [commands.data, commands.filters],
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument(
        "--collection",
        dest="query_collection",
        action="append",
        default=[],
        metavar="NAME",
        help="nodes a collection refers to (repeatable)",
    )

    sub = commands.add(
        "export",
        export,
        "write a version as tf.compat.v1.train.export_meta_graph would (TensorFlow 2.21)",
        "mgstore export resnet@2 -o block_7.meta --export-scope block_7 --clear-devices",
        [commands.data, commands.filters],
    )
    _export_options(sub)


def _export_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("ref", help=REF_HELP)
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


def query(args: argparse.Namespace) -> int:
    with open_store(args) as store:
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
        _print_unmatched(store, args)
    nodes = [
        {"name": name, "op": data["op"], "device": data["device"], "inputs": data["inputs"]}
        for name, data in g.nodes(data=True)
    ]
    if args.json:
        print_json(nodes)
    else:
        print_table(
            ["NAME", "OP", "DEVICE", "INPUTS"],
            [[n["name"], n["op"], n["device"], ", ".join(n["inputs"])] for n in nodes],
        )
    return 0


def export(args: argparse.Namespace) -> int:
    if args.no_collections and args.collection_list:
        raise InputError("--collection and --no-collections exclude each other")
    with open_store(args) as store:
        graph: Any = args.ref
        if _query_options(args):
            graph = store.query(args.ref, **_query_options(args))
        progress = delayed_progress_bar(sys.stderr)
        try:
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
                progress=progress,
            )
        except Exception:
            if progress is not None:
                progress("failed", 0, 1)
            raise
        _print_unmatched(
            store, args, export_scope=args.export_scope, collection_list=args.collection_list
        )
    if args.json:
        print_json(record.to_dict())
    else:
        echo(f"{record.path}  sha256:{record.sha256}")
        if record.debug_path:
            echo(f"{record.debug_path}  sha256:{record.debug_sha256}")
    return 0


def _print_unmatched(store: Store, args: argparse.Namespace, **export: Any) -> None:
    """Tell the user (stderr) which filters matched nothing, with the nearest names; after
    the command succeeded, so that an error stays one line."""
    notes = store.unmatched_filters(
        args.ref,
        scope=args.scope,
        strict_scope=args.strict_scope,
        collection=args.query_collection,
        op_type=args.op_type,
        device=args.device,
        **export,
    )
    for note in notes:
        echo(f"mgstore: note: {note}", file=sys.stderr)


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

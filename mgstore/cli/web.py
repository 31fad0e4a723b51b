"""Commands that show graphs: ``serve`` (the web view) and ``draw`` (a picture as SVG)."""

from __future__ import annotations

import argparse
import sys

from mgstore.cli.base import REF_HELP, Commands, open_store
from mgstore.cli.output import echo
from mgstore.errors import InputError


def register(commands: Commands) -> None:
    sub = commands.add(
        "serve",
        serve,
        "serve a read-only web view of the store (needs: pip install 'mgstore[web]')",
        "mgstore serve --db sqlite:///graphs.db --port 8000",
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sub.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")

    sub = commands.add(
        "draw",
        draw,
        "draw a scope of a version as a standalone SVG picture",
        "mgstore draw resnet@3 --scope tower_1 -o tower_1.svg",
    )
    sub.add_argument(
        "--diff", metavar="OTHER", help="colour what changed from version OTHER to REF"
    )
    sub.add_argument("ref", help=REF_HELP)
    sub.add_argument("--scope", default="", help="the scope to draw (default: the root)")
    sub.add_argument(
        "--expand",
        action="append",
        default=[],
        metavar="SCOPE",
        help="draw this sub-scope opened (repeatable)",
    )
    sub.add_argument(
        "--colour", "--color", dest="colour", choices=["op", "device"], default="op",
        help="colour boxes by op type or by device (default: op)",
    )  # fmt: skip
    sub.add_argument("-o", "--output", required=True, help="the .svg file to write ('-': stdout)")


def serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port is a port number (0 to 65535); got {args.port}")
    from mgstore.web import serve as run

    with open_store(args) as store:  # a missing store is said first, and never created
        run(store, host=args.host, port=args.port)
    return 0


def draw(args: argparse.Namespace) -> int:
    from mgstore.web import draw as picture
    from mgstore.web.diffview import diff_svg

    with open_store(args) as store:
        if args.diff:
            svg = diff_svg(store, args.ref, args.diff, scope=args.scope, expanded=args.expand)
        else:
            svg = picture(
                store, args.ref, scope=args.scope, expanded=args.expand, colour_by=args.colour
            )
    if args.output == "-":
        sys.stdout.write(svg)
        return 0
    from mgstore.atomic import write_bytes

    write_bytes(svg.encode(), args.output)
    echo(f"wrote {args.output}")
    return 0

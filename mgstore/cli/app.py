"""``mgstore``'s entry point: build the parser from the command modules and run one command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import mgstore
from mgstore.cli import audit, completion, integrity, lifecycle, query, schema, versions, web
from mgstore.cli.base import DB_HELP, READ_DB_HELP, Commands, Handler, Parser
from mgstore.cli.output import echo
from mgstore.errors import MgstoreError

#: The command modules, in the order their commands appear in ``mgstore --help``.
MODULES = (versions, query, audit, web, schema, lifecycle, integrity, completion)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``mgstore`` command; the exit status."""
    args = build_parser().parse_args(argv)
    args.db = getattr(args, "db_here", None) or args.db  # --db before or after the command
    args.read_db = getattr(args, "read_db_here", None) or args.read_db
    try:
        handler: Handler = args.handler
        return handler(args)
    except MgstoreError as error:
        echo(f"mgstore: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        echo("mgstore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole ``mgstore`` parser, every command module's commands registered."""
    parser = Parser(
        prog="mgstore",
        description="A versioned, SQL-backed store for TensorFlow graphs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  mgstore ingest model.meta --name resnet\n  mgstore log resnet",
    )
    parser.add_argument("--db", metavar="URL", default=None, help=DB_HELP)
    parser.add_argument("--read-db", metavar="URL", default=None, help=READ_DB_HELP)
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    commands = Commands(parser)
    for module in MODULES:
        module.register(commands)
    return parser


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"mgstore {mgstore.__version__}")  # to stdout, as argparse's own "version"
        parser.exit()

"""What every command module shares: the parent parsers and the way a command is registered."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from mgstore.cli.output import echo
from mgstore.errors import InputError

if TYPE_CHECKING:
    from mgstore.store import Store

Handler = Callable[[argparse.Namespace], int]

DB_HELP = "SQLAlchemy database URL (default: $MGSTORE_DB, else sqlite:///mgstore.db)"
READ_DB_HELP = (
    "a read replica's URL: query, checkout, export and verify read there, writes and audit "
    "records go to --db (default: $MGSTORE_READ_DB, else none)"
)
REF_HELP = "NAME, NAME@N or a content-hash prefix"


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors read like every other error: the usage, then one
    ``mgstore: error: ...`` line (exit status 2, as argparse's)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        echo(f"mgstore: error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


class Commands:
    """The subcommands of ``mgstore``, with the parent parsers commands take options from.

    ``common`` gives every command ``--db`` (also accepted after the command's name), ``data``
    gives ``--json``, ``filters`` gives the query filters that ``query`` and ``export`` share.
    """

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser  # the root parser
        self.subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
        self.common = argparse.ArgumentParser(add_help=False)
        self.common.add_argument(
            "--db", metavar="URL", dest="db_here", default=argparse.SUPPRESS, help=DB_HELP
        )
        self.common.add_argument(
            "--read-db",
            metavar="URL",
            dest="read_db_here",
            default=argparse.SUPPRESS,
            help=READ_DB_HELP,
        )
        self.data = argparse.ArgumentParser(add_help=False)
        self.data.add_argument("--json", action="store_true", help="print JSON instead of text")
        self.filters = _filters()

    def add(
        self,
        name: str,
        handler: Handler,
        help: str,
        example: str,
        parents: Sequence[argparse.ArgumentParser] = (),
    ) -> argparse.ArgumentParser:
        """Register the command ``name``; its help ends with an example."""
        sub: argparse.ArgumentParser = self.subparsers.add_parser(
            name,
            help=help,
            description=help,
            parents=[self.common, *parents],
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    def group(self, name: str, help: str, example: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
        """Register a command with actions of its own (``mgstore db upgrade``); its subparsers."""
        parent = self.add(name, no_action, help, example)
        return parent.add_subparsers(title=f"{name} commands", metavar="ACTION", required=True)

    def action(
        self,
        group: argparse._SubParsersAction,  # type: ignore[type-arg]
        name: str,
        handler: Handler,
        help: str,
        data: bool = False,
    ) -> argparse.ArgumentParser:
        """Register one action of a ``group``."""
        parents = [self.common, self.data] if data else [self.common]
        sub: argparse.ArgumentParser = group.add_parser(name, parents=parents, help=help)
        sub.set_defaults(handler=handler)
        return sub


def open_store(args: argparse.Namespace, *, create: bool = False) -> Store:
    """The store a command works on (``--db``, ``--read-db``); only ``ingest`` creates one.
    The store's modules (SQLAlchemy, networkx, the protos) are imported here, not when the
    parser is built, so that ``mgstore --help`` starts at once."""
    from mgstore.store import Store

    return Store(args.db, create=create, read_url=getattr(args, "read_db", None))


def no_action(args: argparse.Namespace) -> int:  # unreachable: actions are required
    raise InputError("this command needs an action (see --help)")


def _filters() -> argparse.ArgumentParser:
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--scope", help="name prefix, as export_scope matches")
    filters.add_argument(
        "--strict-scope", action="store_true", help="match the scope at name-scope boundaries only"
    )
    filters.add_argument(
        "--op-type", action="append", default=[], metavar="OP", help="op type (repeatable)"
    )
    filters.add_argument("--device", action="append", default=[], help="device (repeatable)")
    filters.add_argument(
        "--name-regex", metavar="REGEX", help="node names containing a match (RE2 syntax)"
    )
    filters.add_argument(
        "--closure",
        choices=["ancestors", "descendants", "inference"],
        help="add everything the selection depends on, or that depends on it; inference: "
        "its ancestors and what restoring the variables they read needs",
    )
    filters.add_argument("--depth", type=int, help="with --closure: at most this many hops")
    return filters

"""Commands that check the store's integrity: fsck."""

from __future__ import annotations

import argparse

from mgstore.cli.base import REF_HELP, Commands, open_store
from mgstore.cli.output import echo, print_json


def register(commands: Commands) -> None:
    sub = commands.add(
        "fsck",
        fsck,
        "check stored versions end to end and the audit log (exit 1 on any problem)",
        "mgstore fsck resnet@2 --deep",
        [commands.data],
    )
    sub.add_argument("refs", nargs="*", metavar="REF", help=f"{REF_HELP} (default: every one)")
    sub.add_argument(
        "--deep", action="store_true", help="also recompute each stored import form and compare"
    )


def fsck(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        report = store.fsck(args.refs or None, deep=args.deep)
    if args.json:
        print_json(report.to_dict())
    elif report.ok:
        echo(f"ok: {len(report.versions)} versions checked, audit log intact")
    else:
        for problem in report.problems:
            echo(problem)
    return 0 if report.ok else 1

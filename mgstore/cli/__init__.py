"""The ``mgstore`` command line: one command per API call, no logic of its own.

Every command takes ``--db URL`` (default: ``$MGSTORE_DB``, else ``sqlite:///mgstore.db``);
commands that print data take ``--json``. An mgstore error prints one line and exits 1.

Each module of this package registers the commands of one subject (``versions``, ``query``,
``audit``, ``schema``); :mod:`mgstore.cli.app` assembles them and runs one.
"""

from __future__ import annotations

from mgstore.cli.app import build_parser, main

__all__ = ["build_parser", "main"]

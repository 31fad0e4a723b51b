"""``python -m mgstore.cli``: the same as the ``mgstore`` command."""

import sys

from mgstore.cli.app import main

sys.exit(main())

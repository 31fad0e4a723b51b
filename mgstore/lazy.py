"""Modules imported on first use, so that a command pays only for the modules it needs.

``mgstore --help`` and ``mgstore log`` need neither networkx, nor the protobuf modules, nor
Alembic; ``mgstore export`` needs them all. A module that uses a heavy module in many places
binds it with :func:`module` (and imports it normally for type checkers)::

    if TYPE_CHECKING:
        import networkx as nx
    else:
        nx = lazy.module("networkx")

Each attribute access then goes through the import system's module table (a dictionary
look-up once the module is loaded), so a hot loop binds what it calls to a local first.
Modules that use a heavy module in one or two functions import it inside them instead.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module ``name`` and imports it when one of its attributes is read."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def module(name: str) -> Any:
    """The module ``name``, imported when first used (thread-safe: the import system locks)."""
    return LazyModule(name)

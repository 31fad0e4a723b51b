"""Regular expressions that users give, run in time linear in the text: RE2.

Python's ``re`` backtracks: ``(a+)+b`` against 35 ``a`` runs for minutes, and nothing can
interrupt it. User patterns (``name_regex`` of a query, and an ``export_scope`` that is more than
a name) are therefore compiled with RE2 (the ``google-re2`` binding), whose automata
match in linear time whatever the pattern. RE2 has no backreferences or lookaround; a pattern
that needs them is refused with an :class:`~mgstore.errors.InputError`, as is one whose
automaton would exceed RE2's memory budget. Both backends run these patterns in Python, so
their results are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from mgstore.errors import InputError

#: Memory RE2 may use for one compiled pattern (its default); larger patterns are refused.
MAX_PATTERN_MEMORY = 8 << 20
_SYNTAX = frozenset("\\()[]{}|*+?^$")


@functools.lru_cache(maxsize=64)
def compile_linear(pattern: str, what: str) -> Any:
    """``pattern`` compiled with RE2 (``search``, ``sub`` as in ``re``); InputError naming
    ``what`` if RE2 cannot run it."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own message on stderr too
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options)
    except UnicodeEncodeError:
        raise InputError(
            f"{what} {pattern!r} is not valid Unicode (a lone surrogate, e.g. from an argument "
            "that is not UTF-8)"
        ) from None
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise InputError(
            f"{what} {pattern!r} is not a valid regular expression for RE2 ({reason}); "
            "mgstore runs user patterns with RE2, in linear time: no backreferences or "
            "lookaround, limited size"
        ) from None


def has_syntax(pattern: str) -> bool:
    """Whether ``pattern`` is more than literal characters and ``.``: without groups,
    alternatives, repetition or escapes, Python's ``re`` matches it without backtracking."""
    return not _SYNTAX.isdisjoint(pattern)

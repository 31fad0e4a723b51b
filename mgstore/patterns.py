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
import re
from collections.abc import Sequence
from typing import Any

import re2

from mgstore.errors import InputError

#: Memory RE2 may use for one compiled pattern (its default); larger patterns are refused.
MAX_PATTERN_MEMORY = 8 << 20
_SYNTAX = frozenset("\\()[]{}|*+?^$")


@functools.lru_cache(maxsize=64)
def compile_linear(pattern: str, what: str, *, never_nl: bool = False) -> Any:
    """``pattern`` compiled with RE2 (``search``, ``sub`` as in ``re``); InputError naming
    ``what`` if RE2 cannot run it. ``never_nl``: no match contains a newline."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own message on stderr too
    options.max_mem = MAX_PATTERN_MEMORY
    options.never_nl = never_nl
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


# Patterns that the joined search of :func:`matching_names` cannot run: inline flags (which
# could switch multi-line mode off) and the text-wide assertions \A, \z and the any-byte \C.
_NOT_LINEWISE = re.compile(r"\(\?|\\[AzC]")


def matching_names(pattern: str, what: str, names: Sequence[str]) -> list[int]:
    """The indices of the ``names`` in which ``pattern`` finds a match (``re.search``'s
    question for each name), in time linear in their total length.

    RE2 costs a few microseconds a call, whatever the text: 80,000 names would take 0.3 s.
    So the names are searched as one text, one name a line, in multi-line mode (``^`` and
    ``$`` at each name's ends) with no match crossing a newline: each search from the start
    of a line finds that line's first match or a later line's, and the next search starts at
    the line after the one that matched. Names holding a newline, and patterns that depend on
    the whole text, are searched one by one.
    """
    single = compile_linear(pattern, what)
    if not names:
        return []
    joined = "\n".join(names)
    if _NOT_LINEWISE.search(pattern) or joined.count("\n") != len(names) - 1:
        return [i for i, name in enumerate(names) if single.search(name)]
    lines = compile_linear(f"(?m){pattern}", what, never_nl=True)
    text = joined.encode("utf-8")
    found: list[int] = []
    line = position = 0  # the line that starts at byte ``position``
    while (match := lines.search(text, position)) is not None:
        start = match.start()
        line += text.count(b"\n", position, start)
        found.append(line)
        end = text.find(b"\n", start)
        if end < 0:
            break
        line, position = line + 1, end + 1
    return found


_QUANTIFIERS = frozenset("*+?{")


def anchored_prefix(pattern: str) -> str:
    """The literal text every name a search for ``pattern`` finds must start with ("" if
    none is known): the plain characters after a leading ``^``, so that a query can find
    the candidates through the name index first. Without alternation only (``^a|b`` finds
    names that do not start with ``a``); a character a quantifier follows is left out."""
    if not pattern.startswith("^") or "|" in pattern:
        return ""
    end = 1
    while end < len(pattern) and pattern[end] not in _SYNTAX and pattern[end] != ".":
        end += 1
    if end < len(pattern) and pattern[end] in _QUANTIFIERS:
        end -= 1
    return pattern[1:end]

"""What text mgstore keeps: graph names, tag keys and values, messages.

Every name-taking API checks its names here, so that the rules are the same everywhere:

* **Text a database can hold**: a ``str`` without NUL characters or lone surrogates (Python
  makes those from file names and arguments that are not UTF-8; no database encoding keeps
  them). Tag values and messages need only this.
* **Names and tag keys** must in addition be printable: no control or format characters
  (Unicode categories Cc, Cf, Zl, Zp: escape sequences, ``\\x7f``, ``\\x85``, bidirectional
  overrides such as U+202E, line separators), as git refuses them in ref names, so that a name
  printed on a terminal is the name one reads.
* **Graph names** also: not empty, no surrounding spaces, no ``@`` (it separates the version
  number in a ref), not starting with ``-`` (it would read as an option on the command line),
  not a run of hex digits (those are content-hash prefixes), at most :data:`MAX_NAME`
  characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from mgstore.errors import ArgumentTypeError, InputError

MAX_NAME = 512  # graphs.name
MAX_TAG_KEY = 256  # version_tags.key
_HEX_PREFIX = re.compile(r"[0-9a-f]{4,64}")
#: Unicode categories that a name may not hold: control, format, line and paragraph separators,
#: and surrogates (which are not text).
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def first_unprintable(text: str) -> str | None:
    """The first control, format, separator or surrogate character of ``text``, or None."""
    if text.isprintable() and text.isascii():
        return None  # the common case, checked in C
    for char in text:
        if unicodedata.category(char) in UNPRINTABLE_CATEGORIES:
            return char
    return None


def check_text(value: object, what: str) -> str:
    """``value`` if it is a ``str`` a database can store (no NUL, no lone surrogate)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{what} is a str; got {type(value).__name__}")
    if "\0" in value:
        raise InputError(f"{what} {_shown(value)} has a NUL character, which databases cannot keep")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = value[error.start]
        raise InputError(
            f"{what} {_shown(value)} is not valid Unicode: it holds the lone surrogate "
            f"U+{ord(bad):04X} (e.g. from a file name or argument that is not UTF-8)"
        ) from None
    return value


def check_printable(value: str, what: str) -> None:
    """Refuse control and format characters in a name (see the module docstring)."""
    bad = first_unprintable(value)
    if bad is not None:
        raise InputError(
            f"{what} {_shown(value)} holds the {unicodedata.category(bad)} character "
            f"U+{ord(bad):04X}; names may not hold control or format characters"
        )


def check_graph_name(name: object) -> str:
    """``name`` if it may name a graph; InputError saying which rule it breaks otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"a graph name is a non-empty str; got {_shown(name)}")
    check_text(name, "graph name")
    if len(name) > MAX_NAME:
        raise InputError(f"graph name {_shown(name[:40])}...: at most {MAX_NAME} characters")
    check_printable(name, "graph name")
    if name != name.strip() or "@" in name:
        raise InputError(f"graph name {_shown(name)}: no '@' or surrounding spaces allowed")
    if name.startswith("-"):
        raise InputError(
            f"graph name {_shown(name)}: may not start with '-' (it would read as an option)"
        )
    if _HEX_PREFIX.fullmatch(name):
        raise InputError(f"graph name {_shown(name)} looks like a content hash; choose another")
    return name


def check_tags(tags: object) -> dict[str, str]:
    """``tags`` as a dict, if every key may name a tag and every value is storable text."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ArgumentTypeError(f"tags are a mapping of str to str; got {type(tags).__name__}")
    result: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InputError(
                f"tag {_shown(key)}={_shown(value)}: keys are non-empty str, values str"
            )
        check_text(key, "tag key")
        if len(key) > MAX_TAG_KEY:
            raise InputError(f"tag key {_shown(key[:40])}...: at most {MAX_TAG_KEY} characters")
        check_printable(key, "tag key")
        check_text(value, f"the value of tag {_shown(key)}")
        result[key] = value
    return result


def check_message(message: object) -> str | None:
    """``message`` if it is None or storable text (it may hold newlines and the like)."""
    if message is None:
        return None
    if not isinstance(message, str):
        raise InputError(f"a message is a str; got {type(message).__name__}")
    return check_text(message, "the message")


def _shown(value: object, limit: int = 80) -> str:
    """A value for an error message: ``repr`` (which escapes every unprintable character),
    cut short if long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"

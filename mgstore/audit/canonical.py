"""Canonical JSON: the one text form of values that the audit log hashes."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from mgstore.errors import ArgumentTypeError, InputError


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON: sorted keys, no spaces, UTF-8 text (not ASCII escapes).

    Tuples become lists, sets sorted lists, paths strings; NaN and infinities are refused.
    """
    try:
        text = json.dumps(
            value,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
    except TypeError as error:
        raise ArgumentTypeError(f"not representable as JSON: {error}") from None
    except ValueError as error:
        raise InputError(f"not representable as JSON: {error}") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            "not representable as JSON: a string is not valid Unicode (e.g. a file name "
            "that is not UTF-8)"
        ) from None
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def frozen(value: Any) -> Any:
    """A JSON value read back, made immutable: objects as read-only mappings, arrays as
    tuples (records hand out their payloads, options and queries so)."""
    if isinstance(value, dict):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    return value

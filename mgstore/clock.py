"""Times as mgstore keeps them: UTC, timezone-aware.

SQLite gives back the naive UTC times it stored; PostgreSQL gives back aware ones in the
session's zone. Every stored time passes through :func:`as_utc` before anyone sees or hashes it.
"""

from __future__ import annotations

from datetime import datetime, timezone


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC time; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)

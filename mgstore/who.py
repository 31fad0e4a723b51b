"""Who makes a change: the user and host that records name (one helper for every record)."""

from __future__ import annotations

import getpass
import socket

_MAX_NAME = 256  # the username and hostname columns of every record


def whoami() -> tuple[str, str]:
    """The user (``unknown`` where the system names none) and the host, each cut to the
    length the record columns hold."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return user[:_MAX_NAME], socket.gethostname()[:_MAX_NAME]


def user_at_host() -> str:
    """``user@host``, as version rows (``created_by``) and lifecycle changes (``by``) name
    who made them."""
    user, host = whoami()
    return f"{user}@{host}"

"""The web view (``mgstore serve``) and standalone pictures (``mgstore draw``).

Both sit above the public :class:`~mgstore.Store` API and share one drawing: a scope's
direct children laid out in Python (:mod:`mgstore.web.layout`, :mod:`mgstore.web.picture`)
and written as SVG (:mod:`mgstore.web.svg`). Drawing needs no third-party package; the web
server needs the ``web`` extra (``pip install 'mgstore[web]'``: Starlette, Jinja2, uvicorn),
imported only when an app is made, so ``import mgstore`` never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mgstore.web.draw import draw

if TYPE_CHECKING:
    from mgstore.store import Store

__all__ = ["create_app", "draw", "serve"]


def create_app(store: Store | str | None = None) -> Any:
    """A read-only ASGI app (Starlette) showing ``store`` (a Store, or a database URL)."""
    from mgstore.web.app import create_app as make

    return make(store)


def serve(store: Store | str | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve :func:`create_app` on ``host:port`` until interrupted (localhost by default)."""
    from mgstore.web.server import run

    run(store, host=host, port=port)

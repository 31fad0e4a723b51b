"""The web view (``mgstore serve``) and standalone pictures (``mgstore draw``).

Both sit above the public :class:`~mgstore.Store` API and share one drawing: a scope's
direct children laid out in Python (:mod:`mgstore.web.layout`, :mod:`mgstore.web.picture`)
and written as SVG (:mod:`mgstore.web.svg`). Drawing needs no third-party package; the web
server needs the ``web`` extra (``pip install 'mgstore[web]'``: Starlette, Jinja2, uvicorn),
imported only when an app is made, so ``import mgstore`` never pays for it.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from mgstore.errors import MgstoreError
from mgstore.web.draw import draw

if TYPE_CHECKING:
    from mgstore.store import Store

__all__ = ["create_app", "draw", "require_extra", "serve"]


def require_extra() -> None:
    """MgstoreError saying how to install the web extra, unless its packages import."""
    missing = [name for name in ("starlette", "jinja2", "uvicorn") if find_spec(name) is None]
    if missing:
        raise MgstoreError(
            f"the web view needs the web extra: pip install 'mgstore[web]' "
            f"(missing: {', '.join(missing)})"
        )


def create_app(store: Store | str | None = None, *, warm: bool = True) -> Any:
    """A read-only ASGI app (Starlette) showing ``store`` (a Store, or a database URL);
    ``warm`` reads the latest versions in the background at once (see :mod:`mgstore.web.app`)."""
    require_extra()
    from mgstore.web.app import create_app as make

    return make(store, warm=warm)


def serve(store: Store | str | None = None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve :func:`create_app` on ``host:port`` until interrupted (localhost by default)."""
    require_extra()
    from mgstore.web.server import run

    run(store, host=host, port=port)

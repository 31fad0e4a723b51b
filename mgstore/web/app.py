"""The read-only web view as a Starlette app: routes, templates, errors.

Every page is a GET answered with server-rendered HTML (Jinja2, autoescaped) and plain
links, so it reads without JavaScript; ``static/app.js`` only enhances (opening scopes in the
picture and the tree in place). Pages are built by :mod:`mgstore.web.views` from the public
:class:`~mgstore.Store` API. There is no route that writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mgstore.errors import MgstoreError, NotFoundError
from mgstore.store import Store
from mgstore.web.views import Views, url

HERE = Path(__file__).parent


def templates() -> Environment:
    """The Jinja2 environment: every value escaped unless marked safe (only our own SVG)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates ship in the package and never change while serving
    )
    env.globals["url"] = url
    return env


def open_store(store: Store | str | None) -> tuple[Store, bool]:
    """``store`` itself, or a Store opened on the URL (and whether we own it). A store that
    does not exist is an error here: a viewer must not create an empty database."""
    if isinstance(store, Store):
        return store, False
    return Store(store, create=False), True


#: Defence in depth: even if some text escaped its escaping, no inline script would run.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(store: Store | str | None = None, *, warm: bool = True) -> Starlette:
    """The web view of ``store`` (a Store, or a database URL; see :func:`open_store`).

    ``warm``: start reading the latest version of the first few graphs in the background, so
    that their pages answer from the cache by the time someone opens them.
    """
    opened, owned = open_store(store)
    env = templates()
    views = Views(opened, env, warm=warm)
    if warm:
        for graph in opened.graphs()[: views.cache.versions]:
            views.cache.warm(f"{graph.name}@{graph.latest}")

    async def failed(request: Request, error: Exception) -> Response:
        status = 404 if isinstance(error, NotFoundError) else 400
        page = env.get_template("error.html").render(status=status, message=str(error))
        return HTMLResponse(page, status_code=status)

    routes = [
        Route("/", views.graphs),
        Route("/graph", views.graph),
        Route("/version", views.version),
        Route("/picture.svg", views.picture),
        Route("/tree", views.tree),
        Route("/nodes", views.nodes),
        Route("/node", views.node),
        Route("/diff", views.diff),
        Route("/diff.svg", views.diff_picture),
        Route("/audit", views.audit),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            opened.close()

    app = Starlette(
        routes=routes,
        exception_handlers={MgstoreError: failed},
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.store = opened
    app.state.views = views
    return app

"""Running the web view: ``mgstore serve`` in the foreground, or in a thread (tests, bench)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import uvicorn

from mgstore.errors import InputError
from mgstore.web.app import create_app

if TYPE_CHECKING:
    from mgstore.store import Store


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or InputError."""
    try:
        return socket.create_server((host, port))
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None


def run(store: Store | str | None, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted; prints where."""
    app = create_app(store)
    listener = bind(host, port)
    address = listener.getsockname()
    where = f"http://{_host(host)}:{address[1]}/"
    print(f"mgstore: serving {app.state.store!r} read-only at {where}", flush=True)
    print("mgstore: press Ctrl+C to stop", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[listener])


@contextlib.contextmanager
def running(
    store: Store | str | None, host: str = "127.0.0.1", port: int = 0, *, warm: bool = True
) -> Iterator[str]:
    """Serve in a background thread while the block runs; yields the base URL."""
    app = create_app(store, warm=warm)
    listener = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://{_host(host)}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

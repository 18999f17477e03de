"""Run the mock server inside a test process: ``with serve(config) as base_url: ...``.

The app runs under ``uvicorn.Server`` in a daemon thread on a socket bound before the thread starts, so the port
is known (port 0 picks a free one) and the context manager returns only once the server accepts requests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import replace
from typing import Any, Iterator

import uvicorn

from ._app import create_app
from ._config import Config

__all__ = ["serve"]


@contextlib.contextmanager
def serve(config: Config | None = None, *, timeout: float = 20.0, **overrides: Any) -> Iterator[str]:
    """Serve ``config`` (default: ``Config(port=0)``, a free port on 127.0.0.1) and yield its base URL."""
    config = replace(config or Config(port=0), **overrides)
    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    host, port = sock.getsockname()[:2]
    app = create_app(replace(config, port=port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # older uvicorn; not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"vision-mock:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("The mock server thread stopped before it started serving.")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"The mock server did not start within {timeout} seconds.")
        time.sleep(0.01)
    try:
        yield f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()

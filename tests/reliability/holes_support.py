"""Helpers of tests/reliability/test_holes.py: local servers on 127.0.0.1 only (an image server with redirects, a bare
listener that counts connection attempts), multipart bodies and 16-bit PNGs."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


class ImageServer:
    """A threaded HTTP server on 127.0.0.1: ``routes`` maps a path to its answer; ``hits`` counts requests by path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path, Route(404, b"not here"))
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value.replace("{base}", server.url))
                self.send_header("content-length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def counting_listener() -> Iterator[tuple[int, Callable[[], int]]]:
    """A socket listening on 127.0.0.1 that never answers; yields (port, attempts) where ``attempts()`` drains the
    accept queue and returns how many connections reached it (the kernel completes the handshake on its own, so a
    fetch that connected leaves a connection there even though nothing was accepted)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    seen = 0

    def attempts() -> int:
        nonlocal seen
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return seen
            conn.close()
            seen += 1

    try:
        yield sock.getsockname()[1], attempts
    finally:
        sock.close()


def multipart(boundary: str, parts: list[tuple[str, str | None, bytes]], *, header_padding: int = 0) -> bytes:
    out = io.BytesIO()
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out.write(f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode())
        if header_padding:
            out.write(b"X-Padding: " + b"p" * header_padding + b"\r\n")
        out.write(b"\r\n" + data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def png16(width: int, height: int) -> bytes:
    """A 16-bit greyscale PNG (Pillow mode I;16) of the sample scene: a few flat regions, so it compresses well."""
    import numpy as np
    from PIL import Image

    from vision_contracts.mockserver.testing import sample_image

    grey = Image.open(io.BytesIO(sample_image(width, height))).convert("L")
    wide = np.asarray(grey, dtype=np.uint16) * np.uint16(257)
    im = Image.frombuffer("I;16", (width, height), wide.astype("<u2").tobytes(), "raw", "I;16", 0, 1)
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


def vm_hwm_kib(pid: int) -> int:
    """Peak resident memory of a process in KiB (VmHWM from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")

"""The HTTP/1.1 protocol the server runs on: uvicorn's httptools protocol (uvicorn[standard]) with a bound on the
request head.

uvicorn's httptools protocol keeps reading a request head for as long as the client sends one (a header that never
ends grows inside the parser), while its h11 protocol stops at ``h11_max_incomplete_event_size``. This subclass keeps
httptools' speed and adds h11's bound: once more than ``MAX_HEADER_BYTES`` have arrived and the head is still not
complete, the client gets ``431 Request Header Fields Too Large`` and the connection is closed. Without httptools
(a plain ``uvicorn`` install) the server falls back to h11 with the same bound.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

#: Most bytes of an unfinished request head the server accepts before answering 431 and closing the connection.
MAX_HEADER_BYTES = 16 * 1024

_STATUS_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
_MESSAGE = b"The request head is larger than the server accepts (16 KiB)."

HAVE_HTTPTOOLS = importlib.util.find_spec("httptools") is not None  # uvicorn without [standard]: h11

__all__ = ["MAX_HEADER_BYTES", "http_protocol"]


if HAVE_HTTPTOOLS:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """httptools, with the request head bounded (see the module's docstring)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_bytes: int | None = 0  # bytes of the current head so far; None once it is complete

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._head_bytes is None:  # a new message on a kept-alive connection: count from here (plus this read)
                self._head_bytes = 0

        def on_headers_complete(self) -> None:
            self._head_bytes = None
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._head_bytes is not None:
                self._head_bytes += len(data)
            super().data_received(data)
            # Still in the head after this chunk (a head completed inside it resets the count), and too long:
            if self._head_bytes is not None and self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._refuse()

        def _refuse(self) -> None:
            self.transport.write(
                _STATUS_431
                + b"content-type: text/plain; charset=utf-8\r\n"
                + b"content-length: " + str(len(_MESSAGE)).encode("ascii") + b"\r\n"
                + b"connection: close\r\n\r\n"
                + _MESSAGE
            )
            self.transport.close()


def http_protocol() -> type[asyncio.Protocol] | str:
    """What to pass as uvicorn's ``http``: the bounded httptools protocol, or "h11" where httptools is missing."""
    if not HAVE_HTTPTOOLS:
        return "h11"
    return BoundedHttpToolsProtocol

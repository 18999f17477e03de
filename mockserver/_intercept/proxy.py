"""The intercepting forward proxy: asyncio, in the mock's own process and event loop.

One connection, one request head read first (bounded in bytes and time):

- ``CONNECT host:port``: an intercepted host gets ``200``, then TLS is terminated with that host's leaf certificate
  (``ca.Authority``) and the decrypted bytes are piped unchanged to the mock's own loopback HTTP port, so the mock's
  one pipeline (journal with the original ``Host``, scenarios, upstream/record/replay, inspector) answers them. A
  loopback or ``--passthrough`` host gets ``200`` and a byte tunnel to that host, unread. Any other host: ``403``
  with a sentence, no connection made.
- ``GET http://host/path`` (absolute form, plain HTTP): the same decision; the head is rewritten to origin form with
  ``Connection: close`` and sent to the mock (or the tunnelled host), then the bytes are piped.
- Anything else (a malformed line, an origin-form request): ``400`` with a sentence.

A client that does not trust the CA fails its TLS handshake; the proxy logs one line naming the host and the fix.
Every read has a timeout; nothing a client sends can crash the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._intercept_hosts import InterceptHosts
from .ca import Authority

__all__ = ["MAX_HEAD_BYTES", "InterceptProxy", "ProxyTimeouts"]

log = logging.getLogger("vision_contracts.mockserver.intercept")

MAX_HEAD_BYTES = 16 * 1024
_REQUEST_LINE = re.compile(rb"([A-Z]{1,20}) (\S{1,8000}) HTTP/1\.[01]")
_AUTHORITY = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]{1,253}):([0-9]{1,5})")
_HOP_HEADERS = frozenset({b"connection", b"proxy-connection", b"proxy-authorization", b"keep-alive"})
_REASONS = {400: "Bad Request", 403: "Forbidden", 408: "Request Timeout", 431: "Request Header Fields Too Large",
            502: "Bad Gateway"}


@dataclass(frozen=True)
class ProxyTimeouts:
    head: float = 10.0  # the request head (CONNECT or absolute form) must arrive within this
    handshake: float = 10.0  # the client's TLS handshake
    idle: float = 300.0  # a piped connection with no byte either way for this long is closed
    connect: float = 10.0  # opening the connection to the mock or a tunnelled host


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _response(status: int, message: str) -> bytes:
    body = (message + "\n").encode("utf-8")
    return (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("ascii") + body


def _authority(text: str) -> tuple[str, int]:
    match = _AUTHORITY.fullmatch(text)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise _Refused(400, f"A CONNECT target must be host:port (e.g. huggingface.co:443); got {text[:200]!r}.")
    return match.group(1).strip("[]").lower(), int(match.group(2))


def _origin_form_head(head: bytes, method: bytes, target: str) -> tuple[str, int, bytes]:
    """An absolute-form head -> (host, port, the head in origin form with ``Connection: close``)."""
    try:
        parts = urlsplit(target)
        hostname = parts.hostname
    except ValueError:  # an unbalanced [ in the authority
        raise _Refused(400, f"The request line's URL is malformed: {target[:200]!r}.") from None
    if parts.scheme != "http" or not hostname:
        raise _Refused(400, (
            f"This port is vision-mock's forward proxy: it takes CONNECT host:port or an absolute http:// URL in the "
            f"request line; got {target[:200]!r}. Call the mock itself on its own port, or set HTTP(S)_PROXY to this one."))
    try:
        port = parts.port or 80
    except ValueError:
        raise _Refused(400, f"The request line's URL has a bad port: {target[:200]!r}.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = head.split(b"\r\n")
    kept = [line for line in lines[1:] if line and line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
    rebuilt = b"\r\n".join([method + b" " + path.encode("latin-1") + b" HTTP/1.1", *kept, b"Connection: close"])
    return hostname.lower(), port, rebuilt + b"\r\n\r\n"


def _no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY on a piped socket, so the chunks the proxy forwards (an answer's head, then its body) are not held
    back by Nagle's algorithm waiting for the peer's acknowledgement."""
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


def _quick_ack(writer: asyncio.StreamWriter) -> None:
    """Acknowledge the client's bytes at once (Linux TCP_QUICKACK, not sticky: set again after every read). A client
    that writes a request's head and body separately with Nagle's algorithm on (requests/urllib3 through a tunnel)
    holds the body until the head is acknowledged; the kernel's delayed ACK made that ~40 ms per request."""
    sock = writer.get_extra_info("socket")
    if _QUICKACK is not None and sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)


class InterceptProxy:
    """The proxy's connection handler. ``mock`` is the mock's own loopback (host, port)."""

    def __init__(self, policy: InterceptHosts, authority: Authority, mock: tuple[str, int], timeouts: ProxyTimeouts | None = None):
        self.policy = policy
        self.authority = authority
        self.mock = mock
        self.timeouts = timeouts or ProxyTimeouts()

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, limit=MAX_HEAD_BYTES)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _no_delay(writer)
        try:
            await self._serve(reader, writer)
        except _Refused as refused:
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.write(_response(refused.status, refused.message))
                await asyncio.wait_for(writer.drain(), self.timeouts.connect)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the client went away or stalled: nothing to answer
        finally:
            writer.close()

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.timeouts.head)
        except asyncio.LimitOverrunError:
            raise _Refused(431, f"The request head is larger than the proxy accepts ({MAX_HEAD_BYTES // 1024} KiB).") from None
        except TimeoutError:
            raise _Refused(408, f"The request head did not arrive within {self.timeouts.head:g} seconds.") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await self._read_head(reader)
        line = head.split(b"\r\n", 1)[0]
        match = _REQUEST_LINE.fullmatch(line)
        if not match:
            raise _Refused(400, f"Expected a request line 'METHOD TARGET HTTP/1.1'; got {line[:200].decode('latin-1')!r}.")
        method, target = match.group(1), match.group(2).decode("latin-1")
        if method == b"CONNECT":
            host, port = _authority(target)
            await self._connect(host, port, reader, writer)
        else:
            host, port, rebuilt = _origin_form_head(head, method, target)
            upstream, _ = self._target("http", host, port)
            await self._pipe_to(upstream, rebuilt, reader, writer)

    def _target(self, scheme: str, host: str, port: int) -> tuple[tuple[str, int], bool]:
        """Where a destination's bytes go, and whether the mock answers them: the mock (a provider host), the host
        itself (loopback, --passthrough), or nowhere (403, the shared decision's sentence)."""
        decision = self.policy.decide(scheme, host, port)
        if decision.action == "refuse":
            raise _Refused(403, decision.message or f"vision-mock --intercept refuses {host}.")
        return (self.mock, True) if decision.action == "mock" else ((host, port), False)

    async def _connect(self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream, mocked = self._target("https" if port == 443 else "connect", host, port)
        if not mocked:
            await self._pipe_to(upstream, b"HTTP/1.1 200 Connection Established\r\n\r\n", reader, writer, to_client=True)
            return
        if sys.version_info < (3, 11):  # StreamWriter.start_tls arrived in 3.11
            raise _Refused(502, "vision-mock --intercept terminates TLS with asyncio's start_tls: it needs Python 3.11 or later.")
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        try:
            await writer.start_tls(self.authority.server_context(host), ssl_handshake_timeout=self.timeouts.handshake)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            log.warning(
                "vision-mock --intercept: the client connecting to %s:%d did not complete TLS (%s): it does not trust "
                "the vision-mock CA; give it %s (eval \"$(vision-mock env)\" sets SSL_CERT_FILE, REQUESTS_CA_BUNDLE, "
                "CURL_CA_BUNDLE and NODE_EXTRA_CA_CERTS).", host, port, reason, self.authority.cert_path)
            return
        await self._pipe_to(self.mock, b"", reader, writer)

    async def _pipe_to(self, target: tuple[str, int], first: bytes, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, *, to_client: bool = False) -> None:
        """Open ``target``, send ``first`` (to the client when ``to_client``, else to the target), then pipe both
        ways until one side closes or stays idle."""
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*target), self.timeouts.connect)
        except (OSError, TimeoutError, ValueError) as exc:  # ValueError: a name IDNA cannot encode
            raise _Refused(502, f"The proxy could not reach {target[0]}:{target[1]} ({type(exc).__name__}).") from None
        _no_delay(up_writer)
        try:
            (writer if to_client else up_writer).write(first)
            await asyncio.gather(self._copy(reader, up_writer, half_close=True, ack_now=writer),
                                 self._copy(up_reader, writer, half_close=False))
        finally:
            up_writer.close()

    async def _copy(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, half_close: bool,
                    ack_now: asyncio.StreamWriter | None = None) -> None:
        """Bytes from ``source`` to ``sink`` until EOF or idle; then ``sink`` gets EOF (``half_close``, where the
        transport can) or is closed (the answer side: the client's connection ends with the target's)."""
        try:
            while True:
                chunk = await asyncio.wait_for(source.read(65536), self.timeouts.idle)
                if not chunk:
                    break
                if ack_now is not None:
                    _quick_ack(ack_now)
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            pass
        finally:
            if half_close and sink.can_write_eof():
                with contextlib.suppress(OSError, RuntimeError):
                    sink.write_eof()
            else:
                sink.close()

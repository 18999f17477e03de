"""``vision_intercept``'s mechanism: HTTP(S) calls to the providers' real hosts forwarded to the live mock on loopback,
whatever client makes them; every other non-loopback destination refused before a connection is made.

The decision (mock / loopback / allowed / refuse) is the pure ``mockserver._intercept_hosts.InterceptHosts``, shared
with ``vision-mock --intercept``. The adapters, one per client stack, patch the layer each well-kept mocking library
patches (respx: the transport; responses: below ``requests``' adapter; aioresponses: ``ClientSession._request``)
and, for a mocked host, send the same request to ``http://127.0.0.1:PORT`` (the session's ``vision_mock`` server) with
the original ``Host`` header, through the client's own transport. So the mock's faults (``reset``, ``truncated``)
arrive as each library's own connection error, and the journal records the host the request was addressed to:

=================  ==========================================================  ==================================
stack              patched                                                     refusal raised
=================  ==========================================================  ==================================
httpx, httpx2      ``HTTPTransport.handle_request``, ``AsyncHTTPTransport       ``httpx.ConnectError`` /
                   .handle_async_request``                                     ``httpx2.ConnectError``
urllib3, requests  ``HTTPConnectionPool.urlopen`` (``requests`` sends through  :class:`InterceptRefused` (requests
                   it: roboflow, inference-sdk sync, airefinery sync)          wraps it in ``ConnectionError``)
aiohttp            ``ClientSession._request``                                  ``aiohttp.ClientConnectionError``
socket (backstop)  ``socket.getaddrinfo``, ``socket.socket.connect``/          :class:`InterceptRefused`
                   ``connect_ex``: stdlib ``urllib``, raw sockets, anything
                   the adapters do not reach, for non-loopback destinations
=================  ==========================================================  ==================================

Why forwarding to the live server rather than calling the app in-process (``vision_respx``'s way): one path for
five stacks, sync and async alike, with no event-loop bridging, and faults that are real connection failures rather
than imitations; ``tests/benchmarks/test_bench_intercept.py`` measures the cost against the in-process app.

Everything is undone on exit (each patched attribute restored), so nothing leaks past the block.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from vision_contracts.mockserver._intercept_hosts import Decision, InterceptHosts, is_loopback

__all__ = ["ALLOW_ADVICE", "InterceptRefused", "Interceptor", "intercepting"]

#: How a refused host is let through, for the refusal's sentence (the fixture's marker and ini option).
ALLOW_ADVICE = 'mark the test @pytest.mark.vision_allow_hosts("{host}") or add {host} to the ini option vision_allow_hosts'


class InterceptRefused(ConnectionRefusedError):
    """A connection refused by ``vision_intercept`` before it was made; the message names the host and the remedy."""


@dataclass
class Interceptor:
    """The decision and the forwarding target (the live mock's loopback host and port) of an active interception."""

    hosts: InterceptHosts
    target_host: str
    target_port: int
    #: addresses the allowed hosts resolved to (the socket backstop lets connections to them through)
    allowed_addresses: set[str] = field(default_factory=set)
    _pools: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def target(self) -> str:
        return f"http://{self.target_host}:{self.target_port}"

    def decide(self, scheme: str | None, host: str | None, port: int | None) -> Decision:
        return self.hosts.decide(scheme, host or "", port)

    def forwarded_path(self, path_and_query: str) -> str:
        """``/path?query`` of a request (an absolute URL is reduced to it) under the mock's address."""
        if "://" in path_and_query:
            parts = urlsplit(path_and_query)
            path_and_query = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.target + path_and_query

    def pool(self, key: str, make: Callable[[], Any]) -> Any:
        """A connection pool to the mock per client stack, made on first use and closed on exit."""
        with self._lock:
            if key not in self._pools:
                self._pools[key] = make()
            return self._pools[key]

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


def _host_header(host: str, port: int | None, default_port: int) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port in (None, default_port) else f"{name}:{port}"


def _default_port(scheme: str | None) -> int:
    return 443 if scheme == "https" else 80


# --- httpx and httpx2 (same API: httpx2 is httpx's fork used by huggingface_hub) ------------------------------------

def _httpx_like(module: Any, interceptor: Interceptor, request: Any) -> Any:
    """The request to send: the same one, or its copy addressed to the mock; raises the module's ConnectError when
    refused."""
    url = request.url
    decision = interceptor.decide(url.scheme, url.host, url.port or _default_port(url.scheme))
    if decision.action == "refuse":
        raise module.ConnectError(decision.message, request=request)
    if decision.action != "mock":
        return request
    target = module.URL(interceptor.forwarded_path(url.raw_path.decode("ascii")))
    return module.Request(request.method, target, headers=request.headers, stream=request.stream, extensions=request.extensions)


def _patch_httpx_like(name: str) -> Callable[[Interceptor, contextlib.ExitStack], None]:
    def patch(interceptor: Interceptor, stack: contextlib.ExitStack) -> None:
        module = importlib.import_module(name)
        sync_send = module.HTTPTransport.handle_request
        async_send = module.AsyncHTTPTransport.handle_async_request

        def handle_request(transport: Any, request: Any) -> Any:
            return sync_send(transport, _httpx_like(module, interceptor, request))

        async def handle_async_request(transport: Any, request: Any) -> Any:
            return await async_send(transport, _httpx_like(module, interceptor, request))

        _setattr(stack, module.HTTPTransport, "handle_request", handle_request)
        _setattr(stack, module.AsyncHTTPTransport, "handle_async_request", handle_async_request)

    return patch


# --- urllib3 (and requests, which sends through it) -----------------------------------------------------------------

def _patch_urllib3(interceptor: Interceptor, stack: contextlib.ExitStack) -> None:
    import urllib3
    from urllib3.connectionpool import HTTPConnectionPool

    original = HTTPConnectionPool.urlopen

    def urlopen(pool: Any, method: str, url: str, body: Any = None, headers: Any = None, *args: Any, **kwargs: Any) -> Any:
        decision = interceptor.decide(pool.scheme, pool.host, pool.port)
        if decision.action == "refuse":
            raise InterceptRefused(decision.message)
        if decision.action != "mock":
            return original(pool, method, url, body, headers, *args, **kwargs)
        mock = interceptor.pool("urllib3", lambda: urllib3.HTTPConnectionPool(interceptor.target_host, interceptor.target_port, maxsize=8))
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
        sent["Host"] = _host_header(decision.host, pool.port, _default_port(pool.scheme))
        kwargs["assert_same_host"] = False
        path = interceptor.forwarded_path(url)[len(interceptor.target):]
        return original(mock, method, path, body, sent, *args, **kwargs)

    _setattr(stack, HTTPConnectionPool, "urlopen", urlopen)


# --- aiohttp ----------------------------------------------------------------------------------------------------------

def _patch_aiohttp(interceptor: Interceptor, stack: contextlib.ExitStack) -> None:
    import aiohttp
    from multidict import CIMultiDict
    from yarl import URL

    original = aiohttp.ClientSession._request

    async def _request(session: Any, method: str, str_or_url: Any, **kwargs: Any) -> Any:
        url = session._build_url(str_or_url)
        decision = interceptor.decide(url.scheme, url.host, url.port)
        if decision.action == "refuse":
            raise aiohttp.ClientConnectionError(decision.message)
        if decision.action != "mock":
            return await original(session, method, str_or_url, **kwargs)
        headers = CIMultiDict(kwargs.pop("headers", None) or {})
        headers["Host"] = _host_header(decision.host, url.port, _default_port(url.scheme))
        target = URL(interceptor.forwarded_path(url.raw_path_qs), encoded=True)
        return await original(session, method, target, headers=headers, **kwargs)

    _setattr(stack, aiohttp.ClientSession, "_request", _request)


# --- the socket backstop ----------------------------------------------------------------------------------------------

def _socket_refusal(interceptor: Interceptor, host: str, port: Any) -> InterceptRefused:
    decision = interceptor.decide(None, host, port if isinstance(port, int) else None)
    if decision.action == "mock":  # a provider host reached by a client no adapter covers (stdlib urllib, sockets)
        return InterceptRefused(
            f"vision-contracts interception refused a connection to {host}: it is a provider host the mock answers for "
            "httpx, httpx2, requests/urllib3 and aiohttp clients, and this client (stdlib urllib, a raw socket or "
            "another library) is not one of them; send the request with one of those, or to the mock's own URL."
        )
    return InterceptRefused(decision.message)


_BIND_NAMES = (None, "", "0.0.0.0", "::")  # noqa: S104 (names a server binds to, looked up to listen, not to connect)


def _patch_socket(interceptor: Interceptor, stack: contextlib.ExitStack) -> None:
    original_getaddrinfo = socket.getaddrinfo
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode("idna") if isinstance(host, bytes) else host
        if name in _BIND_NAMES or is_loopback(str(name)):
            return original_getaddrinfo(host, port, *args, **kwargs)
        decision = interceptor.decide(None, str(name), None)
        if decision.action != "allowed":
            raise _socket_refusal(interceptor, str(name), port)
        infos = original_getaddrinfo(host, port, *args, **kwargs)
        interceptor.allowed_addresses.update(str(info[4][0]) for info in infos)
        return infos

    def passes(address: Any) -> bool:
        if not isinstance(address, tuple) or not address or not isinstance(address[0], str):
            return True  # AF_UNIX paths and the like: not network destinations
        host = address[0]
        return is_loopback(host) or host in interceptor.allowed_addresses or interceptor.decide(None, host, None).action == "allowed"

    def connect(sock: socket.socket, address: Any) -> None:
        if not passes(address):
            raise _socket_refusal(interceptor, address[0], address[1])
        original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not passes(address):
            raise _socket_refusal(interceptor, address[0], address[1])
        return original_connect_ex(sock, address)

    _setattr(stack, socket, "getaddrinfo", getaddrinfo)
    _setattr(stack, socket.socket, "connect", connect)
    _setattr(stack, socket.socket, "connect_ex", connect_ex)


# --- installing -------------------------------------------------------------------------------------------------------

def _setattr(stack: contextlib.ExitStack, owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` for the life of ``stack`` (the class's own attribute restored, or removed, on exit)."""
    missing = object()
    previous = owner.__dict__.get(name, missing) if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    if previous is missing:
        stack.callback(delattr, owner, name)
    else:
        stack.callback(setattr, owner, name, previous)


#: (module that must be installed, adapter) in installation order; a stack not installed is skipped.
ADAPTERS: tuple[tuple[str, Callable[[Interceptor, contextlib.ExitStack], None]], ...] = (
    ("httpx", _patch_httpx_like("httpx")),
    ("httpx2", _patch_httpx_like("httpx2")),
    ("urllib3", _patch_urllib3),
    ("aiohttp", _patch_aiohttp),
    ("socket", _patch_socket),
)


@contextlib.contextmanager
def intercepting(target: str, allowed: tuple[str, ...] = (), how_to_allow: str = ALLOW_ADVICE) -> Iterator[Interceptor]:
    """Inside the block, provider hosts are answered by the mock at ``target`` (``http://127.0.0.1:PORT``), loopback
    and ``allowed`` hosts pass, everything else is refused (see the module docstring)."""
    parts = urlsplit(target)
    if parts.hostname is None or parts.port is None or not is_loopback(parts.hostname):
        raise ValueError(f"The interception target must be the mock's loopback URL (http://127.0.0.1:PORT), got {target!r}.")
    interceptor = Interceptor(InterceptHosts(allowed=allowed, how_to_allow=how_to_allow), parts.hostname, parts.port)
    with contextlib.ExitStack() as stack:
        stack.callback(interceptor.close)
        for module, adapter in ADAPTERS:
            if module == "socket" or importlib.util.find_spec(module) is not None:
                adapter(interceptor, stack)
        yield interceptor

"""Routing httpx requests for the real provider hosts to the mock app, in-process, through respx.

Reach, measured by ``tests/plugin/test_pytester_respx.py``: respx patches ``httpx`` (through ``httpcore``), so
``httpx.Client``/``httpx.AsyncClient`` code is routed. It does not reach ``huggingface_hub`` (which uses ``httpx2``,
a fork with its own ``httpcore2``), nor ``requests`` (roboflow, inference-sdk sync, airefinery sync) or ``aiohttp``
(inference-sdk async, airefinery async); point those at ``vision_mock`` instead.

Sync httpx requests reach the async app through an anyio blocking portal (an event loop in a helper thread, as
Starlette's TestClient does), so a sync client works inside async tests too; async requests are awaited on the
caller's loop through ``httpx.ASGITransport``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import Any

import httpx
import respx
from anyio.from_thread import BlockingPortal, start_blocking_portal

from vision_contracts import contracts

from ._handle import Admin, admin_headers

__all__ = ["MOCK_HOST", "InProcessApp", "provider_hosts", "route_hosts"]

#: A host name that can never resolve (RFC 6761 ``.invalid``), routed to the app beside the providers' real hosts.
MOCK_HOST = "vision-mock.invalid"


def provider_hosts() -> dict[str, list[str]]:
    """Host -> the providers served there, read from the contracts' indexes."""
    hosts: dict[str, list[str]] = {}
    for provider, operation in contracts.operations():
        for host in contracts.get(provider, operation).index.get("hosts", []):
            if provider not in hosts.setdefault(host, []):
                hosts[host].append(provider)
    return hosts


def _awaited_by_respx(depth: int = 12) -> bool:
    """Whether respx resolves this request for an async client (``MockRouter.aresolve`` is on the stack): httpx
    streams are both sync and async, and a sync client may run inside a running event loop, so neither tells."""
    target = respx.MockRouter.aresolve.__code__
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code is target:
            return True
        frame = frame.f_back
    return False


def _dropped(request: httpx.Request, exc: BaseException) -> httpx.TransportError:
    return httpx.RemoteProtocolError(f"The mock dropped the connection: {exc}", request=request)


class InProcessApp:
    """The mock's ASGI app, callable for sync and async httpx requests alike."""

    def __init__(self, app: Any, portal: BlockingPortal):
        self.app = app
        self.portal = portal
        self.transport = httpx.ASGITransport(app=app)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.transport.handle_async_request(request)
            content = await response.aread()
        except (ConnectionResetError, ConnectionAbortedError) as exc:  # the mock's reset/truncated faults
            raise _dropped(request, exc) from None
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)

    def __call__(self, request: httpx.Request) -> Any:
        """respx side effect: a Response for a sync request, an awaitable for an async one (respx awaits it)."""
        if _awaited_by_respx():
            return self._send(request)
        body = request.read()
        copy = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        response = self.portal.call(self._send, copy)
        return httpx.Response(response.status_code, headers=response.headers, content=response.content, request=request)

    def admin(self, token: str | None = None) -> Admin:
        """Admin calls to the app in-process; ``token``: its admin token (``Config.admin_token``), if any."""

        def call(method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None) -> tuple[int, Any]:
            from vision_contracts.mockserver import ADMIN_PREFIX

            request = httpx.Request(method, f"http://{MOCK_HOST}{ADMIN_PREFIX}{path}", params=dict(query or {}),
                                    json=body, headers=admin_headers(token))
            response = self.portal.call(self._send, request)
            return response.status_code, response.json() if response.content else None

        return call


@contextlib.contextmanager
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


@contextlib.contextmanager
def route_hosts(app: InProcessApp, *, extra_hosts: tuple[str, ...] = (MOCK_HOST,), assert_all_mocked: bool = True) -> Iterator[respx.MockRouter]:
    """A respx router (active inside the block) sending every request for a provider host to ``app``; any other
    request raises ``respx.models.AllMockedAssertionError`` (unless ``assert_all_mocked=False``)."""
    router = respx.mock(assert_all_called=False, assert_all_mocked=assert_all_mocked)
    for host, providers in sorted(provider_hosts().items()):
        router.route(host=host, name=f"{host} ({', '.join(providers)})").mock(side_effect=app)
    for host in extra_hosts:
        router.route(host=host, name=f"{host} (the mock's own name)").mock(side_effect=app)
    with router:
        yield router

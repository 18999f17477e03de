"""``vision-mock --intercept`` wired to the mock: the proxy started and stopped with uvicorn's server, in its loop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from .._intercept_hosts import InterceptHosts, intercepted_hosts
from .ca import Authority, default_ca_dir
from .proxy import InterceptProxy

if TYPE_CHECKING:
    from .._config import Config

__all__ = ["InterceptingServer", "authority_for", "ca_certificate", "ca_folder", "host_policy", "proxy_port"]


def proxy_port(config: Config) -> int:
    """The proxy's port: ``intercept_port``, else the mock's port + 1."""
    return config.intercept_port if config.intercept_port is not None else config.port + 1


def ca_folder(ca_dir: str | None) -> Path:
    return Path(ca_dir).expanduser() if ca_dir else default_ca_dir()


def authority_for(config: Config) -> Authority:
    """The CA of ``config.ca_dir`` (made there on first use) for the intercepted hosts."""
    return Authority(ca_folder(config.ca_dir), intercepted_hosts())


def host_policy(config: Config) -> InterceptHosts:
    """The shared host decision, with ``--passthrough`` hosts allowed and the proxy's advice in its refusal."""
    return InterceptHosts(allowed=tuple(config.passthrough), how_to_allow="start vision-mock with --passthrough {host}")


def ca_certificate(config: Config) -> bytes:
    """The CA certificate's PEM (public part only), made on first use."""
    path = ca_folder(config.ca_dir) / "ca.pem"
    return path.read_bytes() if path.is_file() else authority_for(config).cert_pem()


def _loopback_for(host: str) -> str:
    """Where the proxy reaches the mock: its bound address, or loopback for an unspecified one (0.0.0.0, ::)."""
    if host in ("0.0.0.0", ""):  # noqa: S104 (a comparison, not a bind)
        return "127.0.0.1"
    return "::1" if host == "::" else host


class InterceptingServer(uvicorn.Server):
    """uvicorn's server with the intercepting proxy listening beside it, in the same event loop."""

    def __init__(self, config: uvicorn.Config, mock: Config):
        super().__init__(config)
        self.mock = mock
        self.authority = authority_for(mock)
        self.proxy = InterceptProxy(host_policy(mock), self.authority,
                                    (_loopback_for(mock.host), mock.port))
        self._listener: asyncio.Server | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._listener = await self.proxy.start(self.mock.host, proxy_port(self.mock))
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._listener is not None:
            self._listener.close()
        await super().shutdown(sockets)

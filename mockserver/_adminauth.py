"""The admin plane's locks: a bearer token, the server's own Host, and no cross-origin writes.

``AdminGuard`` is an ASGI middleware in front of every path under ``/__vision__``:

1. ``Host`` must name the server itself (DNS rebinding): ``127.0.0.1``, ``localhost``, ``[::1]``, the bound host,
   or the local address the connection reached, each with the server's port; or a name given with
   ``--admin-host NAME[:PORT]`` (a load balancer's name; ``*`` accepts any). Otherwise 403.
2. A state-changing call (POST, PUT, PATCH, DELETE) carrying an ``Origin`` must come from one of those hosts
   (CSRF from a browser page). Otherwise 403. Clients that send no ``Origin`` (curl, SDKs, the plugin) pass.
3. With ``--admin-token TOKEN``, ``Authorization: Bearer TOKEN``, compared in constant time. Otherwise 401.

``GET /__vision__/health`` stays open to all three: load balancers and orchestrators probe readiness without a
token and by IP or service name, and the answer (status, providers, seed, cache size) reads no journal, rule or
configuration secret and changes nothing. ``GET /__vision__/ca.pem`` (``--intercept``'s CA certificate) is open for
the same reasons: it is public by nature (every client that trusts it holds a copy), it is what a container or a
CI job needs before it can be configured at all, and it reads no secret (the private key is never served).

The inspector's pages (``GET /__vision__/ui/``, ``/ui/entries/ID``, ``/ui/static/...``: static HTML, CSS and
JavaScript, no data) pass the token check (1 and 2 still hold): a browser cannot send a bearer token when it opens a
page. Their data comes from ``/__vision__/ui/api/...``, which needs the token like every other admin call; the page
asks for it once and sends it.

``exposure_problem`` is the start-up check: a server bound to a non-loopback address without an admin token
refuses to start unless ``--insecure-admin`` says the risk is accepted.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ._auth import credential, token_ok

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["ADMIN_TOKEN_ENV", "AdminGuard", "admin_headers", "allowed_hosts", "exposure_problem", "is_loopback_host"]

ADMIN_PREFIX = "/__vision__"  # _admin.ADMIN_PREFIX (not imported: _admin imports FastAPI routers, this stays ASGI only)
ADMIN_TOKEN_ENV = "VISION_MOCK_ADMIN_TOKEN"
OPEN_PATHS = frozenset({ADMIN_PREFIX + "/health", ADMIN_PREFIX + "/ca.pem"})
UI_PAGES = re.compile(re.escape(ADMIN_PREFIX) + r"/ui(?:/|/entries/[0-9]+|/static/[A-Za-z0-9_.-]+)?")  # no data: no token
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def admin_headers(token: str | None) -> dict[str, str]:
    """The headers an admin client sends: ``Authorization: Bearer TOKEN`` when the server has a token."""
    return {"authorization": f"Bearer {token}"} if token else {}


# --- start-up: exposure ------------------------------------------------------------------------------------------

def _is_loopback_ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _is_unspecified(text: str) -> bool:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0]).is_unspecified
    except ValueError:
        return False


def is_loopback_host(host: str) -> bool:
    """True when binding ``host`` reaches only this machine: a loopback address, or a name all of whose
    addresses are loopback (``localhost``). Unspecified addresses (``0.0.0.0``, ``::``) are not."""
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES or _is_loopback_ip(host):
        return True
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return False  # an address, not loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(_is_loopback_ip(str(info[4][0])) for info in infos)


def exposure_problem(config: Config) -> str | None:
    """Why the server must not start with ``config``, or None: a non-loopback bind needs an admin token (or
    ``insecure_admin``)."""
    if config.admin_token or config.insecure_admin or is_loopback_host(config.host):
        return None
    return (
        f"Refusing to serve on {config.host}: that address is reachable from other machines, and without an admin "
        f"token anyone who can reach it could read the request journal and the configuration, add faults that break "
        f"other clients' requests, and reset the server through {ADMIN_PREFIX}. Start it with --admin-token TOKEN "
        f"(or the config key admin_token, or the {ADMIN_TOKEN_ENV} environment variable) so that admin calls need "
        f"'Authorization: Bearer TOKEN', or with --insecure-admin to accept the risk, or bind --host 127.0.0.1."
    )


# --- per request: Host, Origin, token ----------------------------------------------------------------------------

def _split_authority(authority: str) -> tuple[str, int | None] | None:
    """``host[:port]`` or ``[v6][:port]`` -> (lower-cased host without brackets, port or None); None when malformed."""
    authority = authority.strip().lower()
    if not authority or any(c in authority for c in "/@ \t?#"):
        return None
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host, rest = authority[1:end], authority[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else ""
    else:
        host, _, port_text = authority.partition(":")
        if ":" in port_text:
            return None
    if port_text and not port_text.isdigit():
        return None
    return host.rstrip("."), int(port_text) if port_text else None


class HostPolicy:
    """Which ``Host`` values (and Origins) name this server, for one connection."""

    def __init__(self, config: Config, scope: Scope):
        server = scope.get("server") or (config.host, config.port)
        default = 443 if scope.get("scheme") in ("https", "wss") else 80
        self.port = int(server[1]) if server[1] is not None else default  # in-process ASGI: None for the default port
        names = {name.strip("[]").lower() for name in (*LOOPBACK_NAMES, config.host, str(server[0]))}
        # 0.0.0.0 and :: name no server: a page at http://0.0.0.0:PORT reaches the loopback mock in some browsers
        self.own = {name for name in names if name and not _is_unspecified(name)}
        self.extra = [_split_authority(h) for h in config.admin_hosts if h != "*"]
        self.anything = "*" in config.admin_hosts

    def allows(self, authority: str, default_port: int = 80) -> bool:
        parsed = _split_authority(authority)
        if parsed is None:
            return False
        if self.anything:
            return True
        host, port = parsed
        if host in self.own and (port or default_port) == self.port:
            return True
        return any(extra is not None and extra[0] == host and (extra[1] is None or extra[1] == (port or default_port))
                   for extra in self.extra)

    def allows_origin(self, origin: str) -> bool:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            return False
        return self.allows(parts.netloc, 443 if parts.scheme == "https" else 80)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k.lower() == name]
    return values[-1].decode("latin-1") if values else None


def _refusal(scope: Scope, config: Config) -> tuple[int, str] | None:
    """(status, sentence) when the admin call must be refused, else None."""
    policy = HostPolicy(config, scope)
    host = _header(scope, b"host")
    if host is None or not policy.allows(host):
        shown = "no Host header" if host is None else f"the Host {host[:100]!r}"
        return 403, (
            f"The admin API answers only requests addressed to the server itself (127.0.0.1, localhost, [::1] or "
            f"its bound address, with its port {policy.port}); this request came with {shown}, as a DNS rebinding "
            f"attack would. Call it by one of those names, or start the server with --admin-host NAME[:PORT] to "
            f"accept another name (a load balancer's)."
        )
    origin = _header(scope, b"origin")
    if scope.get("method", "GET").upper() in UNSAFE_METHODS and origin is not None and not policy.allows_origin(origin):
        return 403, (
            f"The admin API refuses state-changing calls from another origin ({origin[:100]!r}): a web page must "
            f"not be able to change the mock. Send the call without an Origin header (curl, a test, the plugin) "
            f"or from a page served by the mock's own address."
        )
    token = config.admin_token
    page = scope.get("method", "GET").upper() in ("GET", "HEAD") and UI_PAGES.fullmatch(scope.get("path", "")) is not None
    if token and not page:
        presented = credential("bearer", "authorization", {"authorization": _header(scope, b"authorization") or ""}, {})
        if not token_ok(presented, (token,)):
            return 401, (
                f"The admin API needs 'Authorization: Bearer <admin token>': this server was started with "
                f"--admin-token, and the request carried {'a different token' if presented else 'no bearer token'}."
            )
    return None


class AdminGuard:
    """ASGI middleware: refuses admin calls (``/__vision__/...``) that fail the Host, Origin or token checks, with
    a JSON ``{"detail": sentence}`` (the admin API's own error shape)."""

    def __init__(self, app: ASGIApp, config: Config):
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _guarded(scope["path"], scope.get("method", "GET")):
            refusal = _refusal(scope, self.config)
            if refusal is not None:
                await _send_refusal(send, *refusal)
                return
        await self.app(scope, receive, send)


def _guarded(path: str, method: str) -> bool:
    if not (path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")):
        return False
    return not (path in OPEN_PATHS and method.upper() in ("GET", "HEAD"))


async def _send_refusal(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="vision-mock admin"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def allowed_hosts(names: Iterable[str]) -> tuple[str, ...]:
    """Validated ``--admin-host`` values: ``NAME``, ``NAME:PORT``, ``[V6]:PORT`` or ``*``; raises ValueError."""
    out = []
    for name in names:
        if name != "*" and _split_authority(name) is None:
            raise ValueError(f"expected an admin host as NAME, NAME:PORT, [IPV6]:PORT or *, got {name!r}")
        out.append(name)
    return tuple(out)

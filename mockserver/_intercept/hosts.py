"""Which hosts the intercepting proxy answers with the mock, tunnels, or refuses: a pure decision over names.

The intercepted hosts are the contracts' operation indexes' ``hosts`` plus ``huggingface.co`` (the Hub's model-info
call huggingface_hub's default provider makes first)."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable

from vision_contracts import contracts

__all__ = ["Decision", "HostPolicy", "intercepted_hosts"]

HUB_HOST = "huggingface.co"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class Decision(enum.Enum):
    MOCK = "mock"  # terminate TLS (or read plain HTTP) and answer with the mock
    TUNNEL = "tunnel"  # pipe the bytes unread: loopback, or a --passthrough host
    REFUSE = "refuse"  # 403, no connection made


def intercepted_hosts() -> tuple[str, ...]:
    """Every provider host the contracts name, plus the Hub, sorted."""
    hosts = {HUB_HOST}
    for provider, operation in contracts.operations():
        hosts.update(str(h).lower() for h in contracts.get(provider, operation).index.get("hosts", []))
    return tuple(sorted(hosts))


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HostPolicy:
    """Host name -> ``Decision``: intercepted hosts to the mock, passthrough hosts and loopback tunnelled, the rest
    refused."""

    def __init__(self, intercepted: Iterable[str], passthrough: Iterable[str] = ()):
        self.intercepted = frozenset(h.lower() for h in intercepted)
        self.passthrough = frozenset(h.lower().strip("[]") for h in passthrough)

    def decide(self, host: str) -> Decision:
        name = host.lower().strip("[]").rstrip(".")
        if name in self.intercepted:
            return Decision.MOCK
        if name in self.passthrough or _is_loopback(name):
            return Decision.TUNNEL
        return Decision.REFUSE

    def refusal(self, host: str) -> str:
        """The 403 sentence for a refused host."""
        return (
            f"vision-mock --intercept refuses {host[:200]!r}: it answers only the providers' hosts "
            f"({', '.join(sorted(self.intercepted))}) and tunnels loopback, so nothing leaves this machine. "
            f"To let this host through unread, start the server with --passthrough {host[:200]}."
        )

"""Which destinations interception answers, passes or refuses: the one decision ``vision_intercept`` (in-process, the
plugin) and ``vision-mock --intercept`` (the forward proxy's CONNECT) share. Pure: no I/O, no name resolution.

Given a destination's scheme, host and port, :meth:`InterceptHosts.decide` says:

``mock``
    a provider's real host (the contracts' operation indexes' ``hosts``, plus the Hub, ``huggingface.co``, whose
    model-info call the inference clients make first): answered by the mock; ``providers`` names who is served there.
``loopback``
    127.0.0.0/8, ``::1`` or ``localhost``: passes untouched (the mock itself, the user's own local services).
``allowed``
    a host the user allowed (exact name, or ``*.example.com`` for its subdomains): passes untouched.
``refuse``
    anything else: refused before a connection is made, with a sentence naming the host and how to allow it (the
    ``how_to_allow`` text differs between the pytest fixture and the proxy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from vision_contracts import contracts

from ._hub import HUB_HOST

__all__ = ["Decision", "InterceptHosts", "intercepted_hosts", "is_loopback", "normalise_host"]

Action = Literal["mock", "loopback", "allowed", "refuse"]

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def intercepted_hosts() -> dict[str, tuple[str, ...]]:
    """Host -> the providers served there: the contracts' operation indexes' ``hosts``, then the Hub."""
    hosts: dict[str, list[str]] = {}
    for provider, operation in contracts.operations():
        for host in contracts.get(provider, operation).index.get("hosts", []):
            providers = hosts.setdefault(normalise_host(host), [])
            if provider not in providers:
                providers.append(provider)
    hosts.setdefault(HUB_HOST, []).append("huggingface-hub")
    return {host: tuple(providers) for host, providers in hosts.items()}


def normalise_host(host: str) -> str:
    """Lower case, no brackets around an IPv6 literal, no trailing dot: ``[::1]`` -> ``::1``, ``Example.COM.`` ->
    ``example.com``."""
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback(host: str) -> bool:
    """True for a loopback address literal (127.0.0.0/8, ``::1``, an IPv4-mapped loopback) or a loopback name."""
    name = normalise_host(host)
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


@dataclass(frozen=True)
class Decision:
    """What to do with one destination; ``message`` is set when refused."""

    action: Action
    host: str
    port: int | None
    providers: tuple[str, ...] = ()
    message: str | None = None


def _matches(host: str, pattern: str) -> bool:
    pattern = normalise_host(pattern)
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class InterceptHosts:
    """The intercepted hosts (host -> providers), the hosts the user allowed, and the refusal's advice.

    ``how_to_allow`` is a sentence with ``{host}`` in it, e.g. ``mark the test
    @pytest.mark.vision_allow_hosts("{host}")``."""

    mocked: Mapping[str, tuple[str, ...]] = field(default_factory=intercepted_hosts)
    allowed: tuple[str, ...] = ()
    how_to_allow: str = "allow it explicitly"

    def with_allowed(self, hosts: Iterable[str]) -> InterceptHosts:
        return InterceptHosts(self.mocked, tuple(dict.fromkeys((*self.allowed, *hosts))), self.how_to_allow)

    def decide(self, scheme: str | None, host: str, port: int | None = None) -> Decision:
        """The decision for a destination (``scheme`` is informational: every scheme of a mocked host is mocked)."""
        name = normalise_host(host)
        providers = self.mocked.get(name)
        if providers is not None:
            return Decision("mock", name, port, providers)
        if is_loopback(name):
            return Decision("loopback", name, port)
        if any(_matches(name, pattern) for pattern in self.allowed):
            return Decision("allowed", name, port)
        return Decision("refuse", name, port, message=self.refusal(scheme, name, port))

    def refusal(self, scheme: str | None, host: str, port: int | None) -> str:
        where = host if port is None else f"{host}:{port}"
        url = f"{scheme}://{where}" if scheme else where
        return (
            f"vision-contracts interception refused a connection to {url}: under interception only the providers' hosts "
            f"({', '.join(sorted(self.mocked))}) are answered, by the mock, and only loopback is reached; "
            f"{host} is neither. To let it through, {self.how_to_allow.format(host=host)}."
        )

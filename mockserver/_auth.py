"""Credential checks for each provider's scheme, in constant time. Pure: no FastAPI import."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

__all__ = ["credential", "token_ok"]


def credential(scheme: str, name: str, headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The credential a request carries for an index's auth entry: a Bearer token or a query parameter."""
    if scheme == "bearer":
        value = headers.get(name.lower(), "")
        kind, _, token = value.partition(" ")
        if kind.rstrip(":").lower() != "bearer":
            return None
        return token.strip() or None
    return query.get(name) or None


def token_ok(presented: str | None, accepted: Iterable[str]) -> bool:
    """True when the presented token equals one of the accepted ones. Every accepted token is compared, with
    hmac.compare_digest, so the time taken says nothing about which token, or how much of one, matched."""
    given = (presented or "").encode("utf-8", "surrogateescape")
    ok = False
    for token in accepted:
        ok |= hmac.compare_digest(given, token.encode("utf-8", "surrogateescape"))
    return ok and bool(presented)

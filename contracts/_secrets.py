"""Which header and query names carry credentials, and how to take secrets out of text holding URLs: the one name rule.

Pure (no I/O). The single source of the rule: the HAR recordings use it before anything reaches the disk, and the mock
server's journal, logs and error messages import it from the contracts' public surface.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import unquote

__all__ = ["REDACTED", "SECRET_HEADERS", "SECRET_WORDS", "is_secret_name", "redact_header_value", "redact_url"]

REDACTED = "[redacted]"
#: Header names that always carry a credential, whatever else they contain.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: A header or query parameter whose name contains one of these words (case-insensitive) carries a secret:
#: ``x-goog-api-key``, ``x-auth-token``, ``client_secret``, ``X-Amz-Signature``, ``api_key``...
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "auth", "credential", "signature", "cookie")
_MAX_NESTING = 4  # URLs inside query values inside URLs...: deeper values are redacted whole when they name a secret


@functools.lru_cache(maxsize=4096)  # the same few names on every request, judged once each
def is_secret_name(name: str) -> bool:
    """True when a header or query parameter named ``name`` (percent-encoded or not) carries a secret."""
    lowered = unquote(unquote(name)).lower()
    return lowered in SECRET_HEADERS or any(word in lowered for word in SECRET_WORDS)


def redact_header_value(name: str, value: str) -> str:
    """A header's value safe to keep: a secret-named header's value becomes the placeholder (an auth scheme such as
    ``Bearer`` is kept, so a reader sees which was used); other values have secrets in their URLs redacted."""
    if not is_secret_name(name):
        return redact_url(value)
    scheme = value.split(" ", 1)[0] if " " in value.strip() else ""
    return f"{scheme} {REDACTED}".strip()


def _pairs(lead: str, equals: str, stop: str) -> re.Pattern[str]:
    """``name=value`` pairs of one encoding level: the separators before a name, its equals sign, what ends a value."""
    return re.compile(
        rf"(?P<lead>{lead})(?P<name>(?:(?!{equals}|{stop})[^=?#\s\"'<>]){{1,256}})(?P<eq>{equals})"
        rf"(?P<value>(?:(?!{stop})[^#\s\"'<>])*)",
        re.IGNORECASE,
    )


# Plain (``?a=b&c=d``), percent-encoded once (``%3Fa%3Db%26c%3Dd``, a URL inside a query value) and twice.
_LEVELS = (
    _pairs(r"^|[?&;]", "=", "&"),
    _pairs(r"%3F|%26", "%3D", r"&|%26"),
    _pairs(r"%253F|%2526", "%253D", r"&|%26|%2526"),
)
_USERINFO = re.compile(r"((?://|%2F%2F)[^/@\s:?#&]*?(?::|%3A))[^/@\s?#&]*?(@|%40)", re.IGNORECASE)
_HAS_PAIR = re.compile(r"=|%3D|%253D", re.IGNORECASE)


def _redact(text: str, depth: int) -> str:
    if not _HAS_PAIR.search(text):
        return text
    if depth > _MAX_NESTING:
        return REDACTED if any(word in unquote(unquote(text)).lower() for word in SECRET_WORDS) else text

    def pair(m: re.Match[str]) -> str:
        value = REDACTED if is_secret_name(m["name"]) else _redact(m["value"], depth + 1)
        return m["lead"] + m["name"] + m["eq"] + value

    for level in _LEVELS:
        text = level.sub(pair, text)
    return text


def redact_url(text: str) -> str:
    """Secrets in any text holding URLs (a URL, a query value, a log line): the value of every query parameter whose
    name is secret (see :func:`is_secret_name`), at any nesting, plain or percent-encoded, and the password of
    ``user:password@`` URLs (plain or percent-encoded).
    ``/ds/1?api_key=abc&x=1`` -> ``/ds/1?api_key=[redacted]&x=1``."""
    if "@" in text or "%40" in text.upper():
        text = _USERINFO.sub(r"\1" + REDACTED + r"\2", text)
    return _redact(text, 0)


def secret_values(headers: Iterable[tuple[str, str]], query: Iterable[tuple[str, str]]) -> set[str]:
    """The credentials a request carries (values of secret-named headers and query parameters, an auth scheme's
    token alone too), to scrub wherever else they appear (an echoing body, a Location header)."""
    found: set[str] = set()
    for name, value in [*headers, *query]:
        if is_secret_name(name) and value.strip():
            found.add(value.strip())
            found.add(value.strip().split(" ", 1)[-1].strip())
    return {v for v in found if len(v) >= 4 and v != REDACTED}

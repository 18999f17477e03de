"""The request journal: every request the mock received, secrets redacted, bounded in memory, safe across threads.

Pure bookkeeping: no FastAPI import. The app records one :class:`Entry` per request (whatever its outcome) and the
admin API lists, filters and clears them. ``total`` keeps counting after old entries are evicted, so a test can
compare the number of requests it sent with the number received even past the bound.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["REDACTED", "Entry", "Journal", "RedactQueryFilter", "redact_headers", "redact_query", "redact_url"]

REDACTED = "[redacted]"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key"})
SECRET_QUERY = frozenset({"api_key", "apikey", "token", "access_token", "key"})


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers with credentials replaced; a Bearer scheme is kept so users can see which was used."""
    out = {}
    for name, value in headers:
        name = name.lower()
        if name in SECRET_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value.strip() else ""
            value = f"{scheme} {REDACTED}".strip()
        out[name] = value
    return out


def redact_query(query: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k: (REDACTED if k.lower() in SECRET_QUERY else v) for k, v in query}


_SECRET_IN_URL = re.compile(r"([?&](?:%s)=)[^&#\s\"]*" % "|".join(sorted(SECRET_QUERY)), re.I)


def redact_url(text: str) -> str:
    """``/ds/1?api_key=abc&x=1`` -> ``/ds/1?api_key=[redacted]&x=1``, anywhere in a string (a log line)."""
    return _SECRET_IN_URL.sub(r"\1" + REDACTED, text) if "=" in text else text


class RedactQueryFilter(logging.Filter):
    """Redacts secret query parameters in log records: uvicorn's access log prints every request line, query included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True


@dataclass
class Entry:
    """One request as the journal keeps it."""

    id: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    body_sha256: str
    provider: str | None = None
    operation: str | None = None
    #: Hugging Face: the model family answering, ``{"name", "task", "subtask", "source"}``; ``source`` is
    #: ``catalogue`` (listed by exact id), ``configured`` (``--model ID=TASK``, the task's default family) or
    #: ``guessed`` (a name pattern, ``--guess-tasks``); ``subtask`` is set once the request's parameters are read.
    model_family: dict[str, Any] | None = None
    form: str | None = None
    image: dict[str, Any] | None = None
    verdict: dict[str, Any] = field(default_factory=lambda: {"valid": None, "violations": []})
    scenario: str | None = None
    status: int | None = None
    duration_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    """A bounded, thread-safe log of requests with exact counts."""

    def __init__(self, limit: int = 1000):
        if limit < 1:
            raise ValueError(f"The journal limit must be at least 1, got {limit}.")
        self.limit = limit
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.total = 0

    def open(self, method: str, path: str, query: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]], body: bytes) -> Entry:
        """Record a request as it arrives; the caller fills in the outcome on the returned entry."""
        entry = Entry(
            id=0, time=time.time(), method=method, path=path, query=redact_query(query), headers=redact_headers(headers),
            body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
        )
        with self._lock:
            entry.id = next(self._ids)
            self._entries.append(entry)
            self.total += 1
        return entry

    def entries(self, **filters: Any) -> list[Entry]:
        """Entries, oldest first, matching every given filter (provider, operation, status, form, valid, path)."""
        with self._lock:
            items = list(self._entries)
        return [e for e in items if _matches(e, filters)]

    def clear(self) -> int:
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            self.total = 0
        return dropped

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"total": self.total, "kept": len(self._entries), "limit": self.limit}


def _matches(entry: Entry, filters: Mapping[str, Any]) -> bool:
    for key, wanted in filters.items():
        if wanted is None:
            continue
        if key == "valid":
            if entry.verdict.get("valid") != wanted:
                return False
        elif key == "path":
            if not entry.path.startswith(wanted):
                return False
        elif getattr(entry, key) != wanted:
            return False
    return True

"""The request journal: every request the mock received, secrets redacted, kept in the server's state store.

No FastAPI import. The app records one :class:`Entry` per request (whatever its outcome) before answering it, and the
admin API lists, filters and clears them. The store bounds the journal in entries and bytes; ``total`` keeps counting
after old entries are evicted (``evicted`` says how many), so a test can compare the number of requests it sent with
the number received even past the bound.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from vision_contracts.contracts import REDACTED, is_secret_name, redact_header_value, redact_url

from ._state import JournalFilter, JournalPage, StateStore

__all__ = [
    "REDACTED", "Entry", "Journal", "RedactQueryFilter", "addressed_host", "is_secret_name", "redact_headers", "redact_query", "redact_url",
]

# The secret-name rule and URL redaction are the contracts' (one rule for the journal, logs, errors and recordings).


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased headers with credentials replaced (a Bearer scheme is kept so users can see which was used),
    and secrets inside URLs of the other headers' values (a Referer) redacted; a Host header's credentials
    (``user:secret@host``) dropped."""
    return {name.lower(): _strip_userinfo(value) if name.lower() == "host" else redact_header_value(name, value) for name, value in headers}


def _strip_userinfo(authority: str) -> str:
    return authority.rpartition("@")[2].strip()


def redact_query(query: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Query parameters with secret-named ones replaced and secrets inside URLs of the others' values redacted
    (``?image=http://host/a.png?api_key=...``)."""
    return {k: (REDACTED if is_secret_name(k) else redact_url(v)) for k, v in query}


class RedactQueryFilter(logging.Filter):
    """Redacts secrets in log records (see :func:`redact_url`): uvicorn's access log prints every request line,
    query included."""

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
    time: float  # Unix time of arrival
    time_iso: str  # the same instant in ISO 8601, UTC
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_size: int
    body_sha256: str | None  # None when the body was refused unread (too large, too slow)
    provider: str | None = None
    operation: str | None = None
    #: The host the request was addressed to (its Host header, credentials dropped): the mock's own address, or a
    #: provider's real host when the request was intercepted (``vision_intercept``, ``vision-mock --intercept``).
    host: str | None = None
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
    worker: int = 0  # the process id of the worker that served it

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def addressed_host(headers: Iterable[tuple[str, str]]) -> str | None:
    """The Host header's value without any credentials (``user:secret@host:port`` -> ``host:port``), or None."""
    value = next((v for k, v in headers if k.lower() == "host"), None)
    if value is None:
        return None
    return _strip_userinfo(value) or None


def iso_time(unix: float) -> str:
    """``1700000000.5`` -> ``2023-11-14T22:13:20.500Z``."""
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """The request journal, kept by the server's state store: shared by every worker (and, over Redis, every server),
    bounded in entries and bytes, counted exactly (``total`` = ``kept`` + ``evicted``).

    :meth:`open` builds an entry as a request arrives (secrets redacted, no I/O); :meth:`record` commits the finished
    entry, which gets its id then. ``record`` and the listings block: the server calls them from worker threads.
    """

    def __init__(self, store: StateStore):
        self.store = store

    @staticmethod
    def open(method: str, path: str, query: Iterable[tuple[str, str]], headers: Iterable[tuple[str, str]], body: bytes) -> Entry:
        """An entry for a request as it arrives; the caller fills in the outcome, then records it."""
        now = time.time()
        headers = list(headers)
        return Entry(
            id=0, time=now, time_iso=iso_time(now), method=method, path=path, query=redact_query(query),
            host=addressed_host(headers), headers=redact_headers(headers), body_size=len(body), body_sha256=hashlib.sha256(body).hexdigest(),
            worker=os.getpid(),
        )

    def record(self, entry: Entry) -> int:
        """Commit a finished entry (blocking); its id, also set on the entry."""
        entry.id = self.store.record(vars(entry))  # the fields as they are: the store encodes them at once
        return entry.id

    def entries(self, *, limit: int = 100_000, provider: str | None = None, operation: str | None = None,
                status: int | None = None, valid: bool | None = None, path: str | None = None) -> JournalPage:
        """The kept entries matching every given filter (``path`` a prefix): how many, and the newest ``limit``."""
        return self.store.entries(JournalFilter(provider, operation, status, valid, path), limit)

    def clear(self) -> int:
        return self.store.clear_journal()

    def summary(self) -> dict[str, Any]:
        counts = self.store.counts()
        return {"total": counts.total, "kept": counts.kept, "evicted": counts.evicted, "bytes": counts.bytes,
                "limit": self.store.bounds.entries, "max_bytes": self.store.bounds.bytes}

"""The state store's one interface: small JSON documents changed atomically, and the request journal.

What a server shares with its other workers (and, over Redis, with other servers) goes through a
:class:`StateStore`. The scenario rules, model loading and rate-limit windows are *documents*: the store reads and
changes each one atomically and knows nothing of their meaning (that lives in ``mockserver._scenarios``). The journal
is the store's own: ids, exact counts, the bound in entries and bytes, filters over everything kept.

Every call blocks (file or network I/O): the server makes them from worker threads, or, for a call that only reads
a store whose reads are local, on the event loop (``settle`` in the package: microseconds, no lock waited for).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "DEFAULT_BOUNDS",
    "KEEP",
    "Blob",
    "Body",
    "JournalBounds",
    "JournalCounts",
    "JournalFilter",
    "JournalPage",
    "Json",
    "StateError",
    "StateStore",
    "WouldWrite",
    "encode_entry",
    "parts_of",
    "read_only",
    "without_password",
    "writes_refused",
]

Json = Any  # a JSON value: dict, list, str, int, float, bool or None
T = TypeVar("T")

SEEDED = "__seeded__"  # the document that marks a store whose configured state was written once


class _Keep:
    """The marker a change returns to leave its document as it was (nothing is written)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()


class StateError(RuntimeError):
    """A state store that cannot be opened or used, with a sentence naming the store and the reason."""


class WouldWrite(Exception):
    """Raised by a store asked to write while :func:`read_only` holds: the call must be made again, allowed to write."""


_READ_ONLY: ContextVar[bool] = ContextVar("vision_mock_state_read_only", default=False)


@contextmanager
def read_only() -> Iterator[None]:
    """Within the block, a store's writes raise :class:`WouldWrite` before changing anything (a store checks
    :func:`writes_refused` as a write begins)."""
    token = _READ_ONLY.set(True)
    try:
        yield
    finally:
        _READ_ONLY.reset(token)


def writes_refused() -> None:
    """Raise :class:`WouldWrite` when called within :func:`read_only`."""
    if _READ_ONLY.get():
        raise WouldWrite


@dataclass(frozen=True)
class JournalBounds:
    """How much of the journal a store keeps: the oldest entries go first once either bound is passed (the newest
    entry always stays, however large). ``bodies``: bytes of kept request and answer bodies (the inspector's pictures),
    each distinct part stored and counted once however many entries share it, the oldest entries' dropped first; 0
    keeps none, and a body larger than the bound is not kept."""

    entries: int = 1000
    bytes: int = 16_000_000
    bodies: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.entries < 1 or self.bytes < 1:
            raise ValueError(f"The journal bounds must be at least 1 entry and 1 byte, got {self.entries} and {self.bytes}.")
        if self.bodies < 0:
            raise ValueError(f"The bound on kept bodies must be 0 bytes or more, got {self.bodies}.")


DEFAULT_BOUNDS = JournalBounds()


@dataclass(frozen=True)
class JournalFilter:
    """Which journal entries to list: every given field must match (``path`` is a prefix); None matches anything."""

    provider: str | None = None
    operation: str | None = None
    status: int | None = None
    valid: bool | None = None
    path: str | None = None

    def matches(self, entry: Mapping[str, Any]) -> bool:
        verdict = entry.get("verdict") or {}
        return (
            (self.provider is None or entry.get("provider") == self.provider)
            and (self.operation is None or entry.get("operation") == self.operation)
            and (self.status is None or entry.get("status") == self.status)
            and (self.valid is None or verdict.get("valid") == self.valid)
            and (self.path is None or str(entry.get("path", "")).startswith(self.path))
        )


@dataclass(frozen=True)
class JournalPage:
    """The entries a filter matched among all that are kept: how many, and the newest ``limit`` of them, oldest
    first."""

    matched: int
    entries: list[dict[str, Any]]


@dataclass(frozen=True)
class JournalCounts:
    """``total`` requests recorded since the journal was last cleared, ``kept`` of them still held (``bytes`` of JSON),
    ``evicted`` dropped by the bound; ``total == kept + evicted``."""

    total: int
    kept: int
    evicted: int
    bytes: int


@dataclass(frozen=True)
class Blob:
    """Bytes and their SHA-256 (hex): what a store keeps once by content, however many entries refer to it. Built by
    :meth:`of`, or with a digest the caller computed of exactly these bytes already (the store trusts it)."""

    data: bytes
    digest: str

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls(data, hashlib.sha256(data).hexdigest())


#: An entry's kept body: bytes, or the parts it is made of (kept apart, each once by content; read back joined).
Body = bytes | Sequence[Blob]


def parts_of(body: Body) -> list[Blob]:
    """The parts of a body (bytes: one part), empty ones left out."""
    parts = [Blob.of(body)] if isinstance(body, bytes) else list(body)
    return [part for part in parts if part.data]


def distinct(parts: Sequence[Blob]) -> dict[str, int]:
    """digest -> size of each distinct part, in order."""
    return {part.digest: len(part.data) for part in parts}


def encode_entry(entry: Mapping[str, Any]) -> str:
    """An entry as the store keeps it: compact ASCII JSON without its ``id`` (the store assigns ids)."""
    body = {k: v for k, v in entry.items() if k != "id"}
    if not body:
        raise ValueError("A journal entry needs at least one field besides its id.")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


def without_password(url: str) -> str:
    """``redis://:secret@host:6379/0?password=x`` -> ``redis://:[redacted]@host:6379/0?password=[redacted]``, for
    messages and the config view; a file path is returned as it is."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:[redacted]@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{name}=[redacted]" if name.lower() == "password" else f"{name}{sep}{value}"
        for name, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))

class StateStore(Protocol):
    """Documents changed atomically, and the request journal; one implementation per engine (SQLite, Redis)."""

    location: str  # what to name the store in messages (never a password)
    bounds: JournalBounds
    local_reads: bool  # a read neither waits for writers nor crosses a network (SQLite in WAL mode: microseconds)

    def read(self, key: str) -> Json:
        """The document ``key`` as last committed, or None."""
        ...

    def update(self, key: str, change: Callable[[Json], tuple[Json, T]]) -> T:
        """Atomically: ``new, answer = change(current)`` (current is None when absent), store ``new`` unless it is
        ``KEEP``, return ``answer``. ``change`` may run more than once (optimistic engines retry): it must be pure.
        Every write (here and below) raises :class:`WouldWrite` instead within :func:`read_only`."""
        ...

    def seed(self, documents: Mapping[str, Json]) -> bool:
        """Write ``documents`` unless this store was seeded before (by any worker or server); True when written."""
        ...

    def reset(self, documents: Mapping[str, Json]) -> None:
        """In one step: replace ``documents`` and empty the journal (its counts back to zero; ids keep growing)."""
        ...

    def record(self, entry: Mapping[str, Any], body: Body | None = None) -> int:
        """Append a finished journal entry (its ``id`` ignored), committed before returning; its new, unique id. With
        ``body`` (the entry's request and answer bodies, packed by the caller: bytes, or its parts), that is kept too,
        in the same step, referred to by the entry's id: each distinct part (by SHA-256) is stored once, however many
        entries share it. ``bounds.bodies`` bounds the bytes stored (each distinct part counted once): past it, the
        oldest entries' bodies are dropped first, a part going when no kept body refers to it any more; a body whose
        distinct parts together pass the bound is not kept (see :meth:`body`)."""
        ...

    def body(self, entry_id: int) -> bytes | None:
        """The body kept with the entry ``entry_id`` (its parts joined), or None (never given, dropped by the bound, or
        the entry evicted or cleared)."""
        ...

    def entries(self, where: JournalFilter, limit: int) -> JournalPage:
        """The kept entries ``where`` matches, filtered in the store over everything kept."""
        ...

    def counts(self) -> JournalCounts:
        ...

    def clear_journal(self) -> int:
        """Empty the journal (counts back to zero); how many entries were kept."""
        ...

    def close(self) -> None:
        ...

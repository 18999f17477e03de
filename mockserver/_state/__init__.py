"""The state store: what every worker of a server (and, over Redis, every server of a group) shares.

One interface, :class:`StateStore` (``base``), one implementation per engine: ``sqlite`` (the default, in a
temporary file shared by the workers of one server, or ``--state PATH`` kept across restarts) and ``redis``
(``--state redis://HOST:PORT/DB``). :func:`open_store` picks the engine from the location.
"""

from __future__ import annotations

from .base import (
    DEFAULT_BOUNDS,
    KEEP,
    JournalBounds,
    JournalCounts,
    JournalFilter,
    JournalPage,
    Json,
    StateError,
    StateStore,
    without_password,
)
from .sqlite import SQLiteStore, TemporaryState

__all__ = [
    "KEEP",
    "JournalBounds",
    "JournalCounts",
    "JournalFilter",
    "JournalPage",
    "Json",
    "SQLiteStore",
    "StateError",
    "StateStore",
    "TemporaryState",
    "open_store",
    "without_password",
]

REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_store(location: str | None, bounds: JournalBounds = DEFAULT_BOUNDS) -> StateStore:
    """The store at ``location``: a ``redis://``, ``rediss://`` or ``unix://`` URL, else a SQLite file path; None, a
    SQLite file in a fresh temporary folder, removed with the store (or at exit)."""
    if location is None:
        return SQLiteStore.temporary(bounds)
    scheme, sep, _ = location.partition("://")
    if not sep:
        return SQLiteStore(location, bounds)
    if scheme.lower() not in REDIS_SCHEMES:
        raise StateError(f"The state store {without_password(location)} names an unknown engine {scheme!r}; give a SQLite "
                         f"file path or a redis://HOST:PORT/DB URL.")
    try:
        from .redis import RedisStore
    except ModuleNotFoundError as exc:
        if exc.name != "redis":
            raise
        raise StateError(f"The state store {without_password(location)} needs the redis package: "
                         f"pip install 'vision-contracts[redis]'.") from exc
    return RedisStore(location, bounds)

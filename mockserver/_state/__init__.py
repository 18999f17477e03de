"""The state store: what every worker of a server (and, over Redis, every server of a group) shares.

One interface, :class:`StateStore` (``base``), one implementation per engine: ``sqlite`` (the default, in a
temporary file shared by the workers of one server, or ``--state PATH`` kept across restarts) and ``redis``
(``--state redis://HOST:PORT/DB``). :func:`open_store` picks the engine from the location; :func:`offload` runs a
store's blocking call off the event loop, :func:`settle` a call that mostly only reads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import anyio.to_thread

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
    WouldWrite,
    read_only,
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
    "offload",
    "open_store",
    "settle",
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


P = ParamSpec("P")
R = TypeVar("R")
OFFLOAD_THREADS = 8


@functools.cache
def _executor() -> ThreadPoolExecutor:
    """This process's threads for store calls (made on first use): apart from the thread pool that decodes and generates
    images, so a busy generator never delays a journal write; a quarter of the cost of a hop through anyio's pool."""
    return ThreadPoolExecutor(OFFLOAD_THREADS, thread_name_prefix="vision-mock-state")


async def offload(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``call(*args, **kwargs)`` in a worker thread, awaited: a store's calls block (file or network I/O) and must not
    hold up the event loop. On asyncio, in the store threads; under another event loop (trio), anyio's thread pool."""
    bound = functools.partial(call, *args, **kwargs)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no asyncio loop runs this coroutine: trio, through anyio
        return await anyio.to_thread.run_sync(bound)
    return await loop.run_in_executor(_executor(), bound)


async def settle(store: StateStore, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``call(*args, **kwargs)``, which reads ``store`` and may change it, without holding up the event loop. When the
    store reads locally (SQLite: a read in write-ahead-log mode waits for no writer and takes microseconds), the call
    runs first on the loop, read only: the common case (nothing configured, nothing to count) ends there. The moment it
    would write, it stops, nothing changed, and runs again from the start in a store thread (a write may wait for
    another process's lock). A store whose reads cross a network (Redis) always goes to a thread."""
    if store.local_reads:
        try:
            with read_only():
                return call(*args, **kwargs)
        except WouldWrite:
            pass  # it needs to write: below, in a thread
    return await offload(call, *args, **kwargs)

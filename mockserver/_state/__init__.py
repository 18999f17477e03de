"""The state store: what every worker of a server (and, over Redis, every server of a group) shares.

One interface, :class:`StateStore` (``base``), one implementation per engine: ``sqlite`` (the default, in a
temporary file shared by the workers of one server, or ``--state PATH`` kept across restarts) and ``redis``
(``--state redis://HOST:PORT/DB``). :func:`open_store` picks the engine from the location; :func:`offload` runs a
store's blocking call off the event loop, :func:`settle` a call that mostly only reads, :class:`GroupCommit` the
journal's writes of many requests at once in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import anyio.to_thread

from .base import (
    DEFAULT_BOUNDS,
    KEEP,
    Blob,
    Body,
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
from .behind import FlushingStore, Marks
from .sqlite import SQLiteStore, TemporaryState

__all__ = [
    "KEEP",
    "Blob",
    "Body",
    "FlushingStore",
    "GroupCommit",
    "JournalBounds",
    "JournalCounts",
    "JournalFilter",
    "JournalPage",
    "Json",
    "Marks",
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
BEHIND_LIMIT = 4096  # journal writes queued behind the answers at most (then a request waits for the queue)
FLUSH_SECONDS = 30.0
BEHIND_GATHER_SECONDS = 0.01  # how long writes behind gather before their group commits

log = logging.getLogger("vision_contracts.mockserver")


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


class GroupCommit:
    """Store writes made from the event loop, committed in groups: a call waits in a queue; one store thread runs
    every call waiting, in one transaction where the store offers it (``batch()``: SQLite; one lock and one commit
    for the group), then wakes each caller with its own result or exception. A call is committed before its caller
    resumes, as with :func:`offload`; under load, many requests' journal entries share one thread hop and one
    commit. A call alone runs at once (no timer: the group is whatever arrived while the previous one committed).

    With ``behind`` (the default temporary store, which promises no durability), :meth:`write` queues the journal's
    writes without waiting for them: they are committed in the next group, behind the answer. :meth:`flush` waits
    until every queued write of every worker is committed; reads of the journal and bodies call it first
    (:class:`FlushingStore`), so what they see is exact."""

    def __init__(self, store: StateStore, *, behind: Marks | None = None, limit: int = BEHIND_LIMIT):
        self.store = store
        self.behind = behind  # None: every write committed before its caller resumes; else see write()
        self.limit = limit
        self._lock = threading.Condition()
        self._waiting: list[tuple[Callable[[], Any], asyncio.AbstractEventLoop | None, asyncio.Future[Any] | None]] = []
        self._draining = False
        self._pending = 0  # writes queued and not yet committed (write-behind)

    async def run(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``call(*args, **kwargs)`` (a store write), committed when this returns."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio, through anyio): one call at a time
            return await offload(call, *args, **kwargs)
        future: asyncio.Future[R] = loop.create_future()
        self._queue(functools.partial(call, *args, **kwargs), loop, future)
        return await future

    async def write(self, call: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        """A journal write: committed before this returns (as :meth:`run`), or, with ``behind``, queued for the next
        group and committed behind the caller's answer; past ``limit`` writes queued, the caller waits for the queue
        to drain (the queue is bounded). A write that fails behind is logged (nobody waits for it)."""
        if self.behind is None:
            await self.run(call, *args, **kwargs)
            return
        if self._pending >= self.limit:
            await offload(self.flush)
        self.behind.queued(1)
        self._queue(functools.partial(call, *args, **kwargs), None, None)

    def flush(self, timeout: float = FLUSH_SECONDS) -> None:
        """Blocking (never on the event loop): return once every write queued so far is committed, here and, with
        ``behind``, in every other live worker sharing the store (read exactly after it). Raises StateError past
        ``timeout`` seconds."""
        with self._lock:
            if not self._lock.wait_for(lambda: self._pending == 0, timeout):
                raise StateError(f"The journal writes of {self.store.location} were not committed within {timeout:g} s.")
        if self.behind is not None:
            self.behind.wait_others(timeout)

    def _queue(self, call: Callable[[], Any], loop: asyncio.AbstractEventLoop | None, future: asyncio.Future[Any] | None) -> None:
        with self._lock:
            self._waiting.append((call, loop, future))
            self._pending += 1
            start, self._draining = not self._draining, True
        if start:
            _executor().submit(self._drain)

    def _drain(self) -> None:
        while True:
            if self.behind is not None:  # nobody waits: let the group grow (fewer, larger commits)
                time.sleep(BEHIND_GATHER_SECONDS)
            with self._lock:
                group, self._waiting = self._waiting, []
                if not group:
                    self._draining = False
                    return
            outcomes: list[tuple[bool, Any]] = []
            try:
                with self._batch():
                    for call, _, _ in group:
                        try:
                            with self._batch():  # within the group's transaction, each call atomic on its own
                                outcomes.append((True, call()))
                        except Exception as exc:  # handed to its own caller below
                            outcomes.append((False, exc))
            except Exception as exc:  # the commit failed: every call of the group is told
                outcomes = [(False, exc)] * len(group)
            for (_, loop, future), outcome in zip(group, outcomes, strict=True):
                if future is None or loop is None:  # written behind: nobody waits, a failure is logged
                    if not outcome[0]:
                        log.error("a journal write behind the answer failed: %s", outcome[1])
                    continue
                with contextlib.suppress(RuntimeError):  # its event loop has closed: nobody waits any more
                    loop.call_soon_threadsafe(_settle_future, future, outcome)
            with self._lock:
                self._pending -= len(group)
                if self.behind is not None:
                    self.behind.done(sum(1 for _, _, future in group if future is None))
                self._lock.notify_all()

    def _batch(self) -> contextlib.AbstractContextManager[None]:
        batch: Callable[[], contextlib.AbstractContextManager[None]] | None = getattr(self.store, "batch", None)
        return batch() if batch is not None else contextlib.nullcontext()


def _settle_future(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # the caller was cancelled meanwhile: the write stands, nobody waits for it
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

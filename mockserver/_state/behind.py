"""Journal writes behind the answer, read exactly: the bookkeeping that lets a worker know every write sent before a
read has been committed, in its own process and in the other workers sharing the store.

Each worker process counts, in a 16-byte file of the store's folder (``behind-<pid>``, memory-mapped), the journal
writes it queued and those it committed: a counter each, each written by one thread (queued by the event loop, done
by the store thread). A reader waits until, in every live worker, ``done`` reaches the ``queued`` it saw when it
began. :class:`FlushingStore` is the store as the server uses it: reads of the journal and bodies, a reset and a
clear flush first; decisions (rules, loading, rate limits: ``read``/``update``) never wait.
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .base import Body, JournalBounds, JournalCounts, JournalFilter, JournalPage, Json, StateError, StateStore, T

__all__ = ["FlushingStore", "Marks"]

_PREFIX = "behind-"
_COUNTS = struct.Struct("<QQ")  # queued, done
POLL_SECONDS = 0.001


class Marks:
    """This process's counts of journal writes queued and committed behind the answers, shared through a file in
    ``folder`` (the temporary store's own), and the wait for every worker's."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self.path = self.folder / f"{_PREFIX}{os.getpid()}"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, _COUNTS.size)
            self._map = mmap.mmap(fd, _COUNTS.size)
        finally:
            os.close(fd)
        self._queued = 0
        self._done = 0

    def queued(self, n: int) -> None:
        self._queued += n
        struct.pack_into("<Q", self._map, 0, self._queued)

    def done(self, n: int) -> None:
        self._done += n
        struct.pack_into("<Q", self._map, 8, self._done)

    def wait_others(self, timeout: float) -> None:
        """Return once every other live worker has committed what it had queued when this began; StateError past
        ``timeout`` seconds. A worker that ended is skipped (what it had not committed is lost with it)."""
        targets = {path: _read(path)[0] for path in self._others()}
        deadline = time.monotonic() + timeout
        for path, queued in targets.items():
            while _alive(path) and _read(path)[1] < queued:
                if time.monotonic() > deadline:
                    raise StateError(f"A worker ({path.name}) did not commit its journal writes within {timeout:g} s.")
                time.sleep(POLL_SECONDS)

    def _others(self) -> list[Path]:
        return [path for path in self.folder.glob(f"{_PREFIX}*") if path != self.path]


def _read(path: Path) -> tuple[int, int]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, 0
    return _COUNTS.unpack(data) if len(data) == _COUNTS.size else (0, 0)


def _alive(path: Path) -> bool:
    try:
        os.kill(int(path.name.removeprefix(_PREFIX)), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class FlushingStore:
    """``store`` as the server uses it with writes behind: every read of the journal or the bodies, a reset and a
    clear call ``flush`` first (so they see every answered request); everything else goes straight through."""

    def __init__(self, store: StateStore, flush: Callable[[], None]):
        self.store = store
        self.flush = flush
        self.location = store.location
        self.bounds: JournalBounds = store.bounds
        self.local_reads = store.local_reads

    def read(self, key: str) -> Json:
        return self.store.read(key)

    def update(self, key: str, change: Callable[[Json], tuple[Json, T]]) -> T:
        return self.store.update(key, change)

    def seed(self, documents: Mapping[str, Json]) -> bool:
        return self.store.seed(documents)

    def reset(self, documents: Mapping[str, Json]) -> None:
        self.flush()
        self.store.reset(documents)

    def record(self, entry: Mapping[str, Any], body: Body | None = None) -> int:
        return self.store.record(entry, body)

    def body(self, entry_id: int) -> bytes | None:
        self.flush()
        return self.store.body(entry_id)

    def entries(self, where: JournalFilter, limit: int) -> JournalPage:
        self.flush()
        return self.store.entries(where, limit)

    def counts(self) -> JournalCounts:
        self.flush()
        return self.store.counts()

    def clear_journal(self) -> int:
        self.flush()
        return self.store.clear_journal()

    def close(self) -> None:
        self.store.close()

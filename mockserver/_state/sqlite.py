"""The SQLite state store: one database file shared by every worker of a server (the default, in a temporary file),
or kept across restarts (``--state PATH``).

Write-ahead logging lets readers run beside the one writer; every read-modify-write is a short ``BEGIN IMMEDIATE``
transaction (the write lock taken up front, so two workers never both read a count and write it back), waiting up
to ``BUSY_SECONDS`` for the lock. ``synchronous=NORMAL``: a commit is in the operating system's hands when it
returns, so a killed process loses nothing it committed (a power cut may lose the last commits).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .base import (
    DEFAULT_BOUNDS,
    KEEP,
    SEEDED,
    JournalBounds,
    JournalCounts,
    JournalFilter,
    JournalPage,
    Json,
    StateError,
    T,
    encode_entry,
    writes_refused,
)

__all__ = ["SQLiteStore", "TemporaryState"]

BUSY_SECONDS = 10.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS documents (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ("CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, provider TEXT,"
     " operation TEXT, status INTEGER, valid INTEGER, path TEXT NOT NULL, doc TEXT NOT NULL)"),
    ("CREATE TABLE IF NOT EXISTS journal_counts (one INTEGER PRIMARY KEY CHECK (one = 1), total INTEGER NOT NULL,"
     " kept INTEGER NOT NULL, evicted INTEGER NOT NULL, bytes INTEGER NOT NULL)"),
    "INSERT OR IGNORE INTO journal_counts VALUES (1, 0, 0, 0, 0)",
    # the inspector's bodies, keyed by journal entry id, bounded apart (JournalBounds.bodies)
    "CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL)",
    # the bodies' sizes apart from their data: summing and walking them reads a few index pages, not every body's row
    "CREATE INDEX IF NOT EXISTS bodies_sizes ON bodies (id, size)",
)
# The entries a filter matches, newest first, each with how many matched in all: every parameter that is not NULL must
# match; the path is a prefix compared exactly (no LIKE wildcards).
_MATCHING = (
    "SELECT id, doc, count(*) OVER () FROM journal WHERE (:provider IS NULL OR provider = :provider)"
    " AND (:operation IS NULL OR operation = :operation) AND (:status IS NULL OR status = :status)"
    " AND (:valid IS NULL OR valid = :valid) AND (:path IS NULL OR substr(path, 1, length(:path)) = :path)"
    " ORDER BY id DESC LIMIT :limit"
)
_UPSERT = "INSERT INTO documents (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"


class SQLiteStore:
    """The :class:`~.base.StateStore` on one SQLite file; safe across threads (a pool of connections) and processes."""

    def __init__(self, path: str, bounds: JournalBounds = DEFAULT_BOUNDS, *, temporary: TemporaryState | None = None):
        """The store in the file ``path`` (created when absent); with ``temporary``, the folder it sits in is removed
        when the store is closed or garbage-collected, or the process exits."""
        self.path = os.path.abspath(path)
        self.location = path
        self.bounds = bounds
        self.local_reads = True
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._closed = False
        self._batch = threading.local()  # .db: the connection of this thread's open batch (see batch)
        self._finalizer = weakref.finalize(self, _discard, self._pool, temporary)
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    # --- connections and transactions --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StateError(f"The SQLite state store {self.location} cannot use write-ahead logging (its journal mode "
                                 f"stays {mode!r}); put it on a local file system.")
            db.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _borrow(self) -> Iterator[sqlite3.Connection]:
        """A connection of the pool (a new one when all are in use); SQLite's errors become sentences."""
        try:
            try:
                db = self._pool.get_nowait()
            except queue.Empty:
                db = self._connect()
            try:
                yield db
            finally:
                if self._closed:
                    db.close()
                else:
                    self._pool.put(db)
        except sqlite3.Error as exc:
            raise StateError(f"The SQLite state store {self.location} failed: {str(exc).rstrip('.')}.") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction holding the write lock from its start (``BEGIN IMMEDIATE``); within
        :meth:`batch` on this thread, a savepoint of the batch's transaction instead (atomic on its own, committed
        with the batch)."""
        writes_refused()  # within read_only(): nothing written, the caller makes the call again where it may wait
        batched: sqlite3.Connection | None = getattr(self._batch, "db", None)
        if batched is not None:
            with self._savepoint(batched):
                yield batched
            return
        with self._borrow() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextmanager
    def _savepoint(self, db: sqlite3.Connection) -> Iterator[None]:
        try:
            db.execute("SAVEPOINT one_call")
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK TO one_call")
                raise
            finally:
                db.execute("RELEASE one_call")
        except sqlite3.Error as exc:
            raise StateError(f"The SQLite state store {self.location} failed: {str(exc).rstrip('.')}.") from exc

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: the writes made on this thread within the block share one transaction, committed (one
        lock, one commit) as the block ends; each call stays atomic on its own (a savepoint: one that raises changes
        nothing, the others still commit), and so does a batch within the batch. Nothing is committed before the
        outermost block ends: answer no caller before."""
        outer: sqlite3.Connection | None = getattr(self._batch, "db", None)
        if outer is not None:  # a batch within a batch: one savepoint (its writes atomic together)
            with self._savepoint(outer):
                yield
            return
        with self._transaction() as db:
            self._batch.db, self._batch.evict = db, False
            try:
                yield
            finally:
                self._batch.db = None
            if self._batch.evict:
                self._evict_now(db)

    @classmethod
    def temporary(cls, bounds: JournalBounds = DEFAULT_BOUNDS) -> SQLiteStore:
        """A store in a fresh temporary folder, removed with the store."""
        folder = TemporaryState()
        return cls(folder.path, bounds, temporary=folder)

    def close(self) -> None:
        self._closed = True
        self._finalizer()

    # --- documents ---------------------------------------------------------------------------------------------

    def read(self, key: str) -> Json:
        with self._borrow() as db:
            return _load(db, key)

    def update(self, key: str, change: Callable[[Json], tuple[Json, T]]) -> T:
        new, answer = change(self.read(key))
        if new is KEEP:  # nothing to write: the answer holds for the state just read, no lock needed
            return answer
        with self._transaction() as db:
            new, answer = change(_load(db, key))
            if new is not KEEP:
                db.execute(_UPSERT, (key, json.dumps(new)))
        return answer

    def seed(self, documents: Mapping[str, Json]) -> bool:
        with self._transaction() as db:
            if _load(db, SEEDED) is not None:
                return False
            _store(db, {**documents, SEEDED: True})
            return True

    def reset(self, documents: Mapping[str, Json]) -> None:
        with self._transaction() as db:
            _store(db, documents)
            _empty_journal(db)

    # --- the journal -------------------------------------------------------------------------------------------

    def record(self, entry: Mapping[str, Any], body: bytes | None = None) -> int:
        doc = encode_entry(entry)
        verdict = entry.get("verdict") or {}
        valid = verdict.get("valid")
        with self._transaction() as db:
            entry_id = db.execute(
                "INSERT INTO journal (size, provider, operation, status, valid, path, doc) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (len(doc), entry.get("provider"), entry.get("operation"), entry.get("status"),
                 None if valid is None else int(bool(valid)), str(entry.get("path", "")), doc),
            ).lastrowid
            db.execute("UPDATE journal_counts SET total = total + 1, kept = kept + 1, bytes = bytes + ?", (len(doc),))
            self._evict(db)
            if body is not None and entry_id is not None and 0 < len(body) <= self.bounds.bodies:
                self._keep_body(db, entry_id, body)
        if entry_id is None:
            raise StateError(f"The SQLite state store {self.location} gave no id to a new journal entry.")
        return entry_id

    def _evict(self, db: sqlite3.Connection) -> None:
        """Drop the oldest entries while either bound is passed, the newest entry always kept. Within a batch, once as
        the batch commits: the same entries stay (the newest that fit the bounds), in one walk instead of one each."""
        if getattr(self._batch, "db", None) is db:
            self._batch.evict = True
            return
        self._evict_now(db)

    def _evict_now(self, db: sqlite3.Connection) -> None:
        kept, size = db.execute("SELECT kept, bytes FROM journal_counts").fetchone()
        dropped, freed, last = 0, 0, None
        rows = db.execute("SELECT id, size FROM journal ORDER BY id")
        while kept - dropped > 1 and (kept - dropped > self.bounds.entries or size - freed > self.bounds.bytes):
            last, row_size = rows.fetchone()
            dropped, freed = dropped + 1, freed + row_size
        rows.close()
        if dropped:
            db.execute("DELETE FROM journal WHERE id <= ?", (last,))
            db.execute("DELETE FROM bodies WHERE id <= ?", (last,))  # an evicted entry's bodies go with it
            db.execute("UPDATE journal_counts SET kept = kept - ?, bytes = bytes - ?, evicted = evicted + ?", (dropped, freed, dropped))

    def _keep_body(self, db: sqlite3.Connection, entry_id: int, body: bytes) -> None:
        """Keep ``body`` under ``entry_id``, dropping the oldest bodies while the bound would be passed."""
        size = int(db.execute("SELECT coalesce(sum(size), 0) FROM bodies").fetchone()[0])
        if size + len(body) > self.bounds.bodies:
            dropped, freed = None, 0
            rows = db.execute("SELECT id, size FROM bodies ORDER BY id")  # read only as far as needed
            for row_id, row_size in rows:
                if size - freed + len(body) <= self.bounds.bodies:
                    break
                dropped, freed = row_id, freed + row_size
            rows.close()
            if dropped is not None:
                db.execute("DELETE FROM bodies WHERE id <= ?", (dropped,))
        db.execute("INSERT OR REPLACE INTO bodies (id, size, data) VALUES (?, ?, ?)", (entry_id, len(body), body))

    def body(self, entry_id: int) -> bytes | None:
        with self._borrow() as db:
            row = db.execute("SELECT data FROM bodies WHERE id = ?", (entry_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def entries(self, where: JournalFilter, limit: int) -> JournalPage:
        with self._borrow() as db:
            rows = db.execute(_MATCHING, {**_where(where), "limit": limit}).fetchall()
        matched = rows[0][2] if rows else 0
        return JournalPage(matched, [{"id": row_id, **json.loads(doc)} for row_id, doc, _ in reversed(rows)])

    def counts(self) -> JournalCounts:
        with self._borrow() as db:
            total, kept, evicted, size = db.execute("SELECT total, kept, evicted, bytes FROM journal_counts").fetchone()
        return JournalCounts(total=total, kept=kept, evicted=evicted, bytes=size)

    def clear_journal(self) -> int:
        with self._transaction() as db:
            return _empty_journal(db)


class TemporaryState:
    """A SQLite file's path in a fresh private folder (the default store of a server given no ``--state``);
    :meth:`remove` deletes the folder: the database and its write-ahead log."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="vision-mock-state-")
        self.path = os.path.join(self.folder, "state.sqlite3")

    def remove(self) -> None:
        if os.path.isdir(self.folder):
            shutil.rmtree(self.folder)


def _discard(pool: queue.SimpleQueue[sqlite3.Connection], temporary: TemporaryState | None) -> None:
    """Close the idle connections (those in use close when returned), then remove a temporary store's folder."""
    while True:
        try:
            pool.get_nowait().close()
        except queue.Empty:
            break
    if temporary is not None:
        temporary.remove()


def _load(db: sqlite3.Connection, key: str) -> Json:
    row = db.execute("SELECT value FROM documents WHERE key = ?", (key,)).fetchone()
    return None if row is None else json.loads(row[0])


def _store(db: sqlite3.Connection, documents: Mapping[str, Json]) -> None:
    db.executemany(_UPSERT, [(key, json.dumps(value)) for key, value in documents.items()])


def _empty_journal(db: sqlite3.Connection) -> int:
    kept = int(db.execute("SELECT kept FROM journal_counts").fetchone()[0])
    db.execute("DELETE FROM journal")
    db.execute("DELETE FROM bodies")
    db.execute("UPDATE journal_counts SET total = 0, kept = 0, evicted = 0, bytes = 0")
    return kept


def _where(where: JournalFilter) -> dict[str, Any]:
    """The filter parameters of ``_MATCHING`` (``valid`` as 1 or 0)."""
    valid = None if where.valid is None else int(where.valid)
    return {"provider": where.provider, "operation": where.operation, "status": where.status, "valid": valid, "path": where.path}

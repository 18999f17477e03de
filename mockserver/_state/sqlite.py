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
    Blob,
    Body,
    JournalBounds,
    JournalCounts,
    JournalFilter,
    JournalPage,
    Json,
    StateError,
    T,
    distinct,
    encode_entry,
    parts_of,
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
    # the inspector's bodies, bounded apart (JournalBounds.bodies): each distinct part once, by its SHA-256 ...
    "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL)",
    # (their sizes apart from their data: summing them reads a few index pages, not every blob's row)
    "CREATE INDEX IF NOT EXISTS blobs_sizes ON blobs (size)",
    # ... and which parts, in order, make the body kept with a journal entry
    ("CREATE TABLE IF NOT EXISTS body_parts (id INTEGER NOT NULL, seq INTEGER NOT NULL, digest TEXT NOT NULL,"
     " PRIMARY KEY (id, seq)) WITHOUT ROWID"),
    "CREATE INDEX IF NOT EXISTS body_parts_digests ON body_parts (digest)",
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
            _migrate_bodies(db)

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

    def record(self, entry: Mapping[str, Any], body: Body | None = None) -> int:
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
            if body is not None and entry_id is not None:
                self._keep_body(db, entry_id, parts_of(body))  # before the eviction: a part it shares stays
            self._evict(db)
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
        dropped, freed, last = 0, 0, 0
        rows = db.execute("SELECT id, size FROM journal ORDER BY id")
        while kept - dropped > 1 and (kept - dropped > self.bounds.entries or size - freed > self.bounds.bytes):
            last, row_size = rows.fetchone()
            dropped, freed = dropped + 1, freed + row_size
        rows.close()
        if dropped:
            db.execute("DELETE FROM journal WHERE id <= ?", (last,))
            _drop_bodies(db, last)  # an evicted entry's body goes with it
            db.execute("UPDATE journal_counts SET kept = kept - ?, bytes = bytes - ?, evicted = evicted + ?", (dropped, freed, dropped))

    def _keep_body(self, db: sqlite3.Connection, entry_id: int, parts: list[Blob]) -> None:
        """Keep the body made of ``parts`` for ``entry_id``: its references taken first (a part already stored costs
        nothing more), then the oldest entries' bodies dropped while the new parts would pass the bound, then the new
        parts stored. A body whose distinct parts together pass the bound is not kept, and nothing else is dropped."""
        sizes = distinct(parts)
        if not sizes or sum(sizes.values()) > self.bounds.bodies:
            return
        marks = ",".join("?" * len(sizes))
        stored = {row[0] for row in db.execute(f"SELECT digest FROM blobs WHERE digest IN ({marks})", list(sizes))}  # noqa: S608 (only "?" marks)
        db.executemany("INSERT OR REPLACE INTO body_parts (id, seq, digest) VALUES (?, ?, ?)",
                       [(entry_id, seq, part.digest) for seq, part in enumerate(parts)])
        needed = sum(size for digest, size in sizes.items() if digest not in stored)
        if not needed:  # every part is stored already (a repeated request): one row per part, nothing else
            return
        held = int(db.execute("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()[0])
        while held + needed > self.bounds.bodies:
            oldest = db.execute("SELECT id FROM body_parts WHERE id != ? ORDER BY id LIMIT 1", (entry_id,)).fetchone()
            if oldest is None:
                break
            held -= _drop_bodies(db, oldest[0], only=True)
        db.executemany("INSERT OR IGNORE INTO blobs (digest, size, data) VALUES (?, ?, ?)",
                       [(part.digest, len(part.data), part.data) for part in parts if part.digest not in stored])

    def body(self, entry_id: int) -> bytes | None:
        with self._borrow() as db:
            rows = db.execute("SELECT b.data FROM body_parts p JOIN blobs b ON b.digest = p.digest WHERE p.id = ? ORDER BY p.seq",
                              (entry_id,)).fetchall()
        return b"".join(bytes(row[0]) for row in rows) if rows else None

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
    db.execute("DELETE FROM body_parts")
    db.execute("DELETE FROM blobs")
    db.execute("UPDATE journal_counts SET total = 0, kept = 0, evicted = 0, bytes = 0")
    return kept


def _drop_bodies(db: sqlite3.Connection, last: int, *, only: bool = False) -> int:
    """Drop the bodies kept with the entries up to ``last`` (``only``: with that entry alone), and every part no kept
    body refers to any more; the bytes freed."""
    where = "id = ?" if only else "id <= ?"
    digests = [row[0] for row in db.execute(f"SELECT DISTINCT digest FROM body_parts WHERE {where}", (last,))]  # noqa: S608 (one of two constants)
    if not digests:
        return 0
    db.execute(f"DELETE FROM body_parts WHERE {where}", (last,))  # noqa: S608 (one of two constants)
    freed = 0
    for digest in digests:
        row = db.execute("DELETE FROM blobs WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM body_parts WHERE digest = ?) RETURNING size",
                         (digest, digest)).fetchone()
        freed += int(row[0]) if row is not None else 0
    return freed


def _migrate_bodies(db: sqlite3.Connection) -> None:
    """A store kept (``--state PATH``) from before bodies were shared: its ``bodies`` table (one blob per entry) moved
    into ``blobs`` and ``body_parts``, each body one part."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bodies'").fetchone() is None:
        return
    for entry_id, data in db.execute("SELECT id, data FROM bodies ORDER BY id").fetchall():
        blob = Blob.of(bytes(data))
        db.execute("INSERT OR IGNORE INTO blobs (digest, size, data) VALUES (?, ?, ?)", (blob.digest, len(blob.data), blob.data))
        db.execute("INSERT OR REPLACE INTO body_parts (id, seq, digest) VALUES (?, 0, ?)", (entry_id, blob.digest))
    db.execute("DROP TABLE bodies")


def _where(where: JournalFilter) -> dict[str, Any]:
    """The filter parameters of ``_MATCHING`` (``valid`` as 1 or 0)."""
    valid = None if where.valid is None else int(where.valid)
    return {"provider": where.provider, "operation": where.operation, "status": where.status, "valid": valid, "path": where.path}

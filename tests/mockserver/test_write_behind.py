"""Journal writes behind the answer (issue 19): with the default temporary store the journal's entries and bodies are
committed after the answer leaves, in groups; every read of the journal or the bodies, a reset, a clear and shutdown
flush them first, so what a test reads stays exact. ``--state PATH`` keeps commit-before-answer.

The store's write lock is held by another connection to show the difference: answers arrive while nothing can be
committed, and a read made meanwhile waits for the flush instead of reading a short journal."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver._state import FlushingStore, GroupCommit, JournalFilter, Marks, SQLiteStore, StateError
from vision_contracts.mockserver.testing import sample_image

from server_support import CREATED, b64

DETR = "/models/facebook/detr-resnet-50"


def _entry(i: int) -> dict[str, Any]:
    return {"path": f"/p/{i}", "provider": "huggingface", "status": 200, "verdict": {"valid": True}}


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    s = SQLiteStore.temporary()
    yield s
    s.close()


def _behind(store: SQLiteStore, limit: int = 4096) -> tuple[GroupCommit, FlushingStore]:
    writes = GroupCommit(store, behind=Marks(Path(store.path).parent), limit=limit)
    return writes, FlushingStore(store, writes.flush)


@contextmanager
def _write_lock(path: str) -> Iterator[threading.Event]:
    """The store's write lock held by another connection until the yielded event is set (or the block ends)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("BEGIN IMMEDIATE")
    release = threading.Event()

    def hold() -> None:
        release.wait(30)
        db.execute("COMMIT")
        db.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        yield release
    finally:
        release.set()
        holder.join()


def test_writes_behind_are_all_committed_and_reads_are_exact(store: SQLiteStore) -> None:
    writes, flushing = _behind(store)

    async def main() -> None:
        for i in range(300):
            await writes.write(store.record, _entry(i))

    with _write_lock(store.path) as release:
        asyncio.run(main())  # every write queued while no commit is possible: the caller never waited
        assert store.counts().total == 0
        threading.Timer(0.2, release.set).start()
        counts = flushing.counts()  # waits for the flush, then reads
    assert (counts.total, counts.kept) == (300, 300)
    page = flushing.entries(JournalFilter(), 1000)
    assert sorted(e["path"] for e in page.entries) == sorted(f"/p/{i}" for i in range(300))
    assert len({e["id"] for e in page.entries}) == 300


def test_the_queue_is_bounded(store: SQLiteStore) -> None:
    writes, flushing = _behind(store, limit=5)
    seen: list[int] = []

    async def main() -> None:
        for i in range(40):
            await writes.write(store.record, _entry(i))
            seen.append(writes._pending)

    asyncio.run(main())
    assert max(seen) <= 6  # at most the bound, plus the write just queued
    assert flushing.counts().total == 40


def test_a_failing_write_behind_is_logged_and_the_others_committed(store: SQLiteStore, caplog: pytest.LogCaptureFixture) -> None:
    writes, flushing = _behind(store)

    def broken() -> int:
        raise ValueError("no such entry")

    async def main() -> None:
        await writes.write(store.record, _entry(1))
        await writes.write(broken)
        await writes.write(store.record, _entry(2))

    with caplog.at_level(logging.ERROR, logger="vision_contracts.mockserver"):
        asyncio.run(main())
        writes.flush()
    assert flushing.counts().total == 2
    assert any("journal write behind the answer failed: no such entry" in r.getMessage() for r in caplog.records)


def test_a_flush_waits_for_the_other_workers_writes(tmp_path: Path) -> None:
    mine = Marks(tmp_path)
    other = tmp_path / f"behind-{os.getppid()}"  # a live process standing for another worker
    other.write_bytes(struct.pack("<QQ", 3, 1))  # 3 queued, 1 committed
    with pytest.raises(StateError, match=r"did not commit its journal writes within 0.1 s"):
        mine.wait_others(0.1)
    threading.Timer(0.1, lambda: other.write_bytes(struct.pack("<QQ", 3, 3))).start()
    mine.wait_others(10)  # returns once the other worker has committed all three
    (tmp_path / "behind-999999999").write_bytes(struct.pack("<QQ", 5, 0))  # a worker that ended: not waited for
    mine.wait_others(0.1)


def _app_config(tmp_path: Path, **extra: Any) -> Config:
    return Config(seed=7, created=CREATED, state=str(tmp_path / "state.sqlite3"), **extra)


def _committed(path: str | None) -> int:
    """The journal's total as committed in the file (read without taking any lock)."""
    with sqlite3.connect(str(path)) as db:
        return int(db.execute("SELECT total FROM journal_counts").fetchone()[0])


def _detect(client: TestClient, i: int) -> Any:
    return client.post(DETR, json={"inputs": b64(sample_image(64 + i, 48))}, headers={"x-use-cache": "false"})


def test_admin_reads_flush_and_bodies_equal_the_served_answers(tmp_path: Path) -> None:
    config = _app_config(tmp_path, state_temporary=True)
    with TestClient(create_app(config)) as client:
        client.get("/__vision__/health")
        with _write_lock(config.state) as release:
            answers = [_detect(client, i) for i in range(6)]  # answered while no journal write can commit
            assert all(a.status_code == 200 for a in answers)
            threading.Timer(0.2, release.set).start()
            journal = client.get("/__vision__/journal").json()  # waits for the flush
        assert journal["total"] == 6
        assert [e["status"] for e in journal["entries"]] == [200] * 6
        server = client.app.state.server  # type: ignore[attr-defined]
        for entry, answer in zip(journal["entries"], answers, strict=True):
            kept = client.get(f"/__vision__/ui/api/entries/{entry['id']}").json()
            assert kept["answer"] == answer.json()  # computed again from the kept request: the served answer
            blob = server.state.body(entry["id"])
            assert b'"regenerate":true' in blob
            assert answer.content not in blob  # the answer itself is not kept (issue 19, lever 2)


def test_shutdown_flushes_the_writes_behind(tmp_path: Path) -> None:
    config = _app_config(tmp_path, state_temporary=True)
    with TestClient(create_app(config)) as client, _write_lock(config.state) as release:
        assert all(_detect(client, i).status_code == 200 for i in range(4))
        assert _committed(config.state) == 0  # nothing committed yet: the lock is held
        threading.Timer(0.2, release.set).start()
    # the app has shut down: its shutdown waited for the journal's writes
    assert _committed(config.state) == 4


def test_a_kept_state_commits_before_the_answer(tmp_path: Path) -> None:
    config = _app_config(tmp_path)  # --state PATH: durable
    with TestClient(create_app(config)) as client:
        for i in range(3):
            assert _detect(client, i).status_code == 200
            assert _committed(config.state) == i + 1  # committed before the answer came back

"""The journal's group commit (issue 12): writes from the event loop committed in groups, one SQLite transaction per
group, each write atomic on its own, each caller resumed only once its write is committed, with its own result or
exception."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vision_contracts.mockserver._state import GroupCommit, JournalFilter, SQLiteStore, StateError


def _entry(i: int) -> dict[str, Any]:
    return {"path": f"/p/{i}", "provider": "huggingface", "status": 200, "verdict": {"valid": True}}


@pytest.fixture
def store() -> Any:
    s = SQLiteStore.temporary()
    yield s
    s.close()


def test_concurrent_writes_are_all_committed_with_unique_ids(store: SQLiteStore) -> None:
    writes = GroupCommit(store)

    async def main() -> list[int]:
        return await asyncio.gather(*(writes.run(store.record, _entry(i)) for i in range(200)))

    ids = asyncio.run(main())
    assert len(set(ids)) == 200
    counts = store.counts()
    assert (counts.total, counts.kept) == (200, 200)
    page = store.entries(JournalFilter(), 1000)
    assert sorted(e["path"] for e in page.entries) == sorted(f"/p/{i}" for i in range(200))


def test_a_failing_write_fails_alone_and_changes_nothing(store: SQLiteStore) -> None:
    writes = GroupCommit(store)

    def half_then_fail() -> None:
        store.record(_entry(-1))  # written inside the savepoint, then rolled back with it
        raise StateError("no")

    async def main() -> list[Any]:
        calls = [writes.run(store.record, _entry(i)) if i != 5 else writes.run(half_then_fail) for i in range(10)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(main())
    assert isinstance(outcomes[5], StateError)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 5)
    assert store.counts().total == 9
    assert "/p/-1" not in {e["path"] for e in store.entries(JournalFilter(), 100).entries}


def test_a_batch_commits_at_its_end_and_nests(store: SQLiteStore) -> None:
    other = SQLiteStore(store.path)  # another worker's store on the same file
    try:
        with store.batch():
            store.record(_entry(1))
            with store.batch():
                store.record(_entry(2))
            assert other.counts().total == 0  # nothing committed before the batch ends
        assert other.counts().total == store.counts().total == 2
    finally:
        other.close()


def test_eviction_in_a_batch_keeps_what_eviction_per_write_keeps() -> None:
    from vision_contracts.mockserver._state import JournalBounds

    one_by_one, batched = SQLiteStore.temporary(JournalBounds(5, 10_000)), SQLiteStore.temporary(JournalBounds(5, 10_000))
    try:
        for i in range(12):
            one_by_one.record(_entry(i))
        with batched.batch():
            for i in range(12):
                batched.record(_entry(i))
        assert batched.counts() == one_by_one.counts()
        assert [e["path"] for e in batched.entries(JournalFilter(), 100).entries] == [f"/p/{i}" for i in range(7, 12)]
    finally:
        one_by_one.close()
        batched.close()

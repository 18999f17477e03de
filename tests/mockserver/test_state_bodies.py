"""The state store keeps the inspector's bodies (issue 13): record(entry, body) and body(id), on both engines, bounded
by JournalBounds.bodies (the oldest dropped first), dropped with their evicted entry and by clears and resets; and the
packed blob scrubs credentials and reads back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vision_contracts.mockserver._inspector import pack, unpack
from vision_contracts.mockserver._state import JournalBounds, StateStore, open_store

from state_support import flush, redis_server


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def stores(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Any]:
    opened: list[StateStore] = []

    def make(bounds: JournalBounds) -> StateStore:
        if request.param == "sqlite":
            location = str(tmp_path / f"state-{len(opened)}.sqlite3")
        else:
            location = request.getfixturevalue("redis_url")
            flush(location)
        store = open_store(location, bounds)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def entry(n: int) -> dict[str, Any]:
    return {"id": 0, "path": f"/p/{n}", "provider": "huggingface", "status": 200, "verdict": {"valid": True}}


def test_a_body_is_kept_with_its_entry_and_read_back(stores):
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=10_000))
    first = store.record(entry(1), b"\x00\x01binary\xff")
    second = store.record(entry(2))
    assert store.body(first) == b"\x00\x01binary\xff"
    assert store.body(second) is None
    assert store.body(999) is None


def test_the_oldest_bodies_go_first_past_the_bound(stores):
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=250))
    ids = [store.record(entry(n), bytes([n]) * 100) for n in range(5)]
    assert [store.body(i) is not None for i in ids] == [False, False, False, True, True]
    assert store.body(ids[-1]) == bytes([4]) * 100
    too_large = store.record(entry(9), b"x" * 251)  # larger than the whole bound: not kept, nothing else dropped
    assert store.body(too_large) is None and store.body(ids[-1]) is not None


def test_no_bodies_with_a_bound_of_zero(stores):
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=0))
    assert store.body(store.record(entry(1), b"abc")) is None


def test_an_evicted_entry_takes_its_body_and_clears_take_all(stores):
    store = stores(JournalBounds(entries=2, bytes=1_000_000, bodies=10_000))
    ids = [store.record(entry(n), b"body %d" % n) for n in range(3)]
    assert store.body(ids[0]) is None and store.body(ids[2]) == b"body 2"
    store.clear_journal()
    assert store.body(ids[2]) is None
    kept = store.record(entry(4), b"again")
    store.reset({})
    assert store.body(kept) is None


def test_the_packed_blob_scrubs_credentials_and_reads_back():
    blob = pack("POST", "/ds/1?api_key=sekrit-123", [("authorization", "Bearer hf_tok"), ("content-type", "application/json")],
                b'{"inputs": "x", "note": "hf_tok and sekrit-123"}', 200, [("set-cookie", "a=b"), ("x-other", "1")], b"[]")
    kept = unpack(blob)
    assert kept is not None
    assert b"hf_tok" not in blob and b"sekrit-123" not in blob
    assert kept.status == 200 and kept.response_body == b"[]"
    assert dict(kept.response_headers)["set-cookie"] == "[redacted]" and dict(kept.response_headers)["x-other"] == "1"
    assert unpack(b"not a blob") is None

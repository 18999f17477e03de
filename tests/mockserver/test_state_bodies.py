"""The state store keeps the inspector's bodies (issue 13): record(entry, body) and body(id), on both engines, bounded
by JournalBounds.bodies (the oldest dropped first), dropped with their evicted entry and by clears and resets; and the
packed blob scrubs credentials and reads back. Bodies are shared by content: each distinct part (the header, the
request, the answer) stored once, referred to by entry id, dropped when no kept body refers to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from vision_contracts.mockserver._inspector import pack, pack_parts, unpack
from vision_contracts.mockserver._state import Blob, JournalBounds, SQLiteStore, StateStore, open_store

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


# --- bodies shared by content (each distinct part stored once) ---------------------------------------------------

def parts(*chunks: bytes) -> list[Blob]:
    return [Blob.of(chunk) for chunk in chunks]


def stored_blobs(store: StateStore) -> int:
    """How many distinct parts the store holds (read from its engine's own tables or keys)."""
    if isinstance(store, SQLiteStore):
        with store._borrow() as db:
            return int(db.execute("SELECT count(*) FROM blobs").fetchone()[0])
    return int(store._client.hlen("vision-mock:bodies:blobs"))


def stored_bytes(store: StateStore) -> int:
    if isinstance(store, SQLiteStore):
        with store._borrow() as db:
            return int(db.execute("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()[0])
    return int(store._client.get("vision-mock:bodies:bytes") or 0)


def test_two_entries_with_the_same_body_store_it_once(stores):
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=10_000))
    image = b"\x89PNG" + bytes(range(256)) * 10
    first = store.record(entry(1), parts(b"head", image, b"answer"))
    second = store.record(entry(2), parts(b"head", image, b"answer"))
    assert store.body(first) == store.body(second) == b"head" + image + b"answer"
    assert stored_blobs(store) == 3 and stored_bytes(store) == 4 + len(image) + 6
    third = store.record(entry(3), b"head" + image + b"answer")  # bytes: one part, its own content
    assert stored_blobs(store) == 4 and store.body(third) == store.body(first)


def test_parts_shared_with_other_bodies_count_once_against_the_bound(stores):
    image = b"i" * 400
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=1000))
    ids = [store.record(entry(n), parts(b"head %d" % n, image, b"answer %d" % n)) for n in range(20)]
    # 20 bodies of 416 bytes each: 8,320 bytes if each were stored alone, within the 1,000-byte bound shared
    assert all(store.body(i) == b"head %d" % n + image + b"answer %d" % n for n, i in enumerate(ids))
    assert stored_bytes(store) == 400 + sum(len(b"head %d" % n) + len(b"answer %d" % n) for n in range(20))


def test_evicting_one_entry_keeps_the_body_another_shares(stores):
    store = stores(JournalBounds(entries=2, bytes=1_000_000, bodies=10_000))
    shared = b"s" * 300
    first = store.record(entry(1), parts(b"one", shared))
    second = store.record(entry(2), parts(b"two", shared))
    third = store.record(entry(3), parts(b"three", b"other"))  # the journal's bound evicts the first entry
    assert store.body(first) is None
    assert store.body(second) == b"two" + shared and store.body(third) == b"threeother"
    assert stored_bytes(store) == 3 + 300 + 5 + 5  # "one" went with its entry; the shared part stays
    store.record(entry(4), parts(b"four"))  # the second entry evicted: nothing refers to the shared part any more
    assert stored_bytes(store) == 5 + 5 + 4 and stored_blobs(store) == 3


def test_the_bound_drops_the_oldest_bodies_but_never_a_part_the_new_one_shares(stores):
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=500))
    shared = b"s" * 200
    first = store.record(entry(1), parts(shared, b"a" * 100))
    second = store.record(entry(2), parts(b"b" * 150))
    third = store.record(entry(3), parts(shared, b"c" * 250))  # 200 + 100 + 150 + 250 > 500: the oldest bodies go
    assert store.body(first) is None and store.body(second) is None
    assert store.body(third) == shared + b"c" * 250
    assert stored_bytes(store) == 450 and stored_blobs(store) == 2


def test_a_part_the_store_lost_is_sent_again(stores):
    """Redis: a part sent lately goes as its digest alone; once evicted by the bound (or cleared), the store asks
    for it."""
    store = stores(JournalBounds(entries=100, bytes=1_000_000, bodies=300))
    first = store.record(entry(1), parts(b"x" * 200))
    store.record(entry(2), parts(b"y" * 200))  # the first body dropped by the bound
    assert store.body(first) is None
    again = store.record(entry(3), parts(b"x" * 200))
    assert store.body(again) == b"x" * 200
    store.clear_journal()
    after_clear = store.record(entry(4), parts(b"x" * 200))
    assert store.body(after_clear) == b"x" * 200 and stored_blobs(store) == 1


def test_a_store_kept_from_before_shared_bodies_moves_them(tmp_path):
    """--state PATH from a version that kept one blob per entry (a ``bodies`` table): opened, its bodies read back."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE bodies (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, data BLOB NOT NULL)")
    old.executemany("INSERT INTO bodies VALUES (?, ?, ?)", [(1, 3, b"abc"), (2, 3, b"abc"), (3, 2, b"de")])
    old.commit()
    old.close()
    store = open_store(str(path))
    try:
        assert [store.body(i) for i in (1, 2, 3)] == [b"abc", b"abc", b"de"]
        assert stored_blobs(store) == 2
    finally:
        store.close()


def test_the_parts_join_into_the_packed_blob():
    args = ("POST", "/m?api_key=sekrit-123", [("authorization", "Bearer hf_tok")], b'{"inputs":"hf_tok sekrit-123"}', 200,
            [("x-a", "1")], b"[]")
    head, request, answer = pack_parts(*args, request_digest="d" * 64)  # scrubbed: the given digest is not the body's
    assert head.data + request.data + answer.data == pack(*args)
    assert b"hf_tok" not in request.data and b"sekrit-123" not in request.data and request.digest == Blob.of(request.data).digest
    body = b'{"inputs":"plain"}'
    given = pack_parts("POST", "/m", [], body, 200, [], b"[]", request_digest="d" * 64)[1]
    assert given.data is body and given.digest == "d" * 64  # the digest the journal computed, not hashed again

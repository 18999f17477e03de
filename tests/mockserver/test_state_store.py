"""The state store's one interface, the same tests against both engines: SQLite (a file in tmp_path) and Redis (a real
redis-server started here on a free loopback port). Two store objects on one location stand for two workers or two
servers: they share nothing but the engine. Then the scenario state (rules, loading, rate limits) and the journal
over each engine."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from vision_contracts.mockserver._journal import REDACTED, Journal
from vision_contracts.mockserver._scenarios import (
    Admission,
    Behaviour,
    Configured,
    RuleRequest,
    ScenarioError,
    make_spec,
)
from vision_contracts.mockserver._state import (
    KEEP,
    JournalBounds,
    JournalFilter,
    StateError,
    StateStore,
    WouldWrite,
    open_store,
    read_only,
    settle,
    without_password,
)
from vision_contracts.mockserver.testing import free_port

from state_support import flush, redis_server

BOUNDS = JournalBounds(entries=1000, bytes=1_000_000)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def location(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Where a fresh store lives: a new SQLite file, or the emptied database of the module's redis-server."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite3")
    url: str = request.getfixturevalue("redis_url")
    flush(url)
    return url


@pytest.fixture
def stores(location: str) -> Iterator[Callable[..., StateStore]]:
    """Opens stores on the test's location (each call a new store object, as another worker would have); closes them."""
    opened: list[StateStore] = []

    def open_one(bounds: JournalBounds = BOUNDS) -> StateStore:
        opened.append(open_store(location, bounds))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def _threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _entry(n: int, **fields: Any) -> dict[str, Any]:
    return {"id": 0, "time": 1_700_000_000.123456 + n, "method": "POST", "path": f"/models/m{n}", "headers": {"x-n": str(n)},
            "provider": "huggingface", "status": 200, "verdict": {"valid": True, "violations": []}, **fields}


# --- documents ---------------------------------------------------------------------------------------------------

def test_read_modify_write_is_atomic_across_threads_and_store_objects(stores):
    first, second = stores(), stores()
    seen: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        store = first if i % 2 else second
        for _ in range(50):
            value = store.update("counter", lambda doc: ((doc or 0) + 1, (doc or 0) + 1))
            with lock:
                seen.append(value)

    _threads(8, work)
    assert first.read("counter") == second.read("counter") == 400
    assert sorted(seen) == list(range(1, 401))  # no two increments read the same value


def test_keep_writes_nothing_and_a_failing_change_writes_nothing(stores):
    store = stores()
    assert store.update("doc", lambda doc: (KEEP, "answer")) == "answer" and store.read("doc") is None
    store.update("doc", lambda doc: ({"a": [1, 2.5, None, "é"]}, None))

    def failing(doc: Any) -> tuple[Any, None]:
        raise ScenarioError("a change refused with a sentence.")

    with pytest.raises(ScenarioError, match="refused with a sentence"):
        store.update("doc", failing)
    assert store.read("doc") == {"a": [1, 2.5, None, "é"]}


def test_seed_writes_once_and_reset_replaces_documents_and_empties_the_journal(stores):
    first, second = stores(), stores()
    assert first.seed({"rules": {"n": 1}}) is True
    assert second.seed({"rules": {"n": 2}}) is False and second.read("rules") == {"n": 1}
    first.record(_entry(1))
    second.reset({"rules": {"n": 3}})
    assert first.read("rules") == {"n": 3} and first.counts().total == 0 and first.entries(JournalFilter(), 10).entries == []
    assert first.seed({"rules": {"n": 4}}) is False  # a reset is not a fresh store


def test_everything_survives_reopening(location):
    store = open_store(location, BOUNDS)
    store.seed({"rules": {"n": 1}})
    entry_id = store.record(_entry(1))
    store.close()
    again = open_store(location, BOUNDS)
    try:
        assert again.read("rules") == {"n": 1} and again.seed({"rules": {"n": 2}}) is False
        assert [e["id"] for e in again.entries(JournalFilter(), 10).entries] == [entry_id]
    finally:
        again.close()


def test_read_only_refuses_writes_before_changing_anything(stores):
    store = stores()
    store.update("doc", lambda doc: ({"n": 1}, None))
    with read_only():
        assert store.update("doc", lambda doc: (KEEP, doc["n"])) == 1  # reading is allowed
        with pytest.raises(WouldWrite):
            store.update("doc", lambda doc: ({"n": doc["n"] + 1}, None))
        with pytest.raises(WouldWrite):
            store.record(_entry(1))
    assert store.read("doc") == {"n": 1} and store.counts().total == 0


def test_settle_reads_on_the_event_loop_and_writes_in_a_thread(stores):
    """SQLite answers a call that only reads on the loop's own thread; a call that writes, and every Redis call, runs
    in a store thread, whole (the read-only attempt changed nothing)."""
    store = stores()
    behaviour = Behaviour(store)

    async def threads() -> tuple[int, int, int, int]:
        def where(rule: bool) -> int:
            behaviour.admit("huggingface", "object-detection", "m", rules=rule)
            return threading.get_ident()

        loop_thread = threading.get_ident()
        reads = await settle(store, where, True)  # no rule, no limit, no loading: reads only
        behaviour.add_rule(make_spec("server-error"), provider="huggingface", count=1)
        writes = await settle(store, where, True)  # counts the rule: a write
        return loop_thread, reads, writes, len(behaviour.rules())

    loop_thread, reads, writes, rules_left = asyncio.run(threads())
    assert (reads == loop_thread) is store.local_reads and writes != loop_thread and rules_left == 0


def test_admission_counts_the_rate_limit_then_draws_the_rule_and_sees_loading(stores):
    b = Behaviour(stores())
    b.set_rate_limit("roboflow", 1, 60)
    b.add_rule(make_spec("server-error"), provider="roboflow", count=1)
    b.set_loading("a/b", requests=1)
    assert b.admit("huggingface", "object-detection", "a/b", rules=True) == Admission(True, {}, None, True)
    first = b.admit("roboflow", "semantic-segmentation", "ds/1", rules=True)
    assert first.allowed and first.rule is not None and first.rule.name == "server-error" and not first.loading
    second = b.admit("roboflow", "semantic-segmentation", "ds/1", rules=True)
    assert not second.allowed and second.rule is None and second.limit_headers["x-ratelimit-remaining"] == "0"
    b.add_rule(make_spec("reset"), provider="airefinery", count=1)
    assert b.admit("airefinery", None, "", rules=False).rule is None  # a control header chooses: the rule stays
    assert [r.remaining for r in b.rules()] == [1]


# --- the journal ---------------------------------------------------------------------------------------------------

def test_journal_ids_are_unique_and_counts_exact_across_threads_and_store_objects(stores):
    first, second = stores(), stores()
    ids: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for n in range(25):
            new = (first if i % 2 else second).record(_entry(i * 100 + n))
            with lock:
                ids.append(new)

    _threads(8, work)
    counts = first.counts()
    assert (counts.total, counts.kept, counts.evicted) == (200, 200, 0)
    page = second.entries(JournalFilter(), 1000)
    assert page.matched == 200 and sorted(e["id"] for e in page.entries) == sorted(ids) and len(set(ids)) == 200
    assert [e["id"] for e in page.entries] == sorted(ids)  # oldest first


def test_an_entry_comes_back_as_it_was_recorded(stores):
    store = stores()
    entry = _entry(7, image={"width": 3, "height": 2}, duration_ms=1.25, scenario=None, query={"q": "a\"b\\c"})
    entry_id = store.record(entry)
    [back] = store.entries(JournalFilter(), 10).entries
    assert back == {**entry, "id": entry_id}


def test_the_bound_in_entries_evicts_the_oldest_and_says_how_many(stores):
    store = stores(JournalBounds(entries=5, bytes=1_000_000))
    ids = [store.record(_entry(n)) for n in range(12)]
    counts = store.counts()
    assert (counts.total, counts.kept, counts.evicted) == (12, 5, 7) and counts.bytes > 0
    assert [e["id"] for e in store.entries(JournalFilter(), 100).entries] == ids[-5:]


def test_the_bound_in_bytes_evicts_the_oldest_but_keeps_the_newest_entry(stores):
    probe = stores()
    probe.record(_entry(0))
    size = probe.counts().bytes  # one entry's size as this engine counts it (the entries below are the same size)
    probe.clear_journal()
    store = stores(JournalBounds(entries=1000, bytes=3 * size + size // 2))
    ids = [store.record(_entry(n)) for n in range(1, 8)]
    counts = store.counts()
    assert (counts.total, counts.kept, counts.evicted) == (7, 3, 4) and counts.bytes <= 3 * size + size // 2
    assert [e["id"] for e in store.entries(JournalFilter(), 100).entries] == ids[-3:]
    huge = store.record(_entry(9, headers={"x-big": "x" * (10 * size)}))
    assert [e["id"] for e in store.entries(JournalFilter(), 100).entries] == [huge]  # alone over the bound, still kept
    assert store.counts().evicted == 7


def test_filters_apply_to_everything_kept_not_to_a_page(stores):
    store = stores()
    for n in range(40):
        store.record(_entry(n, provider="roboflow" if n % 2 else "huggingface", status=503 if n % 4 == 1 else 200,
                            path="/ds_1%/x" if n % 5 == 0 else "/dsX1/x",
                            verdict={"valid": None if n % 3 == 0 else n % 3 == 1, "violations": []}))
    assert store.entries(JournalFilter(provider="roboflow"), 3).matched == 20
    page = store.entries(JournalFilter(provider="roboflow", status=503), 3)
    assert page.matched == 10 and [e["headers"]["x-n"] for e in page.entries] == ["29", "33", "37"]
    assert store.entries(JournalFilter(valid=True), 1).matched == 13
    assert store.entries(JournalFilter(valid=False), 1).matched == 13
    assert store.entries(JournalFilter(path="/ds_1%"), 100).matched == 8  # a literal prefix: _ and % are no wildcards
    assert store.entries(JournalFilter(path="/ds"), 100).matched == 40
    assert store.entries(JournalFilter(provider="airefinery"), 5).matched == 0


def test_clearing_empties_the_counts_and_ids_keep_growing(stores):
    store = stores()
    last = [store.record(_entry(n)) for n in range(3)][-1]
    assert store.clear_journal() == 3
    counts = store.counts()
    assert (counts.total, counts.kept, counts.evicted, counts.bytes) == (0, 0, 0, 0)
    assert store.record(_entry(9)) > last


# --- opening ---------------------------------------------------------------------------------------------------

def test_unusable_stores_are_explained(tmp_path):
    with pytest.raises(StateError, match=r"The SQLite state store .* failed: unable to open database file\."):
        open_store(str(tmp_path))  # a folder
    with pytest.raises(StateError, match=r"The Redis state store redis://127\.0\.0\.1:\d+/0 is unreachable"):
        open_store(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StateError, match="unknown engine 'postgres'; give a SQLite file path or a redis://HOST:PORT/DB URL"):
        open_store("postgres://db.example/0")


def test_passwords_never_reach_messages():
    assert without_password("redis://:s3cret@10.0.0.1:6379/0") == "redis://:[redacted]@10.0.0.1:6379/0"
    assert without_password("redis://user:s3cret@h:1/2?password=x&db=2") == "redis://user:[redacted]@h:1/2?password=[redacted]&db=2"
    assert without_password("/var/lib/mock/state.sqlite3") == "/var/lib/mock/state.sqlite3"
    with pytest.raises(StateError) as caught:
        open_store(f"redis://:s3cret@127.0.0.1:{free_port()}/0")
    assert "s3cret" not in str(caught.value)


# --- scenario state over each engine (counting exact across store objects, as across workers) ---------------------

def test_a_rule_by_count_fires_exactly_count_times_across_workers(stores):
    first, second = Behaviour(stores()), Behaviour(stores())
    first.add_rule(make_spec("server-error"), provider="huggingface", count=3)
    played: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        behaviour = first if i % 2 else second
        for _ in range(10):
            spec = behaviour.take_rule("huggingface", "object-detection", "m")
            if spec is not None:
                with lock:
                    played.append(spec.name)

    _threads(6, work)
    assert played == ["server-error"] * 3 and first.rules() == second.rules() == []


def test_rule_by_count_then_gone(stores):
    b = Behaviour(stores())
    b.add_rule(make_spec("server-error"), provider="huggingface", count=2)
    assert b.take_rule("roboflow", None, None) is None
    assert b.take_rule("huggingface", "object-detection", "m").name == "server-error"
    assert b.take_rule("huggingface", "object-detection", "m").name == "server-error"
    assert b.take_rule("huggingface", "object-detection", "m") is None
    assert b.rules() == []


def test_rule_by_duration(stores):
    b = Behaviour(stores())
    rule = b.add_rule(make_spec("rate-limit"), seconds=0.05)
    assert b.take_rule("airefinery", None, None).name == "rate-limit"
    time.sleep(0.06)
    assert b.take_rule("airefinery", None, None) is None
    assert not b.remove_rule(rule.id)


def test_rule_arguments_are_checked():
    with pytest.raises(ScenarioError, match="count must be a whole number of at least 1"):
        RuleRequest(make_spec("reset"), count=0)
    with pytest.raises(ScenarioError, match="seconds must be a positive number"):
        RuleRequest(make_spec("reset"), seconds=-1)
    with pytest.raises(ScenarioError, match="takes the keys"):
        RuleRequest.from_json({"scenario": "reset", "times": 2})


def test_rules_are_listed_removed_and_cleared_with_growing_ids(stores):
    b = Behaviour(stores())
    ids = [b.add_rule(make_spec("delay", {"ms": 5}), model=f"m{n}").id for n in range(3)]
    assert ids == [1, 2, 3] and [r.id for r in b.rules()] == ids
    assert b.remove_rule(2) and not b.remove_rule(2)
    assert b.clear_rules() == 2 and b.rules() == []
    b.reset(Configured(rules=(RuleRequest(make_spec("reset")),)))
    assert [r.id for r in b.rules()] == [4]  # ids keep growing across a reset


def test_loading_by_count_exact_across_workers(stores):
    first, second = Behaviour(stores()), Behaviour(stores())
    first.set_loading("a/b", requests=3)
    etas: list[float | None] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for _ in range(5):
            eta = (first if i % 2 else second).loading_eta("a/b")
            with lock:
                etas.append(eta)

    _threads(4, work)
    assert etas.count(1.0) == 3 and etas.count(None) == 17
    assert first.loading() == second.loading() == {}


def test_loading_by_seconds(stores):
    b = Behaviour(stores())
    b.set_loading("a/b", seconds=0.05)
    eta = b.loading_eta("a/b")
    assert 0 < eta <= 0.05 and "a/b" in b.loading()
    time.sleep(0.06)
    assert b.loading_eta("a/b") is None


def test_rate_limit_window_counts_exactly_across_workers(stores):
    first, second = Behaviour(stores()), Behaviour(stores())
    first.set_rate_limit("huggingface", 50, 60)
    results: list[bool] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for _ in range(20):
            ok, _ = (first if i % 2 else second).hit("huggingface")
            with lock:
                results.append(ok)

    _threads(8, work)
    assert results.count(True) == 50 and results.count(False) == 110
    ok, headers = second.hit("huggingface")
    assert not ok and headers["x-ratelimit-remaining"] == "0" and int(headers["retry-after"]) >= 1
    assert second.rate_limits() == {"huggingface": {"requests": 50, "seconds": 60}}


def test_configured_state_is_seeded_once_and_reset_to(stores):
    configured = Configured.from_json({"roboflow": {"requests": 2, "seconds": 60}}, {"a/b": {"requests": 1}},
                                      [{"scenario": "server-error", "provider": "airefinery", "count": 1}])
    first = Behaviour(stores())
    assert first.seed(configured) is True
    assert first.take_rule("airefinery", None, None).name == "server-error"
    assert first.loading_eta("a/b") == 1.0 and first.loading_eta("a/b") is None
    second = Behaviour(stores())
    assert second.seed(configured) is False  # a second worker, or a restart: the state stays as it is
    assert second.rules() == [] and second.loading() == {}
    second.reset(configured)
    assert [r.spec.name for r in first.rules()] == ["server-error"] and first.loading() == {"a/b": {"requests": 1, "seconds_left": None}}


def test_delay_random_is_seeded_and_bounded(stores):
    store = stores()
    spec = make_spec("delay", {"min_ms": 10, "max_ms": 20})
    a = [Behaviour(store, seed=3).delay_seconds(spec) for _ in range(1)]
    b = [Behaviour(store, seed=3).delay_seconds(spec) for _ in range(1)]
    assert a == b and all(0.010 <= x <= 0.020 for x in a)
    assert Behaviour(store).delay_seconds(make_spec("delay", {"ms": 40})) == 0.04


def test_journal_redacts_and_counts_exactly_under_threads(stores):
    journal = Journal(stores(JournalBounds(entries=100, bytes=1_000_000)))

    def work(i: int) -> None:
        for _ in range(50):
            entry = journal.open("POST", "/models/a/b", [("api_key", "secret"), ("x", "1")], [("Authorization", "Bearer hf_secret")], b"abc")
            journal.record(entry)

    _threads(8, work)
    summary = journal.summary()
    assert {k: summary[k] for k in ("total", "kept", "evicted", "limit")} == {"total": 400, "kept": 100, "evicted": 300, "limit": 100}
    page = journal.entries()
    entry = page.entries[-1]
    assert entry["headers"]["authorization"] == f"Bearer {REDACTED}" and entry["query"]["api_key"] == REDACTED
    assert "secret" not in repr(page.entries)
    assert entry["time_iso"].endswith("Z") and entry["time_iso"][:4].isdigit()
    ids = [e["id"] for e in page.entries]
    assert ids == sorted(ids) and len(set(ids)) == 100
    assert journal.clear() == 100 and journal.summary()["total"] == 0


def test_journal_filters(stores):
    journal = Journal(stores())
    a = journal.open("POST", "/models/a/b", [], [], b"")
    a.provider, a.status = "huggingface", 200
    b = journal.open("POST", "/ds/1", [], [], b"")
    b.provider, b.status = "roboflow", 403
    journal.record(a)
    journal.record(b)
    assert [e["id"] for e in journal.entries(provider="roboflow").entries] == [b.id]
    assert [e["id"] for e in journal.entries(status=200).entries] == [a.id]
    assert [e["id"] for e in journal.entries(path="/models").entries] == [a.id]

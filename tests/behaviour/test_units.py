"""The pure parts of provider behaviour: scenario parsing, rules, loading, rate limits, journal, auth."""

from __future__ import annotations

import threading
import time

import pytest

from vision_contracts.mockserver._auth import credential, token_ok
from vision_contracts.mockserver._journal import REDACTED, Journal
from vision_contracts.mockserver._scenarios import SCENARIOS, Behaviour, ScenarioError, make_spec, parse_header


def test_parse_header_with_parameters_and_several_specs():
    specs = parse_header("delay; ms=250, Schema-Violation")
    assert [(s.name, dict(s.params)) for s in specs] == [("delay", {"ms": 250.0}), ("schema-violation", {})]


@pytest.mark.parametrize(("value", "fragment"), [
    ("teapot", "Unknown scenario 'teapot'"),
    ("delay; seconds=3", "takes the parameters"),
    ("delay; ms=abc", "must be a number"),
    ("delay; ms=-1", "finite number >= 0"),
    ("delay; ms=nan", "finite number >= 0"),
    ("delay; ms=99999999", "at most"),
    ("delay; ms", "Expected 'key=value'"),
    (" , ", "header is empty"),
])
def test_bad_specs_are_explained(value, fragment):
    with pytest.raises(ScenarioError, match=fragment):
        parse_header(value)


def test_every_scenario_has_a_description():
    assert all(desc.endswith(".") and len(desc) > 20 for desc, _ in SCENARIOS.values())


def test_rule_by_count_then_gone():
    b = Behaviour()
    b.add_rule(make_spec("server-error"), provider="huggingface", count=2)
    assert b.take_rule("roboflow", None, None) is None
    assert b.take_rule("huggingface", "object-detection", "m").name == "server-error"
    assert b.take_rule("huggingface", "object-detection", "m").name == "server-error"
    assert b.take_rule("huggingface", "object-detection", "m") is None
    assert b.rules() == []


def test_rule_by_duration():
    b = Behaviour()
    rule = b.add_rule(make_spec("rate-limit"), seconds=0.05)
    assert b.take_rule("airefinery", None, None).name == "rate-limit"
    time.sleep(0.06)
    assert b.take_rule("airefinery", None, None) is None
    assert not b.remove_rule(rule.id)


def test_rule_arguments_are_checked():
    with pytest.raises(ScenarioError):
        Behaviour().add_rule(make_spec("reset"), count=0)
    with pytest.raises(ScenarioError):
        Behaviour().add_rule(make_spec("reset"), seconds=-1)


def test_loading_by_count():
    b = Behaviour()
    b.set_loading("a/b", requests=2)
    assert b.loading_eta("a/b") == 1.0
    assert b.loading_eta("a/b") == 1.0
    assert b.loading_eta("a/b") is None
    assert b.loading() == {}


def test_loading_by_seconds():
    b = Behaviour()
    b.set_loading("a/b", seconds=0.05)
    eta = b.loading_eta("a/b")
    assert 0 < eta <= 0.05
    time.sleep(0.06)
    assert b.loading_eta("a/b") is None


def test_rate_limit_window_counts_exactly_under_threads():
    b = Behaviour()
    b.set_rate_limit("huggingface", 50, 60)
    results = []
    lock = threading.Lock()

    def worker():
        for _ in range(20):
            ok, _ = b.hit("huggingface")
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 50 and results.count(False) == 110
    ok, headers = b.hit("huggingface")
    assert not ok and headers["x-ratelimit-remaining"] == "0" and int(headers["retry-after"]) >= 1


def test_delay_random_is_seeded_and_bounded():
    spec = make_spec("delay", {"min_ms": 10, "max_ms": 20})
    a = [Behaviour(seed=3).delay_seconds(spec) for _ in range(1)]
    b = [Behaviour(seed=3).delay_seconds(spec) for _ in range(1)]
    assert a == b and all(0.010 <= x <= 0.020 for x in a)
    assert Behaviour().delay_seconds(make_spec("delay", {"ms": 40})) == 0.04


def test_journal_redacts_and_counts_exactly_under_threads():
    journal = Journal(limit=100)

    def worker():
        for _ in range(50):
            journal.open("POST", "/models/a/b", [("api_key", "secret"), ("x", "1")], [("Authorization", "Bearer hf_secret")], b"abc")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert journal.summary() == {"total": 400, "kept": 100, "limit": 100}
    entry = journal.entries()[-1]
    assert entry.headers["authorization"] == f"Bearer {REDACTED}" and entry.query["api_key"] == REDACTED
    assert "secret" not in repr(journal.entries())
    ids = [e.id for e in journal.entries()]
    assert ids == sorted(ids) and len(set(ids)) == 100
    assert journal.clear() == 100 and journal.summary()["total"] == 0


def test_journal_filters():
    journal = Journal()
    a = journal.open("POST", "/models/a/b", [], [], b"")
    a.provider, a.status = "huggingface", 200
    b = journal.open("POST", "/ds/1", [], [], b"")
    b.provider, b.status = "roboflow", 403
    assert [e.id for e in journal.entries(provider="roboflow")] == [b.id]
    assert [e.id for e in journal.entries(status=200)] == [a.id]
    assert [e.id for e in journal.entries(path="/models")] == [a.id]


def test_credentials_and_constant_time_comparison():
    assert credential("bearer", "authorization", {"authorization": "Bearer hf_x"}, {}) == "hf_x"
    assert credential("bearer", "authorization", {"authorization": "Bearer: hf_x"}, {}) == "hf_x"
    assert credential("bearer", "authorization", {"authorization": "Basic abc"}, {}) is None
    assert credential("bearer", "authorization", {}, {}) is None
    assert credential("api_key", "api_key", {}, {"api_key": "k"}) == "k"
    assert token_ok("k", ["a", "k"]) and not token_ok("k2", ["a", "k"]) and not token_ok(None, [""]) and not token_ok("", [""])

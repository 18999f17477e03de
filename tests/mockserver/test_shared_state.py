"""State shared by workers and servers, and kept across a kill: ``python -m vision_contracts.mockserver`` in
subprocesses. With ``--workers 2`` and the default store (a temporary SQLite file) the journal, rules, model loading and
reset are one for both workers; two servers on one Redis (a real redis-server) share a rule, a rate limit and one
journal; ``--state PATH`` keeps every answered request, the rules and the loading across ``kill -9``.

Requests go on fresh connections from several threads, so uvicorn's workers share them out; nothing here asserts a
time."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from vision_contracts.mockserver.testing import sample_image, serve_process

from state_support import flush, process_tree_rss_mib, redis_server

DETR = "facebook/detr-resnet-50"
IMAGE = sample_image(48, 32)
B64 = base64.b64encode(IMAGE).decode()
QUIET = ("--log-level", "warning")


# One client for the module's requests, with no keep-alive: every request opens a connection of its own, so uvicorn's
# workers share them out (and no request pays for a new client).
HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=60, trust_env=False)


@pytest.fixture(scope="module", autouse=True)
def close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _hf(url: str, **headers: str) -> httpx.Response:
    return HTTP.post(f"{url}/models/{DETR}", content=IMAGE, headers={"content-type": "image/png", **headers})


def _roboflow(url: str, **headers: str) -> httpx.Response:
    return HTTP.post(f"{url}/streets/4", content=B64, params={"api_key": "k"}, headers=headers)


def _airefinery(url: str, **headers: str) -> httpx.Response:
    body = {"model": "m", "image_prompt": B64, "segment_prompt": [[[3, 4]]]}
    return HTTP.post(f"{url}/v1/images/segmentations", json=body, headers={"authorization": "Bearer k", **headers})


def _concurrently(calls: Sequence[Callable[[], httpx.Response]], threads: int = 6) -> list[int]:
    """The statuses of ``calls`` made from several threads, each on a connection of its own."""
    with ThreadPoolExecutor(threads) as pool:
        return [r.status_code for r in pool.map(lambda call: call(), calls)]


def _journal(url: str, **query: Any) -> dict[str, Any]:
    answer = HTTP.get(f"{url}/__vision__/journal", params={"limit": 100_000, **query})
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _admin(url: str, method: str, path: str, body: Any = None) -> Any:
    answer = HTTP.request(method, f"{url}/__vision__{path}", json=body)
    answer.raise_for_status()
    return answer.json()


def _both_workers_serving(url: str, timeout: float = 60.0) -> None:
    """Send unroutable requests (journaled, no behaviour) until the journal shows two workers, then reset: uvicorn
    reports the server up when its first worker answers, the second may still be importing."""
    deadline = time.monotonic() + timeout
    while len({e["worker"] for e in _journal(url)["entries"]}) < 2:
        assert time.monotonic() < deadline, "the second uvicorn worker never answered a request"
        _concurrently([lambda: HTTP.get(f"{url}/no-such-operation")] * 8)
    _admin(url, "POST", "/reset")


def test_two_workers_share_the_journal_rules_loading_and_reset():
    with serve_process(["--workers", "2", "--loading", f"{DETR}=3", *QUIET]) as (url, _):
        _both_workers_serving(url)
        assert _concurrently([lambda: _hf(url)] * 9).count(503) == 3  # --loading m=3: exactly three 503s
        _admin(url, "POST", "/scenarios", {"scenario": "server-error", "provider": "roboflow", "count": 3})
        assert _concurrently([lambda: _roboflow(url)] * 9).count(500) == 3  # count=3: exactly three times
        assert _concurrently([lambda: _airefinery(url)] * 42) == [200] * 42
        journal = _journal(url)
        ids = [e["id"] for e in journal["entries"]]
        assert journal["total"] == journal["kept"] == 60 and len(set(ids)) == 60 and ids == sorted(ids)
        assert len({e["worker"] for e in journal["entries"]}) == 2
        scenarios = Counter(e["scenario"] for e in journal["entries"])
        assert (scenarios["loading"], scenarios["server-error"]) == (3, 3)

        _admin(url, "POST", "/scenarios", {"scenario": "unavailable", "provider": "airefinery"})  # until removed
        assert 503 in _concurrently([lambda: _airefinery(url)] * 6)
        _admin(url, "POST", "/reset")  # one worker answers it; the state is one for both
        assert _concurrently([lambda: _airefinery(url)] * 24) == [200] * 24
        assert _admin(url, "GET", "/scenarios")["rules"] == [] and _journal(url)["total"] == 24


def _mixed(url: str, n: int) -> tuple[Callable[[], httpx.Response], str]:
    """One of eight operations, valid and not, with and without a per-request scenario: (call, what it is)."""
    kind = n % 8
    calls: list[tuple[Callable[[], httpx.Response], str]] = [
        (lambda: _hf(url), "hf-detection"),
        (lambda: HTTP.post(f"{url}/models/openmmlab/upernet-convnext-small", json={"inputs": B64}), "hf-segmentation"),
        (lambda: _roboflow(url), "roboflow"),
        (lambda: _airefinery(url), "airefinery"),
        (lambda: HTTP.post(f"{url}/models/{DETR}", json={"inputs": B64, "parameters": {"threshold": 2}}), "hf-invalid"),
        (lambda: HTTP.post(f"{url}/no/such/operation/here", content=b"x"), "unrouted"),
        (lambda: _roboflow(url, **{"x-vision-scenario": "delay; ms=5, schema-violation"}), "roboflow-violation"),
        (lambda: _hf(url, **{"x-vision-scenario": "server-error"}), "hf-server-error"),
    ]
    return calls[kind]


def test_multi_worker_soak_counts_exactly_the_requests_sent():
    threads, per_thread = 8, 60
    with serve_process(["--workers", "2", "--loading", f"{DETR}=4", *QUIET]) as (url, proc):
        _both_workers_serving(url)
        _admin(url, "POST", "/scenarios", {"scenario": "unavailable", "provider": "airefinery", "count": 5})
        sent: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        errors: list[str] = []
        admin_reads = 0
        lock = threading.Lock()

        def client(t: int) -> None:
            nonlocal admin_reads
            for i in range(per_thread):
                call, kind = _mixed(url, t * per_thread + i)
                try:
                    status = call().status_code
                except httpx.HTTPError as exc:
                    status = 0
                    with lock:
                        errors.append(f"{kind}: {exc!r}")
                with lock:
                    sent[kind] += 1
                    statuses[status] += 1
                if i % 20 == 0:  # admin reads in the mix: never journaled, never in the way
                    _journal(url, provider="roboflow")
                    with lock:
                        admin_reads += 1

        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(client, range(threads)))
        elapsed = time.monotonic() - started
        rss = process_tree_rss_mib(proc.pid)
        journal = _journal(url)
        entries = journal["entries"]
        scenarios = Counter(e["scenario"] for e in entries)
        print(  # noqa: T201 (the soak's figures are its report: pytest -s shows them)
            f"\nsoak: {sum(sent.values())} requests ({admin_reads} admin reads besides) from {threads} threads in "
            f"{elapsed:.1f} s, {len(errors)} transport errors, journal total {journal['total']} (kept {journal['kept']}, "
            f"{len({e['id'] for e in entries})} unique ids, workers {dict(Counter(e['worker'] for e in entries))}), "
            f"statuses {dict(sorted(statuses.items()))}, RSS of the server and its workers {rss:.0f} MiB",
        )
        assert errors == []
        assert journal["total"] == journal["kept"] == sum(sent.values()) == threads * per_thread
        assert len({e["id"] for e in entries}) == len(entries) and len({e["worker"] for e in entries}) == 2
        assert scenarios["unavailable"] == 5 and scenarios["loading"] == 4  # the rule's count and the loading, exactly
        assert statuses[200] + statuses[400] + statuses[404] + statuses[500] + statuses[503] == threads * per_thread
        assert statuses[404] == sent["unrouted"]


def test_two_servers_on_one_redis_share_a_rule_a_rate_limit_and_one_journal(redis_url, tmp_path):
    flush(redis_url)
    state = ("--state", redis_url, *QUIET)
    with serve_process(state, log=tmp_path / "a.log") as (a, _), serve_process(state, log=tmp_path / "b.log") as (b, _):
        _admin(a, "POST", "/scenarios", {"scenario": "server-error", "provider": "roboflow", "count": 3})
        assert [r["remaining"] for r in _admin(b, "GET", "/scenarios")["rules"]] == [3]
        statuses = _concurrently([lambda url=url: _roboflow(url) for url in (a, b) * 5])
        assert statuses.count(500) == 3 and statuses.count(200) == 7  # count=3 across both servers

        _admin(b, "POST", "/rate-limits", {"provider": "airefinery", "requests": 4, "seconds": 600})
        statuses = _concurrently([lambda url=url: _airefinery(url) for url in (a, b) * 4])
        assert statuses.count(200) == 4 and statuses.count(429) == 4  # one window for both servers

        journal_a, journal_b = _journal(a), _journal(b)
        assert journal_a["entries"] == journal_b["entries"] and journal_a["total"] == 18
        assert len({e["id"] for e in journal_a["entries"]}) == 18 and len({e["worker"] for e in journal_a["entries"]}) == 2

        _admin(b, "POST", "/reset")
        assert _journal(a)["total"] == 0 and _admin(a, "GET", "/scenarios")["rate_limits"] == {}


def test_a_kept_state_file_loses_no_answered_request_rules_or_loading_to_kill_9(tmp_path):
    state = ("--state", str(tmp_path / "state.sqlite3"), "--loading", f"{DETR}=100000", *QUIET)
    answered: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(t: int, url: str) -> None:
        calls = (_hf, _roboflow, _airefinery)
        n = t
        while not stop.is_set():
            try:
                calls[n % 3](url, **{"x-probe": str(n)})
            except httpx.TransportError:  # the server was killed under this request: it was never answered
                return
            with lock:
                answered.append(n)
            n += 4

    with serve_process(state, log=tmp_path / "first.log") as (url, proc):
        _admin(url, "POST", "/scenarios", {"scenario": "unavailable", "provider": "airefinery", "count": 100000})
        workers = [threading.Thread(target=client, args=(t, url)) for t in range(4)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 120
        while len(answered) < 120:
            assert time.monotonic() < deadline and proc.poll() is None, "the server stopped answering before the kill"
            time.sleep(0.01)
        proc.kill()  # kill -9, requests in flight
        proc.wait()
        stop.set()
        for w in workers:
            w.join()

    with serve_process(state, log=tmp_path / "second.log") as (url, _):
        entries = _journal(url)["entries"]
        probes = {int(e["headers"]["x-probe"]) for e in entries}
        assert set(answered) <= probes, f"answered but not in the journal after kill -9: {sorted(set(answered) - probes)}"
        [rule] = _admin(url, "GET", "/scenarios")["rules"]
        rule_answers = sum(e["scenario"] == "unavailable" for e in entries)
        assert rule["scenario"]["name"] == "unavailable" and rule["remaining"] <= 100000 - rule_answers
        loading = _admin(url, "GET", "/scenarios")["loading"][DETR]["requests"]
        assert loading <= 100000 - sum(e["scenario"] == "loading" for e in entries)  # not re-seeded by the restart
        assert _hf(url).status_code == 503 and _airefinery(url).status_code == 503

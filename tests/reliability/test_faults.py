"""Faults: the server stays healthy after clients disconnect mid-body, slow clients, and admin changes racing with
requests; after each, a normal request succeeds and the journal is consistent (every completed request in it,
exact totals, unique increasing ids)."""

from __future__ import annotations

import base64
import logging
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

PNG = sample_image(48, 32)
HF_DET = "/models/facebook/detr-resnet-50"
RF = "/ds/1"


@pytest.fixture(scope="module")
def fault_url():
    with serve(Config(port=0, seed=9, journal_limit=50_000)) as url:
        yield url


@pytest.fixture
def errors_logged():
    """ERROR records from the server's loggers (uvicorn's 'Exception in ASGI application', the mock's own)."""
    records: list[logging.LogRecord] = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Grab(logging.ERROR)
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "uvicorn", "vision_contracts.mockserver")]
    for lg in loggers:
        lg.addHandler(handler)
    yield records
    for lg in loggers:
        lg.removeHandler(handler)


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def _healthy(url: str) -> None:
    with httpx.Client(base_url=url, timeout=15) as client:
        assert client.get("/__vision__/health").json()["status"] == "ok"
        r = client.post(HF_DET, content=PNG, headers={"content-type": "image/png"})
        assert r.status_code == 200, r.text


def _journal(url: str) -> dict:
    return httpx.get(url + "/__vision__/journal", params={"limit": 100_000}, timeout=15).json()


def _consistent(journal: dict) -> None:
    ids = [e["id"] for e in journal["entries"]]
    assert ids == sorted(set(ids)), "journal ids must be unique and increasing"
    assert journal["kept"] == len(journal["entries"]) <= journal["total"]


def test_client_disconnects_mid_body(fault_url, errors_logged):
    httpx.delete(fault_url + "/__vision__/journal")
    for i in range(20):
        with socket.create_connection(_address(fault_url), timeout=5) as sock:
            path = HF_DET if i % 2 == 0 else f"{RF}?api_key=k"
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n".encode())
            sock.sendall(PNG[:100])
            if i % 3 == 0:
                sock.shutdown(socket.SHUT_WR)
        # closed with 99,900 bytes still announced
    time.sleep(0.3)
    _healthy(fault_url)
    journal = _journal(fault_url)
    _consistent(journal)
    broken = [e for e in journal["entries"] if e["status"] is None]
    assert len(broken) == 20 and all("disconnected" in e["verdict"]["violations"][0] for e in broken)
    assert [e["status"] for e in journal["entries"] if e["status"] is not None] == [200]  # the request after them
    assert journal["total"] == 21
    assert [r.getMessage() for r in errors_logged] == []


def _slow_post(url: str, path: str, body: bytes, chunk: int, pause: float) -> int:
    with socket.create_connection(_address(url), timeout=20) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        for i in range(0, len(body), chunk):
            sock.sendall(body[i : i + chunk])
            time.sleep(pause)
        data = b""
        while part := sock.recv(65536):
            data += part
    return int(data.split(b" ", 2)[1])


def test_slow_clients_do_not_block_others(fault_url, errors_logged):
    httpx.delete(fault_url + "/__vision__/journal")
    body = sample_image(64, 48, noise=20)
    chunk = max(1, len(body) // 40)  # 40 chunks, 25 ms apart: about a second per slow client
    with ThreadPoolExecutor(6) as pool:
        slow = [pool.submit(_slow_post, fault_url, HF_DET, body, chunk, 0.025) for _ in range(4)]
        with httpx.Client(base_url=fault_url, timeout=15) as client:  # fast clients meanwhile
            fast = [client.post(HF_DET, content=PNG, headers={"content-type": "image/png", "x-use-cache": "false"}).status_code for _ in range(20)]
        assert [f.result(timeout=30) for f in slow] == [200] * 4
    assert fast == [200] * 20
    _healthy(fault_url)
    journal = _journal(fault_url)
    _consistent(journal)
    assert journal["total"] == 4 + 20 + 1
    assert [r.getMessage() for r in errors_logged] == []


REQUESTS_EACH = 15


def test_concurrent_admin_changes_while_requests_flow(fault_url, errors_logged):
    admin = httpx.Client(base_url=fault_url, timeout=15)
    stop = threading.Event()
    statuses: list[int] = []
    problems: list[str] = []
    scenarios = ["not-found", "unavailable", "rate-limit", "unauthorized", "schema-violation", "loading"]

    def requester(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=fault_url, timeout=15) as client:
            for _ in range(REQUESTS_EACH):  # a count, not a time window: a loaded machine only makes it slower
                try:
                    if rng.random() < 0.5:
                        r = client.post(HF_DET, content=PNG, headers={"content-type": "image/png"})
                    else:
                        r = client.post(RF, params={"api_key": "k"}, content=base64.b64encode(PNG))
                    statuses.append(r.status_code)
                except httpx.HTTPError as exc:
                    problems.append(repr(exc))

    def mutator(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=fault_url, timeout=15) as client:
            while not stop.is_set():
                action = rng.random()
                try:
                    if action < 0.4:
                        r = client.post("/__vision__/scenarios", json={"scenario": rng.choice(scenarios), "count": rng.randint(1, 3)})
                        assert r.status_code == 201, r.text
                    elif action < 0.6:
                        rules = client.get("/__vision__/scenarios").json()["rules"]
                        for rule in rules[: rng.randint(0, 3)]:
                            assert client.delete(f"/__vision__/scenarios/{rule['id']}").status_code in (200, 404)
                    elif action < 0.7:
                        assert client.delete("/__vision__/scenarios").status_code == 200
                    elif action < 0.8:
                        assert client.post("/__vision__/loading", json={"model": "facebook/detr-resnet-50", "requests": 1}).status_code == 201
                    elif action < 0.9:
                        assert client.post("/__vision__/reset").status_code == 200
                    else:
                        assert client.get("/__vision__/journal", params={"limit": 5}).status_code == 200
                except (AssertionError, httpx.HTTPError) as exc:
                    problems.append(repr(exc))

    requesters = [threading.Thread(target=requester, args=(i,)) for i in range(6)]
    mutators = [threading.Thread(target=mutator, args=(100 + i,)) for i in range(3)]
    for t in [*requesters, *mutators]:
        t.start()
    for t in requesters:
        t.join(120)
    stop.set()  # the admin churn goes on for as long as requests flow
    for t in mutators:
        t.join(30)
    assert not any(t.is_alive() for t in [*requesters, *mutators])
    assert len(statuses) + len(problems) == 6 * REQUESTS_EACH
    assert problems == []
    assert statuses and 500 not in statuses and all(s in (200, 401, 403, 404, 429, 503) for s in statuses), sorted(set(statuses))
    assert 200 in statuses
    # back to a known state: the journal counts exactly what is sent from now on
    assert admin.post("/__vision__/reset").status_code == 200
    _healthy(fault_url)
    for _ in range(10):
        assert admin.post(RF, params={"api_key": "k"}, content=base64.b64encode(PNG)).status_code == 200
    journal = _journal(fault_url)
    _consistent(journal)
    assert journal["total"] == 11 and [e["status"] for e in journal["entries"]] == [200] * 11
    admin.close()
    assert [r.getMessage() for r in errors_logged] == []

"""Round trips per second: the mock app in-process (vision_respx: respx -> httpx.ASGITransport) vs over loopback.

Run: ``.venv/bin/python tests/benchmarks/bench_roundtrip.py [N]``. The same small PNG is posted N times to Hugging
Face object detection (response cache on: what a test suite repeating a request pays) and N distinct images (cache
off: generation included). Clients: httpx sync through vision_respx's routing, httpx.AsyncClient through it, and
httpx / requests over 127.0.0.1 to ``vision_contracts.mockserver.testing.serve``. Prints figures; no timing assertions.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx
import requests

from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver.testing import sample_image, serve
from vision_contracts.plugin._respx import InProcessApp, portal, route_hosts

MODEL = "facebook/detr-resnet-50"
REAL = f"https://api-inference.huggingface.co/models/{MODEL}"
SAME = sample_image(32, 24)
DISTINCT = [sample_image(32, 24, noise=8, seed=i) for i in range(1024)]


def rate(fn, n: int) -> float:
    fn(0)  # warm-up
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def async_rate(n: int, body) -> float:
    async def main():
        async with httpx.AsyncClient() as client:
            await client.post(REAL, content=body(0))
            start = time.perf_counter()
            for i in range(n):
                r = await client.post(REAL, content=body(i))
                assert r.status_code == 200
            return n / (time.perf_counter() - start)
    return asyncio.run(main())


def main(n: int = 300) -> None:
    same = lambda i: SAME  # noqa: E731
    fresh = lambda i: DISTINCT[i % len(DISTINCT)]  # noqa: E731
    rows = []
    with portal() as p:
        app = InProcessApp(create_app(Config(port=0)), p)
        with route_hosts(app), httpx.Client() as client:
            def inproc(body):
                def go(i):
                    assert client.post(REAL, content=body(i)).status_code == 200
                return go
            rows.append(("vision_respx, httpx sync, cached", rate(inproc(same), n)))
            rows.append(("vision_respx, httpx async, cached", async_rate(n, same)))
            rows.append(("vision_respx, httpx sync, fresh image", rate(inproc(fresh), n)))
    with serve(Config(port=0, log_level="warning")) as base:
        url = f"{base}/models/{MODEL}"
        with httpx.Client() as client, requests.Session() as session:
            rows.append(("loopback, httpx sync keep-alive, cached", rate(lambda i: client.post(url, content=SAME), n)))
            rows.append(("loopback, requests session, cached", rate(lambda i: session.post(url, data=SAME), n)))
            rows.append(("loopback, httpx sync keep-alive, fresh image", rate(lambda i: client.post(url, content=fresh(i)), n)))
    print(f"{'round trip (POST HF object detection, 32x24 PNG)':52} {'requests/s':>11}")
    for name, value in rows:
        print(f"{name:52} {value:11.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)

"""vision_intercept's choice, measured: provider-host requests forwarded to the live mock over loopback (what
``vision_intercept`` does) vs answered by the app in-process (``vision_respx``'s ASGI way), against the baseline of a
request sent straight to the live mock's URL, all in the same run. Figures printed; no timing assertions.

Run: ``./dev bench -k intercept`` (or ``.venv/bin/python -m pytest tests/benchmarks/bench_intercept.py -s -p
no:cacheprovider -o python_files="bench_*.py"``).
"""

from __future__ import annotations

import asyncio

import httpx
import requests

from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver.testing import sample_image, serve
from vision_contracts.plugin._intercept import intercepting
from vision_contracts.plugin._respx import InProcessApp, portal, route_hosts

from conftest import measure, report

MODEL = "facebook/detr-resnet-50"
REAL = f"https://router.huggingface.co/hf-inference/models/{MODEL}"
IMAGE = sample_image(32, 24)  # the same image each time: the response cache answers, so the path is what is measured


def _async_batch(url: str, n: int = 20) -> float:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(n):
                (await client.post(url, content=IMAGE)).raise_for_status()
    asyncio.run(go())
    return float(n)


def test_forwarded_vs_in_process(capsys):
    rows = []
    with serve(Config(port=0, log_level="warning")) as base, httpx.Client() as client, requests.Session() as session:
        direct = f"{base}/hf-inference/models/{MODEL}"
        rows.append(("baseline: httpx sync to the mock's URL", measure(lambda: client.post(direct, content=IMAGE).raise_for_status())))
        rows.append(("baseline: requests session to the mock's URL", measure(lambda: session.post(direct, data=IMAGE).raise_for_status())))
        rows.append(("baseline: httpx async x20 to the mock's URL", measure(lambda: _async_batch(direct))))
        with intercepting(base):
            rows.append(("vision_intercept (forwarded): httpx sync", measure(lambda: client.post(REAL, content=IMAGE).raise_for_status())))
            rows.append(("vision_intercept (forwarded): requests session", measure(lambda: session.post(REAL, data=IMAGE).raise_for_status())))
            rows.append(("vision_intercept (forwarded): httpx async x20", measure(lambda: _async_batch(REAL))))
    with portal() as p:
        app = InProcessApp(create_app(Config(port=0)), p)
        with route_hosts(app), httpx.Client() as inproc:
            rows.append(("in-process ASGI (vision_respx): httpx sync", measure(lambda: inproc.post(REAL, content=IMAGE).raise_for_status())))
            rows.append(("in-process ASGI (vision_respx): httpx async x20", measure(lambda: _async_batch(REAL))))
    text = report("one cached HF detection request: forwarded to the live mock vs in-process", rows, "baseline: httpx sync to the mock's URL")
    assert "vision_intercept" in text  # a report, not a timing assertion

"""A bounded soak (run on demand: ./dev bench -k soak): ``python -m vision_contracts.mockserver`` in a subprocess, 32
concurrent clients sending 10,000 mixed requests over loopback (cached and fresh, valid and invalid, every operation and
wire form), after a warm-up. Zero errors; the journal's total equals the requests sent; the server's resident memory
(VmRSS) stays within +20% from after the warm-up to the end (issue 12). Prints the figures.

SOAK_REQUESTS, SOAK_SECONDS (a cap on the duration, default 900) and SOAK_CLIENTS override the request count, the
duration and the concurrency.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reliability"))

from vision_contracts.mockserver.testing import sample_image

from reliability_support import rss_kib, server_process

REQUESTS = int(os.environ.get("SOAK_REQUESTS", "10000"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "900"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "32"))
WARMUP_SECONDS = 8.0

IMAGES = [sample_image(32 + 8 * (i % 8), 24 + 8 * (i // 8), noise=i % 5, seed=i) for i in range(48)]
JPEGS = [sample_image(40 + 4 * i, 30 + 4 * i, fmt="JPEG", noise=6, seed=i) for i in range(8)]


def _request(rng: random.Random) -> tuple[str, str, dict, int]:
    """(method, path, httpx kwargs, expected status) for one mixed operation: cached and fresh, valid and invalid."""
    image = rng.choice(IMAGES)
    b64 = base64.b64encode(image).decode()
    kind = rng.randrange(9)
    fresh = {"x-use-cache": "false"} if rng.random() < 0.3 else {}
    if kind == 0:
        return "POST", "/models/facebook/detr-resnet-50", {"content": image, "headers": {"content-type": "image/png", **fresh}}, 200
    if kind == 1:
        return "POST", "/models/openmmlab/upernet-convnext-small", {"content": rng.choice(JPEGS), "headers": {"content-type": "image/jpeg", **fresh}}, 200
    if kind == 2:
        body = {"inputs": b64, "parameters": {"threshold": round(rng.random(), 2)}}
        return "POST", "/models/facebook/mask2former-swin-large-coco-panoptic", {"json": body, "headers": fresh}, 200
    if kind == 3:
        return "POST", f"/ds/{rng.randint(1, 5)}", {"content": b64, "params": {"api_key": "k", "confidence": rng.randint(0, 100)}}, 200
    if kind == 4:
        return "POST", "/ds/2", {"files": {"file": ("x.png", image, "image/png")}, "params": {"api_key": "k"}}, 200
    if kind == 5:
        body = {"model": "m", "image_prompt": b64, "segment_prompt": [[[rng.randint(0, 20), rng.randint(0, 20)]]]}
        return "POST", "/v1/images/segmentations", {"json": body, "headers": {"authorization": "Bearer k"}}, 200
    if kind == 6:
        # (a threshold of 2 is only a warning now: the real service accepts it; a string is an error)
        return "POST", "/models/facebook/detr-resnet-50", {"json": {"inputs": b64, "parameters": {"threshold": "high"}}}, 400
    if kind == 7:
        return "POST", "/ds/1", {"content": b"@@not base64@@", "params": {"api_key": "k"}}, 400
    return "POST", "/v1/images/segmentations", {"json": {"model": "m"}, "headers": {"authorization": "Bearer k"}}, 422


async def _client(url: str, seed: int, deadline: float, counts: Counter, errors: list[str], budget: int | None) -> None:
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline and (budget is None or counts["sent"] < budget):
            method, path, kwargs, expected = _request(rng)
            counts["sent"] += 1
            try:
                r = await client.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {exc!r}")
                continue
            counts[r.status_code] += 1
            if r.status_code != expected:
                errors.append(f"{path}: {r.status_code} (expected {expected}) {r.text[:200]}")
            elif expected == 200:
                json.loads(r.content)


async def _load(url: str, seconds: float, counts: Counter, errors: list[str], budget: int | None = None) -> None:
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(url, seed, deadline, counts, errors, budget) for seed in range(CLIENTS)))


def test_soak_32_clients_10000_requests(tmp_path):
    with server_process(["--log-level", "warning", "--journal-limit", "1000"], log=tmp_path / "soak.log") as (url, proc):
        warm_counts: Counter = Counter()
        asyncio.run(_load(url, WARMUP_SECONDS, warm_counts, []))
        httpx.delete(url + "/__vision__/journal")
        rss_start = rss_kib(proc.pid)
        counts: Counter = Counter()
        errors: list[str] = []
        samples = [rss_start]
        started = time.monotonic()

        async def run_with_sampling() -> None:
            done = asyncio.Event()

            async def sample() -> None:
                while not done.is_set():
                    try:
                        await asyncio.wait_for(done.wait(), 5)
                    except asyncio.TimeoutError:
                        samples.append(rss_kib(proc.pid))

            async def load() -> None:
                await _load(url, SECONDS, counts, errors, REQUESTS)
                done.set()

            await asyncio.gather(load(), sample())

        asyncio.run(run_with_sampling())
        elapsed = time.monotonic() - started
        rss_end = rss_kib(proc.pid)
        journal = httpx.get(url + "/__vision__/journal", params={"limit": 1}).json()
        growth = 100.0 * (rss_end - rss_start) / rss_start
        statuses = {k: v for k, v in sorted(counts.items(), key=str) if k != "sent"}
        print(f"\n== soak: {CLIENTS} clients, {counts['sent']} requests (target {REQUESTS}), {elapsed:.1f} s over loopback to python -m vision_contracts.mockserver (pid {proc.pid}) ==")
        print(f"  requests sent {counts['sent']}  answered {sum(statuses.values())}  req/s {counts['sent'] / elapsed:.1f}  errors {len(errors)}")
        print(f"  statuses {statuses}  journal total {journal['total']} (kept {journal['kept']}, limit {journal['limit']})")
        print(f"  RSS after warm-up {rss_start / 1024:.1f} MiB  end {rss_end / 1024:.1f} MiB  change {growth:+.1f}%  "
              f"peak {max(samples) / 1024:.1f} MiB  samples {[round(s / 1024, 1) for s in samples]}")
        assert errors == [], errors[:10]
        assert journal["total"] == counts["sent"]
        assert rss_end <= rss_start * 1.20, f"RSS grew {growth:.1f}%"
        assert proc.poll() is None

"""What a fresh answer costs by image size (figures printed, nothing asserted on timing).

Photo-like JPEGs (``bench_server.photo_like_jpeg``, quality 90) from 256x192 to 4000x3000 (12 MP), posted as base64
JSON to Hugging Face image segmentation with ``x-use-cache: false``, one request at a time over loopback (so each
figure is one request's latency, not a throughput shared between connections), against the decode floor of
``bench_server`` (parse, base64, the JPEG decoded at reduced scale, one full-size mask PNG) at the same size, both
servers in subprocesses, one worker each, measured in the same run, their requests alternated. Target (issue 12):
a 12 MP photo within 3x its floor.

COST_REPEATS overrides the requests per size (default 12, at least 3; the median is reported).
Run: ``.venv/bin/python -m pytest tests/benchmarks/bench_cost_by_size.py -s``.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import time

import httpx
from bench_server import DECODE_FLOOR_APP, MODEL_PATH, _process, mock_args, photo_like_jpeg

from vision_contracts.mockserver.testing import free_port

SIZES = [(256, 192), (640, 480), (1024, 768), (1600, 1200), (2048, 1536), (3000, 2250), (4000, 3000)]
REPEATS = max(3, int(os.environ.get("COST_REPEATS", "12")))
HEADERS = {"content-type": "application/json", "x-use-cache": "false"}


def _post_ms(client: httpx.Client, url: str, body: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    r = client.post(url, content=body, headers=HEADERS)
    elapsed = (time.perf_counter() - started) * 1000
    assert r.status_code == 200, r.text[:500]
    return elapsed, len(r.content)


def _medians(client: httpx.Client, floor_url: str, mock_url: str, body: bytes) -> tuple[float, float, int]:
    """Median milliseconds of the floor and the mock over REPEATS requests each, alternated (so a burst of load from
    elsewhere on the machine weighs on both alike), after one warm-up each; and the mock's answer size in bytes."""
    _post_ms(client, floor_url, body)
    _, answer = _post_ms(client, mock_url, body)
    floor, mock = [], []
    for _ in range(REPEATS):
        floor.append(_post_ms(client, floor_url, body)[0])
        mock.append(_post_ms(client, mock_url, body)[0])
    return statistics.median(floor), statistics.median(mock), answer


def test_fresh_answer_cost_by_image_size(tmp_path):
    load = os.getloadavg()
    bodies = {size: json.dumps({"inputs": base64.b64encode(photo_like_jpeg(*size)).decode()}).encode() for size in SIZES}
    rows = []
    mock_port, floor_port = free_port(), free_port()
    with _process(mock_args(mock_port, "--max-body-bytes", str(64 * 2**20)), mock_port, "/__vision__/health") as mock_url, \
            _process([sys.executable, "-c", DECODE_FLOOR_APP, str(floor_port)], floor_port, "/docs") as floor_url, \
            httpx.Client(timeout=120) as client:
        for size in SIZES:
            floor_ms, mock_ms, answer = _medians(client, floor_url + MODEL_PATH, mock_url + MODEL_PATH, bodies[size])
            rows.append((size, len(bodies[size]), floor_ms, mock_ms, answer))
    print(f"\n== fresh answers by image size: HF image segmentation, base64 JSON, x-use-cache: false, {REPEATS} requests "
          f"each, median; load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs) ==")
    print(f"  {'image':>11} {'MP':>6} {'body':>10} {'floor ms':>10} {'mock ms':>10} {'mock/floor':>11} {'answer':>10}")
    for (w, h), body, floor_ms, mock_ms, answer in rows:
        print(f"  {w:>5}x{h:<5} {w * h / 1e6:>6.2f} {body:>10} {floor_ms:>10.2f} {mock_ms:>10.2f} {mock_ms / floor_ms:>11.2f} {answer:>10}")
    (w0, h0), _, floor0, mock0, _ = rows[0]
    (w1, h1), _, floor1, mock1, _ = rows[-1]
    pixels = (w1 * h1) / (w0 * h0)
    print(f"  from {w0}x{h0} to {w1}x{h1} ({pixels:.0f}x the pixels): the mock's cost x{mock1 / mock0:.1f}, the floor's "
          f"x{floor1 / floor0:.1f}; 12 MP mock / floor {mock1 / floor1:.2f} (target <= 3)")

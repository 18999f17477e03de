"""Mock server throughput over loopback, side by side in one run (figures printed, nothing asserted on timing).

Load: wrk, 32 connections, POSTing a 512x512 photo-like JPEG as base64 JSON (``{"inputs": ...}``, the documents'
cats.jpg case) to Hugging Face image segmentation. Targets (issue 3): the repeated request, served from the response
cache, at least 1.5x Stoplight Prism's static mock of the same operation; every request computed afresh
(``x-use-cache: false``) at least 25% of a bare FastAPI endpoint that only parses the same body.

Worker counts are stated in every row and ratios compare like with like: the mock with 1 uvicorn worker against
the parse-only endpoint with 1, and the mock with ``--workers 2`` against the parse-only endpoint with 2. wrk shares
the machine with the server, so the load average before the run is printed too.

Needs ``wrk`` (Debian package) on PATH; Prism is used when ``node_modules/.bin/prism`` exists in $PRISM_DIR
(default /tmp/vision-prism; ``npm install @stoplight/prism-cli`` there), else its row is skipped.
Run: ``.venv/bin/python -m pytest tests/benchmarks/bench_server.py -s``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from vision_contracts.mockserver.testing import free_port

DURATION = os.environ.get("BENCH_DURATION", "6s")
CONNECTIONS = 32
MODEL_PATH = "/models/facebook/mask2former-swin-large-coco-panoptic"

PARSE_ONLY_APP = r'''
import json, sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
app = FastAPI()
@app.post("/models/{model_id:path}")
async def parse(model_id: str, request: Request):
    body = json.loads(await request.body())
    return JSONResponse({"parsed": len(body["inputs"])})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
'''


# The mock on uvicorn's pure-Python stack (h11 + asyncio), as before uvicorn[standard]: the same app, the stack forced.
MOCK_ON_STACK = r'''
import sys, uvicorn
from vision_contracts.mockserver import create_app
from vision_contracts.mockserver._config import parse_args
config = parse_args(["--port", sys.argv[1], "--log-level", "warning"])
uvicorn.run(create_app(config), host="127.0.0.1", port=config.port, log_level="warning", http=sys.argv[2], loop=sys.argv[3])
'''


def photo_like_jpeg(size: int = 512) -> bytes:
    """Smooth gradients, a few soft shapes and sensor-like noise, JPEG quality 90."""
    rng = np.random.default_rng(42)
    yy, xx = np.mgrid[:size, :size] / size
    base = np.stack([120 + 80 * yy, 140 + 60 * xx * yy, 200 - 90 * yy], axis=-1)
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, int(size * 0.7), size, size], fill=(80, 120, 60))
    draw.ellipse([int(size * 0.15), int(size * 0.35), int(size * 0.45), int(size * 0.8)], fill=(150, 110, 80))  # a "cat"
    draw.ellipse([int(size * 0.55), int(size * 0.4), int(size * 0.85), int(size * 0.78)], fill=(60, 60, 70))
    im = im.filter(ImageFilter.GaussianBlur(2))
    arr = np.asarray(im, dtype=np.int16) + rng.normal(0, 6, (size, size, 3)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


@contextmanager
def _process(args: list[str], port: int, probe: str, env: dict | None = None):
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[:3]} did not start: {proc.stderr.read().decode()[-2000:] if proc.poll() is not None else 'timeout'}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(url: str, body_file: Path, headers: dict[str, str]) -> dict[str, float]:
    lua = f"wrk.method = 'POST'\nlocal f = io.open('{body_file}', 'rb'); wrk.body = f:read('*a'); f:close()\n"
    lua += "".join(f"wrk.headers['{k}'] = '{v}'\n" for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency", "-s", script.name, url],  # noqa: S607 (wrk from PATH: skipped without it)
                         capture_output=True, text=True, timeout=120, check=False).stdout
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "errors": int(non2xx.group(1)) if non2xx else 0}


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_server_throughput(tmp_path):
    from vision_contracts.contracts import openapi as contracts_openapi

    load = os.getloadavg()
    jpeg = photo_like_jpeg()
    body_file = tmp_path / "body.json"
    body_file.write_bytes(json.dumps({"inputs": base64.b64encode(jpeg).decode()}).encode())
    json_headers = {"Content-Type": "application/json"}
    rows: list[tuple[str, dict[str, float]]] = []

    port = free_port()
    with _process([sys.executable, "-c", PARSE_ONLY_APP, str(port)], port, "/docs") as url:
        rows.append(("bare FastAPI, parse the JSON body only", wrk(url + MODEL_PATH, body_file, json_headers)))
    # the same endpoint with 2 uvicorn workers, to compare like with like against the mock's --workers 2 row
    app_dir = tmp_path / "parse_only"
    app_dir.mkdir()
    (app_dir / "parse_only_app.py").write_text(PARSE_ONLY_APP.split("uvicorn.run(")[0])
    port = free_port()
    with _process([sys.executable, "-m", "uvicorn", "parse_only_app:app", "--port", str(port), "--workers", "2",
                   "--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)], port, "/docs") as url:
        rows.append(("bare FastAPI --workers 2, parse only", wrk(url + MODEL_PATH, body_file, json_headers)))

    port = free_port()
    with _process([sys.executable, "-m", "vision_contracts.mockserver", "--port", str(port), "--log-level", "warning"], port, "/__vision__/health") as url:
        check = httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=json_headers, timeout=30)
        assert check.status_code == 200, check.text
        print(f"\nmock answer: {len(check.json())} segments, {len(check.content)} bytes, x-compute-time {check.headers['x-compute-time']}s")
        rows.append(("vision-mock, repeated request (response cache)", wrk(url + MODEL_PATH, body_file, json_headers)))
        rows.append(("vision-mock, x-use-cache: false (computed afresh)", wrk(url + MODEL_PATH, body_file, {**json_headers, "x-use-cache": "false"})))

    port = free_port()
    with _process([sys.executable, "-c", MOCK_ON_STACK, str(port), "h11", "asyncio"], port, "/__vision__/health") as url:
        rows.append(("vision-mock on h11 + asyncio, repeated request", wrk(url + MODEL_PATH, body_file, json_headers)))
        rows.append(("vision-mock on h11 + asyncio, x-use-cache: false", wrk(url + MODEL_PATH, body_file, {**json_headers, "x-use-cache": "false"})))

    port = free_port()
    with _process([sys.executable, "-m", "vision_contracts.mockserver", "--port", str(port), "--workers", "2", "--log-level", "warning"], port, "/__vision__/health") as url:
        rows.append(("vision-mock --workers 2, x-use-cache: false", wrk(url + MODEL_PATH, body_file, {**json_headers, "x-use-cache": "false"})))

    prism = Path(os.environ.get("PRISM_DIR", "/tmp/vision-prism")) / "node_modules" / ".bin" / "prism"
    if prism.exists():
        doc = contracts_openapi.build(["huggingface"], operations=["image-segmentation"])
        doc_file = tmp_path / "openapi.json"
        doc_file.write_text(json.dumps(doc))
        port = free_port()
        with _process([str(prism), "mock", "-v", "silent", "-h", "127.0.0.1", "-p", str(port), str(doc_file)], port, "/") as url:
            check = httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=json_headers, timeout=30)
            print(f"prism answer: {check.status_code}, {len(check.content)} bytes")
            rows.append(("Stoplight Prism static mock (same operation's OpenAPI)", wrk(url + MODEL_PATH, body_file, json_headers)))
    else:
        print(f"\n(Prism row skipped: {prism} not found; npm install @stoplight/prism-cli in {prism.parents[2]})")

    print(f"\n== HF image segmentation, 512x512 JPEG as base64 JSON ({len(body_file.read_bytes())} bytes), wrk -c{CONNECTIONS} -d{DURATION} ==")
    print(f"  ({os.cpu_count()} CPUs, load average before the run {load[0]:.2f}; wrk runs on the same machine)")
    for name, r in rows:
        print(f"  {name:<56} {r['rps']:>8.1f} req/s   p50 {r['p50']:>8.2f} ms   p99 {r['p99']:>8.2f} ms   non-2xx {r['errors']}")
    figures = dict(rows)
    rps = {name: r["rps"] for name, r in rows}
    parse, parse2 = rps["bare FastAPI, parse the JSON body only"], rps["bare FastAPI --workers 2, parse only"]
    cached = rps["vision-mock, repeated request (response cache)"]
    fresh, fresh2 = rps["vision-mock, x-use-cache: false (computed afresh)"], rps["vision-mock --workers 2, x-use-cache: false"]
    print(f"  fresh / parse-only, 1 worker each:  {fresh / parse:.3f} (target >= 0.25)")
    print(f"  uvicorn[standard] (httptools + uvloop) / h11 + asyncio: repeated {cached / rps['vision-mock on h11 + asyncio, repeated request']:.2f}x, "
          f"fresh {fresh / rps['vision-mock on h11 + asyncio, x-use-cache: false']:.2f}x")
    print(f"  fresh / parse-only, 2 workers each: {fresh2 / parse2:.3f}")
    prism_row = "Stoplight Prism static mock (same operation's OpenAPI)"
    if prism_row in figures:
        print(f"  cached / Prism:     {cached / rps[prism_row]:.2f} (target >= 1.5)")

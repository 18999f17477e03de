"""Mock server throughput over loopback, side by side in one run (figures printed, nothing asserted on timing).

Load: wrk, 32 connections, POSTing a 512x512 photo-like JPEG as base64 JSON (``{"inputs": ...}``, the documents'
cats.jpg case) to Hugging Face image segmentation. Baselines: Stoplight Prism's static mock of the same operation, a
bare FastAPI endpoint that only parses the body, and the *decode floor* (``DECODE_FLOOR_APP``: parse, base64-decode,
decode the JPEG at reduced scale, answer one full-size mask PNG: what any content-aware mock must at least do).
Targets (issue 12): the repeated request (response cache) at least 2x Prism and 1x parse-only; every request
computed afresh (``x-use-cache: false``) at least 0.5x the decode floor.

Worker counts are stated in every row and ratios compare like with like: the mock with 1 uvicorn worker against
the parse-only endpoint with 1, and the mock with ``--workers 2`` against the parse-only endpoint with 2. wrk shares
the machine with the server, so the load average before and after the run is printed too. BENCH_QUICK=1 runs only
the rows the targets compare.

Needs ``wrk`` (Debian package) on PATH; Prism is used when ``node_modules/.bin/prism`` exists in $PRISM_DIR
(default /tmp/vision-prism; ``npm install @stoplight/prism-cli`` there), else its row is skipped.
``BENCH_BASELINE_TREE=DIR``: the mock of another tree (DIR/vision_contracts/{contracts,mockserver,plugin}, e.g. ``git
archive`` of the commit before a change) measured in the same run, so a change is measured before and after at once.
Run: ``.venv/bin/python -m pytest tests/benchmarks/bench_server.py -s``.
"""

from __future__ import annotations

import base64
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
import pytest

from vision_contracts.mockserver.testing import free_port, photo_like_jpeg

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

# The floor of any content-aware mock: parse the JSON, base64-decode the image, decode the JPEG at reduced scale
# (Pillow's draft, to at least 128 pixels a side, as the mock's work grid), threshold it into a mask, and answer that
# mask at the input's full size as one PNG (NEAREST upsampling, zlib level 1: the fastest Pillow writes) in base64
# JSON. One worker, on the event loop like the parse-only endpoint.
DECODE_FLOOR_APP = r'''
import base64, io, json, sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
app = FastAPI()
@app.post("/models/{model_id:path}")
async def floor(model_id: str, request: Request):
    body = json.loads(await request.body())
    data = base64.b64decode(body["inputs"], validate=True)
    im = Image.open(io.BytesIO(data))
    size = im.size
    im.draft("L", (128, 128))
    small = im.convert("L").point(lambda v: 255 if v >= 128 else 0)
    out = io.BytesIO()
    small.resize(size, Image.Resampling.NEAREST).save(out, "PNG", compress_level=1)
    return JSONResponse([{"label": "floor", "score": 1.0, "mask": base64.b64encode(out.getvalue()).decode()}])
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


def prism_path() -> Path:
    return Path(os.environ.get("PRISM_DIR", "/tmp/vision-prism")) / "node_modules" / ".bin" / "prism"


def mock_args(port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vision_contracts.mockserver", "--port", str(port), "--log-level", "warning", *extra]


PARSE = "bare FastAPI, parse the JSON body only"
PARSE2 = "bare FastAPI --workers 2, parse only"
FLOOR = "decode floor: parse, base64, drafted JPEG decode, full-size mask PNG"
CACHED = "vision-mock, repeated request (response cache)"
FRESH = "vision-mock, x-use-cache: false (computed afresh)"
H11_CACHED = "vision-mock on h11 + asyncio, repeated request"
H11_FRESH = "vision-mock on h11 + asyncio, x-use-cache: false"
FRESH2 = "vision-mock --workers 2, x-use-cache: false"
POOL_FRESH = "vision-mock --generate-processes 2, x-use-cache: false"
NB_CACHED = "vision-mock --keep-bodies-mb 0, repeated request"
NB_FRESH = "vision-mock --keep-bodies-mb 0, x-use-cache: false"
PRISM = "Stoplight Prism static mock (same operation's OpenAPI)"
BASE_CACHED = "vision-mock of BENCH_BASELINE_TREE, repeated request"
BASE_FRESH = "vision-mock of BENCH_BASELINE_TREE, x-use-cache: false"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")
def test_server_throughput(tmp_path):
    from vision_contracts.contracts import openapi as contracts_openapi

    load = os.getloadavg()
    jpeg = photo_like_jpeg()
    body_file = tmp_path / "body.json"
    body_file.write_bytes(json.dumps({"inputs": base64.b64encode(jpeg).decode()}).encode())
    json_headers = {"Content-Type": "application/json"}
    fresh_headers = {**json_headers, "x-use-cache": "false"}
    rows: list[tuple[str, dict[str, float]]] = []
    quick = os.environ.get("BENCH_QUICK") == "1"  # only the rows the targets compare

    prism = prism_path()
    if prism.exists():
        doc = contracts_openapi.build(["huggingface"], operations=["image-segmentation"])
        doc_file = tmp_path / "openapi.json"
        doc_file.write_text(json.dumps(doc))
        port = free_port()
        with _process([str(prism), "mock", "-v", "silent", "-h", "127.0.0.1", "-p", str(port), str(doc_file)], port, "/") as url:
            check = httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=json_headers, timeout=30)
            print(f"\nprism answer: {check.status_code}, {len(check.content)} bytes")
            rows.append((PRISM, wrk(url + MODEL_PATH, body_file, json_headers)))
    else:
        print(f"\n(Prism row skipped: {prism} not found; npm install @stoplight/prism-cli in {prism.parents[2]})")

    port = free_port()
    with _process([sys.executable, "-c", PARSE_ONLY_APP, str(port)], port, "/docs") as url:
        rows.append((PARSE, wrk(url + MODEL_PATH, body_file, json_headers)))
    port = free_port()
    with _process([sys.executable, "-c", DECODE_FLOOR_APP, str(port)], port, "/docs") as url:
        check = httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=json_headers, timeout=30)
        assert check.status_code == 200, check.text
        rows.append((FLOOR, wrk(url + MODEL_PATH, body_file, json_headers)))

    port = free_port()
    with _process(mock_args(port), port, "/__vision__/health") as url:
        check = httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=json_headers, timeout=30)
        assert check.status_code == 200, check.text
        print(f"mock answer: {len(check.json())} segments, {len(check.content)} bytes, x-compute-time {check.headers['x-compute-time']}s")
        rows.append((CACHED, wrk(url + MODEL_PATH, body_file, json_headers)))
        rows.append((FRESH, wrk(url + MODEL_PATH, body_file, fresh_headers)))
    # the inspector keeps every request's and answer's bodies in the state store by default (--keep-bodies-mb 64):
    # the same server without them, to show what that costs
    port = free_port()
    with _process(mock_args(port, "--keep-bodies-mb", "0"), port, "/__vision__/health") as url:
        rows.append((NB_CACHED, wrk(url + MODEL_PATH, body_file, json_headers)))
        rows.append((NB_FRESH, wrk(url + MODEL_PATH, body_file, fresh_headers)))

    baseline = os.environ.get("BENCH_BASELINE_TREE")
    if baseline:
        port = free_port()
        with _process(mock_args(port), port, "/__vision__/health", env={"PYTHONPATH": baseline}) as url:
            rows.append((BASE_CACHED, wrk(url + MODEL_PATH, body_file, json_headers)))
            rows.append((BASE_FRESH, wrk(url + MODEL_PATH, body_file, fresh_headers)))

    if not quick:
        # the same endpoint with 2 uvicorn workers, to compare like with like against the mock's --workers 2 row
        app_dir = tmp_path / "parse_only"
        app_dir.mkdir()
        (app_dir / "parse_only_app.py").write_text(PARSE_ONLY_APP.split("uvicorn.run(")[0])
        port = free_port()
        with _process([sys.executable, "-m", "uvicorn", "parse_only_app:app", "--port", str(port), "--workers", "2",
                       "--log-level", "warning", "--no-access-log", "--app-dir", str(app_dir)], port, "/docs") as url:
            rows.append((PARSE2, wrk(url + MODEL_PATH, body_file, json_headers)))
        port = free_port()
        with _process([sys.executable, "-c", MOCK_ON_STACK, str(port), "h11", "asyncio"], port, "/__vision__/health") as url:
            rows.append((H11_CACHED, wrk(url + MODEL_PATH, body_file, json_headers)))
            rows.append((H11_FRESH, wrk(url + MODEL_PATH, body_file, fresh_headers)))
        port = free_port()
        with _process(mock_args(port, "--workers", "2"), port, "/__vision__/health") as url:
            rows.append((FRESH2, wrk(url + MODEL_PATH, body_file, fresh_headers)))
        port = free_port()  # one worker, generation of the 512x512 image in a pool of 2 processes
        with _process(mock_args(port, "--generate-processes", "2"), port, "/__vision__/health") as url:
            httpx.post(url + MODEL_PATH, content=body_file.read_bytes(), headers=fresh_headers, timeout=60)  # pool started
            rows.append((POOL_FRESH, wrk(url + MODEL_PATH, body_file, fresh_headers)))

    print(f"\n== HF image segmentation, 512x512 JPEG as base64 JSON ({len(body_file.read_bytes())} bytes), wrk -c{CONNECTIONS} -d{DURATION} ==")
    print(f"  ({os.cpu_count()} CPUs, load average before the run {load[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"wrk runs on the same machine; one worker each unless the row says otherwise)")
    for name, r in rows:
        print(f"  {name:<70} {r['rps']:>8.1f} req/s   p50 {r['p50']:>8.2f} ms   p99 {r['p99']:>8.2f} ms   non-2xx {r['errors']}")
    rps = {name: r["rps"] for name, r in rows}
    print(f"  repeated / parse-only:   {rps[CACHED] / rps[PARSE]:.2f} (target >= 1)")
    if PRISM in rps:
        print(f"  repeated / Prism:        {rps[CACHED] / rps[PRISM]:.2f} (target >= 2)")
    print(f"  fresh / decode floor:    {rps[FRESH] / rps[FLOOR]:.2f} (target >= 0.5)")
    print(f"  without kept bodies: repeated / parse-only {rps[NB_CACHED] / rps[PARSE]:.2f}"
          + (f", repeated / Prism {rps[NB_CACHED] / rps[PRISM]:.2f}" if PRISM in rps else "")
          + f", fresh / decode floor {rps[NB_FRESH] / rps[FLOOR]:.2f}")
    print(f"  fresh / parse-only:      {rps[FRESH] / rps[PARSE]:.3f}")
    if baseline:
        print(f"  this tree / {baseline}: repeated {rps[CACHED] / rps[BASE_CACHED]:.2f}x, fresh {rps[FRESH] / rps[BASE_FRESH]:.2f}x")
    if not quick:
        print(f"  uvicorn[standard] (httptools + uvloop) / h11 + asyncio: repeated {rps[CACHED] / rps[H11_CACHED]:.2f}x, "
              f"fresh {rps[FRESH] / rps[H11_FRESH]:.2f}x")
        print(f"  fresh / parse-only, 2 workers each: {rps[FRESH2] / rps[PARSE2]:.3f}")
        print(f"  fresh, 2 workers / 1: {rps[FRESH2] / rps[FRESH]:.2f} (target >= 1.7); "
              f"--generate-processes 2 / none: {rps[POOL_FRESH] / rps[FRESH]:.2f}")

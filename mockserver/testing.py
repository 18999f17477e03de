"""Run the mock server for tests: ``with serve(config) as base_url: ...`` inside the test process, or
``with serve_process(args) as (base_url, proc): ...`` as ``python -m vision_contracts.mockserver`` in a subprocess
(its own logs and resident memory).

``serve`` runs the app under ``uvicorn.Server`` in a daemon thread on a socket bound before the thread starts, so
the port is known (port 0 picks a free one) and the context manager returns only once the server accepts requests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from ._adminauth import exposure_problem
from ._app import create_app
from ._config import Config
from ._limits import uvicorn_options

__all__ = ["free_port", "photo_like_jpeg", "sample_image", "serve", "serve_process"]


@contextlib.contextmanager
def serve(config: Config | None = None, *, timeout: float = 20.0, **overrides: Any) -> Iterator[str]:
    """Serve ``config`` (default: ``Config(port=0)``, a free port on 127.0.0.1) and yield its base URL."""
    config = replace(config or Config(port=0), **overrides)
    problem = exposure_problem(config)
    if problem:
        raise RuntimeError(problem)
    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    host, port = sock.getsockname()[:2]
    app = create_app(replace(config, port=port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **uvicorn_options(config)))
    server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]  # uvicorn < 0.30 has it; not the main thread
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"vision-mock:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("The mock server thread stopped before it started serving.")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"The mock server did not start within {timeout} seconds.")
        time.sleep(0.01)
    try:
        yield f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serve_process(args: Sequence[str] = (), *, log: Path | None = None, timeout: float = 30.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m vision_contracts.mockserver --port N ARGS`` on 127.0.0.1 until it answers its health probe; yields
    (base URL, process) and stops it afterwards. Its output goes to ``log`` (or nowhere)."""
    import httpx

    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below, once the server has stopped)
    proc = subprocess.Popen([sys.executable, "-m", "vision_contracts.mockserver", "--port", str(port), *args], stdout=out,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"python -m vision_contracts.mockserver exited with {proc.returncode}" + (f": {log.read_text()[-2000:]}" if log else ""))
            try:
                if httpx.get(url + "/__vision__/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"python -m vision_contracts.mockserver did not answer within {timeout} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if not isinstance(out, int):  # the log file (DEVNULL is an int)
            out.close()


def sample_image(width: int = 96, height: int = 64, *, fmt: str = "PNG", mode: str = "RGB", noise: int = 0, seed: int = 0) -> bytes:
    """A small synthetic scene as encoded bytes: sky, ground, a sun disc and a red block (distinct colour regions).

    ``noise`` adds uniform per-pixel noise of that amplitude (photo-like); ``mode`` converts before encoding.
    """
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (width, height), (70, 130, 200))
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, height * 2 // 3, width, height], fill=(60, 160, 60))
    draw.ellipse([width // 6, height // 6, width // 6 + max(1, width // 4), height // 6 + max(1, height // 4)], fill=(230, 190, 40))
    draw.rectangle([width * 3 // 5, height // 3, width * 4 // 5, height * 3 // 4], fill=(200, 40, 40))
    if noise:
        rng = np.random.default_rng(seed)
        arr = np.asarray(im, dtype=np.int16) + rng.integers(-noise, noise + 1, (height, width, 3))
        im = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def photo_like_jpeg(width: int = 512, height: int | None = None, *, seed: int = 42) -> bytes:
    """A photo-like JPEG, quality 90 (``height`` defaults to ``width``): smooth gradients, a ground band, two soft
    shapes and sensor-like noise drawn from ``seed``; big enough to be decoded at reduced scale. The benchmarks' and
    the pinned answers' input."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    height = height or width
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    yy, xx = yy / height, xx / width
    base = np.stack([120 + 80 * yy, 140 + 60 * xx * yy, 200 - 90 * yy], axis=-1)
    im = Image.fromarray(base.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    draw.rectangle([0, int(height * 0.7), width, height], fill=(80, 120, 60))
    draw.ellipse([int(width * 0.15), int(height * 0.35), int(width * 0.45), int(height * 0.8)], fill=(150, 110, 80))
    draw.ellipse([int(width * 0.55), int(height * 0.4), int(width * 0.85), int(height * 0.78)], fill=(60, 60, 70))
    im = im.filter(ImageFilter.GaussianBlur(2))
    arr = np.asarray(im, dtype=np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    out = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB").save(out, "JPEG", quality=90)
    return out.getvalue()

"""Helpers of the state-store tests: a real ``redis-server`` on a free loopback port (never a fake), and the figures
of a server's processes."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from vision_contracts.mockserver.testing import free_port

INSTALL_REDIS = (
    "redis-server is not on PATH: the Redis state store is tested against a real server, never a fake. Install it "
    "(Debian or Ubuntu: apt-get install -y redis-server; ./dev test installs it when it is missing)."
)


@contextlib.contextmanager
def redis_server(folder: Path, timeout: float = 20.0) -> Iterator[str]:
    """``redis-server`` bound to 127.0.0.1 on a free port, without persistence, until the block ends; yields the URL
    of its database 0. Fails the test (not a skip) when redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_REDIS, pytrace=False)
    port = free_port()
    log = folder / f"redis-{port}.log"
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder),
         "--logfile", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        _wait_for(client, proc, log, timeout)
        yield url
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(client: redis.Redis, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"redis-server exited with {proc.returncode} before answering: {text[-2000:]}")
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not answer PING within {timeout} s") from None
            time.sleep(0.05)


def flush(url: str) -> None:
    """Empty the Redis database at ``url`` (each test starts from nothing)."""
    with redis.Redis.from_url(url) as client:
        client.flushdb()


def process_tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's workers), in MiB, from /proc."""
    total_kib = 0
    for member in [pid, *_children(pid)]:
        with contextlib.suppress(FileNotFoundError):  # a worker that ended meanwhile holds no memory
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found += [child, *_children(child)]
    return found

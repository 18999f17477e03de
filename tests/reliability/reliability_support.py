"""Helpers of the reliability tests: a free port, and ``python -m mockserver`` in a subprocess (so its logs and
resident memory are its own)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server_process(args: Sequence[str] = (), *, log: Path | None = None, timeout: float = 30.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m mockserver --port N ARGS`` on 127.0.0.1; yields (base URL, process). Output goes to ``log``."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "mockserver", "--port", str(port), *args], stdout=out, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"python -m mockserver exited with {proc.returncode}" + (f": {log.read_text()[-2000:]}" if log else ""))
            try:
                if httpx.get(url + "/__vision__/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"python -m mockserver did not answer within {timeout} s")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def rss_kib(pid: int) -> int:
    """Resident memory of a process in KiB (VmRSS from /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raw_http(base_url: str, method: str, target: str, headers: Sequence[tuple[bytes, bytes]], body: bytes = b"", *, timeout: float = 15.0) -> httpx.Response:
    """One HTTP/1.1 request written byte by byte on a fresh socket (for header values httpx refuses to send, such as
    trailing whitespace), read until the server closes; returned as an httpx.Response."""
    host, port = base_url.split("//", 1)[1].rsplit(":", 1)
    head = [f"{method} {target} HTTP/1.1".encode(), f"Host: {host}:{port}".encode(), b"Connection: close",
            b"Content-Length: " + str(len(body)).encode()]
    head += [name + b": " + value for name, value in headers]
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    raw_head, _, content = data.partition(b"\r\n\r\n")
    lines = raw_head.split(b"\r\n")
    status = int(lines[0].split()[1])
    parsed = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:] if b":" in line]
    return httpx.Response(status, headers=parsed, content=content)

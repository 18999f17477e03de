"""Helpers of the reliability tests: ``python -m vision_contracts.mockserver`` in a subprocess (so its logs and resident
memory are its own; from ``vision_contracts.mockserver.testing``), its resident memory, and raw HTTP for values httpx
refuses to send."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

import httpx

from vision_contracts.mockserver.testing import serve_process as server_process  # noqa: F401 (re-exported for the tests)


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

"""Shared constants and helpers of the mock-server tests (a uniquely named module: `conftest` is ambiguous)."""

from __future__ import annotations

import base64

CREATED = 1_700_000_000  # a fixed clock for AI Refinery's `created`, so bodies are byte-identical across runs


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

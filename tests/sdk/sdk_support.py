"""Shared constants of the real-SDK tests (a uniquely named module: `conftest` is ambiguous)."""

WIDTH, HEIGHT = 120, 80
CREATED = 1_700_000_000

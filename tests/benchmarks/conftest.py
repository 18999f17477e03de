"""Benchmarks run on demand (`./dev bench`), print their figures, and never fail on timing."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(fn: Callable[[], object], *, seconds: float = 1.5, min_runs: int = 5) -> dict[str, float]:
    """Run fn repeatedly for about `seconds`; return per-call median and mean in microseconds and the call count."""
    fn()  # warm-up
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < min_runs:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {"median_us": statistics.median(samples) * 1e6, "mean_us": statistics.fmean(samples) * 1e6, "runs": len(samples)}


def report(title: str, rows: list[tuple[str, dict[str, float]]], baseline: str) -> str:
    base = dict(rows)[baseline]["median_us"]
    lines = [f"\n== {title} (baseline: {baseline}, same run) =="]
    for name, r in rows:
        lines.append(f"  {name:<58} median {r['median_us']:>10.1f} us   x{base / r['median_us']:>7.2f} vs baseline   ({r['runs']} runs)")
    text = "\n".join(lines)
    print(text)
    return text

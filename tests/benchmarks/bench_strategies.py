"""Examples per second of the plugin's Hypothesis strategies (target: >= 500 valid image requests/s).

Run: ``.venv/bin/python tests/benchmarks/bench_strategies.py [N]``. Each strategy drives a Hypothesis test that only
counts its examples (generation phase only, no database), so the figure is what a user's @given test pays before its
own body runs. A second figure per operation adds ``validate_request`` to show the contract's share. No timing
assertions: this prints figures for the closing note.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from vision_contracts import contracts
from vision_contracts.plugin.strategies import image_infos, image_responses, invalid_requests, requests


def rate(strategy, n: int, body=lambda value: None) -> float:
    count = 0

    @settings(max_examples=n, phases=[Phase.generate], database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value):
        nonlocal count
        count += 1
        body(value)

    run()  # warm-up: strategy construction, imports, Pillow codecs
    count = 0
    start = time.perf_counter()
    run()
    return count / (time.perf_counter() - start)


def main(n: int = 2000) -> None:
    print(f"{'strategy':58} {'examples/s':>11}")
    baseline = st.tuples(*[st.integers(0, 100)] * 10)
    print(f"{'baseline: Hypothesis alone, 10 integers (machine speed)':58} {rate(baseline, n):11.0f}")
    print(f"{'images() (image_infos, up to 64x64)':58} {rate(image_infos(), n):11.0f}")
    for op in contracts.operations():
        contract = contracts.get(*op)
        name = "/".join(op)
        print(f"{'requests ' + name:58} {rate(requests(*op), n):11.0f}")
        print(f"{'requests ' + name + ' + validate_request':58} {rate(requests(*op), n // 2, contract.validate_request):11.0f}")
        print(f"{'invalid_requests ' + name:58} {rate(invalid_requests(*op), n // 2):11.0f}")
        print(f"{'image_responses ' + name:58} {rate(image_responses(*op), n // 4):11.0f}")



def test_strategy_rates():
    """Collected by `./dev bench`: prints the same table (fewer examples)."""
    main(500)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)

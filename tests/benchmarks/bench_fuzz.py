"""The long Schemathesis run (on demand: ./dev bench -k fuzz): the same configuration as
tests/reliability/test_fuzz.py (examples, coverage and fuzzing phases, positive and negative data, seeded) with
FUZZ_EXAMPLES (default 2000) fuzzing examples per operation, over loopback against a live server. Prints the cases
sent per operation and phase, the statuses seen, and the failures.

Operations without inputs (GET /__vision__/health, ...) have fewer distinct cases than that: Hypothesis stops
when it has exhausted them, and the counts say so.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "reliability"))

import schemathesis

from vision_contracts.mockserver.testing import sample_image, serve

from fuzz_support import fuzz_config, fuzz_server_config, run_case, select

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
IMAGE = sample_image(40, 30)

_stack = contextlib.ExitStack()
API_URL = _stack.enter_context(serve(fuzz_server_config()))
ADMIN_URL = _stack.enter_context(serve(fuzz_server_config()))
atexit.register(_stack.close)

api = select(schemathesis.openapi.from_url(API_URL + "/openapi.json", config=fuzz_config(max_examples=EXAMPLES, seed=7)))
admin = select(schemathesis.openapi.from_url(ADMIN_URL + "/openapi.json", config=fuzz_config(max_examples=EXAMPLES, seed=7)), admin_writes=True)

CASES: dict[str, Counter] = defaultdict(Counter)
STATUSES: dict[str, Counter] = defaultdict(Counter)
_alternate = itertools.count()


def _record(case, call) -> None:
    label = case.operation.label
    meta = case.meta
    CASES[label][f"{meta.phase.name.value}/{meta.generation.mode.value}" if meta else "?"] += 1
    response = call()
    if response is not None:
        STATUSES[label][response.status_code] += 1


@api.parametrize()
def test_long_fuzz_api(case):
    _record(case, lambda: run_case(case, IMAGE, substitute=next(_alternate) % 2 == 1))


@admin.parametrize()
def test_long_fuzz_admin_writes(case):
    _record(case, case.call_and_validate)


def test_zz_report():
    print(f"\n== long fuzz: max {EXAMPLES} fuzzing examples per operation, examples + coverage + fuzzing phases ==")
    for label in sorted(CASES):
        total = sum(CASES[label].values())
        phases = ", ".join(f"{k} {v}" for k, v in sorted(CASES[label].items()))
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(STATUSES[label].items()))
        print(f"  {label:<48} cases {total:>6}  [{phases}]  statuses {{{statuses}}}")
    print(f"  total cases {sum(sum(c.values()) for c in CASES.values())}; failures: see pytest's summary (one failed test per operation)")

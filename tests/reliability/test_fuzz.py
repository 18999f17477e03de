"""Schemathesis against the mock server's own /openapi.json, in process (ASGI): examples, coverage and fuzzing
phases, positive and negative data, seeded and bounded. Zero server errors; every response conforms; invalid
data is rejected. See ``fuzz_support`` for what is fuzzed and why some checks are off. Every other positive case
carries a real image, so the 200 path (generation, response schema) is fuzzed too. The long run, over loopback
against ``python -m vision_contracts.mockserver``, is tests/benchmarks/bench_fuzz.py.

(The schemas are loaded at import with ``from_asgi``: ``schemathesis.pytest.from_fixture`` fails under pytest 9,
``'Function' object has no attribute '_nodeid'``.)
"""

from __future__ import annotations

import itertools

import schemathesis

from vision_contracts.mockserver import create_app
from vision_contracts.mockserver.testing import sample_image

from fuzz_support import fuzz_config, fuzz_server_config, run_case, select

MAX_EXAMPLES = 25
IMAGE = sample_image(40, 30)
_alternate = itertools.count()

api = select(schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_server_config()), config=fuzz_config(max_examples=MAX_EXAMPLES)))
admin = select(schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzz_server_config()), config=fuzz_config(max_examples=MAX_EXAMPLES)), admin_writes=True)


@api.parametrize()
def test_api_conforms_under_fuzzing(case):
    run_case(case, IMAGE, substitute=next(_alternate) % 2 == 1)


@admin.parametrize()
def test_admin_writes_conform_under_fuzzing(case):
    case.call_and_validate()

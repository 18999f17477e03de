"""Generation in a process pool (issue 19, ``--generate-processes``): the answers computed in the pool's processes are
byte for byte the pinned ones (``test_answer_digests``), for every operation; small images stay in the threads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from test_answer_digests import CASES, DIGESTS, answer

from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver._pool import GenerationPool

from server_support import CREATED


@pytest.fixture(scope="module")
def pooled() -> Iterator[TestClient]:
    config = Config(seed=7, created=CREATED, generate_processes=1, generate_process_pixels=1)  # every image in the pool
    app = create_app(config)
    with TestClient(app) as c:
        yield c
    assert app.state.server.pool._executor is None  # closed at shutdown


def test_answers_from_the_pool_are_the_pinned_ones(pooled: TestClient) -> None:
    found = {name: hashlib.sha256(answer(pooled, name)).hexdigest() for name in sorted(CASES)}
    assert found == DIGESTS
    assert pooled.app.state.server.pool._executor is not None  # type: ignore[attr-defined] (the pool did run them)


def test_the_threshold_picks_the_pool() -> None:
    pool = GenerationPool(2, 200_000)
    assert pool.uses_pool(200_000)
    assert not pool.uses_pool(199_999)
    assert not GenerationPool(0, 0).uses_pool(10**9)

"""A live mock server with auth, rate limits and model loading configured, reset before each test."""

from __future__ import annotations

import os

os.environ.setdefault("AIR_SILENT", "1")
os.environ.pop("HF_HUB_OFFLINE", None)

import httpx
import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

from behaviour_support import AIR_KEY, HF_TOKEN, RF_KEY


@pytest.fixture(scope="session")
def live():
    config = Config(port=0, seed=1, created=1_760_000_000, max_wait_seconds=5.0,
                    auth={"huggingface": (HF_TOKEN,), "roboflow": (RF_KEY,), "airefinery": (AIR_KEY,)},
                    roboflow_models=("street-scenes/4",))
    with serve(config) as url:
        yield url


@pytest.fixture
def base_url(live):
    httpx.post(f"{live}/__vision__/reset").raise_for_status()
    return live


@pytest.fixture(scope="session")
def png():
    return sample_image(64, 48)

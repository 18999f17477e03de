"""airefinery-sdk (``import air``): AIRefinery and AsyncAIRefinery ``images.segment`` against the mock."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from PIL import Image

from sdk_support import HEIGHT, WIDTH

MODEL = "syscv-community/sam-hq-vit-base"
RED = [int(WIDTH * 0.7), int(HEIGHT * 0.5)]  # inside sample_image's red block


def _check(response, groups: int) -> None:
    assert response.created == 1_700_000_000
    assert len(response.data) == groups
    for i, item in enumerate(response.data):
        mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(item.b64_json))))
        assert mask.shape == (HEIGHT, WIDTH) and set(np.unique(mask).tolist()) <= {0, i + 1}
        assert isinstance(item.label, str) and 0 <= item.score <= 1
    u = response.usage
    assert u.total_tokens == u.input_tokens + u.output_tokens


def test_sync_client(base_url, png_bytes):
    from air import AIRefinery

    client = AIRefinery(api_key="air_test", base_url=base_url)
    image = base64.b64encode(png_bytes).decode()
    response = client.images.segment(image=image, segment_prompt=[[RED], [[2, 2]]], model=MODEL)
    _check(response, 2)
    red = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json))))
    assert red[RED[1], RED[0]] == 1 and red[2, 2] == 0


def test_sync_client_with_a_data_uri_and_a_trailing_slash(base_url, png_bytes):
    from air import AIRefinery

    client = AIRefinery(api_key="air_test", base_url=base_url + "/")
    response = client.images.segment(image="data:image/png;base64," + base64.b64encode(png_bytes).decode(), segment_prompt=[[RED]], model=MODEL)
    _check(response, 1)


def test_sync_client_sees_422(base_url, png_bytes):
    import requests
    from air import AIRefinery

    client = AIRefinery(api_key="air_test", base_url=base_url)
    with pytest.raises(requests.HTTPError) as info:
        client.images.segment(image=base64.b64encode(png_bytes).decode(), segment_prompt=[[[WIDTH + 5, 1]]], model=MODEL)
    assert info.value.response.status_code == 422
    assert info.value.response.json()["detail"][0]["loc"] == ["body", "segment_prompt", 0, 0]


def test_async_client(base_url, png_bytes):
    from air import AsyncAIRefinery

    async def run():
        client = AsyncAIRefinery(api_key="air_test", base_url=base_url)  # posts /authentication/validate twice
        return await client.images.segment(image=base64.b64encode(png_bytes).decode(), segment_prompt=[[RED, [3, 3]]], model=MODEL)

    _check(asyncio.run(run()), 1)

"""huggingface_hub's InferenceClient and AsyncInferenceClient, pointed at the mock by a full model URL."""

from __future__ import annotations

import asyncio

import pytest
from huggingface_hub import AsyncInferenceClient, InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from PIL import Image

from sdk_support import HEIGHT, WIDTH

SEG = "openmmlab/upernet-convnext-small"
PANOPTIC = "facebook/mask2former-swin-large-coco-panoptic"
DET = "facebook/detr-resnet-50"

# the async client hands raw bytes to httpx2 as data=..., which warns on every binary call (SDK behaviour, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def _client(base_url, model):
    return InferenceClient(model=f"{base_url}/models/{model}", token="hf_test")


def _check_segments(segments, size=(WIDTH, HEIGHT)):
    assert segments, "expected at least one segment"
    for s in segments:
        assert isinstance(s.label, str) and s.label
        assert isinstance(s.mask, Image.Image) and s.mask.size == size and s.mask.mode == "L"
        assert set(s.mask.getextrema()) <= {0, 255}


def test_segmentation_bytes_without_parameters(base_url, png_bytes):
    segments = _client(base_url, PANOPTIC).image_segmentation(png_bytes)
    _check_segments(segments)
    assert all(0.9 <= s.score <= 1 for s in segments)  # the pipeline's default threshold is 0.9


def test_segmentation_file_path_with_parameters(base_url, jpeg_path):
    client = _client(base_url, SEG)
    semantic = client.image_segmentation(jpeg_path, subtask="semantic", mask_threshold=0.5)
    _check_segments(semantic)
    assert all(s.score is None for s in semantic)
    instance = client.image_segmentation(str(jpeg_path), subtask="instance", threshold=0.85, overlap_mask_area_threshold=0.3)
    assert all(s.score >= 0.85 for s in instance)


def test_segmentation_through_the_router_path(base_url, png_bytes):
    segments = InferenceClient(base_url=f"{base_url}/hf-inference/models/{SEG}").image_segmentation(png_bytes, threshold=0.0)
    _check_segments(segments)


def test_detection_bytes_and_path(base_url, png_bytes, jpeg_path):
    client = _client(base_url, DET)
    for image in (png_bytes, jpeg_path):
        boxes = client.object_detection(image)
        assert boxes
        for d in boxes:
            assert 0.5 <= d.score <= 1 and d.label
            assert 0 <= d.box.xmin <= d.box.xmax <= WIDTH and 0 <= d.box.ymin <= d.box.ymax <= HEIGHT
    strict = client.object_detection(png_bytes, threshold=0.95)
    assert all(d.score >= 0.95 for d in strict) and len(strict) <= len(client.object_detection(png_bytes, threshold=0.0))


def test_errors_surface_the_error_field(base_url, png_bytes):
    with pytest.raises(HfHubHTTPError) as info:
        _client(base_url, "acme/frobnicator").object_detection(png_bytes)
    assert info.value.response.status_code == 404 and "acme/frobnicator does not exist" in str(info.value)
    with pytest.raises(HfHubHTTPError) as info:
        _client(base_url, DET).object_detection(b"definitely not an image")
    assert info.value.response.status_code == 400 and "image" in str(info.value)


def test_async_client(base_url, png_bytes, jpeg_path):
    async def run():
        client = AsyncInferenceClient(model=f"{base_url}/models/{PANOPTIC}", token="hf_test")
        segments = await client.image_segmentation(png_bytes)
        semantic = await client.image_segmentation(jpeg_path, subtask="semantic")
        boxes = await AsyncInferenceClient(model=f"{base_url}/models/{DET}").object_detection(jpeg_path, threshold=0.3)
        return segments, semantic, boxes

    segments, semantic, boxes = asyncio.run(run())
    _check_segments(segments)
    _check_segments(semantic)
    assert boxes and all(d.score >= 0.3 and d.box.xmax <= WIDTH for d in boxes)

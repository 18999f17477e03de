"""Roboflow's two Python clients: ``roboflow`` (SemanticSegmentationModel) and ``inference-sdk`` (v0 API)."""

from __future__ import annotations

import asyncio
import base64
import io

import numpy as np
import pytest
from PIL import Image

from sdk_support import HEIGHT, WIDTH


def _mask(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _check(prediction: dict) -> None:
    mask = _mask(prediction["segmentation_mask"])
    assert mask.shape == (HEIGHT, WIDTH)
    assert set(np.unique(mask).tolist()) <= {int(k) for k in prediction["class_map"]}
    assert prediction["class_map"]["0"] == "background" and len(prediction["class_map"]) >= 2
    assert prediction["image"] == {"width": WIDTH, "height": HEIGHT}


def test_roboflow_semantic_segmentation_model(base_url, jpeg_path, png_path, monkeypatch, tmp_path):
    monkeypatch.setenv("SEMANTIC_SEGMENTATION_URL", base_url)  # read again by every predict()
    monkeypatch.setenv("ROBOFLOW_CONFIG_DIR", str(tmp_path / "roboflow-config.json"))  # no user config file can interfere
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    model = SemanticSegmentationModel("rf_test_key", "my-workspace/street-scenes/4")
    for path in (jpeg_path, png_path):
        group = model.predict(str(path), confidence=40)
        prediction = group.json()["predictions"][0]
        _check(prediction)
        assert prediction["prediction_type"] == "SemanticSegmentationModel"
    strict = model.predict(str(png_path), confidence=100).json()["predictions"][0]
    loose = model.predict(str(png_path), confidence=0).json()["predictions"][0]
    assert (_mask(strict["segmentation_mask"]) > 0).sum() < (_mask(loose["segmentation_mask"]) > 0).sum()


def test_roboflow_sdk_sees_http_errors(base_url, monkeypatch, tmp_path):
    import requests

    monkeypatch.setenv("SEMANTIC_SEGMENTATION_URL", base_url + "/no-such-prefix")  # /no-such-prefix/proj/x: not numeric
    monkeypatch.setenv("ROBOFLOW_CONFIG_DIR", str(tmp_path / "roboflow-config.json"))
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    path = tmp_path / "x.png"
    path.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="))
    with pytest.raises(requests.HTTPError) as info:
        SemanticSegmentationModel("k", "ws/proj/2").predict(str(path))
    assert info.value.response.status_code == 404


@pytest.fixture
def v0_client(base_url):
    from inference_sdk import InferenceHTTPClient

    return InferenceHTTPClient(api_url=base_url, api_key="rf_test_key").select_api_v0()


@pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key")
def test_inference_sdk_v0_sync(v0_client, jpeg_path, png_bytes):
    _check(v0_client.infer(str(jpeg_path), model_id="street-scenes/4"))
    image = Image.open(io.BytesIO(png_bytes))  # a PIL image is re-encoded as JPEG by the SDK
    _check(v0_client.infer(image, model_id="street-scenes/4"))
    _check(v0_client.infer(base64.b64encode(png_bytes).decode(), model_id="street-scenes/4"))  # a str is sent as base64


@pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key")
def test_inference_sdk_v0_async(v0_client, png_path):
    result = asyncio.run(v0_client.infer_async(str(png_path), model_id="street-scenes/4"))
    _check(result)


@pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key")
def test_inference_sdk_v0_error_message(v0_client):
    from inference_sdk.http.errors import HTTPCallErrorError

    with pytest.raises(HTTPCallErrorError) as info:
        v0_client.infer(base64.b64encode(b"not an image").decode(), model_id="street-scenes/4")
    assert info.value.status_code == 400 and "image" in info.value.api_message

"""The downstream application's tests: its code unchanged, under vision_intercept, in a network namespace with only
loopback up (the runner, tests/intercept/test_downstream_intercept.py, starts it so)."""

from __future__ import annotations

import asyncio
import base64

import app
import pytest
import requests

from vision_contracts.mockserver.testing import sample_image

WIDTH, HEIGHT = 120, 80
IMAGE = sample_image(WIDTH, HEIGHT)
RED = [int(WIDTH * 0.7), int(HEIGHT * 0.5)]  # inside sample_image's red block


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_downstream_secret")
    monkeypatch.setenv("ROBOFLOW_API_KEY", "rf_downstream_secret")
    monkeypatch.setenv("AIR_API_KEY", "air_downstream_secret")


@pytest.fixture
def image_path(tmp_path):
    path = tmp_path / "scene.png"
    path.write_bytes(IMAGE)
    return str(path)


def seen(mock):
    """(host, provider, operation, status) of every request the mock answered in this test."""
    return [(e["host"], e["provider"], e["operation"], e["status"]) for e in mock.journal()]


def no_secret_in(mock):
    text = str(mock.journal())
    return not any(k in text for k in ("hf_downstream_secret", "rf_downstream_secret", "air_downstream_secret"))


def test_huggingface_sync_default_provider_auto(vision_intercept, image_path):
    boxes = app.hf_detect(image_path)
    segments = app.hf_segment(image_path)
    assert boxes and all(0 <= b.score <= 1 and b.box.xmax <= WIDTH for b in boxes)
    assert segments and all(s.mask is not None and s.label for s in segments)
    calls = seen(vision_intercept)
    # provider "auto": the Hub's model info first (cached per model by huggingface_hub), then the router
    assert ("huggingface.co", "huggingface", "hub-model-info", 200) in calls
    assert ("router.huggingface.co", "huggingface", "object-detection", 200) in calls
    assert ("router.huggingface.co", "huggingface", "image-segmentation", 200) in calls
    assert no_secret_in(vision_intercept)


def test_huggingface_async(vision_intercept, image_path):
    boxes = asyncio.run(app.hf_detect_async(image_path))
    assert boxes and boxes[0].label
    assert ("router.huggingface.co", "huggingface", "object-detection", 200) in seen(vision_intercept)


def test_roboflow_inference_sdk_sync_and_async(vision_intercept, image_path):
    sync = app.roboflow_inference_sdk(image_path)
    async_ = asyncio.run(app.roboflow_inference_sdk_async(image_path))
    for result in (sync, async_):
        assert result["class_map"]["0"] == "background" and result["segmentation_mask"]
    assert seen(vision_intercept).count(("segment.roboflow.com", "roboflow", "semantic-segmentation", 200)) == 2
    assert no_secret_in(vision_intercept)


def test_roboflow_package(vision_intercept, image_path):
    prediction = app.roboflow_package(image_path)["predictions"][0]
    assert prediction["prediction_type"] == "SemanticSegmentationModel"
    assert seen(vision_intercept) == [("segment.roboflow.com", "roboflow", "semantic-segmentation", 200)]


def test_airefinery_sync_and_async(vision_intercept):
    image = base64.b64encode(IMAGE).decode()
    for response in (app.airefinery_segment(image, RED), asyncio.run(app.airefinery_segment_async(image, RED))):
        assert len(response.data) == 1 and response.data[0].b64_json
    calls = seen(vision_intercept)
    assert calls.count(("api.airefinery.accenture.com", "airefinery", "image-segmentation", 200)) == 2
    assert all(host == "api.airefinery.accenture.com" for host, *_ in calls)
    assert no_secret_in(vision_intercept)


def test_plain_httpx_requests_aiohttp(vision_intercept):
    assert app.plain_httpx(IMAGE).json()[0]["box"]
    assert "segmentation_mask" in app.plain_requests(IMAGE).json()
    status, body = asyncio.run(app.plain_aiohttp(IMAGE))
    assert status == 200 and body[0]["label"]
    assert seen(vision_intercept) == [
        ("router.huggingface.co", "huggingface", "object-detection", 200),
        ("segment.roboflow.com", "roboflow", "semantic-segmentation", 200),
        ("api-inference.huggingface.co", "huggingface", "object-detection", 200),
    ]


def test_scenarios_apply_to_intercepted_calls(vision_intercept, image_path):
    vision_intercept.scenario("unauthorized", provider="roboflow")
    with pytest.raises(requests.HTTPError) as caught:
        app.plain_requests(IMAGE).raise_for_status()
    assert caught.value.response.status_code == 403  # Roboflow answers a bad key with 403


def test_an_unknown_host_is_refused_with_a_sentence(vision_intercept):
    with pytest.raises(requests.ConnectionError) as caught:
        app.fetch("https://example.com/data.json")
    message = str(caught.value)
    assert "refused a connection to https://example.com:443" in message
    assert '@pytest.mark.vision_allow_hosts("example.com")' in message
    assert vision_intercept.journal() == []
    print(f"\nREFUSAL: {caught.value.args[0]}")  # noqa: T201 (the runner quotes it)


@pytest.mark.vision_allow_hosts("example.com")
def test_an_allowed_host_goes_to_the_network(vision_intercept):
    # let through, it meets this namespace's network: no route, so the name does not resolve (nothing left the machine)
    with pytest.raises(requests.ConnectionError) as caught:
        app.fetch("https://example.com/data.json")
    assert "refused a connection" not in str(caught.value)


def test_after_the_fixture_the_network_layer_is_as_before():
    import socket

    # no interception left: the name lookup reaches the system resolver, which fails in the namespace
    with pytest.raises(socket.gaierror) as caught:
        socket.getaddrinfo("router.huggingface.co", 443)
    assert "refused a connection" not in str(caught.value)

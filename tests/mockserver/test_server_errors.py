"""Invalid requests get a clear 4xx in the provider's own error format; every error body passes its contract."""

from __future__ import annotations

import pytest

from vision_contracts import contracts
from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

from server_support import b64

HF_SEG = "/models/openmmlab/upernet-convnext-small"
HF_DET = "/models/facebook/detr-resnet-50"
AIR = "/v1/images/segmentations"


def _error(response, provider, operation, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    report = contracts.get(provider, operation).validate_error_body(body, status)
    assert report.errors == [], report.render("error body")
    return body


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"inputs": "AAAA", "parameters": {"threshold": "high"}}, "$.body.parameters.threshold", "a value of type number"),
        ({"inputs": "AAAA", "parameters": {"subtask": "everything"}}, "$.body.parameters.subtask", 'one of "instance"'),
        ({"parameters": {}}, "$.body", "inputs"),
        ({"inputs": 12}, "$.body.inputs", "string"),
    ],
)
def test_hf_bad_json_bodies_name_the_path_the_expectation_and_what_arrived(client, body, path, expected):
    message = _error(client.post(HF_SEG, json=body), "huggingface", "image-segmentation", 400)["error"]
    assert path in message and expected in message, message
    assert message.endswith(".")


def test_hf_unreadable_image(client):
    for request in ({"content": b"not an image at all"}, {"json": {"inputs": b64(b"not an image at all")}}):
        message = _error(client.post(HF_DET, **request), "huggingface", "object-detection", 400)["error"]
        assert "image" in message and "$.body" in message


def test_hf_truncated_image_is_a_400_not_a_500(client):
    data = sample_image(200, 200, fmt="PNG", noise=30)
    message = _error(client.post(HF_DET, content=data[: len(data) // 2]), "huggingface", "object-detection", 400)["error"]
    assert "image" in message


def test_hf_invalid_json_body(client):
    message = _error(client.post(HF_SEG, content=b'{"inputs": ', headers={"content-type": "application/json"}), "huggingface", "image-segmentation", 400)["error"]
    assert "JSON" in message


def test_hf_unknown_model_is_a_404_naming_how_to_configure(client, png):
    message = _error(client.post("/models/acme/frobnicator", content=png), "huggingface", "image-segmentation", 404)["error"]
    assert message.startswith("Model acme/frobnicator does not exist") and "--model ID=TASK" in message


def test_hf_bad_authorization_header(client, png):
    message = _error(client.post(HF_DET, content=png, headers={"authorization": "Token abc"}), "huggingface", "object-detection", 400)["error"]
    assert "$.headers.authorization" in message


def test_roboflow_errors(client, png):
    message = _error(client.post("/ds/1", content=b64(png)), "roboflow", "semantic-segmentation", 400)["message"]
    assert "api_key" in message
    message = _error(client.post("/ds/1?api_key=k&confidence=150", content=b64(png)), "roboflow", "semantic-segmentation", 400)["message"]
    assert "$.query.confidence" in message and "<= 100" in message
    message = _error(client.post("/ds/0?api_key=k", content=b64(png)), "roboflow", "semantic-segmentation", 400)["message"]
    assert "$.path.version" in message
    message = _error(client.post("/ds/1?api_key=k", content=b"@@@@not base64@@@@"), "roboflow", "semantic-segmentation", 400)["message"]
    assert "$.body" in message
    message = _error(client.post("/ds/1?api_key=k", files={"upload": ("x.jpg", png, "image/jpeg")}), "roboflow", "semantic-segmentation", 400)["message"]
    assert "file" in message


def test_roboflow_remote_image_urls_are_off_by_default(client):
    message = _error(client.post("/ds/1", params={"api_key": "k", "image": "http://example.com/cat.jpg"}), "roboflow", "semantic-segmentation", 400)["message"]
    assert "--allow-remote-images" in message and "--image-dir" in message


def test_roboflow_non_numeric_version_is_not_a_route(client, png):
    r = client.post("/ds/latest?api_key=k", content=b64(png))
    _error(r, "roboflow", "semantic-segmentation", 404)


def test_airefinery_errors_are_fastapi_validation_lists(client, png):
    payload = {"model": "m", "image_prompt": b64(png), "segment_prompt": [[[500, 10]]], "extra_body": None}
    detail = _error(client.post(AIR, json=payload, headers={"authorization": "Bearer k"}), "airefinery", "image-segmentation", 422)["detail"]
    assert detail[0]["loc"] == ["body", "segment_prompt", 0, 0] and "outside" in detail[0]["msg"]
    detail = _error(client.post(AIR, json=payload), "airefinery", "image-segmentation", 422)["detail"]
    assert ["header", "authorization"] in [d["loc"][:2] for d in detail] or any("authorization" in d["msg"] for d in detail)
    payload = {"model": "m", "image_prompt": b64(png), "segment_prompt": "[[[1, 1]]]"}
    detail = _error(client.post(AIR, json=payload, headers={"authorization": "Bearer k"}), "airefinery", "image-segmentation", 422)["detail"]
    assert detail[0]["loc"] == ["body", "segment_prompt"]


def test_body_size_limit_is_a_413_in_the_provider_format():
    with serve(Config(port=0, max_body_bytes=1000)) as url:
        import httpx

        data = sample_image(200, 200, noise=40)
        r = httpx.post(url + HF_DET, content=data)
        _error(r, "huggingface", "object-detection", 413)
        r = httpx.post(url + "/ds/2?api_key=k", content=b64(data))
        _error(r, "roboflow", "semantic-segmentation", 413)


def test_disabled_providers_are_not_served(png):
    with serve(Config(port=0, providers=("roboflow",))) as url:
        import httpx

        assert httpx.post(url + HF_DET, content=png).status_code in (404, 405)
        assert httpx.post(url + "/ds/2?api_key=k", content=b64(png)).status_code == 200

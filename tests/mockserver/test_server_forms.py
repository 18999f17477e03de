"""Every request form real callers use reaches a 200 whose body passes the contract, at every served path."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from vision_contracts import contracts

from server_support import b64

HF_SEG = "/models/facebook/mask2former-swin-large-coco-panoptic"
HF_DET = "/models/facebook/detr-resnet-50"
AUTH = {"authorization": "Bearer hf_test"}


def _ok(response, provider, operation, request):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    report = contracts.get(provider, operation).validate_response(body, request=request)
    assert report.errors == [], report.render("response")
    assert not report.skipped, report.skipped  # the request carried the image: every semantic check ran
    return body


@pytest.mark.parametrize("path", [HF_SEG, "/hf-inference" + HF_SEG, HF_SEG + "/"])
def test_hf_segmentation_raw_bytes_without_content_type(client, png, path):
    r = client.post(path, content=png, headers={"content-type": ""} | AUTH)
    body = _ok(r, "huggingface", "image-segmentation", png)
    assert body and all(Image.open(io.BytesIO(__import__("base64").b64decode(s["mask"]))).size == (96, 64) for s in body)


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", "image/jpeg", "application/json"])
def test_hf_raw_bytes_under_any_label(client, png, content_type):
    # seed 001's JavaScript sends a file's bytes labelled application/json: the contract takes it as raw bytes
    r = client.post(HF_DET, content=png, headers={"content-type": content_type})
    _ok(r, "huggingface", "object-detection", png)


def test_hf_json_base64_and_data_uri(client, jpeg):
    for inputs in (b64(jpeg), "data:image/jpeg;base64," + b64(jpeg)):
        body = {"inputs": inputs, "parameters": {"threshold": 0.2}}
        _ok(client.post(HF_DET, json=body), "huggingface", "object-detection", body)
        body = {"inputs": inputs, "parameters": {"subtask": "instance", "threshold": 0.5}}
        _ok(client.post("/hf-inference" + HF_SEG, json=body), "huggingface", "image-segmentation", body)


def test_hf_unconfigured_model_with_a_telling_name_is_404_not_guessed(client, png):
    # The real API answers 404 for a model it does not serve; guessing from the name is opt-in (--guess-tasks,
    # tested in test_families.py), so a telling name alone is no longer served.
    for model, task in (("acme/yolo-v9-tiny", "object-detection"), ("nvidia/segformer-b0", "image-segmentation")):
        r = client.post(f"/models/{model}", content=png)
        assert r.status_code == 404, r.text
        assert f"--model {model}={task}" in r.json()["error"]


def test_roboflow_multipart_file(client, jpeg):
    r = client.post("/my-dataset/3", params={"api_key": "k", "confidence": 40}, files={"file": ("imageToUpload", jpeg, "image/jpeg")})
    body = _ok(r, "roboflow", "semantic-segmentation", jpeg)
    assert body["image"] == {"width": 120, "height": 90}
    assert body["class_map"]["0"] == "background"


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json", "text/plain", None])
def test_roboflow_bare_base64_body_under_any_content_type(client, png, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/my-dataset/3?api_key=k", content=b64(png).encode(), headers=headers)
    _ok(r, "roboflow", "semantic-segmentation", png)


def test_roboflow_base64_with_line_breaks_is_refused_clearly(client, png):
    # `base64 img | curl -d @-` arrives without line breaks (curl strips them); --data-binary keeps them, and the
    # contract's base64 pattern refuses that: the answer must say where and what.
    text = b64(png)
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    r = client.post("/my-dataset/3?api_key=k", content=wrapped.encode(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400
    assert "$.body" in r.json()["message"] and "expected" in r.json()["message"]


def test_roboflow_image_url_served_from_the_image_dir_and_the_url_map(client, image_dir):
    r = client.post("/my-dataset/3", params={"api_key": "k", "image": "https://images.example.org/photos/street.png"})
    _ok(r, "roboflow", "semantic-segmentation", (image_dir / "street.png").read_bytes())
    r = client.post("/my-dataset/3", params={"api_key": "k", "image": "https://cdn.example.com/any/name.jpg"})
    assert r.json()["image"] == {"width": 50, "height": 40}
    _ok(r, "roboflow", "semantic-segmentation", (image_dir / "mapped.jpg").read_bytes())


def test_airefinery_bare_base64_and_data_uri(client, png):
    for image in (b64(png), "data:image/png;base64," + b64(png)):
        payload = {"model": "syscv-community/sam-hq-vit-base", "image_prompt": image, "segment_prompt": [[[70, 30]], [[5, 5], [90, 60]]], "extra_body": None}
        r = client.post("/v1/images/segmentations", json=payload, headers={"authorization": "Bearer air"})
        body = _ok(r, "airefinery", "image-segmentation", payload)
        assert len(body["data"]) == 2


def test_airefinery_doubled_slash_from_a_base_url_with_a_trailing_slash(base_url, png):
    import socket
    from urllib.parse import urlsplit

    payload = json.dumps({"model": "m", "image_prompt": b64(png), "segment_prompt": [[[1, 1]]], "extra_body": None}).encode()
    u = urlsplit(base_url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(b"POST //v1/images/segmentations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


def test_airefinery_sdk_key_check_route(client):
    r = client.post("/authentication/validate", headers={"authorization": "Bearer k"})
    assert r.status_code == 200 and r.json()["organization_id"]

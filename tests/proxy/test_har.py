"""HAR recordings in the contracts layer: exact bodies, sidecars, redaction, atomic writes, judging, replay keys."""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Interaction, RecordingError, judge, read_har, write_har
from vision_contracts.mockserver.testing import sample_image

DET = "http://127.0.0.1:9/models/facebook/detr-resnet-50"
BOXES = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 20, "ymax": 25}}]
BAD_BOXES = [{"label": "cat", "score": 0.9, "box": {"xmin": 30, "ymin": 2, "xmax": 20, "ymax": 25}}]
PNG = sample_image(40, 30)


def _detection(body: bytes, content_type: str = "image/png", answer=BOXES, url: str = DET, headers=()) -> Interaction:
    return Interaction(
        "POST", url, (("Content-Type", content_type), *headers), body, 200,
        (("content-type", "application/json"),), json.dumps(answer).encode(),
    )


def test_bodies_round_trip_exactly_text_binary_and_sidecar(tmp_path):
    text = _detection(json.dumps({"inputs": base64.b64encode(PNG).decode()}).encode(), "application/json")
    binary = _detection(PNG)
    path = write_har(tmp_path / "r.har", [text, binary], body_limit=10_000)
    har = json.loads(path.read_text())
    entries = har["log"]["entries"]
    assert har["log"]["version"] == "1.2"
    assert "_encoding" not in entries[0]["request"]["postData"]
    assert entries[1]["request"]["postData"]["_encoding"] == "base64"
    back = read_har(path)
    assert [i.request_body for i in back] == [text.request_body, binary.request_body]
    assert [i.response_body for i in back] == [text.response_body, binary.response_body]
    small = write_har(tmp_path / "s" / "r.har", [binary], body_limit=50)
    sidecars = [p for p in small.parent.iterdir() if p.suffix == ".bin"]
    assert len(sidecars) == 2  # the image and the answer, each named by its SHA-256
    assert read_har(small)[0].request_body == PNG


def test_an_edited_sidecar_is_refused_with_a_sentence(tmp_path):
    path = write_har(tmp_path / "r.har", [_detection(PNG)], body_limit=50)
    sidecar = tmp_path / json.loads(path.read_text())["log"]["entries"][0]["request"]["postData"]["_file"]
    sidecar.write_bytes(PNG[:-10])
    with pytest.raises(RecordingError, match=r"expected the sidecar .* to hash to"):
        read_har(path)


def test_no_credential_reaches_the_disk(tmp_path):
    url = (f"{DET}?api_key=rf_SECRET1&confidence=50&image="
           "https%3A%2F%2Fexample.com%2Fa.png%3Fsig%3Dkeep%26access_token%3DNESTED_SECRET2")
    echo = json.dumps({"error": "bad key hf_SECRET3"}).encode()
    interaction = dataclasses.replace(
        _detection(PNG, url=url, headers=(("Authorization", "Bearer hf_SECRET3"), ("X-Api-Key", "xk_SECRET4"))),
        response_body=echo, response_headers=(("set-cookie", "session=COOKIE_SECRET5"),), status=400)
    path = write_har(tmp_path / "r.har", [interaction], body_limit=10)
    everything = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for token in (b"rf_SECRET1", b"NESTED_SECRET2", b"hf_SECRET3", b"xk_SECRET4", b"COOKIE_SECRET5"):
        assert token not in everything
    back = read_har(path)[0]
    assert back.request_header("authorization") == "Bearer [redacted]"
    assert ("confidence", "50") in back.query
    assert back.request_body == PNG  # binary bodies are kept exactly


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(tmp_path, monkeypatch):
    path = write_har(tmp_path / "r.har", [_detection(PNG)])
    before = path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_har(path, [_detection(PNG, answer=BAD_BOXES)])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.har"]


def test_judge_validates_the_response_with_its_request_image():
    good, bad = judge(_detection(PNG)), judge(_detection(PNG, answer=BAD_BOXES))
    assert (good.provider, good.operation) == ("huggingface", "object-detection")  # found by path and response shape
    assert good.valid and good.image is not None and (good.image.width, good.image.height) == (40, 30)
    assert not bad.valid and "box-order" in bad.checks
    outside = judge(_detection(PNG, answer=[{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 90, "ymax": 25}}]))
    assert not outside.valid  # a semantic check that needs the request image


def test_the_key_is_the_image_pixels_whatever_the_wire_form():
    b64 = base64.b64encode(PNG).decode()
    raw = judge(_detection(PNG))
    as_json = judge(_detection(json.dumps({"inputs": b64}).encode(), "application/json"))
    as_uri = judge(_detection(json.dumps({"inputs": f"data:image/png;base64,{b64}"}).encode(), "application/json"))
    with_token = judge(_detection(PNG, headers=(("Authorization", "Bearer hf_other"),)))
    assert raw.key == as_json.key == as_uri.key == with_token.key
    other = judge(_detection(sample_image(40, 30, noise=3)))
    threshold = judge(_detection(json.dumps({"inputs": b64, "parameters": {"threshold": 0.5}}).encode(), "application/json"))
    assert len({raw.key, other.key, threshold.key}) == 3
    assert threshold.match["params"] == {"threshold": 0.5}


def test_vision_object_and_verdict_header():
    judgement = judge(_detection(PNG, answer=BAD_BOXES))
    vision = judgement.vision("/models/facebook/detr-resnet-50")
    assert vision["verdict"]["valid"] is False and vision["verdict"]["checks"] == ["box-order"]
    assert vision["contracts_version"] == contracts.contracts_version()
    assert vision["image"]["pixels_sha256"] == judgement.image.pixels_sha256
    assert contracts.verdict_header(False, ["box-order", "mask-size"]) == "invalid; checks=box-order,mask-size"
    assert contracts.verdict_header(True, []) == "valid"


def test_unknown_paths_are_a_sentence(tmp_path):
    with pytest.raises(RecordingError, match="matches none of their paths"):
        judge(_detection(PNG, url="http://127.0.0.1:9/nothing/here/at/all"))

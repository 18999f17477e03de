"""Answers pinned byte for byte: the SHA-256 of a few answer bodies (each operation, a few parameters, PNG and JPEG,
small and drafted at reduced scale) as they were before the performance work of issue 12. An optimisation of the
pipeline, the decoder, the generators or the PNG encoder must not change an answer silently: when a change of
answers is meant (a fidelity issue), the digests are updated with it and the commit says why.

The answers come through the whole app (in process), cache off, so parsing, generation and serialisation all count.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver.testing import photo_like_jpeg, sample_image

from server_support import CREATED

PNG = sample_image(96, 64)
JPEG = sample_image(120, 90, fmt="JPEG", noise=8)
PHOTO = photo_like_jpeg(640, 480, seed=5)
SEG = "/models/facebook/mask2former-swin-large-coco-panoptic"
DET = "/models/facebook/detr-resnet-50"
NO_CACHE = {"x-use-cache": "false"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# name -> (path, httpx-style keyword arguments)
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "hf-seg-panoptic-png-binary": (SEG, {"content": PNG, "headers": {"content-type": "image/png", **NO_CACHE}}),
    "hf-seg-panoptic-photo-json": (SEG, {"json": {"inputs": _b64(PHOTO)}, "headers": NO_CACHE}),
    "hf-seg-semantic-jpeg": (SEG, {"json": {"inputs": _b64(JPEG), "parameters": {"subtask": "semantic"}}, "headers": NO_CACHE}),
    "hf-seg-instance-mask-threshold": (SEG, {"json": {"inputs": _b64(PHOTO), "parameters": {
        "subtask": "instance", "threshold": 0.5, "mask_threshold": 0.7}}, "headers": NO_CACHE}),
    "hf-det-jpeg-binary": (DET, {"content": JPEG, "headers": {"content-type": "image/jpeg", **NO_CACHE}}),
    "hf-det-photo-threshold": (DET, {"json": {"inputs": _b64(PHOTO), "parameters": {"threshold": 0.3}}, "headers": NO_CACHE}),
    "roboflow-png": ("/ds/1", {"content": _b64(PNG).encode(), "params": {"api_key": "k"},
                               "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    "roboflow-photo-confidence": ("/ds/2", {"content": _b64(PHOTO).encode(), "params": {"api_key": "k", "confidence": 80},
                                            "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    "airefinery-two-groups": ("/v1/images/segmentations", {"json": {
        "model": "m", "image_prompt": _b64(PHOTO), "segment_prompt": [[[100, 300]], [[500, 200], [20, 20]]]},
        "headers": {"authorization": "Bearer k"}}),
    "airefinery-png": ("/v1/images/segmentations", {"json": {
        "model": "m", "image_prompt": _b64(PNG), "segment_prompt": [[[10, 10]]]}, "headers": {"authorization": "Bearer k"}}),
}

DIGESTS = {
    "hf-seg-panoptic-png-binary": "b8900ca495b2ea6e616fa8e82dd1a2b0535bca6fe2a97db08981636c997c2258",
    "hf-seg-panoptic-photo-json": "48550069dce29ab1691a8effa806cd5c12e6a3184c6e199c174297bc8f977f7e",
    "hf-seg-semantic-jpeg": "8423be40aeb0849c539bd2a80a8b54080bd08da0796db93f6f647955c5092d86",
    "hf-seg-instance-mask-threshold": "2ca7f77259d8b29ee6194ed10f3be575de9e3f4b7d1d60312b9c55d6f5f181eb",
    "hf-det-jpeg-binary": "d723773c58a32f2c4cd3963e62b70afc9347d771bce0aa621bd5fa5f8d7a05aa",
    "hf-det-photo-threshold": "469a6e01106e2e7234426da6a8729543c5debc36dba400f2f6e463e4f9eed35b",
    "roboflow-png": "b21e5bdfeb325a661f81113457b52135cc300e8470e11f06f1d64aaf16903acc",
    "roboflow-photo-confidence": "322048a1d098b76d044495d14a869cde650871da419fa755e220a3e0a1f6f433",
    "airefinery-two-groups": "672e347cc67c2c437422cc12b2faf8cbea835f8ab76d6eb07f7e143d89888a06",
    "airefinery-png": "658551f0e81d063a6dd8854068a5f4042e60dc7b5c67065080dc67c59c79fa53",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Config(seed=7, created=CREATED))) as c:
        yield c


def answer(client: TestClient, name: str) -> bytes:
    path, kwargs = CASES[name]
    r = client.post(path, **kwargs)
    assert r.status_code == 200, r.text
    json.loads(r.content)
    return r.content


@pytest.mark.parametrize("name", sorted(CASES))
def test_answers_are_byte_identical_to_the_pinned_ones(client: TestClient, name: str) -> None:
    assert hashlib.sha256(answer(client, name)).hexdigest() == DIGESTS[name]


@pytest.mark.parametrize("name", ["hf-seg-panoptic-photo-json", "roboflow-photo-confidence"])
def test_a_cached_answer_is_the_computed_one(client: TestClient, name: str) -> None:
    path, kwargs = CASES[name]
    headers = {k: v for k, v in kwargs.get("headers", {}).items() if k != "x-use-cache"}
    first = client.post(path, **{**kwargs, "headers": headers})
    second = client.post(path, **{**kwargs, "headers": headers})
    assert second.headers["x-vision-cache"] == "hit"
    assert hashlib.sha256(first.content).hexdigest() == hashlib.sha256(second.content).hexdigest() == DIGESTS[name]

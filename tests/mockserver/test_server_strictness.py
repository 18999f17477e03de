"""The mock answers what the real service accepts (lenient, the default) and refuses it with the provider's 400 when
strict (``--strict``, ``Config(strict=True)``, the ``strict`` config key): an unknown Hugging Face parameter, a
threshold outside [0, 1], an unknown JSON body key. Lenient answers name each warning in ``x-vision-warnings`` and
the journal's verdict."""

from __future__ import annotations

import json

import httpx
import pytest

from vision_contracts import contracts
from vision_contracts.mockserver import Config
from vision_contracts.mockserver._config import ConfigError, from_mapping, parse_args
from vision_contracts.mockserver.testing import sample_image, serve

from server_support import b64

HF_SEG = "/models/openmmlab/upernet-convnext-small"
HF_DET = "/models/facebook/detr-resnet-50"
PNG = sample_image(64, 48)

ACCEPTED = [  # (path, body, the warnings the real service's acceptance becomes)
    (HF_SEG, {"inputs": b64(PNG), "parameters": {"model": "facebook/detr-resnet-50-panoptic"}},
     [("parameters-unknown", "$.body.parameters.model")]),
    (HF_DET, {"inputs": b64(PNG), "parameters": {"timeout": 5, "threshold": 1.5}},
     [("parameter-range", "$.body.parameters.threshold"), ("parameters-unknown", "$.body.parameters.timeout")]),
    (HF_SEG, {"inputs": b64(PNG), "parameters": {"mask_threshold": -0.2}, "stream": False},
     [("parameter-range", "$.body.parameters.mask_threshold"), ("body-property-unknown", "$.body.stream")]),
]


@pytest.fixture(scope="module")
def strict_url():
    with serve(Config(port=0, strict=True)) as url:
        yield url


def _operation(path: str) -> tuple[str, str]:
    return ("huggingface", "image-segmentation" if path == HF_SEG else "object-detection")


@pytest.mark.parametrize(("path", "body", "warned"), ACCEPTED)
def test_lenient_answers_and_names_each_warning(client, path, body, warned):
    client.delete("/__vision__/journal")
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text[:300]
    assert sorted(contracts.parse_warnings(r.headers[contracts.WARNINGS_HEADER])) == sorted(warned)
    report = contracts.get(*_operation(path)).validate_response(r.json(), request=body)
    assert report.errors == [], report.render("the answer")
    [entry] = client.get("/__vision__/journal").json()["entries"]
    verdict = entry["verdict"]
    assert verdict["valid"] is True and verdict["violations"] == [] and verdict["strict"] is False
    assert sorted(w.rsplit("[", 1)[1] for w in verdict["warnings"]) == sorted(f"{check}, warning]" for check, _ in warned)


@pytest.mark.parametrize(("path", "body", "warned"), ACCEPTED)
def test_strict_refuses_with_the_provider_s_400_naming_each_path(strict_url, path, body, warned):
    with httpx.Client(base_url=strict_url, timeout=30) as client:
        r = client.post(path, json=body)
        assert r.status_code == 400 and contracts.WARNINGS_HEADER not in r.headers
        message = r.json()["error"]
        assert contracts.get(*_operation(path)).validate_error_body(r.json(), 400) == []
        assert all(where in message for _, where in warned), message
        [entry] = client.get("/__vision__/journal", params={"limit": 1}).json()["entries"]
        assert entry["verdict"]["valid"] is False and entry["verdict"]["strict"] is True
        assert sorted(v.rsplit("[", 1)[1] for v in entry["verdict"]["violations"]) == sorted(f"{c}, error]" for c, _ in warned)


def test_a_cached_answer_keeps_its_warnings(client):
    body = {"inputs": b64(PNG), "parameters": {"model": "m"}}
    first, second = client.post(HF_DET, json=body), client.post(HF_DET, json=body)
    assert second.headers["x-vision-cache"] == "hit" and first.content == second.content
    assert second.headers[contracts.WARNINGS_HEADER] == first.headers[contracts.WARNINGS_HEADER] == "parameters-unknown; path=$.body.parameters.model"


def test_a_refused_request_still_names_its_warnings(client):
    r = client.post(HF_DET, json={"inputs": b64(b"not an image"), "parameters": {"model": "m"}})
    assert r.status_code == 400 and "$.body.inputs" in r.json()["error"] and "$.body.parameters.model" not in r.json()["error"]
    assert r.headers[contracts.WARNINGS_HEADER] == "parameters-unknown; path=$.body.parameters.model"


def test_what_the_service_refuses_is_400_in_both_modes(client, strict_url):
    with httpx.Client(base_url=strict_url, timeout=30) as strict:
        for c in (client, strict):
            r = c.post(HF_SEG, json={"inputs": b64(PNG), "parameters": {"subtask": "everything"}})
            assert r.status_code == 400 and "$.body.parameters.subtask" in r.json()["error"]


def test_strict_from_the_command_line_and_the_config_file(tmp_path):
    assert parse_args([]).strict is False and parse_args(["--strict"]).strict is True
    config = tmp_path / "mock.json"
    config.write_text(json.dumps({"strict": True}))
    assert parse_args(["--config", str(config)]).strict is True
    assert from_mapping({"strict": True}).strict is True and "strict" in Config().to_json()
    with pytest.raises(ConfigError, match="Unknown configuration key"):
        from_mapping({"strictness": True})

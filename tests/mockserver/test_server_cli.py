"""`python -m vision_contracts.mockserver` starts the server; options and the JSON config file build a Config."""

from __future__ import annotations

import base64
import dataclasses
import json

import httpx
import pytest

from vision_contracts.mockserver import DEFAULT_MODELS, Config, ConfigError
from vision_contracts.mockserver._config import from_mapping, parse_args
from vision_contracts.mockserver.testing import sample_image, serve_process


def test_defaults():
    c = parse_args([])
    assert (c.host, c.port, c.workers, c.seed) == ("127.0.0.1", 8000, 1, 0)
    assert dict(c.models) == dict(DEFAULT_MODELS) and c.providers == ("huggingface", "roboflow", "airefinery")
    assert c.allow_remote_images is False


def test_options_and_config_file(tmp_path):
    path = tmp_path / "mock.json"
    path.write_text(json.dumps({"seed": 5, "port": 9000, "models": {"acme/seg": "image-segmentation"}, "providers": "huggingface,roboflow"}))
    c = parse_args(["--config", str(path), "--port", "9100", "--model", "acme/det=object-detection", "--image-url", "http://x/a.png=/tmp/a.png"])
    assert (c.seed, c.port, c.providers) == (5, 9100, ("huggingface", "roboflow"))
    assert c.models["acme/seg"] == "image-segmentation" and c.models["acme/det"] == "object-detection"
    assert c.models["facebook/detr-resnet-50"] == "object-detection"
    assert c.image_urls == {"http://x/a.png": "/tmp/a.png"}


@pytest.mark.parametrize(("data", "words"), [
    ({"colour": 3}, "Unknown configuration key"),
    ({"providers": ["openai"]}, "Unknown provider"),
    ({"models": {"a/b": "captioning"}}, "must be one of"),
])
def test_bad_configuration_is_explained(data, words):
    with pytest.raises(ConfigError, match=words):
        from_mapping(data)


def test_bad_cli_option_exits_with_a_message(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--model", "no-task-given"])
    assert "ID=TASK" in capsys.readouterr().err


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().seed = 3  # type: ignore[misc]


def test_python_dash_m_mockserver_serves_all_four_operations(tmp_path):
    with serve_process(["--log-level", "warning"]) as (url, _):
        png = sample_image(40, 30)
        b64 = base64.b64encode(png).decode()
        assert httpx.post(url + "/models/openmmlab/upernet-convnext-small", content=png).status_code == 200
        assert httpx.post(url + "/hf-inference/models/facebook/detr-resnet-50", content=png).status_code == 200
        assert httpx.post(url + "/proj/1?api_key=k", content=b64).status_code == 200
        r = httpx.post(url + "/v1/images/segmentations", json={"model": "m", "image_prompt": b64, "segment_prompt": [[[1, 1]]]}, headers={"authorization": "Bearer k"})
        assert r.status_code == 200

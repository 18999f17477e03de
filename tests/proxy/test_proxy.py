"""The validating proxy, recording and replay over HTTP: a second mock server plays the real provider on loopback."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from vision_contracts.contracts import read_recordings
from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import free_port, sample_image, serve

DET = "/models/facebook/detr-resnet-50"
PNG = sample_image(96, 64)
TOKEN = "hf_PROXY_SECRET_123"


@pytest.fixture(scope="module")
def upstream():
    with serve(Config(port=0, seed=1)) as url:
        yield url


def _post(base: str, body: bytes = PNG, content_type: str = "image/png", path: str = DET) -> httpx.Response:
    return httpx.post(base + path, content=body, headers={"content-type": content_type, "authorization": f"Bearer {TOKEN}"}, timeout=30)


def test_proxied_answers_are_byte_for_byte_judged_and_recorded(upstream, tmp_path):
    direct = _post(upstream)
    with serve(Config(port=0, seed=99, upstream={"huggingface": upstream}, record=str(tmp_path))) as proxy:
        proxied = _post(proxy)
        journal = httpx.get(proxy + "/__vision__/requests", timeout=10).json()
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content  # the upstream's answer (seed 1), not the proxy's own (seed 99)
    assert proxied.headers["x-vision-verdict"] == "valid"
    assert proxied.headers["x-vision-source"] == "upstream"
    assert "x-vision-verdict" in json.dumps(dict(proxied.headers)) and journal  # the journal saw it
    [recorded] = read_recordings(tmp_path)
    assert recorded.request_body == PNG and recorded.response_body == direct.content
    assert recorded.vision["verdict"]["valid"] is True and recorded.vision["source"] == "upstream"
    assert TOKEN.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())


def test_an_invalid_upstream_answer_is_passed_through_with_its_verdict(upstream):
    with serve(Config(port=0, upstream={"huggingface": upstream})) as proxy:
        answer = httpx.post(proxy + DET, content=PNG, timeout=30, headers={
            "content-type": "image/png", "x-vision-scenario": "schema-violation"})
        direct_broken = httpx.post(upstream + DET, content=PNG, timeout=30, headers={
            "content-type": "image/png", "x-vision-scenario": "schema-violation"})
    assert answer.content == direct_broken.content  # never altered
    assert answer.headers["x-vision-verdict"].startswith("invalid; checks=")


def test_upstream_failures_come_back_in_the_provider_format():
    dead = f"http://127.0.0.1:{free_port()}"
    with serve(Config(port=0, upstream={"huggingface": dead, "roboflow": dead})) as proxy:
        hf = _post(proxy)
        rf = httpx.post(proxy + "/proj/1?api_key=rf_key", content=base64.b64encode(PNG), timeout=30)
    assert hf.status_code == 503 and "could not be reached" in hf.json()["error"]
    assert rf.status_code == 503 and "could not be reached" in rf.json()["message" if "message" in rf.json() else "detail"]


def test_replay_matches_the_same_pixels_in_any_wire_form_and_explains_misses(upstream, tmp_path):
    with serve(Config(port=0, upstream={"huggingface": upstream}, record=str(tmp_path))) as proxy:
        recorded = _post(proxy)
    with serve(Config(port=0, replay=str(tmp_path))) as replay:
        raw = _post(replay)
        as_json = _post(replay, json.dumps({"inputs": base64.b64encode(PNG).decode()}).encode(), "application/json")
        miss = _post(replay, sample_image(96, 64, noise=4))
    assert raw.content == as_json.content == recorded.content
    assert raw.headers["x-vision-source"] == "replayed" and raw.headers["x-vision-verdict"] == "valid"
    assert miss.status_code == 404
    message = miss.json()["error"]
    assert "Nothing recorded" in message and "nearest recording" in message and "differs in: image" in message


def test_on_miss_mock_and_upstream(upstream, tmp_path):
    with serve(Config(port=0, replay=str(tmp_path), on_miss="mock")) as replay:
        computed = _post(replay)
    assert computed.status_code == 200 and "x-vision-source" not in computed.headers
    with serve(Config(port=0, replay=str(tmp_path), record=str(tmp_path), on_miss="upstream",
                      upstream={"huggingface": upstream})) as replay:
        first, second = _post(replay), _post(replay)
    assert first.headers["x-vision-source"] == "upstream" and second.headers["x-vision-source"] == "replayed"
    assert first.content == second.content
    assert len(read_recordings(tmp_path)) == 1


def test_a_model_the_catalogue_does_not_list_is_forwarded_by_its_name_pattern(tmp_path):
    """The real service decides which models exist: with an upstream, an id the mock's catalogue does not list is
    routed by its name (shown as a guess) and reaches the upstream, instead of the mock's own 404."""
    path = "/models/acme/detr-finetuned-parts"
    with serve(Config(port=0, models={"acme/detr-finetuned-parts": "object-detection"})) as real, \
            serve(Config(port=0, upstream={"huggingface": real})) as proxy:
        proxied = _post(proxy, path=path)
        direct = _post(real, path=path)
        unknown = _post(proxy, path="/models/acme/no-pattern-here")
    assert proxied.status_code == 200 and proxied.content == direct.content
    assert proxied.headers["x-vision-source"] == "upstream" and proxied.headers["x-vision-verdict"] == "valid"
    assert proxied.headers["x-vision-model-guess"].startswith("object-detection")
    assert unknown.status_code == 404 and "--model acme/no-pattern-here=TASK" in unknown.json()["error"]
    with serve(Config(port=0)) as plain:  # without an upstream the catalogue still decides
        assert _post(plain, path=path).status_code == 404

"""The plugin's fixtures against a mock whose admin plane is locked: the ini option ``vision_admin_token`` (or the
``VISION_MOCK_ADMIN_TOKEN`` environment variable, or ``admin_token`` in ``vision_mock_config``) starts the session
servers with that token, and every helper of the handle sends it; callers without it are refused."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "plugin-adm-T0ken"

DOWNSTREAM = '''
import httpx
import pytest
import requests

from vision_contracts.mockserver.testing import sample_image

IMAGE = sample_image(48, 32)
DETR = "facebook/detr-resnet-50"


@pytest.mark.vision_scenario("server-error", model=DETR, count=1)
def test_helpers_and_markers_work_with_the_token(vision_mock):
    url = vision_mock.url("huggingface", model=DETR)
    assert requests.post(url, data=IMAGE).status_code == 500
    vision_mock.loading(DETR, requests=1)
    assert requests.post(url, data=IMAGE).status_code == 503
    assert requests.post(url, data=IMAGE).status_code == 200
    assert [e["status"] for e in vision_mock.journal()] == [500, 503, 200]


def test_the_server_refuses_admin_calls_without_the_token(vision_mock):
    r = httpx.post(vision_mock.base_url + "/__vision__/reset")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert vision_mock.config.admin_token == "{token}"


def test_in_process_app_with_the_token(vision_respx):
    vision_respx.fault("server-error", model=DETR, count=1)
    url = "https://router.huggingface.co/hf-inference/models/" + DETR
    assert httpx.post(url, content=IMAGE).status_code == 500
    assert len(vision_respx.journal()) == 1
'''


@pytest.mark.parametrize("where", ["ini", "env", "config"])
def test_fixtures_pass_the_admin_token(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str):
    pytester.makepyfile(test_downstream=DOWNSTREAM.replace("{token}", TOKEN))
    ini = "[pytest]\naddopts = --strict-markers\n"
    if where == "ini":
        ini += f"vision_admin_token = {TOKEN}\n"
    elif where == "env":
        monkeypatch.setenv("VISION_MOCK_ADMIN_TOKEN", TOKEN)
    else:
        (pytester.path / "mock.json").write_text(json.dumps({"admin_token": TOKEN}))
        ini += "vision_mock_config = mock.json\n"
    pytester.makeini(ini)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)

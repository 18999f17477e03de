"""The fixtures, markers and ini options as a downstream project uses them: a fresh test file, no conftest."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOWNSTREAM = '''
import base64

import pytest
import requests
from hypothesis import given, settings, HealthCheck

from vision_contracts.plugin import VisionMock, assert_conforms, strategies, to_wire
from vision_contracts.mockserver.testing import sample_image

IMAGE = sample_image(64, 48)
DETR = "facebook/detr-resnet-50"


def test_requests_post_as_in_the_seed_documents(vision_mock):
    assert isinstance(vision_mock, VisionMock)
    url = vision_mock.url("huggingface", model=DETR)
    r = requests.post(url, headers={"Authorization": "Bearer hf_xxx"}, data=IMAGE)
    assert r.status_code == 200
    assert_conforms(r, "huggingface", "object-detection", request=IMAGE)
    [entry] = vision_mock.journal()
    assert entry["path"] == "/models/" + DETR and entry["verdict"]["valid"] is True
    assert entry["headers"]["authorization"] == "Bearer [redacted]"


def test_state_is_reset_between_tests(vision_mock):
    assert vision_mock.journal() == []


def test_roboflow_and_airefinery_urls(vision_mock):
    rf = requests.post(vision_mock.url("roboflow", model="streets/4"), params={"api_key": "k"},
                       data=base64.b64encode(IMAGE), headers={"content-type": "application/x-www-form-urlencoded"})
    assert_conforms(rf, "roboflow", "semantic-segmentation", request=IMAGE)
    air = requests.post(vision_mock.endpoint("airefinery", "image-segmentation"), headers={"authorization": "Bearer k"},
                        json={"model": "m", "image_prompt": base64.b64encode(IMAGE).decode(), "segment_prompt": [[[5, 5]]]})
    assert_conforms(air, "airefinery", "image-segmentation", request=IMAGE)
    assert [e["provider"] for e in vision_mock.journal()] == ["roboflow", "airefinery"]
    assert len(vision_mock.journal(provider="roboflow")) == 1


@pytest.mark.vision_scenario("loading", model=DETR, count=1)
def test_marker_scenario_for_one_request(vision_mock):
    url = vision_mock.url("huggingface", model=DETR)
    first, second = requests.post(url, data=IMAGE), requests.post(url, data=IMAGE)
    assert (first.status_code, second.status_code) == (503, 200)
    assert "currently loading" in first.json()["error"]
    assert_conforms(first, "huggingface", "object-detection")  # the 503 body keeps the error contract


def test_marker_scenario_was_cleared(vision_mock):
    assert requests.post(vision_mock.url("huggingface", model=DETR), data=IMAGE).status_code == 200


def test_helpers_loading_rate_limit_latency_fault(vision_mock):
    url = vision_mock.url("huggingface", model=DETR)
    vision_mock.loading(DETR, requests=2)
    assert [requests.post(url, data=IMAGE).status_code for _ in range(3)] == [503, 503, 200]
    vision_mock.rate_limit("huggingface", requests=1, seconds=60)
    assert [requests.post(url, data=IMAGE).status_code for _ in range(2)] == [200, 429]
    vision_mock.reset()
    vision_mock.latency(150, count=1)
    r = requests.post(url, data=IMAGE)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.15
    vision_mock.fault("reset", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(url, data=IMAGE)
    vision_mock.fault("schema-violation", count=1)
    with pytest.raises(AssertionError, match=r"schema:required"):
        assert_conforms(requests.post(url, data=IMAGE), "huggingface", "object-detection")
    r = requests.post(url, data=IMAGE, headers=vision_mock.header("rate-limit", retry_after=3))
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert [e["scenario"] for e in vision_mock.journal(status=429)] == ["rate-limit"]


def test_unknown_scenario_is_a_clear_error(vision_mock):
    from vision_contracts.plugin import MockError

    with pytest.raises(MockError, match="Unknown scenario 'nope'"):
        vision_mock.scenario("nope")


def _label(vision_mock):
    return requests.post(vision_mock.url("huggingface", model=DETR), data=IMAGE).json()[0]["label"]


def test_ini_seed_and_config(vision_mock):
    assert vision_mock.config.seed == 5 and "acme/finder" in vision_mock.config.models
    r = requests.post(vision_mock.url("huggingface", model="acme/finder"), data=IMAGE)
    assert r.status_code == 200 and isinstance(r.json(), list)


@pytest.mark.vision_seed(11)
def test_seed_marker_selects_another_server(vision_mock):
    assert vision_mock.config.seed == 11


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(req=strategies.requests("huggingface", "object-detection", model_id=DETR))
def test_strategies_against_the_fixture(vision_mock, req):
    from vision_contracts.contracts import get

    contract = get("huggingface", "object-detection")
    wire = to_wire(req, contract)
    r = requests.post(wire.url(vision_mock.base_url), params=wire.query, headers=wire.headers, data=wire.body)
    assert_conforms(r, "huggingface", "object-detection", request=req)
'''


@pytest.fixture
def downstream(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    (pytester.path / "mock.json").write_text(json.dumps({"models": {"acme/finder": "object-detection"}, "port": 9999}))
    pytester.makeini("[pytest]\naddopts = --strict-markers\nvision_seed = 5\nvision_mock_config = mock.json\n")
    return pytester


def test_downstream_fixtures_markers_and_ini(downstream: pytest.Pytester):
    result = downstream.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=10)


def test_seed_marker_changes_the_answers(pytester: pytest.Pytester):
    pytester.makepyfile('''
        import pytest, requests
        from vision_contracts.mockserver.testing import sample_image
        IMAGE = sample_image(64, 48)
        LABELS = {}

        def label(mock):
            body = requests.post(mock.url("huggingface", model="facebook/detr-resnet-50"), data=IMAGE).json()
            return tuple(sorted(d["label"] for d in body))

        def test_default(vision_mock):
            LABELS["default"] = label(vision_mock)

        @pytest.mark.vision_seed(3)
        def test_three(vision_mock):
            LABELS["three"] = label(vision_mock)

        def test_compare():
            assert LABELS["default"] != LABELS["three"], LABELS
    ''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_markers_are_registered_for_strict_markers(pytester: pytest.Pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*vision_scenario(name*", "*vision_seed(seed)*"])


def test_bad_config_file_is_a_usage_error(pytester: pytest.Pytester):
    pytester.makeini("[pytest]\nvision_mock_config = missing.json\n")
    pytester.makepyfile("def test_x(vision_mock):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*vision_mock_config = missing.json: cannot use*"])
    assert result.ret != 0


def test_sdk_env_points_roboflow_at_the_mock(pytester: pytest.Pytester):
    pytester.makepyfile('''
        from vision_contracts.mockserver.testing import sample_image

        def test_roboflow_sdk(vision_sdk_env, tmp_path, monkeypatch):
            monkeypatch.setenv("ROBOFLOW_CONFIG_DIR", str(tmp_path / "rf.json"))
            from roboflow.models.semantic_segmentation import SemanticSegmentationModel

            path = tmp_path / "scene.png"
            path.write_bytes(sample_image(64, 48))
            prediction = SemanticSegmentationModel("rf_key", "ws/streets/4").predict(str(path)).json()["predictions"][0]
            assert "segmentation_mask" in prediction
            [entry] = vision_sdk_env.journal()
            assert entry["provider"] == "roboflow" and entry["path"] == "/streets/4" and entry["verdict"]["valid"]

        def test_huggingface_hub_by_url(vision_mock):
            from huggingface_hub import InferenceClient

            client = InferenceClient(model=vision_mock.url("huggingface", model="facebook/detr-resnet-50"), token="hf_x")
            found = client.object_detection(sample_image(64, 48))
            assert found and found[0].box.xmax >= found[0].box.xmin
            assert vision_mock.journal()[0]["headers"]["authorization"] == "Bearer [redacted]"

        def test_inference_sdk_by_api_url(vision_mock):
            import base64
            from inference_sdk import InferenceHTTPClient

            client = InferenceHTTPClient(api_url=vision_mock.base_url, api_key="rf_key").select_api_v0()
            result = client.infer(base64.b64encode(sample_image(64, 48)).decode(), model_id="streets/4")
            assert "segmentation_mask" in str(result)

        def test_airefinery_by_base_url(vision_sdk_env):
            import base64
            from air import AIRefinery

            client = AIRefinery(api_key="k", base_url=vision_sdk_env.base_url)
            out = client.images.segment(model="m", image=base64.b64encode(sample_image(64, 48)).decode(), segment_prompt=[[[5, 5]]])
            assert out.data
    ''')
    pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning").assert_outcomes(passed=4)

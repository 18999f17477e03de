"""End to end through the real SDKs: record through the proxy from a second mock server playing the provider, stop
it, replay through the same SDKs with identical answers; no token on disk; check and diff on the recordings."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

os.environ.setdefault("AIR_SILENT", "1")  # before any `import air`: silences the SDK's banner
os.environ.pop("HF_HUB_OFFLINE", None)  # huggingface_hub refuses even 127.0.0.1 when offline mode is on

import pytest

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve, serve_process

pytestmark = [
    pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key"),
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

WIDTH, HEIGHT, CREATED = 120, 80, 1_700_000_000
HF_TOKEN, RF_KEY, AIR_KEY = "hf_E2E_SECRET_TOKEN_1", "rf_E2E_SECRET_KEY_2", "air_E2E_SECRET_KEY_3"
PROVIDERS = ("huggingface", "roboflow", "airefinery")


def _through_sdks(base: str, png_path, monkeypatch, tmp_path) -> list:
    """The same calls, in order, through the four SDKs; their answers as plain values."""
    from air import AIRefinery
    from huggingface_hub import InferenceClient
    from inference_sdk import InferenceHTTPClient
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    png = png_path.read_bytes()
    boxes = InferenceClient(model=f"{base}/models/facebook/detr-resnet-50", token=HF_TOKEN).object_detection(png)
    segments = InferenceClient(model=f"{base}/models/openmmlab/upernet-convnext-small", token=HF_TOKEN).image_segmentation(png)
    monkeypatch.setenv("SEMANTIC_SEGMENTATION_URL", base)
    monkeypatch.setenv("ROBOFLOW_CONFIG_DIR", str(tmp_path / "roboflow-config.json"))
    roboflow = SemanticSegmentationModel(RF_KEY, "my-workspace/street-scenes/4").predict(str(png_path), confidence=40).json()
    v0 = InferenceHTTPClient(api_url=base, api_key=RF_KEY).select_api_v0().infer(str(png_path), model_id="street-scenes/4")
    air = AIRefinery(api_key=AIR_KEY, base_url=base).images.segment(
        image=base64.b64encode(png).decode(), segment_prompt=[[[int(WIDTH * 0.7), HEIGHT // 2]]], model="syscv-community/sam-hq-vit-base")
    return [
        [(b.label, b.score, b.box.xmin, b.box.ymin, b.box.xmax, b.box.ymax) for b in boxes],
        [(s.label, s.score, s.mask.tobytes()) for s in segments],
        {k: v for k, v in roboflow["predictions"][0].items() if k != "image_path"},  # the SDK adds the local path
        v0,
        air.model_dump(),
    ]


def _vision_contracts(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vision_contracts.contracts", *args], capture_output=True, text=True, check=False, timeout=120)


def _record(upstream_args: list[str], folder, png_path, monkeypatch, tmp_path) -> list:
    with serve_process([*upstream_args, "--created", str(CREATED)]) as (upstream, _):
        upstreams = dict.fromkeys(PROVIDERS, upstream)
        with serve(Config(port=0, upstream=upstreams, record=str(folder))) as proxy:
            return _through_sdks(proxy, png_path, monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def png_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e") / "scene.png"
    path.write_bytes(sample_image(WIDTH, HEIGHT))
    return path


def test_record_then_replay_through_the_four_sdks(png_path, monkeypatch, tmp_path):
    folder = tmp_path / "recordings"
    recorded = _record(["--seed", "3"], folder, png_path, monkeypatch, tmp_path)
    # the upstream has stopped: replay has no network to use
    with serve(Config(port=0, replay=str(folder))) as replay:
        replayed = _through_sdks(replay, png_path, monkeypatch, tmp_path)
    assert replayed == recorded
    assert len(list(folder.glob("*.har"))) == 5  # one per distinct request

    everything = b"".join(p.read_bytes() for p in folder.iterdir())  # HAR files and sidecars
    for token in (HF_TOKEN, RF_KEY, AIR_KEY):
        assert token.encode() not in everything
        assert base64.b64encode(token.encode()) not in everything

    clean = _vision_contracts("check", str(folder))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.splitlines()[-1] == "5 entries: 5 valid, 0 invalid, 0 warnings."

    reseeded = tmp_path / "reseeded"
    _record(["--seed", "4"], reseeded, png_path, monkeypatch, tmp_path)
    same = _vision_contracts("diff", str(folder), str(folder))
    drift = _vision_contracts("diff", str(folder), str(reseeded))
    assert same.returncode == 0 and drift.returncode == 1, drift.stdout + drift.stderr
    assert "changed" in drift.stdout


def test_a_schema_violation_upstream_is_recorded_as_invalid_and_check_fails(png_path, monkeypatch, tmp_path):
    folder = tmp_path / "broken"
    rule = '{"scenarios": [{"scenario": "schema-violation", "provider": "huggingface"}]}'
    config = tmp_path / "upstream.json"
    config.write_text(rule)
    with serve_process(["--config", str(config)]) as (upstream, _), \
            serve(Config(port=0, upstream={"huggingface": upstream}, record=str(folder))) as proxy:
        import httpx

        answer = httpx.post(f"{proxy}/models/facebook/detr-resnet-50", content=png_path.read_bytes(),
                            headers={"authorization": f"Bearer {HF_TOKEN}"}, timeout=30)
    assert answer.headers["x-vision-verdict"].startswith("invalid; checks=")
    result = _vision_contracts("check", str(folder))
    assert result.returncode == 1
    assert "  invalid  " in result.stdout and "response $" in result.stdout

"""Provider behaviour as each real SDK surfaces it, against the live mock on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from behaviour_support import AIR_KEY, HF_TOKEN, RF_KEY

DET = "facebook/detr-resnet-50"
SEG = "openmmlab/upernet-convnext-small"


def _rule(base_url, **rule):
    httpx.post(f"{base_url}/__vision__/scenarios", json=rule).raise_for_status()


def _journal(base_url, **params):
    return httpx.get(f"{base_url}/__vision__/journal", params=params).json()


def test_huggingface_hub_raises_with_the_loading_message(base_url, png):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    httpx.post(f"{base_url}/__vision__/loading", json={"model": SEG, "requests": 1}).raise_for_status()
    client = InferenceClient(model=f"{base_url}/models/{SEG}", token=HF_TOKEN)
    with pytest.raises(HfHubHTTPError) as info:
        client.image_segmentation(png)
    assert info.value.response.status_code == 503
    assert f"Model {SEG} is currently loading" in str(info.value)
    assert len(client.image_segmentation(png)) >= 1  # loaded now


def test_huggingface_hub_without_token_is_refused(base_url, png, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no stored token either
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(model=f"{base_url}/models/{DET}").object_detection(png)
    assert info.value.response.status_code == 401 and "Invalid credentials" in str(info.value)
    boxes = InferenceClient(model=f"{base_url}/models/{DET}", token=HF_TOKEN).object_detection(png)
    assert all(0 <= b.box.xmin <= b.box.xmax <= 64 for b in boxes)


def test_huggingface_hub_rate_limit(base_url, png):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    _rule(base_url, scenario="rate-limit", provider="huggingface", count=1)
    with pytest.raises(HfHubHTTPError) as info:
        InferenceClient(model=f"{base_url}/models/{DET}", token=HF_TOKEN).object_detection(png)
    assert info.value.response.status_code == 429 and "Rate limit reached" in str(info.value)


def test_async_huggingface_hub_sees_the_schema_violation(base_url, png):
    from huggingface_hub import AsyncInferenceClient

    _rule(base_url, scenario="schema-violation", provider="huggingface", count=1)

    async def run():
        return await AsyncInferenceClient(model=f"{base_url}/models/{SEG}", token=HF_TOKEN).image_segmentation(png)

    segments = asyncio.run(run())
    # huggingface_hub does not notice: the segment simply has no label. Only a contract check would catch it.
    assert segments and getattr(segments[0], "label", None) is None
    assert all(s.label for s in segments[1:])
    entry = _journal(base_url, provider="huggingface")["entries"][-1]
    assert entry["scenario"] == "schema-violation" and entry["status"] == 200


@pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key")
def test_inference_sdk_retries_503_then_succeeds(base_url, png):
    from inference_sdk import InferenceHTTPClient

    _rule(base_url, scenario="unavailable", provider="roboflow", count=2)
    client = InferenceHTTPClient(api_url=base_url, api_key=RF_KEY).select_api_v0()
    result = client.infer(base64.b64encode(png).decode(), model_id="street-scenes/4")
    assert result["image"] == {"width": 64, "height": 48}
    assert [e["status"] for e in _journal(base_url, provider="roboflow")["entries"]] == [503, 503, 200]


@pytest.mark.filterwarnings("ignore:This client sends the Roboflow API key")
def test_inference_sdk_bad_key_and_unknown_model(base_url, png):
    from inference_sdk import InferenceHTTPClient
    from inference_sdk.http.errors import HTTPCallErrorError

    with pytest.raises(HTTPCallErrorError) as info:
        InferenceHTTPClient(api_url=base_url, api_key="wrong").select_api_v0().infer(base64.b64encode(png).decode(), model_id="street-scenes/4")
    assert info.value.status_code == 403 and info.value.api_message == "Forbidden"
    with pytest.raises(HTTPCallErrorError) as info:
        InferenceHTTPClient(api_url=base_url, api_key=RF_KEY).select_api_v0().infer(base64.b64encode(png).decode(), model_id="unknown-model/1")
    assert info.value.status_code == 404 and info.value.api_message == "Not Found"


def test_roboflow_sdk_bad_key(base_url, png, monkeypatch, tmp_path):
    import requests
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    monkeypatch.setenv("SEMANTIC_SEGMENTATION_URL", base_url)
    path = tmp_path / "scene.png"
    path.write_bytes(png)
    with pytest.raises(requests.HTTPError) as info:
        SemanticSegmentationModel("wrong-key", "ws/street-scenes/4").predict(str(path))
    assert info.value.response.status_code == 403


def test_airefinery_sdk_unauthorized_and_delay(base_url, png):
    import requests
    from air import AIRefinery

    image = base64.b64encode(png).decode()
    with pytest.raises(requests.HTTPError) as info:
        AIRefinery(api_key="wrong", base_url=base_url).images.segment(image=image, segment_prompt=[[[5, 5]]], model="m")
    assert info.value.response.status_code == 401
    _rule(base_url, scenario="delay", params={"ms": 50}, provider="airefinery", count=1)
    result = AIRefinery(api_key=AIR_KEY, base_url=base_url).images.segment(image=image, segment_prompt=[[[5, 5]]], model="m")
    assert result.created == 1_760_000_000 and len(result.data) >= 1
    assert _journal(base_url, provider="airefinery")["entries"][-1]["scenario"] == "delay"

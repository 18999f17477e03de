"""An application written as the SDKs' documentation shows: real provider hosts, keys from the environment, no
base URL pointed anywhere. Run as ``python unchanged_app.py IMAGE``; prints one JSON object: call -> "ok: ..." or
"error: ..." (so a test can say which client failed, and how).

Nothing in it knows about vision-mock: ``eval "$(vision-mock env)"`` decides where its traffic goes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Callable
from typing import Any

IMAGE = sys.argv[1]
HF_TOKEN = os.environ.get("HF_TOKEN", "hf_app_token")
DETR = "https://router.huggingface.co/hf-inference/models/facebook/detr-resnet-50"


def _bytes() -> bytes:
    with open(IMAGE, "rb") as f:
        return f.read()


def hf_default_provider() -> Any:
    from huggingface_hub import InferenceClient

    return InferenceClient(token=HF_TOKEN).object_detection(IMAGE, model="facebook/detr-resnet-50")


def hf_async_default_provider() -> Any:
    from huggingface_hub import AsyncInferenceClient

    return asyncio.run(AsyncInferenceClient(token=HF_TOKEN).object_detection(IMAGE, model="facebook/detr-resnet-50"))


def plain_requests() -> Any:
    import requests

    r = requests.post(DETR, data=_bytes(), headers={"authorization": f"Bearer {HF_TOKEN}", "content-type": "image/png"}, timeout=30)
    r.raise_for_status()
    return r.json()


def plain_httpx() -> Any:
    import httpx

    r = httpx.post(DETR, content=_bytes(), headers={"authorization": f"Bearer {HF_TOKEN}", "content-type": "image/png"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _aiohttp(trust_env: bool) -> Any:
    import aiohttp

    async def call() -> Any:
        headers = {"authorization": f"Bearer {HF_TOKEN}", "content-type": "image/png"}
        async with aiohttp.ClientSession(trust_env=trust_env) as session, session.post(
                DETR, data=_bytes(), headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as r:
            r.raise_for_status()
            return await r.json()

    return asyncio.run(call())


def aiohttp_trust_env() -> Any:
    return _aiohttp(True)


def aiohttp_default() -> Any:
    return _aiohttp(False)


def roboflow_sdk() -> Any:
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    return SemanticSegmentationModel(os.environ.get("ROBOFLOW_API_KEY", "rf_app_key"), "my-workspace/street-scenes/4").predict(IMAGE).json()


def inference_sdk() -> Any:
    from inference_sdk import InferenceHTTPClient

    client = InferenceHTTPClient(api_url="https://segment.roboflow.com", api_key=os.environ.get("ROBOFLOW_API_KEY", "rf_app_key"))
    return client.select_api_v0().infer(IMAGE, model_id="street-scenes/4")


def airefinery_sdk() -> Any:
    from air import AIRefinery

    client = AIRefinery(api_key=os.environ.get("AIR_API_KEY", "air_app_key"))
    image = base64.b64encode(_bytes()).decode()
    return client.images.segment(image=image, segment_prompt=[[[10, 10]]], model="syscv-community/sam-hq-vit-base").model_dump()


CALLS: dict[str, Callable[[], Any]] = {f.__name__: f for f in (
    hf_default_provider, hf_async_default_provider, plain_requests, plain_httpx, aiohttp_trust_env, aiohttp_default,
    roboflow_sdk, inference_sdk, airefinery_sdk)}


def main() -> None:
    chosen = sys.argv[2].split(",") if len(sys.argv) > 2 else list(CALLS)
    results = {}
    for name in chosen:
        try:
            answer = CALLS[name]()
            results[name] = "ok: " + json.dumps(answer, default=str)[:200]
        except Exception as exc:  # the report names every failure, with its type: nothing is swallowed silently
            results[name] = f"error: {type(exc).__name__}: {str(exc)[:300]}"
    print(json.dumps(results))


if __name__ == "__main__":
    main()

"""A downstream application, written the way each SDK's documentation shows: real hosts, keys from the environment.
Nothing in it knows about the mock (it is copied into a temporary folder and tested there under vision_intercept)."""

from __future__ import annotations

import base64
import os

import aiohttp
import httpx
import requests

ROBOFLOW_URL = "https://segment.roboflow.com"
DETR = "facebook/detr-resnet-50"
SEGMENTER = "openmmlab/upernet-convnext-small"
SAM = "syscv-community/sam-hq-vit-base"


def hf_detect(path: str):
    from huggingface_hub import InferenceClient

    return InferenceClient(token=os.environ["HF_TOKEN"]).object_detection(path, model=DETR)


def hf_segment(path: str):
    from huggingface_hub import InferenceClient

    return InferenceClient(token=os.environ["HF_TOKEN"]).image_segmentation(path, model=SEGMENTER)


async def hf_detect_async(path: str):
    from huggingface_hub import AsyncInferenceClient

    return await AsyncInferenceClient(token=os.environ["HF_TOKEN"]).object_detection(path, model=DETR)


def _roboflow_client():
    from inference_sdk import InferenceHTTPClient

    # segment.roboflow.com is not in inference-sdk's list of hosted v0 URLs (ALL_ROBOFLOW_API_URLS), so the hosted
    # v0 API is selected by hand, as for any hosted model the SDK does not recognise
    return InferenceHTTPClient(api_url=ROBOFLOW_URL, api_key=os.environ["ROBOFLOW_API_KEY"]).select_api_v0()


def roboflow_inference_sdk(path: str):
    client = _roboflow_client()
    return client.infer(path, model_id="street-scenes/4")


async def roboflow_inference_sdk_async(path: str):
    client = _roboflow_client()
    return await client.infer_async(path, model_id="street-scenes/4")


def roboflow_package(path: str):
    from roboflow.models.semantic_segmentation import SemanticSegmentationModel

    return SemanticSegmentationModel(os.environ["ROBOFLOW_API_KEY"], "my-workspace/street-scenes/4").predict(path).json()


def airefinery_segment(image_b64: str, point: list[int]):
    from air import AIRefinery

    client = AIRefinery(api_key=os.environ["AIR_API_KEY"])
    return client.images.segment(image=image_b64, segment_prompt=[[point]], model=SAM)


async def airefinery_segment_async(image_b64: str, point: list[int]):
    from air import AsyncAIRefinery

    client = AsyncAIRefinery(api_key=os.environ["AIR_API_KEY"])
    return await client.images.segment(image=image_b64, segment_prompt=[[point]], model=SAM)


def plain_httpx(image: bytes) -> httpx.Response:
    return httpx.post(f"https://router.huggingface.co/hf-inference/models/{DETR}", content=image,
                      headers={"authorization": f"Bearer {os.environ['HF_TOKEN']}", "content-type": "image/png"})


def plain_requests(image: bytes) -> requests.Response:
    return requests.post(f"{ROBOFLOW_URL}/street-scenes/4", params={"api_key": os.environ["ROBOFLOW_API_KEY"]},
                         data=base64.b64encode(image), headers={"content-type": "application/x-www-form-urlencoded"}, timeout=30)


async def plain_aiohttp(image: bytes) -> tuple[int, object]:
    headers = {"authorization": f"Bearer {os.environ['HF_TOKEN']}", "content-type": "image/png"}
    async with aiohttp.ClientSession() as session, session.post(f"https://api-inference.huggingface.co/models/{DETR}", data=image, headers=headers) as r:
        return r.status, await r.json()


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=5)

"""``vision_respx``: which clients it reaches, measured. Every network attempt that escapes respx goes to a closed
loopback proxy (HTTP(S)_PROXY=http://127.0.0.1:9), so nothing can leave the machine and an escape fails fast."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOWNSTREAM = '''
import asyncio
import base64

import httpx
import pytest
import respx

from vision_contracts.plugin import assert_conforms
from vision_contracts.mockserver.testing import sample_image

IMAGE = sample_image(64, 48)
B64 = base64.b64encode(IMAGE).decode()


@pytest.fixture(autouse=True)
def closed_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    from huggingface_hub.utils import close_session

    # huggingface_hub keeps one global httpx2 client, which remembers the proxy it was built with: build it afresh
    # under the closed proxy, and throw it away after, so later tests in this process do not inherit the dead proxy.
    close_session()
    yield
    close_session()


def routed(router):
    return sum(route.call_count for route in router.routes)


def test_hosts_come_from_the_contracts(vision_respx):
    from vision_contracts import contracts
    # the built-in operations' hosts (packs loaded earlier in this process add theirs: routed too)
    hosts = {h for op in contracts.operations() if "pack" not in contracts.get(*op).index for h in contracts.get(*op).index["hosts"]}
    names = " ".join(route.name for route in vision_respx.router.routes)
    assert hosts == {"api-inference.huggingface.co", "router.huggingface.co", "segment.roboflow.com", "api.airefinery.accenture.com"}
    assert all(host in names for host in hosts)


def test_plain_httpx_sync_reaches_every_provider_host(vision_respx):
    det = httpx.post("https://api-inference.huggingface.co/models/facebook/detr-resnet-50", content=IMAGE,
                     headers={"authorization": "Bearer hf_x"})
    assert_conforms(det, "huggingface", "object-detection", request=IMAGE)
    seg = httpx.post("https://router.huggingface.co/hf-inference/models/openmmlab/upernet-convnext-small", content=IMAGE)
    assert_conforms(seg, "huggingface", "image-segmentation", request=IMAGE)
    rf = httpx.post("https://segment.roboflow.com/streets/4", params={"api_key": "k"}, content=B64,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert_conforms(rf, "roboflow", "semantic-segmentation", request=IMAGE)
    air = httpx.post("https://api.airefinery.accenture.com/v1/images/segmentations", headers={"authorization": "Bearer k"},
                     json={"model": "m", "image_prompt": B64, "segment_prompt": [[[3, 3]]]})
    assert_conforms(air, "airefinery", "image-segmentation", request=IMAGE)
    assert [e["provider"] for e in vision_respx.journal()] == ["huggingface", "huggingface", "roboflow", "airefinery"]
    assert routed(vision_respx.router) == 4


def test_plain_httpx_async_reaches_the_app(vision_respx):
    async def main():
        async with httpx.AsyncClient() as client:
            rs = await asyncio.gather(*[client.post("https://api-inference.huggingface.co/models/facebook/detr-resnet-50",
                                                    content=IMAGE) for _ in range(3)])
        return [r.status_code for r in rs]
    assert asyncio.run(main()) == [200, 200, 200]
    assert len(vision_respx.journal()) == 3


def test_sync_httpx_inside_a_running_loop(vision_respx):
    async def main():
        return httpx.post("https://segment.roboflow.com/a/1", params={"api_key": "k"}, content=B64).status_code
    assert asyncio.run(main()) == 200


@pytest.mark.vision_scenario("loading", model="facebook/detr-resnet-50", count=1)
def test_scenarios_and_faults_in_process(vision_respx):
    url = "https://api-inference.huggingface.co/models/facebook/detr-resnet-50"
    assert httpx.post(url, content=IMAGE).status_code == 503
    vision_respx.fault("reset", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, content=IMAGE)
    assert httpx.post(vision_respx.url("huggingface", model="facebook/detr-resnet-50"), content=IMAGE).status_code == 200


def test_any_other_host_fails_loudly(vision_respx):
    with pytest.raises(respx.models.AllMockedAssertionError):
        httpx.get("https://example.com/")


def test_huggingface_hub_is_not_reached(vision_respx):
    """huggingface_hub sends with httpx2 (its own httpcore2): respx never sees the request, which goes to the network
    (here: the closed proxy)."""
    import huggingface_hub.utils._http as hf_http
    from huggingface_hub import InferenceClient
    hf_http.close_session()
    client = InferenceClient(model="https://api-inference.huggingface.co/models/facebook/detr-resnet-50", token="hf_x")
    with pytest.raises(Exception) as info:
        client.object_detection(IMAGE)
    assert type(info.value).__module__.startswith(("httpx2", "huggingface_hub")), repr(info.value)
    assert routed(vision_respx.router) == 0 and vision_respx.journal() == []


def test_requests_is_not_reached(vision_respx):
    import requests
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post("https://segment.roboflow.com/streets/4", params={"api_key": "k"}, data=B64, timeout=5)
    assert routed(vision_respx.router) == 0 and vision_respx.journal() == []


def test_aiohttp_is_not_reached(vision_respx):
    import aiohttp

    async def main():
        async with aiohttp.ClientSession(trust_env=True) as session:
            async with session.post("https://api.airefinery.accenture.com/v1/images/segmentations", json={}) as r:
                return r.status
    with pytest.raises(aiohttp.ClientError):
        asyncio.run(main())
    assert routed(vision_respx.router) == 0
'''


def test_vision_respx_reach(pytester: pytest.Pytester):
    pytester.makepyfile(test_reach=DOWNSTREAM)
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=9)

"""``vision_intercept`` as a downstream project uses it: faults as each library's own connection error, the socket
backstop, allowed hosts (marker and ini), nothing left patched after the test, pytest-xdist. No request leaves the
machine: refused hosts are refused before connecting, and allowed ones are never called here (the network-namespace
run in tests/intercept does that)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

DOWNSTREAM = '''
import asyncio
import socket
import urllib.error
import urllib.request

import aiohttp
import httpx
import httpx2
import pytest
import requests
import urllib3

from vision_contracts.mockserver.testing import sample_image

IMAGE = sample_image(64, 48)
DETR = "https://router.huggingface.co/hf-inference/models/facebook/detr-resnet-50"
ORIGINAL = {
    "getaddrinfo": socket.getaddrinfo, "connect": socket.socket.connect,
    "httpx": httpx.HTTPTransport.handle_request, "httpx-async": httpx.AsyncHTTPTransport.handle_async_request,
    "httpx2": httpx2.HTTPTransport.handle_request, "urlopen": urllib3.connectionpool.HTTPConnectionPool.urlopen,
    "aiohttp": aiohttp.ClientSession._request,
}


def current():
    return {
        "getaddrinfo": socket.getaddrinfo, "connect": socket.socket.connect,
        "httpx": httpx.HTTPTransport.handle_request, "httpx-async": httpx.AsyncHTTPTransport.handle_async_request,
        "httpx2": httpx2.HTTPTransport.handle_request, "urlopen": urllib3.connectionpool.HTTPConnectionPool.urlopen,
        "aiohttp": aiohttp.ClientSession._request,
    }


async def aiohttp_post(url):
    async with aiohttp.ClientSession() as session, session.post(url, data=IMAGE) as r:
        return r.status, await r.read()


def test_patched_while_active(vision_intercept):
    now = current()
    assert all(now[name] is not ORIGINAL[name] for name in ORIGINAL)


def test_faults_are_each_librarys_connection_error(vision_intercept):
    vision_intercept.fault("reset")
    with pytest.raises(httpx.TransportError):
        httpx.post(DETR, content=IMAGE)
    with pytest.raises(httpx2.TransportError):
        httpx2.post(DETR, content=IMAGE)
    with pytest.raises(requests.ConnectionError):
        requests.post(DETR, data=IMAGE, timeout=10)
    with pytest.raises(aiohttp.ClientError):
        asyncio.run(aiohttp_post(DETR))
    vision_intercept.clear_scenarios()
    vision_intercept.fault("truncated")
    with pytest.raises(httpx.TransportError):
        httpx.post(DETR, content=IMAGE)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(DETR, data=IMAGE, timeout=10)
    with pytest.raises(aiohttp.ClientPayloadError):
        asyncio.run(aiohttp_post(DETR))


def test_every_stack_refuses_an_unknown_host_with_the_sentence(vision_intercept):
    sentence = "refused a connection to https://unknown.example:443"
    with pytest.raises(httpx.ConnectError, match=sentence):
        httpx.get("https://unknown.example/")
    with pytest.raises(httpx2.ConnectError, match=sentence):
        httpx2.get("https://unknown.example/")
    with pytest.raises(requests.ConnectionError, match=sentence):
        requests.get("https://unknown.example/", timeout=5)
    with pytest.raises(aiohttp.ClientConnectionError, match=sentence):
        asyncio.run(aiohttp_post("https://unknown.example/"))
    assert vision_intercept.journal() == []


def test_socket_backstop_for_clients_no_adapter_reaches(vision_intercept):
    with pytest.raises(urllib.error.URLError, match="refused a connection to unknown.example:443"):
        urllib.request.urlopen("https://unknown.example/", timeout=5)
    with pytest.raises(urllib.error.URLError, match="not one of them"):
        urllib.request.urlopen(DETR, timeout=5)
    with pytest.raises(ConnectionRefusedError, match="refused a connection to 192.0.2.1"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    # loopback passes: the mock itself, through stdlib urllib
    with urllib.request.urlopen(vision_intercept.base_url + "/__vision__/health", timeout=5) as r:
        assert r.status == 200


def test_after_the_fixture_nothing_is_left_patched():
    assert current() == ORIGINAL
'''


ALLOWED = '''
import pytest

@pytest.mark.vision_allow_hosts("allowed.example", "*.internal.test")
def test_marker_and_ini(vision_intercept):
    interceptor = vision_intercept.interceptor
    for host, action in (("allowed.example", "allowed"), ("api.internal.test", "allowed"), ("ini.example", "allowed"),
                         ("other.example", "refuse"), ("segment.roboflow.com", "mock"), ("127.0.0.1", "loopback")):
        assert interceptor.decide("https", host, 443).action == action, host


def test_marker_takes_host_names_only(vision_intercept):
    pass


test_marker_takes_host_names_only = pytest.mark.vision_allow_hosts(42)(test_marker_takes_host_names_only)
'''


def test_vision_intercept_downstream(pytester: pytest.Pytester):
    pytester.makepyfile(test_downstream=DOWNSTREAM)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_allowed_hosts_from_marker_and_ini(pytester: pytest.Pytester):
    pytester.makepyfile(test_allowed=ALLOWED)
    pytester.makeini("[pytest]\nvision_allow_hosts = ini.example\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*vision_allow_hosts takes host names*"])


def test_under_xdist(pytester: pytest.Pytester):
    pytester.makepyfile(test_parallel='''
import pytest, requests
from vision_contracts.mockserver.testing import sample_image

IMAGE = sample_image(48, 32)


@pytest.mark.parametrize("n", range(4))
def test_intercepted_in_each_worker(vision_intercept, n):
    r = requests.post("https://router.huggingface.co/hf-inference/models/facebook/detr-resnet-50", data=IMAGE, timeout=30)
    assert r.status_code == 200
    assert [(e["host"], e["status"]) for e in vision_intercept.journal()] == [("router.huggingface.co", 200)]
    with pytest.raises(requests.ConnectionError, match="vision_allow_hosts"):
        requests.get("https://unknown.example/", timeout=5)
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
    assert "2 workers" in result.stdout.str() or "gw1" in result.stdout.str()

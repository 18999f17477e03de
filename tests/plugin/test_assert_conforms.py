"""assert_conforms with real httpx and requests Response objects built in-process, and with parsed bodies."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import httpx
import pytest
import requests as requests_lib
from hypothesis import HealthCheck, given, settings

from vision_contracts import contracts
from vision_contracts.plugin._conform import NonConformingResponse, assert_conforms
from vision_contracts.plugin.strategies import image_responses, oversized_png

CAT = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 5, "ymax": 6}}]
INVERTED = [{"label": "cat", "score": 0.9, "box": {"xmin": 9, "ymin": 2, "xmax": 5, "ymax": 6}}]


def _png(width: int, height: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, "PNG")
    return out.getvalue()


def httpx_response(body, status=200, content_type="application/json"):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": content_type} if content_type else {}
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request("POST", "http://127.0.0.1/models/a/b"))


def requests_response(body, status=200, content_type="application/json"):
    response = requests_lib.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    if content_type:
        response.headers["Content-Type"] = content_type
    response.url = "http://127.0.0.1/models/a/b"
    return response


MAKERS = [httpx_response, requests_response]


@pytest.mark.parametrize("make", MAKERS, ids=["httpx", "requests"])
def test_a_conforming_response_passes_and_returns_its_report(make):
    report = assert_conforms(make(CAT), "huggingface", "object-detection", request=_png(10, 10))
    assert report.ok and not report.skipped


def test_a_parsed_body_is_accepted_and_skips_checks_that_need_the_request():
    report = assert_conforms(CAT, "huggingface", "object-detection")
    assert report.ok
    assert {s.check for s in report.skipped} == {"box-inside-image"}


@pytest.mark.parametrize("make", MAKERS, ids=["httpx", "requests"])
def test_a_violation_names_path_expected_and_received(make):
    with pytest.raises(NonConformingResponse) as info:
        assert_conforms(make(INVERTED), "huggingface", "object-detection", request=_png(10, 10))
    error = info.value
    assert isinstance(error, AssertionError) and isinstance(error, contracts.ContractViolation)
    message = str(error)
    assert message.startswith("The 200 response breaks the huggingface object-detection contract (1 violation):")
    assert "$[0].box.xmin [box-order, error]" in message
    assert "expected: xmin <= xmax (5)" in message and "received: 9" in message
    assert error.status == 200 and error.violations[0].path == "$[0].box.xmin"


def test_semantic_checks_use_the_request_image():
    with pytest.raises(NonConformingResponse, match=r"leaves the 4x4 request image"):
        assert_conforms(httpx_response(CAT), "huggingface", "object-detection", request=_png(4, 4))


@pytest.mark.parametrize("make", MAKERS, ids=["httpx", "requests"])
def test_a_non_json_content_type_is_a_violation(make):
    with pytest.raises(NonConformingResponse) as info:
        assert_conforms(make(CAT, content_type="text/plain"), "huggingface", "object-detection")
    assert [v.check for v in info.value.violations] == ["content-type"]
    assert "received: text/plain" in str(info.value)


def test_a_missing_content_type_is_a_violation_and_can_be_tolerated():
    with pytest.raises(NonConformingResponse, match="no Content-Type header"):
        assert_conforms(httpx_response(CAT, content_type=None), "huggingface", "object-detection")
    report = assert_conforms(httpx_response(CAT, content_type=None), "huggingface", "object-detection", tolerate=["content-type"])
    assert [v.check for v in report.warnings] == ["content-type"]


def test_json_suffix_types_and_parameters_count_as_json():
    assert_conforms(httpx_response(CAT, content_type="application/json; charset=utf-8"), "huggingface", "object-detection")
    assert_conforms(httpx_response(CAT, content_type="application/problem+json"), "huggingface", "object-detection")


def test_a_body_that_is_not_json_is_reported():
    with pytest.raises(NonConformingResponse, match=r"\$ \[json, error\]"):
        assert_conforms(httpx_response(b"<html>oops</html>"), "huggingface", "object-detection")


@pytest.mark.parametrize("make", MAKERS, ids=["httpx", "requests"])
def test_error_statuses_are_checked_against_their_error_body(make):
    assert_conforms(make({"error": "Model a/b is currently loading", "estimated_time": 3.5}, status=503), "huggingface", "image-segmentation")
    with pytest.raises(NonConformingResponse, match="The 503 response breaks"):
        assert_conforms(make({"error": "busy"}, status=503), "huggingface", "image-segmentation")
    assert_conforms(make({"message": "Forbidden"}, status=403), "roboflow", "semantic-segmentation")


def test_an_unknown_status_is_a_violation():
    with pytest.raises(NonConformingResponse, match="expected one of the statuses"):
        assert_conforms(httpx_response({"error": "teapot"}, status=418), "huggingface", "object-detection")


def test_status_given_explicitly_overrides_the_response():
    with pytest.raises(NonConformingResponse):
        assert_conforms(httpx_response(CAT), "huggingface", "object-detection", status=503)
    assert_conforms({"detail": "Not Found"}, "roboflow", "semantic-segmentation", status=404)


def test_tolerated_checks_become_warnings():
    report = assert_conforms(httpx_response(INVERTED), "huggingface", "object-detection", tolerate=["box-order"])
    assert report.ok and [v.check for v in report.warnings] == ["box-order"]


def test_a_streamed_httpx_response_is_read():
    response = httpx.Response(200, stream=httpx.ByteStream(json.dumps(CAT).encode()), headers={"content-type": "application/json"})
    assert assert_conforms(response, "huggingface", "object-detection").ok


def test_the_request_may_be_the_json_body_as_sent():
    request = {"inputs": base64.b64encode(_png(4, 4)).decode(), "parameters": {"threshold": 0.95}}
    with pytest.raises(NonConformingResponse) as info:
        assert_conforms(CAT, "huggingface", "object-detection", request=request)
    assert {v.check for v in info.value.violations} == {"box-inside-image", "score-threshold"}


def test_an_undecodable_request_image_is_reported_as_a_skip_not_a_failure():
    report = assert_conforms(CAT, "huggingface", "object-detection", request=oversized_png())
    assert report.ok and report.skipped


@pytest.mark.parametrize("op", contracts.operations(), ids="/".join)
def test_generated_responses_conform_through_httpx(op):
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(image_responses(*op))
    def check(pair):
        image, body = pair
        assert_conforms(httpx_response(body), *op, request=image)

    check()


def test_the_module_does_not_import_pytest():
    code = "import sys, vision_contracts.plugin._conform, vision_contracts.plugin.strategies; print('pytest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

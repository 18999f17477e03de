"""Suspicious requests (the real service accepts them, the documents do not list them) in the plugin: the strategy,
``assert_conforms`` on the mock's ``x-vision-warnings``, the ini option ``vision_strict`` and the conformance run's
expectation in both modes."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from hypothesis import HealthCheck, find, given, settings

from vision_contracts import contracts
from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve
from vision_contracts.plugin import NonConformingResponse, assert_conforms, suspicious_requests
from vision_contracts.plugin._conform import set_strict_default
from vision_contracts.plugin.strategies import SuspiciousRequest, to_wire

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HF = [("huggingface", "image-segmentation"), ("huggingface", "object-detection")]
NO_CACHE = ("-p", "no:cacheprovider")
CAT = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 5, "ymax": 6}}]


@pytest.mark.parametrize("op", HF, ids="/".join)
def test_a_suspicious_request_is_a_warning_by_default_and_an_error_when_strict(op):
    contract = contracts.get(*op)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(suspicious_requests(*op))
    def check(odd: SuspiciousRequest) -> None:
        lenient = contract.validate_request(odd.request)
        assert lenient.ok and [(v.path, v.check) for v in lenient.warnings] == [(odd.path, odd.check)], lenient.render("lenient")
        strict = contract.validate_request(odd.request, strict=True)
        assert [(v.path, v.check) for v in strict.errors] == [(odd.path, odd.check)], strict.render("strict")
        wire = to_wire(odd.request, contract)  # and it survives the wire
        parsed = contract.parse_request(wire.body, content_type=wire.headers.get("content-type"), headers=wire.headers)
        assert [v.check for v in contract.validate_request(parsed).warnings] == [odd.check]
        assert odd.reason.endswith(".") and odd.check in contract.lenient_checks

    check()


@pytest.mark.parametrize("check", ["parameters-unknown", "body-property-unknown", "parameter-range"])
@pytest.mark.parametrize("op", HF, ids="/".join)
def test_every_default_leniency_is_generated(op, check):
    found = find(suspicious_requests(*op), lambda odd: odd.check == check,
                 settings=settings(max_examples=2000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)))
    assert found.check == check and contracts.get(*op).validate_request(found.request).warnings


@pytest.mark.parametrize("op", [("roboflow", "semantic-segmentation"), ("airefinery", "image-segmentation")], ids="/".join)
def test_operations_without_a_default_leniency_have_no_suspicious_requests(op):
    with pytest.raises(ValueError, match="names nothing its service accepts beyond the documents"):
        suspicious_requests(*op)


# --- assert_conforms and the mock's x-vision-warnings ----------------------------------------------------------

def _answer(headers: dict[str, str]) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(CAT).encode(), headers={"content-type": "application/json", **headers},
                          request=httpx.Request("POST", "http://127.0.0.1/models/facebook/detr-resnet-50"))


WARNED = {contracts.WARNINGS_HEADER: "parameters-unknown; path=$.body.parameters.model"}


def test_the_mock_s_warnings_are_warnings_by_default_and_failures_when_strict():
    report = assert_conforms(_answer(WARNED), "huggingface", "object-detection")
    assert [(v.path, v.check, v.severity.value) for v in report] == [("$.body.parameters.model", "parameters-unknown", "warning")]
    with pytest.raises(NonConformingResponse) as info:
        assert_conforms(_answer(WARNED), "huggingface", "object-detection", strict=True)
    text = str(info.value)
    assert "- $.body.parameters.model [parameters-unknown, error]" in text and "x-vision-warnings" in text
    report = assert_conforms(_answer(WARNED), "huggingface", "object-detection", strict=True, tolerate=["parameters-unknown"])
    assert [v.severity.value for v in report] == ["warning"]
    assert assert_conforms(_answer({}), "huggingface", "object-detection", strict=True) == []


def test_the_strict_default_is_settable_and_restorable():
    previous = set_strict_default(True)
    try:
        with pytest.raises(NonConformingResponse):
            assert_conforms(_answer(WARNED), "huggingface", "object-detection")
        assert assert_conforms(_answer(WARNED), "huggingface", "object-detection", strict=False).warnings
    finally:
        assert set_strict_default(previous) is True
    assert assert_conforms(_answer(WARNED), "huggingface", "object-detection").ok


# --- the ini option vision_strict ------------------------------------------------------------------------------

def test_the_ini_option_makes_the_fixture_s_mock_and_assert_conforms_strict(pytester: pytest.Pytester):
    image = base64.b64encode(sample_image(40, 30)).decode()
    pytester.makepyfile(test_strictness=f"""
        import httpx
        import pytest
        from vision_contracts.plugin import NonConformingResponse, assert_conforms

        BODY = {{"inputs": "{image}", "parameters": {{"model": "facebook/detr-resnet-50"}}}}

        def test_unknown_parameter(vision_mock, pytestconfig):
            r = httpx.post(vision_mock.url("huggingface", model="facebook/detr-resnet-50"), json=BODY)
            [entry] = vision_mock.journal()
            if pytestconfig.getini("vision_strict"):
                assert r.status_code == 400 and "$.body.parameters.model" in r.json()["error"]
                assert entry["verdict"]["valid"] is False and entry["verdict"]["strict"] is True
            else:
                assert r.status_code == 200 and r.headers["x-vision-warnings"] == "parameters-unknown; path=$.body.parameters.model"
                assert entry["verdict"]["valid"] is True and "parameters-unknown" in entry["verdict"]["warnings"][0]
                assert assert_conforms(r, "huggingface", "object-detection").warnings
    """)
    pytester.runpytest(*NO_CACHE).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nvision_strict = true\n")
    pytester.runpytest(*NO_CACHE).assert_outcomes(passed=1)


# --- the conformance run ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lenient_mock() -> str:
    with serve(Config(port=0)) as url:
        yield url


@pytest.fixture(scope="module")
def strict_mock() -> str:
    with serve(Config(port=0, strict=True)) as url:
        yield url


def _run(pytester: pytest.Pytester, target: str, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(*NO_CACHE, "--vision-target", target, "--vision-provider", "huggingface",
                              "--vision-operation", "object-detection", "--vision-examples", "2", *extra)


def test_the_conformance_run_expects_each_mode_of_the_mock(pytester, lenient_mock, strict_mock):
    _run(pytester, lenient_mock, "-k", "suspicious").assert_outcomes(passed=2, deselected=8)
    _run(pytester, strict_mock, "--vision-strict", "-k", "suspicious").assert_outcomes(passed=2, deselected=8)
    pytester.makeini("[pytest]\nvision_strict = true\n")
    _run(pytester, strict_mock).assert_outcomes(passed=10)


def test_a_mode_mismatch_fails_with_a_sentence(pytester, lenient_mock, strict_mock):
    refused = _run(pytester, strict_mock, "-k", "suspicious")
    refused.assert_outcomes(failed=2, deselected=8)
    refused.stdout.fnmatch_lines(["sent: suspicious request (*", "*expected the status 200 for a request the service accepts, received 400*"])
    accepted = _run(pytester, lenient_mock, "--vision-strict", "-k", "suspicious")
    accepted.assert_outcomes(failed=2, deselected=8)
    accepted.stdout.fnmatch_lines([
        "*expected a 4xx error status (*) for a suspicious request in a strict run (*), received 200*",
        "reproduce: pytest * --vision-strict -k suspicious-json-000-*",
    ])

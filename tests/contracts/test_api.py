"""The public surface of contracts: one import, clear errors, assert helpers with readable messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import ContractViolation, Severity

from imaging import b64, jpeg, mask

EXPECTED_EXPORTS = {
    "CHECKS", "DEFAULT_MAX_PIXELS", "REQUEST_CHECKS", "Catalog", "CheckContext", "Contract", "ContractViolation", "Finding", "ImageError",
    "ImageInfo", "Report", "Request", "RequestFacts", "Severity", "Skip", "UnknownOperation", "Violation",
    "WireError", "catalog", "decode_image_string", "find", "get", "json_path", "open_image", "operations",
    "WARNINGS_HEADER", "format_warnings", "parse_warnings",
    "DEFAULT_BODY_LIMIT", "REDACTED", "VERDICT_HEADER", "Identity", "ImageFacts", "Interaction", "Judgement", "RecordingError",
    "contracts_version", "find_recordings", "identify", "is_secret_name", "judge", "match_path", "pixel_facts", "read_har",
    "read_recordings", "redact_header_value", "redact_interaction", "redact_url", "verdict_header", "write_har",
    "DriftReport", "EntryDrift", "Tolerances", "compare_recordings",
    "ROLES", "ROLE_CHECKS", "LintFinding", "Pack", "PackError", "lint_pack", "load_pack",
}


def test_exported_members():
    assert set(contracts.__all__) == EXPECTED_EXPORTS
    for name in contracts.__all__:
        member = getattr(contracts, name)
        if callable(member) and hasattr(member, "__module__"):
            assert member.__module__.startswith("vision_contracts.contracts"), name
    public_modules = {n for n in dir(contracts) if n[0] not in "_@" and type(getattr(contracts, n)).__name__ == "module"}
    assert public_modules <= {"openapi", "geometry"}


def test_unknown_operation_lists_the_known_ones():
    with pytest.raises(contracts.UnknownOperation) as info:
        contracts.get("huggingface", "depth-estimation")
    assert "('huggingface', 'object-detection')" in str(info.value)
    assert "('roboflow', 'semantic-segmentation')" in str(info.value)


def test_contracts_are_compiled_once():
    a = contracts.get("huggingface", "object-detection")
    assert a is contracts.get("huggingface", "object-detection")
    assert a._response_validator is a._response_validator


def test_inverted_box_from_the_command_line():
    code = (
        "from vision_contracts import contracts; c = contracts.get('huggingface', 'object-detection'); "
        "print(c.validate_response([{'label': 'cat', 'score': 0.9, 'box': {'xmin': 50, 'ymin': 0, 'xmax': 10, 'ymax': 5}}]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "$[0].box.xmin" in out and "box-order" in out


def test_assert_response_message_has_title_path_expected_received():
    c = contracts.get("huggingface", "object-detection")
    with pytest.raises(ContractViolation) as info:
        c.assert_response([{"label": "cat", "score": 1.5, "box": {"xmin": 1, "ymin": 0, "xmax": 0, "ymax": 5}}])
    text = str(info.value)
    assert text.splitlines()[0] == "The response breaks the huggingface object-detection contract."
    assert "- $[0].score [schema:maximum, error]" in text
    assert "expected: a number <= 1" in text and "received: 1.5" in text
    assert "- $[0].box.xmin [box-order, error]" in text
    assert isinstance(info.value, AssertionError)
    assert {v.check for v in info.value.violations} == {"schema:maximum", "box-order"}


def test_warnings_do_not_fail_assert():
    c = contracts.get("roboflow", "semantic-segmentation")
    body = {"segmentation_mask": mask(4, 4, (0, 1)), "class_map": {"0": "bg", "1": "x"}, "image": {"width": 8, "height": 8}}
    with pytest.raises(ContractViolation):
        c.assert_response(body)
    report = c.assert_response(body, tolerate=["downscaled-mask"])
    assert [v.severity for v in report] == [Severity.WARNING]


def test_unknown_leniency_is_refused():
    with pytest.raises(ValueError, match="leniencies"):
        contracts.get("roboflow", "semantic-segmentation").validate_response({}, tolerate=["anything-goes"])


def test_error_bodies_per_status():
    c = contracts.get("huggingface", "image-segmentation")
    assert c.validate_response({"error": "Model x/y is currently loading", "estimated_time": 20.0}, status=503) == []
    assert [v.check for v in c.validate_response({"error": "Model x/y is currently loading"}, status=503)] == ["schema:required"]
    assert [v.check for v in c.validate_response({"error": "bad"}, status=418)] == ["status"]
    assert contracts.get("roboflow", "semantic-segmentation").validate_response({"message": "Forbidden"}, status=403) == []


def test_response_bytes_that_are_not_json():
    report = contracts.get("huggingface", "image-segmentation").validate_response(b"<html>")
    assert [(v.path, v.check) for v in report] == [("$", "json")]


def test_request_from_the_wire_with_raw_bytes_and_params():
    c = contracts.get("roboflow", "semantic-segmentation")
    img = jpeg(16, 8)
    env = c.parse_request(b64(img).encode(), content_type="application/json", query={"api_key": "k", "confidence": "40"}, path={"dataset": "d", "version": "3"})
    assert env.form == "base64" and env.query["confidence"] == 40 and env.path["version"] == 3
    report, facts = c.check_request(env)
    assert report == [] and facts.image.size == (16, 8) and facts.params == {"confidence": 40}
    assert facts.image_data == img  # the bytes the check decoded, for a caller that needs them (the mock server)


def test_request_facts_carry_the_decoded_image_only_when_it_decoded():
    c = contracts.get("roboflow", "semantic-segmentation")
    by_url = c.parse_request(b"", content_type=None, query={"api_key": "k", "image": "https://example.com/a.jpg"},
                             path={"dataset": "d", "version": "3"})
    assert c.check_request(by_url)[1].image_data is None
    report, broken = contracts.get("huggingface", "object-detection").check_request({"inputs": b64(b"not an image")})
    assert [v.check for v in report] == ["request-image"] and broken.image is None and broken.image_data is None


def test_wire_that_fits_no_form():
    c = contracts.get("airefinery", "image-segmentation")
    report = c.validate_request(b"{not json")
    assert [(v.path, v.check) for v in report] == [("$.form", "wire-format")]
    assert "expected json (application/json)" in report[0].message
    report = c.validate_request(c.parse_request(b'{"model": "m", "image_prompt": "Zm9v", "segment_prompt": [[[1, 1]]]}', content_type="application/json"))
    assert [v.check for v in report] == ["request-image"]
    with pytest.raises(contracts.WireError, match="not valid JSON"):
        c.parse_request(b"{not json", content_type="application/json")


def test_truncated_request_image_is_caught_by_a_full_decode():
    c = contracts.get("huggingface", "object-detection")
    data = jpeg(64, 64)[:-200]
    report = c.validate_request({"inputs": b64(data)})
    assert [v.check for v in report] == ["request-image"] and "broken" in report[0].message
    header_only, facts = c.check_request({"inputs": b64(data)}, decode_pixels=False)
    assert header_only == [] and facts.image.size == (64, 64)

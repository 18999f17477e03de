"""The provider's behaviour by default, the documents' strictness on request.

What the real service accepts although its documents do not list it (an unknown Hugging Face ``parameters`` key, a
threshold outside [0, 1], an unknown JSON body key) is a named warning by default and the same finding as an error
with ``strict=True``; what the service refuses stays an error in both modes. Also: Roboflow's nested answer is one
named finding, boxes may touch the image's right and bottom edges, and the ``x-vision-warnings`` header codec.
"""

from __future__ import annotations

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Severity, Violation

from imaging import b64, jpeg, mask

HF = ("image-segmentation", "object-detection")
IMAGE = b64(jpeg(32, 24))


def _findings(report, severity=None):
    return sorted((v.path, v.check) for v in report if severity is None or v.severity is severity)


@pytest.mark.parametrize("operation", HF)
@pytest.mark.parametrize(("parameters", "path", "check"), [
    ({"model": "facebook/detr-resnet-50-panoptic"}, "$.body.parameters.model", "parameters-unknown"),
    ({"timeout": 3.0}, "$.body.parameters.timeout", "parameters-unknown"),
    ({"threshold": 1.5}, "$.body.parameters.threshold", "parameter-range"),
    ({"threshold": -0.25}, "$.body.parameters.threshold", "parameter-range"),
])
def test_what_the_service_accepts_is_a_warning_and_an_error_when_strict(operation, parameters, path, check):
    c = contracts.get("huggingface", operation)
    body = {"inputs": IMAGE, "parameters": parameters}
    lenient = c.validate_request(body)
    assert lenient.ok and _findings(lenient, Severity.WARNING) == [(path, check)]
    strict = c.validate_request(body, strict=True)
    assert not strict.ok and _findings(strict, Severity.ERROR) == [(path, check)]
    assert lenient[0].message == strict[0].message and lenient[0].message.startswith(f"{path}: expected ")


@pytest.mark.parametrize("name", ["mask_threshold", "overlap_mask_area_threshold"])
def test_every_segmentation_threshold_has_the_service_s_range(name):
    c = contracts.get("huggingface", "image-segmentation")
    for value in (-1, 2):
        report = c.validate_request({"inputs": IMAGE, "parameters": {name: value}})
        assert report.ok and _findings(report) == [(f"$.body.parameters.{name}", "parameter-range")]


def test_unknown_keys_are_named_one_by_one_with_what_was_expected_and_what_arrived():
    c = contracts.get("huggingface", "image-segmentation")
    report = c.validate_request({"inputs": IMAGE, "parameters": {"model": "m", "top_k": 3}, "stream": True, "options": {"retry": 1}})
    assert report.ok
    assert _findings(report) == [
        ("$.body.options.retry", "body-property-unknown"), ("$.body.parameters.model", "parameters-unknown"),
        ("$.body.parameters.top_k", "parameters-unknown"), ("$.body.stream", "body-property-unknown"),
    ]
    model = next(v for v in report if v.path == "$.body.parameters.model")
    assert model.expected == "only the documented properties mask_threshold, overlap_mask_area_threshold, subtask, threshold"
    assert model.received == "the property 'model' = 'm'"
    assert "the real service accepts the request" in model.message


@pytest.mark.parametrize(("operation", "body", "path", "check"), [
    ("image-segmentation", {"inputs": IMAGE, "parameters": {"threshold": "0.5"}}, "$.body.parameters.threshold", "schema:type"),
    ("image-segmentation", {"inputs": IMAGE, "parameters": {"subtask": "everything"}}, "$.body.parameters.subtask", "schema:enum"),
    ("object-detection", {"inputs": {}}, "$.body.inputs", "schema:type"),
    ("object-detection", {"parameters": {"threshold": 0.5}}, "$.body", "schema:required"),
])
def test_what_the_service_refuses_is_an_error_in_both_modes(operation, body, path, check):
    c = contracts.get("huggingface", operation)
    for strict in (False, True):
        assert (path, check) in _findings(c.validate_request(body, strict=strict), Severity.ERROR)


def test_other_providers_have_no_default_leniency_and_keep_their_bounds():
    rf = contracts.get("roboflow", "semantic-segmentation")
    air = contracts.get("airefinery", "image-segmentation")
    assert rf.lenient_checks == frozenset() and air.lenient_checks == frozenset()
    envelope = rf.parse_request(IMAGE.encode(), query={"api_key": "k", "confidence": "150"}, path={"dataset": "d", "version": "1"})
    assert ("$.query.confidence", "schema:maximum") in _findings(rf.validate_request(envelope), Severity.ERROR)
    body = {"model": "m", "image_prompt": IMAGE, "segment_prompt": [[[1, 1]]], "n": 11}
    assert ("$.body.n", "schema:maximum") in _findings(air.validate_request({"form": "json", "body": body}), Severity.ERROR)


def test_a_warning_does_not_stop_the_request_checks():
    c = contracts.get("huggingface", "object-detection")
    body = {"inputs": b64(b"not an image at all"), "parameters": {"model": "m"}}
    assert _findings(c.validate_request(body)) == [("$.body.inputs", "request-image"), ("$.body.parameters.model", "parameters-unknown")]
    assert not c.validate_request(body).ok
    assert _findings(c.validate_request(body, strict=True)) == [("$.body.parameters.model", "parameters-unknown")]


def test_tolerate_names_the_leniency_or_its_checks_even_when_strict():
    c = contracts.get("huggingface", "object-detection")
    body = {"inputs": IMAGE, "parameters": {"model": "m", "threshold": 7}}
    assert c.validate_request(body, strict=True, tolerate=["provider-accepts"]).ok
    report = c.validate_request(body, strict=True, tolerate=["parameters-unknown"])
    assert _findings(report, Severity.ERROR) == [("$.body.parameters.threshold", "parameter-range")]
    assert c.lenient_checks == frozenset({"body-property-unknown", "parameters-unknown", "parameter-range"})
    assert c.tolerance(strict=True) == frozenset() and c.tolerance() == c.lenient_checks
    with pytest.raises(ValueError, match="parameters-unknown"):  # the message lists the checks one may name
        c.validate_request(body, tolerate=["no-such-check"])


def test_each_named_finding_cites_its_evidence():
    for provider, operation in contracts.operations():
        c = contracts.get(provider, operation)
        for finding in c.schema_findings:
            assert finding.accepted and finding.evidence, (provider, operation, finding.check)
        for name, spec in c.index.get("leniencies", {}).items():
            assert spec["description"] and set(spec["checks"]) <= set(c.check_names), (provider, operation, name)


# --- Roboflow's nested answer --------------------------------------------------------------------------------

def _roboflow_answer():
    return {"segmentation_mask": mask(32, 24, (0, 1)), "class_map": {"0": "background", "1": "car"}, "image": {"width": 32, "height": 24}}


def test_the_inference_server_s_nested_answer_is_one_named_finding():
    rf = contracts.get("roboflow", "semantic-segmentation")
    documented = _roboflow_answer()
    nested = {"inference_id": None, "image": documented["image"],
              "predictions": {k: v for k, v in documented.items() if k != "image"}}
    for strict in (False, True):
        report = rf.validate_response(nested, request=jpeg(32, 24), strict=strict)
        assert [(v.path, v.check, v.severity) for v in report] == [("$", "roboflow-nested-predictions", Severity.ERROR)]
    finding = report[0]
    assert "at the top level" in finding.expected
    assert finding.received == "segmentation_mask, class_map nested under predictions"
    assert "roboflow SDK" in finding.message and "'predictions'" in finding.message
    assert rf.validate_response(documented, request=jpeg(32, 24)) == []


def test_a_nested_answer_missing_a_key_altogether_says_so_in_the_same_finding():
    rf = contracts.get("roboflow", "semantic-segmentation")
    report = rf.validate_response({"predictions": {"class_map": {"0": "background"}}})
    assert _findings(report) == [("$", "roboflow-nested-predictions")]
    assert "segmentation_mask, image are missing altogether" in report[0].message


def test_a_top_level_answer_with_an_extra_predictions_key_is_not_nested():
    rf = contracts.get("roboflow", "semantic-segmentation")
    assert rf.validate_response({**_roboflow_answer(), "predictions": {"class_map": {}}}, request=jpeg(32, 24)) == []
    assert _findings(rf.validate_response({"image": {"width": 3, "height": 3}})) == [("$", "schema:required")] * 2


# --- boxes on the image's edges --------------------------------------------------------------------------------

def test_box_corners_on_the_right_and_bottom_edges_are_inside_the_image():
    od = contracts.get("huggingface", "object-detection")
    image = jpeg(640, 480)
    edge = [{"label": "couch", "score": 0.99, "box": {"xmin": 0, "ymin": 0, "xmax": 640, "ymax": 480}}]
    assert od.validate_response(edge, request=image) == []
    beyond = [{"label": "couch", "score": 0.99, "box": {"xmin": 0, "ymin": 0, "xmax": 641, "ymax": 481}}]
    assert _findings(od.validate_response(beyond, request=image)) == [("$[0].box.xmax", "box-inside-image"), ("$[0].box.ymax", "box-inside-image")]


# --- the x-vision-warnings header --------------------------------------------------------------------------------

def _warning(path: str, check: str = "parameters-unknown") -> Violation:
    return Violation(path, check, "e", "r", f"{path}: m.", Severity.WARNING)


def test_the_warnings_header_round_trips_and_stays_ascii():
    paths = ["$.body.parameters.model", "$.body.parameters['a,b; c=d %']", "$.body.parameters['caf\u00e9\u2603']"]
    value = contracts.format_warnings([_warning(p) for p in paths])
    assert value.isascii() and value.count(", ") == 2
    assert value.startswith("parameters-unknown; path=$.body.parameters.model, parameters-unknown; path=$.body.parameters['a%2Cb%3B%20c%3Dd%20%25']")
    assert contracts.parse_warnings(value) == [("parameters-unknown", p) for p in paths]
    assert contracts.format_warnings([]) == "" and contracts.parse_warnings(None) == []


def test_the_warnings_header_cuts_long_paths_and_long_lists():
    long_path = "$.body.parameters['" + "\u00e9" * 200 + "']"
    ((check, path),) = contracts.parse_warnings(contracts.format_warnings([_warning(long_path)]))
    assert check == "parameters-unknown" and path.endswith("...") and long_path.startswith(path[:-3]) and len(path) < 60
    many = contracts.format_warnings([_warning(f"$.body.parameters.k{i}") for i in range(500)])
    assert len(many) <= 1024 and many.isascii()
    items = contracts.parse_warnings(many)
    omitted = int(items[-1][1].removeprefix("omitted="))
    assert items[-1][0] == "truncated" and len(items) - 1 + omitted == 500

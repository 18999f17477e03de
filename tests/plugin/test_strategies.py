"""The strategies produce what they promise: real images, valid and invalid requests, valid responses."""

from __future__ import annotations

import base64
import io
import re

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from PIL import Image

from vision_contracts import contracts
from vision_contracts.contracts import WireError
from vision_contracts.plugin import _schema
from vision_contracts.plugin.strategies import (
    GeneratedRequest,
    error_responses,
    image_infos,
    image_responses,
    images,
    invalid_requests,
    requests,
    responses,
    to_wire,
)

OPERATIONS = contracts.operations()
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ids(op):
    return "/".join(op)


def _parse(wire, contract):
    return contract.parse_request(
        wire.body, content_type=wire.headers.get("content-type"), headers=wire.headers, query=wire.query,
        path=_path_params(wire.path, contract),
    )


def _path_params(path: str, contract) -> dict[str, str]:
    """Recover the path parameters from a filled-in path, as a router would."""
    template = contract.index["paths"][0]
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+)", re.escape(template))
    match = re.fullmatch(pattern, path)
    assert match, f"{path} does not fit {template}"
    from urllib.parse import unquote

    return {k: unquote(v) for k, v in match.groupdict().items()}


# --- images --------------------------------------------------------------------------------------------------

@FAST
@given(image_infos())
def test_images_decode_to_their_declared_size(sample):
    im = Image.open(io.BytesIO(sample.data))
    im.load()
    assert im.size == sample.size
    assert im.format == sample.format


def test_every_format_and_mode_pair_is_reached():
    seen = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(image_infos(max_size=4))
    def check(sample):
        seen.add((sample.format, sample.mode))

    check()
    held = {"PNG": ("L", "RGB", "RGBA", "P", "I;16"), "JPEG": ("L", "RGB"), "WEBP": ("RGB", "RGBA")}
    assert {(f, m) for f, modes in held.items() for m in modes} == seen


@FAST
@given(images(formats=("JPEG",), min_size=3, max_size=5))
def test_images_respect_format_and_size_bounds(data):
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert 3 <= im.size[0] <= 5 and 3 <= im.size[1] <= 5


def test_images_refuse_pairs_no_format_can_hold():
    with pytest.raises(ValueError, match="None of the modes"):
        images(formats=("JPEG",), modes=("RGBA", "I;16"))
    with pytest.raises(ValueError, match="Unknown image formats"):
        images(formats=("GIF",))


def test_images_shrink_to_the_smallest_black_image():
    from hypothesis import find

    sample = find(image_infos(formats=("PNG",), modes=("L",)), lambda s: True)
    assert sample.size == (1, 1)
    assert Image.open(io.BytesIO(sample.data)).getpixel((0, 0)) == 0


@pytest.mark.parametrize("pattern", sorted(_schema.KNOWN_PATTERNS))
def test_known_pattern_strategies_match_their_pattern(pattern):
    @settings(max_examples=60, deadline=None)
    @given(_schema.KNOWN_PATTERNS[pattern]())
    def check(value):
        assert re.search(pattern, value), value
        assert not value.endswith("\n")

    check()


# --- valid requests ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_generated_requests_are_valid_and_survive_the_wire(op):
    contract = contracts.get(*op)
    forms_seen = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(requests(*op))
    def check(req):
        assert isinstance(req, GeneratedRequest)
        report = contract.validate_request(req)
        assert not report.errors, report.render("generated request is invalid")
        forms_seen.add(req.form)
        parsed = _parse(to_wire(req, contract), contract)
        assert parsed.form == req.form
        assert parsed.body == req.body
        assert parsed.path == req.path and parsed.query == req.query
        assert {k: v for k, v in parsed.headers.items() if k != "content-type"} == {k: v for k, v in req.headers.items() if k != "content-type"}
        report = contract.validate_request(parsed)
        assert not report.errors, report.render("request is invalid after the wire round trip")

    check()
    assert forms_seen == {f["name"] for f in contract.index["forms"]}


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_request_image_is_the_one_carried(op):
    contract = contracts.get(*op)

    @FAST
    @given(requests(*op))
    def check(req):
        facts = contract.check_request(req)[1]
        if req.form == "url":
            assert req.query["image"].startswith("http://127.0.0.1/vision-contracts/images/")
        else:
            assert facts.image is not None and facts.image.size == req.image_size

    check()


def test_overrides_pin_values_and_pick_forms():
    contract = contracts.get("huggingface", "object-detection")

    @FAST
    @given(requests("huggingface", "object-detection", threshold=0.75, model_id="facebook/detr-resnet-50", authorization=None))
    def check(req):
        assert req.form == "json" and req.body["parameters"]["threshold"] == 0.75
        assert req.path == {"model_id": "facebook/detr-resnet-50"} and "authorization" not in req.headers
        assert not contract.validate_request(req).errors

    check()


def test_overrides_reach_query_and_headers():
    @FAST
    @given(requests("roboflow", "semantic-segmentation", api_key="KEY", forms=["url"]), requests("huggingface", "image-segmentation", x_use_cache="false"))
    def check(rf, hf):
        assert rf.query["api_key"] == "KEY" and rf.form == "url" and rf.body is None
        assert hf.headers["x-use-cache"] == "false"

    check()


def test_unknown_override_names_are_refused():
    with pytest.raises(ValueError, match="Cannot override 'treshold'"):
        requests("huggingface", "object-detection", treshold=0.5)
    with pytest.raises(ValueError, match="Unknown wire forms"):
        requests("huggingface", "object-detection", forms=["multipart"])


def test_air_prompt_points_lie_inside_the_image():
    @FAST
    @given(requests("airefinery", "image-segmentation"))
    def check(req):
        w, h = req.image_size
        for group in req.body["segment_prompt"]:
            for x, y in group:
                assert 0 <= x < w and 0 <= y < h

    check()


def test_multipart_bodies_carry_the_image_as_a_file_part():
    contract = contracts.get("roboflow", "semantic-segmentation")

    @FAST
    @given(requests("roboflow", "semantic-segmentation", forms=["multipart"]))
    def check(req):
        wire = to_wire(req, contract)
        assert wire.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert b'name="file"; filename="image.' in wire.body
        assert req.image in wire.body

    check()


# --- invalid requests ----------------------------------------------------------------------------------------

def _related(label_path: str, violation_path: str) -> bool:
    return violation_path.startswith(label_path) or label_path.startswith(violation_path)


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_invalid_requests_are_rejected_where_their_label_says(op):
    contract = contracts.get(*op)
    kinds = set()

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(invalid_requests(*op))
    def check(bad):
        kinds.add(bad.kind)
        errors = contract.validate_request(bad.request).errors
        assert errors, f"{bad.kind} at {bad.path} was accepted: {bad.reason}"
        assert any(_related(bad.path, v.path) for v in errors), (bad, [str(v) for v in errors])
        assert bad.reason.endswith(".")
        try:
            parsed = _parse(to_wire(bad.request, contract), contract)
        except WireError:
            return  # it does not even fit a wire form: rejected all the same
        assert contract.validate_request(parsed).errors, f"{bad.kind} at {bad.path} became valid on the wire"

    check()
    assert len({"undecodable-image", "empty-image", "oversized-image", "invalid-base64", "bad-data-uri"} & kinds) >= 2, kinds
    assert len(kinds) >= 5, kinds


@pytest.mark.parametrize(("op", "kind", "path"), [
    (("roboflow", "semantic-segmentation"), "missing-required", "$.query.api_key"),
    (("airefinery", "image-segmentation"), "missing-required", "$.headers.authorization"),
    (("airefinery", "image-segmentation"), "point-outside-image", None),
    (("roboflow", "semantic-segmentation"), "out-of-range", "$.query.confidence"),
])
def test_invalid_requests_cover_the_provider_specific_reasons(op, kind, path):
    # hypothesis.find searches until it finds one: a coverage claim that does not depend on a sample's luck
    overrides = {"confidence": st.floats(0, 100)} if op[0] == "roboflow" else {}
    found = find(
        invalid_requests(*op, **overrides),
        lambda bad: bad.kind == kind and (path is None or bad.path == path),
        settings=settings(max_examples=5000, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)),
    )
    assert found.kind == kind and contracts.get(*op).validate_request(found.request).errors


# --- responses -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_generated_responses_pass_the_contract_with_their_image(op):
    contract = contracts.get(*op)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(image_responses(*op))
    def check(pair):
        image, body = pair
        report = contract.validate_response(body, request=image)
        assert not report.errors, report.render("generated response is invalid")
        assert not report.skipped

    check()


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_responses_fit_a_given_image_and_threshold(data):
    image = data.draw(images(max_size=16))
    body = data.draw(responses("huggingface", "object-detection", image=image, threshold=0.6))
    contract = contracts.get("huggingface", "object-detection")
    request = {"inputs": base64.b64encode(image).decode(), "parameters": {"threshold": 0.6}}
    assert not contract.validate_response(body, request=request).errors
    assert all(item["score"] >= 0.6 for item in body)


@pytest.mark.parametrize("op", OPERATIONS, ids=_ids)
def test_error_responses_pass_their_status_schema(op):
    contract = contracts.get(*op)

    @FAST
    @given(error_responses(*op))
    def check(pair):
        status, body = pair
        assert not contract.validate_error_body(body, status).errors

    check()

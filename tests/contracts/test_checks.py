"""Each semantic check, called directly and through the contract: a passing case and a failing one with its path."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision_contracts import contracts
from vision_contracts.contracts import CHECKS, REQUEST_CHECKS, CheckContext, ImageInfo, Skip
from vision_contracts.contracts._checks import run_checks

from imaging import b64, jpeg, mask, png

HF_SEG = {"masks": "/*/mask", "scores": "/*/score"}
HF_DET = {"boxes": "/*/box", "scores": "/*/score"}
RF = {"masks": "/segmentation_mask", "class_map": "/class_map", "image_size": "/image"}
AIR = {"masks": "/data/*/b64_json", "scores": "/data/*/score", "created": "/created", "usage": "/usage"}


def run(name, body, locations, **ctx):
    found, skipped = run_checks([name], CHECKS, CheckContext(body=body, locations=locations, **ctx))
    return [(v.path, v.check) for v in found], [s.check for s in skipped]


def image(w, h):
    return ImageInfo(w, h, "RGB", "JPEG")


def test_registry_is_read_only_and_named_by_the_indexes():
    with pytest.raises(TypeError):
        CHECKS["new"] = lambda ctx: iter(())  # type: ignore[index]
    used = {name for p, o in contracts.operations() for name in contracts.get(p, o).index["checks"]}
    assert used == set(CHECKS)
    used = {name for p, o in contracts.operations() for name in contracts.get(p, o).index["request_checks"]}
    assert used == set(REQUEST_CHECKS)


def test_mask_image_accepts_single_channel_png():
    assert run("mask-image", [{"mask": mask(4, 3)}], HF_SEG) == ([], [])


@pytest.mark.parametrize("value", ["bm90IGFuIGltYWdl", "!!!", b64(jpeg(8, 8))])
def test_mask_image_rejects_non_png(value):
    assert set(run("mask-image", [{"label": "a", "mask": value}], HF_SEG)[0]) == {("$[0].mask", "mask-image")}


def test_mask_image_rejects_rgb_png():
    rgb = b64(png(np.zeros((3, 4, 3), dtype=np.uint8)))
    assert run("mask-image", [{"mask": mask(4, 3)}, {"mask": rgb}], HF_SEG)[0] == [("$[1].mask", "mask-image")]


def test_mask_binary():
    assert run("mask-binary", [{"mask": mask(4, 3, (0, 255))}], HF_SEG)[0] == []
    assert run("mask-binary", [{"mask": mask(4, 3, (0, 128))}], HF_SEG)[0] == [("$[0].mask", "mask-binary")]


@pytest.mark.parametrize("width", [1, 3, 8, 9, 17])
@pytest.mark.parametrize("bad", [1, 127, 128, 254])
def test_mask_binary_finds_one_grey_pixel_anywhere(width, bad):
    for position in range(width * 2):
        arr = np.full((2, width), 255, dtype=np.uint8)
        arr.flat[position] = bad
        found = run("mask-binary", [{"mask": b64(png(arr))}], HF_SEG)[0]
        assert found == [("$[0].mask", "mask-binary")], (width, bad, position)
    assert run("mask-binary", [{"mask": b64(png(np.zeros((2, width), dtype=np.uint8)))}], HF_SEG)[0] == []


def test_mask_classes_in_map_with_a_gap_in_the_class_ids():
    arr = np.array([[0, 2, 2, 0]], dtype=np.uint8)
    body = {"segmentation_mask": b64(png(arr)), "class_map": {"0": "bg", "2": "obj"}, "image": {"width": 4, "height": 1}}
    assert run("mask-classes-in-map", body, RF)[0] == []
    arr[0, 1] = 1
    body["segmentation_mask"] = b64(png(arr))
    assert run("mask-classes-in-map", body, RF)[0] == [("$.segmentation_mask", "mask-classes-in-map")]


def test_mask_size_needs_the_request_image():
    body = [{"mask": mask(4, 3)}]
    assert run("mask-size", body, HF_SEG) == ([], ["mask-size"])
    assert run("mask-size", body, HF_SEG, image=image(4, 3)) == ([], [])
    assert run("mask-size", body, HF_SEG, image=image(3, 4))[0] == [("$[0].mask", "mask-size")]


def test_mask_classes_in_map():
    body = {"segmentation_mask": mask(4, 3, (0, 1)), "class_map": {"0": "bg", "1": "obj"}, "image": {"width": 4, "height": 3}}
    assert run("mask-classes-in-map", body, RF)[0] == []
    body["class_map"] = {"0": "bg"}
    assert run("mask-classes-in-map", body, RF)[0] == [("$.segmentation_mask", "mask-classes-in-map")]


def test_roboflow_image_size():
    body = {"segmentation_mask": mask(4, 3), "class_map": {"0": "bg"}, "image": {"width": 4, "height": 3}}
    assert run("roboflow-image-size", body, RF) == ([], ["roboflow-image-size"])
    assert run("roboflow-image-size", body, RF, image=image(4, 3)) == ([], [])
    assert run("roboflow-image-size", body, RF, image=image(5, 3))[0] == [("$.image", "roboflow-image-size")]


def test_roboflow_mask_matches_image():
    body = {"segmentation_mask": mask(4, 3), "class_map": {"0": "bg"}, "image": {"width": 4, "height": 3}}
    assert run("roboflow-mask-matches-image", body, RF)[0] == []
    body["image"] = {"width": 8, "height": 6}
    assert run("roboflow-mask-matches-image", body, RF)[0] == [("$.segmentation_mask", "roboflow-mask-matches-image")]


def box(xmin, ymin, xmax, ymax):
    return {"label": "cat", "score": 0.9, "box": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}}


def test_box_order():
    assert run("box-order", [box(0, 0, 5, 5)], HF_DET)[0] == []
    assert run("box-order", [box(0, 0, 5, 5), box(6, 0, 5, 5)], HF_DET)[0] == [("$[1].box.xmin", "box-order")]
    assert run("box-order", [box(0, 7, 5, 5)], HF_DET)[0] == [("$[0].box.ymin", "box-order")]


def test_box_inside_image():
    assert run("box-inside-image", [box(0, 0, 5, 5)], HF_DET) == ([], ["box-inside-image"])
    assert run("box-inside-image", [box(0, 0, 10, 8)], HF_DET, image=image(10, 8)) == ([], [])
    assert run("box-inside-image", [box(0, 0, 11, 8)], HF_DET, image=image(10, 8))[0] == [("$[0].box.xmax", "box-inside-image")]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_score_finite(bad):
    assert run("score-finite", [box(0, 0, 1, 1)], HF_DET)[0] == []
    body = [box(0, 0, 1, 1), {**box(0, 0, 1, 1), "score": bad}]
    assert run("score-finite", body, HF_DET)[0] == [("$[1].score", "score-finite")]


def test_score_threshold_uses_the_request_parameter():
    body = [{**box(0, 0, 1, 1), "score": 0.4}]
    assert run("score-threshold", body, HF_DET, threshold_parameter="threshold")[0] == []
    assert run("score-threshold", body, HF_DET, threshold_parameter="threshold", params={"threshold": 0.3})[0] == []
    assert run("score-threshold", body, HF_DET, threshold_parameter="threshold", params={"threshold": 0.5})[0] == [("$[0].score", "score-threshold")]


def test_created_plausible():
    assert run("created-plausible", {"created": 1760000000, "data": []}, AIR)[0] == []
    for bad in (0, 1760000000000, 10**12):
        assert run("created-plausible", {"created": bad, "data": []}, AIR)[0] == [("$.created", "created-plausible")]


def test_usage_consistent():
    ok = {"input_tokens": 3, "input_tokens_details": {"image_tokens": 3}, "output_tokens": 2, "total_tokens": 5}
    assert run("usage-consistent", {"created": 1, "data": [], "usage": ok}, AIR)[0] == []
    assert run("usage-consistent", {"created": 1, "data": [], "usage": None}, AIR)[0] == []
    bad = {**ok, "total_tokens": 6}
    assert run("usage-consistent", {"created": 1, "data": [], "usage": bad}, AIR)[0] == [("$.usage.total_tokens", "usage-consistent")]
    bad = {**ok, "input_tokens_details": {"image_tokens": 9}}
    assert run("usage-consistent", {"created": 1, "data": [], "usage": bad}, AIR)[0] == [("$.usage.input_tokens_details", "usage-consistent")]


def test_request_image_check_through_the_contract():
    c = contracts.get("huggingface", "image-segmentation")
    assert c.validate_request({"inputs": b64(jpeg(8, 8))}) == []
    report = c.validate_request({"inputs": b64(b"not an image at all")})
    assert [(v.path, v.check) for v in report] == [("$.body.inputs", "request-image")]
    assert "in no image format Pillow reads" in report[0].message and "0x" not in report[0].message


def test_prompt_points_check_through_the_contract():
    c = contracts.get("airefinery", "image-segmentation")
    body = {"model": "m", "image_prompt": b64(jpeg(20, 10)), "segment_prompt": [[[5, 5], [25, 5]]]}
    report = c.validate_request({"form": "json", "headers": {"authorization": "Bearer k"}, "body": body})
    assert [(v.path, v.check) for v in report] == [("$.body.segment_prompt[0][1]", "prompt-points-inside-image")]


def test_threshold_from_request_body_reaches_the_check():
    c = contracts.get("huggingface", "object-detection")
    img = jpeg(10, 10)
    report = c.validate_response([{**box(0, 0, 1, 1), "score": 0.4}], request={"inputs": b64(img), "parameters": {"threshold": 0.5}})
    assert [(v.path, v.check) for v in report] == [("$[0].score", "score-threshold")]


def test_skipped_checks_are_reported_without_request():
    c = contracts.get("huggingface", "image-segmentation")
    report = c.validate_response([{"label": "a", "mask": mask(4, 3), "score": 0.5}])
    assert report == [] and [s.check for s in report.skipped] == ["mask-size"]
    assert all(isinstance(s, Skip) and s.reason for s in report.skipped)

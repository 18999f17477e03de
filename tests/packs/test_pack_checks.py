"""The role checks on good and broken answers of the example and test packs: every violation names its JSON path."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from vision_contracts.contracts import ContractViolation, Request, Skip
from vision_contracts.contracts import geometry as g


def checks(report):
    return sorted((v.path, v.check) for v in report.errors)


def png_mask(pixels) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --- the normalised-box, compressed-RLE example ------------------------------------------------------------

def instance(box, mask, score=0.9):
    return {"bbox": box, "segmentation": {"size": list(mask.shape), "counts": g.rle_counts_to_string(g.rle_encode(mask))},
            "score": score, "category": "car"}


@pytest.fixture
def instances(cat):
    return cat.get("example-instances", "instance-segmentation")


def square(h=40, w=60):
    mask = np.zeros((h, w), dtype=bool)
    mask[10:30, 6:30] = True
    return mask


def test_a_good_instance_answer_passes(instances, png_b64):
    body = {"width": 60, "height": 40, "instances": [instance([0.1, 0.25, 0.5, 0.75], square())]}
    report = instances.validate_response(body, request={"image": png_b64(60, 40)})
    assert report.ok and not report.skipped


def test_a_box_outside_the_image_in_normalised_units(instances, png_b64):
    body = {"width": 60, "height": 40, "instances": [instance([0.1, 0.25, 1.2, 0.75], square())]}
    report = instances.validate_response(body, request={"image": png_b64(60, 40)})
    assert checks(report) == [("$.instances[0].bbox[2]", "role-box-inside-image")]
    assert report.errors[0].message == ("$.instances[0].bbox[2]: The box (xyxy, normalized) leaves the image: its corner x1 is 1.2, "
                                        "expected within [0, 1].")
    without_request = instances.validate_response(body)
    assert [v.check for v in without_request.errors] == ["role-box-inside-image"]  # normalised: no image needed


def test_rle_counts_mask_size_echo_threshold_and_max_results(instances, png_b64):
    wrong_size = instance([0.1, 0.1, 0.4, 0.4], square(40, 50))
    bad_counts = instance([0.1, 0.1, 0.4, 0.4], square())
    bad_counts["segmentation"]["counts"] = g.rle_counts_to_string([100, 20, 3])
    low = instance([0.5, 0.1, 0.4, 0.4], square(), score=0.2)  # inverted and below min_score
    body = {"width": 61, "height": 40, "instances": [wrong_size, bad_counts, low]}
    request = {"image": png_b64(60, 40), "min_score": 0.5, "max_instances": 2}
    assert checks(instances.validate_response(body, request=request)) == [
        ("$.instances", "role-max-results"),
        ("$.instances[0].segmentation.size", "role-mask-size"),
        ("$.instances[1].segmentation.counts", "role-rle-counts"),
        ("$.instances[2].bbox[0]", "role-box-order"),
        ("$.instances[2].score", "role-score-threshold"),
        ("$.width", "role-image-size-echo"),
    ]


def test_checks_that_need_the_request_image_are_skipped_without_it(instances):
    body = {"width": 60, "height": 40, "instances": [instance([0.1, 0.25, 0.5, 0.75], square())]}
    report = instances.validate_response(body)
    assert report.ok
    assert [s.check for s in report.skipped] == ["role-image-size-echo"]  # mask size falls back to the echoed size


def test_assert_response_raises_with_the_paths(instances):
    body = {"width": 60, "height": 40, "instances": [instance([0.1, 0.25, 1.5, 0.75], square())]}
    with pytest.raises(ContractViolation, match=r"\$\.instances\[0\]\.bbox\[2\]"):
        instances.assert_response(body)


# --- Roboflow's hosted detection (centre boxes in pixels, threshold on 0-100 in the query) ---------------------

def test_roboflow_detect_threshold_scale_and_echo(cat, png_b64):
    contract = cat.get("roboflow-detect", "object-detection")
    image = png_b64(64, 48)
    request = contract.parse_request(image.encode(), content_type="application/x-www-form-urlencoded",
                                     query={"api_key": "k", "confidence": "50"}, path={"dataset": "d", "version": "3"})
    assert contract.validate_request(request).ok
    good = {"time": 0.2, "image": {"width": 64, "height": 48}, "predictions": [
        {"x": 32, "y": 24, "width": 64, "height": 48, "confidence": 0.5, "class": "car", "class_id": 1, "detection_id": "d1"}]}
    assert contract.validate_response(good, request=request).ok
    bad = {"time": 0.2, "image": {"width": 64, "height": 48}, "predictions": [
        {"x": 60, "y": 24, "width": 10, "height": 4, "confidence": 0.49, "class": "car", "class_id": 1, "detection_id": "d1"}]}
    report = contract.validate_response(bad, request=request)
    assert checks(report) == [("$.predictions[0]", "role-box-inside-image"), ("$.predictions[0].confidence", "role-score-threshold")]
    assert "its corner x1 is 65, expected within [0, 64] (the request image is 64x48)" in report.errors[0].message
    assert "below the threshold 50 (on a scale of 100)" in report.errors[1].message


# --- xywh boxes, polygon objects, percent scores, multipart ----------------------------------------------------

def test_polygons_and_xywh_boxes(cat, png_b64):
    contract = cat.get("polygon-works-vision-api", "instances")
    request = Request(form="multipart", body={"file": png_b64(100, 50)}, query={"min_confidence": 60})
    assert contract.validate_request(request).ok
    good = {"objects": [{"rect": {"left": 10, "top": 5, "w": 90, "h": 45}, "outline": [{"x": 10, "y": 5}, {"x": 100, "y": 50}, {"x": 10, "y": 50}],
                         "confidence": 75, "kind": "leaf"}]}
    assert contract.validate_response(good, request=request).ok
    bad = {"objects": [{"rect": {"left": 10, "top": 5, "w": -3, "h": 46}, "outline": [{"x": 10, "y": 5}, {"x": 101, "y": 20}, {"x": 10, "y": 50}],
                        "confidence": 101, "kind": "leaf"}]}
    report = contract.validate_response(bad, request=request)
    assert checks(report) == [
        ("$.objects[0].confidence", "role-score-range"), ("$.objects[0].outline[1]", "role-polygon-inside-image"),
        ("$.objects[0].rect", "role-box-inside-image"), ("$.objects[0].rect.w", "role-box-order"),
    ]
    low = {"objects": [dict(good["objects"][0], confidence=59.5)]}
    assert checks(contract.validate_response(low, request=request)) == [("$.objects[0].confidence", "role-score-threshold")]
    skipped = contract.validate_response(good).skipped
    assert {s.check for s in skipped} == {"role-box-inside-image", "role-polygon-inside-image"}
    assert all(isinstance(s, Skip) for s in skipped)


# --- class map + class names ---------------------------------------------------------------------------------

def test_class_map_values_and_size(cat, png_b64):
    contract = cat.get("terrain", "terrain-map")
    image = base64.b64decode(png_b64(8, 6))
    pixels = np.zeros((6, 8))
    pixels[:3] = 2
    good = {"map": png_mask(pixels), "classes": {"0": "sky", "2": "land"}, "w": 8, "h": 6}
    assert contract.validate_response(good, request=image).ok
    pixels[5, 6] = 7
    bad = {"map": png_mask(pixels[:, :7]), "classes": {"0": "sky", "2": "land"}, "w": 8, "h": 6}
    report = contract.validate_response(bad, request=image)
    assert checks(report) == [("$.map", "role-class-map-size"), ("$.map", "role-class-map-values")]
    assert "holds [7], which class-names lacks" in report.errors[1].message


# --- classification: bare array, percent scores, top_k -------------------------------------------------------

def test_classification_max_results_and_scale(cat, png_b64):
    contract = cat.get("tagger-9000", "tags")
    request = Request(form="raw", body=png_b64(10, 10), query={"top_k": 2})
    good = [{"name": "cat", "probability": 80.5}, {"name": "dog", "probability": 19.5}]
    assert contract.validate_response(good, request=request).ok
    bad = [*good, {"name": "bird", "probability": 100.5}]
    assert checks(contract.validate_response(bad, request=request)) == [("$", "role-max-results"), ("$[2].probability", "role-score-range")]


# --- plain RLE counts, pixel boxes as arrays ---------------------------------------------------------------------

def test_plain_rle_counts(cat):
    contract = cat.get("remote-masks", "masks")
    mask = square(20, 30)
    good = {"results": [{"box": [6, 10, 30, 20], "rle": {"size": [20, 30], "counts": g.rle_encode(mask)}}]}
    report = contract.validate_response(good, request={"url": "https://images.example/a.png"})
    assert report.ok
    assert {s.check for s in report.skipped} == {"role-box-inside-image", "role-mask-size"}
    assert all(s.reason == "the request carries its image as a URL" for s in report.skipped)
    bad = {"results": [{"box": [6, 10, 30, 20], "rle": {"size": [20, 30], "counts": [*g.rle_encode(mask), 5]}}]}
    report = contract.validate_response(bad)
    assert checks(report) == [("$.results[0].rle.counts", "role-rle-counts")]
    assert report.errors[0].message.endswith("The run-length counts add up to 605, but the mask's size [20, 30] has 600 pixels.")

"""The command line with packs: validate --pack, pack lint, check and diff with --pack; exit codes 0, 1 and 2.
And assert_conforms on a pack operation."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from vision_contracts import contracts
from vision_contracts.contracts import Interaction, write_har
from vision_contracts.contracts import geometry as g
from vision_contracts.contracts._cli import main
from vision_contracts.plugin import assert_conforms

from conftest import EXAMPLES, TEST_PACKS

INSTANCES = str(EXAMPLES / "instance-segmentation-rle.yaml")


def png(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def answer(box, mask, score=0.9):
    return {"width": mask.shape[1], "height": mask.shape[0], "instances": [{
        "bbox": box, "segmentation": {"size": list(mask.shape), "counts": g.rle_counts_to_string(g.rle_encode(mask))},
        "score": score, "category": "car"}]}


def blob(h=40, w=60, x0=6, x1=30):
    mask = np.zeros((h, w), dtype=bool)
    mask[10:30, x0:x1] = True
    return mask


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_pack_good_and_broken(tmp_path, capsys, fresh_catalog):
    image = tmp_path / "image.png"
    image.write_bytes(png(60, 40))
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(answer([0.1, 0.25, 0.5, 0.75], blob())))
    bad.write_text(json.dumps(answer([0.1, 0.25, 1.25, 0.75], blob())))
    code, out, _ = run(capsys, "validate", "--pack", INSTANCES, "example-instances", "instance-segmentation", str(good), "--image", str(image))
    assert code == 0 and "valid" in out
    code, out, _ = run(capsys, "validate", "--pack", INSTANCES, "example-instances", "instance-segmentation", str(bad), "--image", str(image))
    assert code == 1
    assert "$.instances[0].bbox[2]" in out and "role-box-inside-image" in out
    assert "The box (xyxy, normalized) leaves the image: its corner x1 is 1.25, expected within [0, 1]." in out


def test_validate_pack_usage_errors(tmp_path, capsys, fresh_catalog):
    bad_pack = tmp_path / "bad.yaml"
    bad_pack.write_text("openapi: '3.1.0'\ninfo: {title: t, version: '1'}\npaths: {}\n")
    code, _, err = run(capsys, "validate", "--pack", str(bad_pack), "t", "x", "-")
    assert code == 2 and err.startswith(f"vision-contracts: error: --pack: {bad_pack}: $.paths: expected at least one operation")
    code, _, err = run(capsys, "validate", "example-instances", "instance-segmentation", "-")
    assert code == 2 and "expected a provider among" in err  # without --pack the pack's operations are unknown


def test_pack_lint_exit_codes(tmp_path, capsys):
    code, out, _ = run(capsys, "pack", "lint", str(TEST_PACKS / "classmap-semantic.json"))
    assert code == 0 and out.strip().endswith("classmap-semantic.json: clean.")
    broken = tmp_path / "broken.yaml"
    broken.write_text((TEST_PACKS / "xywh-polygons-multipart.yaml").read_text()
                      .replace("x-vision: image", "x-vision: imag").replace("keys: [left, top, w, h]", "keys: [left, top, w]")
                      .replace("task: instance-segmentation", "task: instance-segmentations"))
    code, out, _ = run(capsys, "pack", "lint", str(broken))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == f"{broken}: 4 findings."
    assert any("unknown role 'imag'" in line and "Did you mean 'image'?" in line for line in lines)
    assert any("the operation has no 'image' role" in line for line in lines)
    assert any("a box's 'keys' must be 4 property names" in line for line in lines)
    code, out, _ = run(capsys, "pack", "lint", str(broken), "--format", "json")
    assert code == 1 and len(json.loads(out)["findings"]) == 4
    code, _, err = run(capsys, "pack", "lint", str(tmp_path / "missing.yaml"))
    assert code == 2 and "the pack cannot be read" in err


def interaction(body, image_bytes, started=0.0):
    request = json.dumps({"image": base64.b64encode(image_bytes).decode()}).encode()
    return Interaction("POST", "http://127.0.0.1:8000/segment", (("content-type", "application/json"),), request, 200,
                       (("content-type", "application/json"),), json.dumps(body).encode(), started=started)


def test_check_and_diff_with_pack(tmp_path, capsys, fresh_catalog):
    image = png(60, 40)
    write_har(tmp_path / "a" / "a.har", [interaction(answer([0.1, 0.25, 0.5, 0.75], blob()), image)])
    write_har(tmp_path / "b" / "b.har", [interaction(answer([0.1, 0.25, 0.5, 0.75], blob(x0=6, x1=31)), image)])
    write_har(tmp_path / "c" / "c.har", [interaction(answer([0.3, 0.25, 0.9, 0.75], blob(x0=20, x1=50)), image)])
    write_har(tmp_path / "bad" / "bad.har", [interaction(answer([0.1, 0.25, 1.5, 0.75], blob()), image)])
    code, out, _ = run(capsys, "check", "--pack", INSTANCES, str(tmp_path / "a"))
    assert code == 0 and "1 valid, 0 invalid" in out
    code, out, _ = run(capsys, "check", "--pack", INSTANCES, str(tmp_path / "bad"))
    assert code == 1 and "$.instances[0].bbox[2] [role-box-inside-image, error]" in out
    code, out, _ = run(capsys, "diff", "--pack", INSTANCES, str(tmp_path / "a"), str(tmp_path / "b"))
    assert code == 0, out  # one column more: box unchanged, mask IoU 480/500 = 0.96
    code, out, _ = run(capsys, "diff", "--pack", INSTANCES, str(tmp_path / "a"), str(tmp_path / "c"))
    assert code == 1
    assert "box IoU" in out and "segment IoU" in out


def test_role_objects_are_in_pixels_whatever_the_convention():
    from vision_contracts.contracts._drift import role_objects
    normalised = contracts.Catalog()
    pack = contracts.load_pack(INSTANCES, into=normalised)
    roles = pack.contracts["instance-segmentation"].index["roles"]
    things = role_objects(roles, answer([0.1, 0.25, 0.5, 0.75], blob()), None)
    box, segment = things
    assert box.box == pytest.approx((6, 10, 30, 30)) and box.label == "car" and box.score == 0.9
    assert segment.mask.shape == (40, 60) and int(segment.mask.sum()) == 20 * 24


def test_assert_conforms_on_a_pack_operation(fresh_catalog):
    contracts.load_pack(INSTANCES)
    request = {"image": base64.b64encode(png(60, 40)).decode()}
    report = assert_conforms(answer([0.1, 0.25, 0.5, 0.75], blob()), "example-instances", "instance-segmentation", request=request)
    assert report.ok
    with pytest.raises(AssertionError, match=r"\$\.instances\[0\]\.bbox\[2\]"):
        assert_conforms(answer([0.1, 0.25, 1.5, 0.75], blob()), "example-instances", "instance-segmentation", request=request)


@pytest.mark.parametrize(("pack", "provider", "method"), [
    (INSTANCES, "example-instances", "post"), (str(TEST_PACKS / "classmap-semantic.json"), "terrain", "put"),
    (str(TEST_PACKS / "classify-raw.yaml"), "tagger-9000", "post"),  # no security scheme declared
])
def test_openapi_prints_a_pack_as_a_valid_document(capsys, fresh_catalog, pack, provider, method):
    from openapi_spec_validator import validate
    code, out, _ = run(capsys, "openapi", "--pack", pack, provider)
    assert code == 0
    document = json.loads(out)
    validate(document)
    assert [list(item) for item in document["paths"].values()] == [[method]]


def test_judge_and_replay_keys_for_pack_requests(fresh_catalog):
    from vision_contracts.contracts import judge
    contracts.load_pack(EXAMPLES / "roboflow-detect.yaml")
    contracts.load_pack(TEST_PACKS / "classmap-semantic.json")
    image = png(64, 48)
    detect = Interaction(
        "POST", "http://127.0.0.1:8000/cars/2?api_key=s3cret&confidence=40", (("content-type", "application/x-www-form-urlencoded"),),
        base64.b64encode(image), 200, (("content-type", "application/json"),),
        json.dumps({"image": {"width": 64, "height": 48}, "predictions": [
            {"x": 60, "y": 10, "width": 20, "height": 10, "confidence": 0.3, "class": "car", "class_id": 0, "detection_id": "a"}]}).encode())
    verdict = judge(detect)
    assert (verdict.provider, verdict.operation, dict(verdict.path_params)) == ("roboflow-detect", "object-detection", {"dataset": "cars", "version": "2"})
    assert verdict.image is not None and (verdict.image.width, verdict.image.height) == (64, 48)
    assert verdict.checks == ["role-box-inside-image", "role-score-threshold"]
    assert "s3cret" not in json.dumps(verdict.vision("/cars/2"))
    same_pixels = Interaction("POST", "http://127.0.0.1:8000/cars/2?api_key=other&confidence=40", detect.request_headers,
                              base64.b64encode(image), 200, detect.response_headers, detect.response_body)
    assert judge(same_pixels).key == verdict.key  # the credential is not part of the replay key
    terrain = Interaction("PUT", "http://127.0.0.1:8000/segment/m1", (("content-type", "image/png"),), image, 422,
                          (("content-type", "application/json"),), b'{"detail": "no"}')
    verdict = judge(terrain)
    assert (verdict.provider, verdict.operation, verdict.valid) == ("terrain", "terrain-map", True)


def test_role_objects_of_polygons_percent_scores_and_class_maps(cat):
    from vision_contracts.contracts._drift import role_objects
    polygons = cat.get("polygon-works-vision-api", "instances").index["roles"]
    body = {"objects": [{"rect": {"left": 2, "top": 1, "w": 4, "h": 3},
                         "outline": [{"x": 2, "y": 1}, {"x": 6, "y": 1}, {"x": 6, "y": 4}, {"x": 2, "y": 4}], "confidence": 80, "kind": "leaf"}]}
    box, segment = role_objects(polygons, body, (10, 8))
    assert box.box == (2, 1, 6, 4) and box.score == pytest.approx(0.8)
    assert segment.mask.shape == (8, 10) and segment.mask[2, 3] and not segment.mask[6, 8]
    assert role_objects(polygons, body, None)[1:] == []  # a polygon needs the image's size to be rasterised
    terrain = cat.get("terrain", "terrain-map").index["roles"]
    pixels = np.zeros((4, 6), dtype=np.uint8)
    pixels[2:] = 3
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    body = {"map": base64.b64encode(buffer.getvalue()).decode(), "classes": {"0": "sky", "3": "land"}, "w": 6, "h": 4}
    segments = role_objects(terrain, body, None)
    assert [(s.label, int(s.mask.sum())) for s in segments] == [("sky", 12), ("land", 12)]

"""`vision-contracts check` and `vision-contracts diff` on recordings: clean, schema-drifted and model-drifted."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import pytest

from vision_contracts.contracts import Interaction, judge, write_har
from vision_contracts.contracts._cli import main
from vision_contracts.mockserver import _generate
from vision_contracts.mockserver.testing import sample_image

PNG = sample_image(96, 64)
COMMON = {"work": 128, "colours": 6, "max_pixels": 10**8}


def _answers(seed: int) -> dict[str, tuple[str, object]]:
    return {
        "facebook/detr-resnet-50": ("object-detection", _generate.hf_object_detection(
            PNG, {}, seed=seed, thing_labels=["cat", "dog", "car", "person"], **COMMON)),
        "openmmlab/upernet-convnext-small": ("image-segmentation", _generate.hf_image_segmentation(
            PNG, {}, seed=seed, default_subtask="semantic", thing_labels=["cat", "dog"], stuff_labels=["sky", "grass", "wall"], **COMMON)),
    }


def _record(folder, seed: int, break_boxes: bool = False):
    for model, (task, body) in _answers(seed).items():
        if break_boxes and task == "object-detection":
            box = body[0]["box"]
            box["xmin"], box["xmax"] = box["xmax"] + 1, box["xmin"]
        item = Interaction("POST", f"http://127.0.0.1:1/models/{model}", (("content-type", "image/png"),), PNG, 200,
                           (("content-type", "application/json"),), json.dumps(body).encode())
        vision = judge(item).vision(item.path)
        if break_boxes:
            vision["verdict"] = {"valid": True, "checks": [], "violations": []}  # recorded under an older contract
        write_har(folder / f"{task}.har", [dataclasses.replace(item, vision=vision)])
    return folder


@pytest.fixture
def recordings(tmp_path):
    return {name: _record(tmp_path / name, seed, broken) for name, seed, broken in
            (("clean", 0, False), ("again", 0, False), ("reseeded", 5, False), ("broken", 0, True))}


def test_check_a_clean_recording(recordings, capsys):
    assert main(["check", str(recordings["clean"])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "2 entries: 2 valid, 0 invalid, 0 warnings."
    assert all("  valid  " in line for line in out[:-1])


def test_check_a_drifted_recording_names_path_and_check(recordings, capsys, tmp_path):
    assert main(["check", str(recordings["broken"])]) == 1
    out = capsys.readouterr().out
    assert "invalid (drift: recorded as valid)" in out
    assert "response $[0].box.xmin [box-order, error]" in out
    assert out.splitlines()[-1].startswith("2 entries: 1 valid, 1 invalid (1 recorded as valid: drift)")
    junit = tmp_path / "check.xml"
    assert main(["check", str(recordings["broken"]), "--format", "junit", "--output", str(junit)]) == 1
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    assert "box-order" in suite.find("testcase/failure").text
    assert main(["check", str(recordings["broken"]), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [e["valid"] for e in document["entries"]] == [True, False]


def test_check_usage_errors_are_sentences(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nowhere")]) == 2
    assert "expected a HAR file or a folder of them" in capsys.readouterr().err
    (tmp_path / "bad.har").write_text("{not json")
    assert main(["check", str(tmp_path / "bad.har")]) == 2
    assert "does not parse" in capsys.readouterr().err


def test_diff_same_requests_same_answers(recordings, capsys):
    assert main(["diff", str(recordings["clean"]), str(recordings["again"])]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 pairs compared: 0 changed beyond the tolerances."


def test_diff_sees_the_model_change_although_both_meet_the_contract(recordings, capsys):
    assert main(["check", str(recordings["reseeded"])]) == 0
    capsys.readouterr()
    assert main(["diff", str(recordings["clean"]), str(recordings["reseeded"])]) == 1
    out = capsys.readouterr().out
    assert "changed" in out and "labels: A has" in out
    assert out.splitlines()[-1] == "2 pairs compared: 2 changed beyond the tolerances."


def test_diff_tolerances(recordings, capsys):
    assert main(["diff", str(recordings["clean"]), str(recordings["broken"]), "--min-iou", "0"]) == 1  # a box moved
    assert main(["diff", str(recordings["clean"]), str(recordings["broken"]), "--min-iou", "1.5"]) == 2
    assert "expected --min-iou between 0 and 1" in capsys.readouterr().err


def test_diff_pairs_by_request_and_reports_the_unpaired(recordings, tmp_path, capsys):
    (recordings["again"] / "object-detection.har").unlink()
    assert main(["diff", str(recordings["clean"]), str(recordings["again"]), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["same"] is False
    assert any("recorded in A" in d for e in document["entries"] for d in e["differences"])

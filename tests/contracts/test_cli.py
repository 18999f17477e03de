"""The ``vision-contracts`` command (and ``python -m vision_contracts.contracts``), run as a user runs it: list,
openapi and validate, their exit statuses (0 valid, 1 an error, 2 usage) and what they print."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Severity, Violation

from imaging import b64, jpeg, png

SCRIPT = Path(sys.executable).with_name("vision-contracts")
COMMANDS = {
    "script": [str(SCRIPT)],
    "module": [sys.executable, "-m", "vision_contracts.contracts"],
}
INVERTED = [{"label": "cat", "score": 0.9, "box": {"xmin": 50, "ymin": 0, "xmax": 10, "ymax": 5}}]
GOOD_BOX = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 0, "xmax": 10, "ymax": 5}}]


def run(*args: str, via: str = "script", stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMANDS[via], *args], input=stdin, capture_output=True, text=True, timeout=60, check=False)


def write_json(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def write_png(path: Path, width: int, height: int) -> str:
    path.write_bytes(png(np.full((height, width, 3), 120, dtype=np.uint8)))
    return str(path)


def roboflow_documented_response() -> Any:
    """Roboflow's own documented response (seed 003): a 512x512 mask for a 1232x821 image."""
    doc = json.loads(resources.files("vision_contracts.contracts").joinpath("examples/roboflow-semantic-segmentation.json").read_text())
    return next(e for e in doc["examples"] if e["name"] == "response-example-tolerated")["body"]


# --- the printing bug: each violation names its path once ---------------------------------------------------

def test_str_of_a_violation_prints_its_path_once():
    (violation,) = contracts.get("huggingface", "object-detection").validate_response(INVERTED).errors
    assert str(violation) == "$[0].box.xmin: The box is inverted: xmin 50 is greater than xmax 10. [box-order, error]"
    assert violation.message.startswith("$[0].box.xmin: ")  # the message stays a whole sentence for error bodies
    schema = contracts.get("huggingface", "object-detection").validate_response([{"label": "cat", "score": 1.5}])
    assert all(str(v).count(v.path + ":") == 1 for v in schema)
    assert all(schema.render("t").count(f"- {v.path} ") == 1 and f"]: {v.path}:" not in schema.render("t") for v in schema)


def test_a_message_without_its_path_gets_it_once():
    v = Violation("$.body", "wire-format", "a JSON document", "3 bytes", "The body is not valid JSON.", Severity.WARNING)
    assert str(v) == "$.body: The body is not valid JSON. [wire-format, warning]"
    assert v.detail == v.message


# --- list and openapi ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", sorted(COMMANDS))
def test_list_prints_every_operation(via):
    result = run("list", via=via)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{p} {o}" for p, o in contracts.operations()]


def test_list_as_json_names_checks_and_leniencies():
    result = run("list", "--format", "json")
    assert result.returncode == 0, result.stderr
    listed = {(e["provider"], e["operation"]): e for e in json.loads(result.stdout)}
    assert set(listed) == set(contracts.operations())
    roboflow = listed["roboflow", "semantic-segmentation"]
    assert "downscaled-mask" in roboflow["leniencies"] and "mask-size" in roboflow["checks"]
    assert listed["huggingface", "image-segmentation"]["error_statuses"][0] >= 400


@pytest.mark.parametrize("via", sorted(COMMANDS))
def test_openapi_prints_a_document_with_paths(via):
    result = run("openapi", "huggingface", "--operation", "object-detection", via=via)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["openapi"].startswith("3.1")
    assert any(path.startswith("/models/") for path in document["paths"])


# --- validate: responses ------------------------------------------------------------------------------------

@pytest.mark.parametrize("via", sorted(COMMANDS))
def test_a_valid_response_exits_0(tmp_path, via):
    result = run("validate", "huggingface", "object-detection", write_json(tmp_path / "r.json", GOOD_BOX), via=via)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "conforms to its contract" in result.stdout
    assert "skipped box-inside-image" in result.stdout  # no image was given: said, not hidden


def test_an_inverted_box_exits_1_with_path_check_expected_received(tmp_path):
    result = run("validate", "huggingface", "object-detection", write_json(tmp_path / "r.json", INVERTED))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "$[0].box.xmin: The box is inverted: xmin 50 is greater than xmax 10. [box-order, error]" in lines
    assert "    expected: xmin <= xmax (10)" in lines and "    received: 50" in lines
    assert result.stdout.count("$[0].box.xmin") == 1
    assert "breaks its contract: 1 error, 0 warnings" in lines[0]


def test_schema_violations_are_reported_too(tmp_path):
    body = [{"label": "cat", "score": 1.5, "box": {"xmin": 1, "ymin": 0, "xmax": 10, "ymax": 5}}]
    result = run("validate", "huggingface", "object-detection", write_json(tmp_path / "r.json", body))
    assert result.returncode == 1
    assert "$[0].score: expected a number <= 1, received 1.5. [schema:maximum, error]" in result.stdout


def test_image_enables_the_box_inside_image_check(tmp_path):
    body = [{"label": "cat", "score": 0.9, "box": {"xmin": 1, "ymin": 2, "xmax": 300, "ymax": 5}}]
    file = write_json(tmp_path / "r.json", body)
    without = run("validate", "huggingface", "object-detection", file)
    assert without.returncode == 0 and "skipped box-inside-image" in without.stdout
    image = write_png(tmp_path / "cats.png", 100, 80)
    result = run("validate", "huggingface", "object-detection", file, "--image", image)
    assert result.returncode == 1
    assert "$[0].box.xmax: The box leaves the 100x80 request image: xmax is 300." in result.stdout
    assert "[box-inside-image, error]" in result.stdout and "skipped" not in result.stdout


def test_image_enables_the_mask_size_check(tmp_path):
    body = [{"label": "sky", "score": 0.9, "mask": b64(png(np.zeros((8, 8), dtype=np.uint8)))}]
    image = tmp_path / "scene.jpg"
    image.write_bytes(jpeg(64, 48))
    result = run("validate", "huggingface", "image-segmentation", write_json(tmp_path / "r.json", body), "--image", str(image))
    assert result.returncode == 1
    assert "[mask-size, error]" in result.stdout and "received: 8x8" in result.stdout and "64x48" in result.stdout


def test_request_gives_the_threshold_to_score_threshold(tmp_path):
    request = write_json(tmp_path / "q.json", {"inputs": b64(jpeg(32, 32)), "parameters": {"threshold": 0.5}})
    body = [{"label": "cat", "score": 0.3, "box": {"xmin": 1, "ymin": 0, "xmax": 10, "ymax": 5}}]
    result = run("validate", "huggingface", "object-detection", write_json(tmp_path / "r.json", body), "--request", request)
    assert result.returncode == 1
    assert "$[0].score: The score 0.3 is below the threshold 0.5 that the request set. [score-threshold, error]" in result.stdout


def test_stdin_is_read_for_dash():
    result = run("validate", "huggingface", "object-detection", "-", stdin=json.dumps(INVERTED))
    assert result.returncode == 1
    assert result.stdout.startswith("standard input: the huggingface object-detection response breaks its contract")


def test_error_bodies_are_validated_for_their_status(tmp_path):
    file = write_json(tmp_path / "e.json", {"error": "Model x/y is currently loading", "estimated_time": 20.0})
    assert run("validate", "huggingface", "object-detection", file, "--status", "503").returncode == 0
    as_success = run("validate", "huggingface", "object-detection", file)
    assert as_success.returncode == 1 and "$: expected a value of type array" in as_success.stdout


# --- validate: warnings, JSON output -------------------------------------------------------------------------

def test_warnings_only_exit_0_but_are_printed(tmp_path):
    file = write_json(tmp_path / "rf.json", roboflow_documented_response())
    image = write_png(tmp_path / "street.png", 1232, 821)
    strict = run("validate", "roboflow", "semantic-segmentation", file, "--image", image)
    assert strict.returncode == 1 and "[mask-size, error]" in strict.stdout
    lenient = run("validate", "roboflow", "semantic-segmentation", file, "--image", image, "--tolerate", "downscaled-mask")
    assert lenient.returncode == 0, lenient.stdout
    assert "conforms to its contract (0 errors, 2 warnings)" in lenient.stdout
    assert "[mask-size, warning]" in lenient.stdout and "[roboflow-mask-matches-image, warning]" in lenient.stdout
    assert "received: 512x512" in lenient.stdout


def test_format_json_is_a_machine_readable_verdict(tmp_path):
    file = write_json(tmp_path / "rf.json", roboflow_documented_response())
    result = run("validate", "roboflow", "semantic-segmentation", file, "--tolerate", "downscaled-mask", "--format", "json")
    assert result.returncode == 0
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is True and verdict["errors"] == 0 and verdict["warnings"] == 1
    (violation,) = verdict["violations"]
    assert violation == {
        "path": "$.segmentation_mask", "check": "roboflow-mask-matches-image", "severity": "warning",
        "expected": "1232x821 (the response's image field)", "received": "512x512",
        "message": "The mask must have the dimensions the response's image field gives, 1232x821, but it is 512x512.",
    }
    assert {s["check"] for s in verdict["skipped"]} == {"mask-size", "roboflow-image-size"}
    assert all(s["reason"] for s in verdict["skipped"])


def test_format_json_of_an_invalid_response(tmp_path):
    result = run("validate", "huggingface", "object-detection", write_json(tmp_path / "r.json", INVERTED), "--format", "json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is False
    assert [(v["path"], v["check"], v["severity"]) for v in verdict["violations"]] == [("$[0].box.xmin", "box-order", "error")]


# --- validate: requests -------------------------------------------------------------------------------------

def test_a_json_request_body(tmp_path):
    image = b64(jpeg(40, 30))
    good = run("validate", "huggingface", "object-detection", write_json(tmp_path / "ok.json", {"inputs": image, "parameters": {"threshold": 0.5}}), "--kind", "request")
    assert good.returncode == 0, good.stdout
    assert "the huggingface object-detection request conforms" in good.stdout
    broken = {"inputs": b64(b"GIF89a, but not really"), "parameters": {"threshold": 0.5}}
    bad = run("validate", "huggingface", "object-detection", write_json(tmp_path / "bad.json", broken), "--kind", "request")
    assert bad.returncode == 1
    assert "$.body.inputs: The request image is unusable: " in bad.stdout and "[request-image, error]" in bad.stdout


def test_a_request_envelope_and_its_image(tmp_path):
    envelope = {
        "form": "base64", "body": b64(jpeg(40, 30)), "query": {"api_key": "rf_key"},
        "path": {"dataset": "street-scenes", "version": 4},
    }
    result = run("validate", "roboflow", "semantic-segmentation", write_json(tmp_path / "q.json", envelope), "--kind", "request")
    assert result.returncode == 0, result.stdout
    body = {"model": "m", "image_prompt": "data:image/jpeg;base64," + b64(jpeg(40, 30)), "segment_prompt": [[[450, 10]]]}
    outside = run("validate", "airefinery", "image-segmentation", write_json(tmp_path / "a.json", body), "--kind", "request")
    assert outside.returncode == 1
    assert "$.body.segment_prompt[0][0]: The prompt point [450, 10] lies outside the 40x30 request image." in outside.stdout


def test_strict_turns_what_the_provider_accepts_into_errors(tmp_path):
    """huggingface_hub sent {"parameters": {"model": ...}} and the router answered 200: a warning by default (exit 0),
    an error with --strict (exit 1)."""
    body = write_json(tmp_path / "q.json", {"inputs": b64(jpeg(40, 30)), "parameters": {"model": "facebook/detr-resnet-50"}})
    lenient = run("validate", "huggingface", "object-detection", body, "--kind", "request")
    strict = run("validate", "huggingface", "object-detection", body, "--kind", "request", "--strict")
    assert lenient.returncode == 0, lenient.stdout
    assert "$.body.parameters.model" in lenient.stdout and "warning]" in lenient.stdout
    assert strict.returncode == 1, strict.stdout
    assert "$.body.parameters.model" in strict.stdout and "error]" in strict.stdout


# --- usage errors: exit 2, one sentence, no traceback ------------------------------------------------------------

def _usage_cases(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    good = write_json(tmp / "good.json", GOOD_BOX)
    (tmp / "broken.json").write_text('{"label": ')
    (tmp / "empty.json").write_text("")
    write_json(tmp / "list.json", [1, 2])
    hf = ["validate", "huggingface", "object-detection"]
    return {
        "unknown provider": (["validate", "hugginface", "object-detection", good], ["expected a provider among", "huggingface", "'hugginface'"]),
        "unknown operation": ([*hf[:2], "depth", good], ["expected an operation of huggingface among", "object-detection", "'depth'"]),
        "missing file": ([*hf, str(tmp / "nope.json")], ["expected a JSON response body at", "nope.json", "No such file"]),
        "non-JSON file": ([*hf, str(tmp / "broken.json")], ["broken.json", "is not JSON", "line 1, column 11"]),
        "empty file": ([*hf, str(tmp / "empty.json")], ["empty.json", "it is empty"]),
        "not an image": ([*hf, good, "--image", good], ["--image", "good.json", "no image format"]),
        "unknown leniency": ([*hf, good, "--tolerate", "anything"], ["--tolerate", "'anything'", "leniencies"]),
        "unknown status": ([*hf, good, "--status", "418"], ["expected --status among 200, 400", "418"]),
        "option for responses": ([*hf, good, "--kind", "request", "--tolerate", "box-order"], ["--tolerate applies only to responses"]),
        "request not an object": ([*hf, str(tmp / "list.json"), "--kind", "request"], ["expected a JSON object", "list.json", "an array"]),
        "unknown openapi provider": (["openapi", "nobody"], ["nobody"]),
    }


@pytest.mark.parametrize("case", [
    "unknown provider", "unknown operation", "missing file", "non-JSON file", "empty file", "not an image",
    "unknown leniency", "unknown status", "option for responses", "request not an object", "unknown openapi provider",
])
def test_usage_errors_exit_2_with_one_sentence(tmp_path, case):
    args, phrases = _usage_cases(tmp_path)[case]
    result = run(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("vision-contracts: error: ") and "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in line, (phrase, line)


def test_the_module_reports_usage_errors_the_same_way(tmp_path):
    script = run("validate", "huggingface", "depth", "x.json")
    module = run("validate", "huggingface", "depth", "x.json", via="module")
    assert script.returncode == module.returncode == 2
    assert script.stderr == module.stderr

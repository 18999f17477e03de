"""Every example drawn from the seed documents gives the verdict documented beside it in contracts/examples/."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from vision_contracts import contracts

from imaging import b64, jpeg, mask


def _examples():
    for path in sorted(resources.files("vision_contracts.contracts").joinpath("examples").iterdir(), key=lambda p: p.name):
        doc = json.loads(path.read_text())
        for example in doc["examples"]:
            yield pytest.param(tuple(doc["operation"]), example, id=f"{path.name.removesuffix('.json')}:{example['name']}")


def _fill(value, image: bytes | None, size):
    if isinstance(value, dict):
        return {k: _fill(v, image, size) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, image, size) for v in value]
    if value == "$IMAGE_B64":
        return b64(image)
    if value == "$IMAGE_DATA_URI":
        return "data:image/jpeg;base64," + b64(image)
    if value == "$MASK_B64":
        return mask(*size)
    return value


def _wire_body(body, image: bytes | None) -> bytes:
    if body == "$IMAGE_BYTES":
        return image
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _verdict(report) -> dict:
    return {
        "errors": sorted([v.path, v.check] for v in report.errors),
        "warnings": sorted([v.path, v.check] for v in report.warnings),
        "skipped": sorted(s.check for s in report.skipped),
    }


def _judge(contract, example, *, strict: bool):
    size = example.get("image")
    image = jpeg(*size) if size else None
    if example["kind"] == "request":
        wire = _fill(example["wire"], image, size)
        envelope = contract.parse_request(
            _wire_body(wire["body"], image), content_type=wire.get("content_type"), headers=wire.get("headers"),
            query=wire.get("query"), path=wire.get("path"),
        )
        return contract.validate_request(envelope, strict=strict)
    body = _fill(example["body"], image, size)
    return contract.validate_response(body, request=image, tolerate=example.get("tolerate", ()), strict=strict)


@pytest.mark.parametrize(("operation", "example"), list(_examples()))
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_seed_example_gets_documented_verdict(operation, example, strict):
    """``verdict`` is the default (lenient) judgement; ``strict_verdict``, where given, the strict one (else the
    same)."""
    contract = contracts.get(*operation)
    report = _judge(contract, example, strict=strict)
    got = _verdict(report)
    want = example.get("strict_verdict", example["verdict"]) if strict else example["verdict"]
    assert got["errors"] == sorted(want.get("errors", [])), report.render(example["source"])
    assert got["warnings"] == sorted(want.get("warnings", [])), report.render(example["source"])
    if "skipped" in want:
        assert got["skipped"] == sorted(want["skipped"])


def test_every_operation_has_seed_examples():
    covered = {tuple(json.loads(p.read_text())["operation"]) for p in resources.files("vision_contracts.contracts").joinpath("examples").iterdir()}
    assert covered == set(contracts.operations())

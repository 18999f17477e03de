"""Validation throughput of the contracts, against plain jsonschema and against Pillow decoding, in one run.

Targets (issue 2): the schema part >= 10x plain `jsonschema.validate`; the whole check of a 5-mask 512x512 response,
semantic checks included, within 2x of merely decoding those five masks with Pillow. Figures are printed only.
"""

from __future__ import annotations

import base64
import io

import jsonschema
import numpy as np
from PIL import Image

from vision_contracts import contracts

from conftest import measure, report


def _blob_mask(rng: np.random.Generator, size: int = 512) -> str:
    yy, xx = np.mgrid[:size, :size]
    cx, cy, r = rng.integers(64, size - 64, 2).tolist() + [int(rng.integers(30, 120))]
    arr = (((xx - cx) ** 2 + (yy - cy) ** 2) < r * r).astype(np.uint8) * 255
    out = io.BytesIO()
    Image.fromarray(arr, "L").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def _image(size: int = 512) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def _segmentation_body() -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"label": f"thing-{i}", "mask": _blob_mask(rng), "score": 0.5 + i / 20} for i in range(5)]


def _detection_body() -> list[dict]:
    rng = np.random.default_rng(1)
    boxes = []
    for i in range(100):
        x0, y0 = rng.integers(0, 400, 2).tolist()
        boxes.append({"label": f"obj-{i % 7}", "score": float(rng.uniform(0.5, 1)), "box": {"xmin": x0, "ymin": y0, "xmax": x0 + 50, "ymax": y0 + 60}})
    return boxes


def _plain(contract, body):
    schema = contract.response_schema
    return lambda: jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator, registry=contract.catalog.registry)


def _reused(contract, body):
    validator = jsonschema.Draft202012Validator(contract.response_schema, registry=contract.catalog.registry)
    return lambda: validator.validate(body)


def test_schema_validation_throughput():
    for (provider, operation), body in (
        (("huggingface", "image-segmentation"), _segmentation_body()),
        (("huggingface", "object-detection"), _detection_body()),
    ):
        c = contracts.get(provider, operation)
        assert c._response_validator.violations(body) == []
        rows = [
            ("plain jsonschema.validate (schema checked every call)", measure(_plain(c, body))),
            ("python-jsonschema validator built once", measure(_reused(c, body))),
            ("contracts schema part (compiled, jsonschema-rs)", measure(lambda: c._response_validator.violations(body))),  # noqa: B023 (measured now)
        ]
        report(f"{provider} {operation}: schema-only validation", rows, rows[0][0])


def test_whole_check_vs_pillow_decode():
    c = contracts.get("huggingface", "image-segmentation")
    body = _segmentation_body()
    image = _image()
    masks = [s["mask"] for s in body]
    assert c.validate_response(body, request=image) == []

    def decode_only():
        for m in masks:
            Image.open(io.BytesIO(base64.b64decode(m))).load()

    rows = [
        ("decode the five 512x512 masks with Pillow", measure(decode_only)),
        ("contracts whole check (schema + semantic, with request)", measure(lambda: c.validate_response(body, request=image))),
    ]
    report("huggingface image-segmentation: 5 masks 512x512, whole check", rows, rows[0][0])
    ratio = rows[1][1]["median_us"] / rows[0][1]["median_us"]
    print(f"  whole check costs {ratio:.2f}x the bare decode (target: within 2x)")

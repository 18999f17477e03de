"""Property: for any image (1x1 up, modes L/RGB/RGBA/P, PNG/JPEG) and any valid parameters, every answer passes
its contract's ``validate_response`` with the request, semantic checks included, and is deterministic."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from vision_contracts import contracts
from vision_contracts.mockserver import _generate

probability = st.floats(0, 1, allow_nan=False)


@st.composite
def images(draw, max_side: int = 72) -> bytes:
    w = draw(st.integers(1, max_side))
    h = draw(st.integers(1, max_side))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "P"]))
    fmt = draw(st.sampled_from(["PNG", "JPEG"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arr = np.empty((h, w, 4), np.uint8)
    arr[...] = rng.integers(0, 256, 4, dtype=np.uint8)
    for _ in range(int(rng.integers(0, 6))):  # a few flat blocks
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        arr[y0:y1, x0:x1] = rng.integers(0, 256, 4, dtype=np.uint8)
    noise = int(rng.integers(0, 3)) * 20
    if noise:
        arr = np.clip(arr.astype(np.int16) + rng.integers(-noise, noise + 1, arr.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(arr, "RGBA").convert(mode if mode != "P" else "RGB")
    if mode == "P":
        im = im.quantize(colors=int(rng.integers(1, 17)))
    if fmt == "JPEG" and im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


hf_seg_params = st.fixed_dictionaries({}, optional={
    "threshold": probability, "mask_threshold": probability, "overlap_mask_area_threshold": probability,
    "subtask": st.sampled_from(["instance", "panoptic", "semantic"]),
})
hf_det_params = st.fixed_dictionaries({}, optional={"threshold": probability})


def _size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def _assert_valid(provider, operation, body, request):
    report = contracts.get(provider, operation).validate_response(body, request=request)
    assert report.errors == [], report.render(f"{provider} {operation}")
    assert not report.skipped


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=images(), params=hf_seg_params, seed=st.integers(0, 3))
def test_hf_segmentation_generator(data, params, seed):
    body = _generate.hf_image_segmentation(data, params, seed=seed)
    _assert_valid("huggingface", "image-segmentation", body, {"inputs": base64.b64encode(data).decode(), "parameters": params})
    assert body == _generate.hf_image_segmentation(data, params, seed=seed)


@FAST
@given(data=images(), params=hf_det_params, seed=st.integers(0, 3))
def test_hf_detection_generator(data, params, seed):
    body = _generate.hf_object_detection(data, params, seed=seed)
    _assert_valid("huggingface", "object-detection", body, {"inputs": base64.b64encode(data).decode(), "parameters": params})


@FAST
@given(data=images(), confidence=st.one_of(st.none(), st.integers(0, 100), st.floats(0, 100)), seed=st.integers(0, 3))
def test_roboflow_generator(data, confidence, seed):
    params = {} if confidence is None else {"confidence": confidence}
    body = _generate.roboflow_semantic_segmentation(data, params, seed=seed)
    _assert_valid("roboflow", "semantic-segmentation", body, data)


@FAST
@given(data=images(), groups=st.lists(st.lists(st.tuples(probability, probability), min_size=1, max_size=4), min_size=1, max_size=3))
def test_airefinery_generator(data, groups):
    w, h = _size(data)
    prompt = [[[int(x * (w - 1)), int(y * (h - 1))] for x, y in group] for group in groups]
    body = _generate.airefinery_image_segmentation(data, prompt, created=1_700_000_000)
    request = {"model": "m", "image_prompt": base64.b64encode(data).decode(), "segment_prompt": prompt}
    _assert_valid("airefinery", "image-segmentation", body, request)
    assert len(body["data"]) == len(prompt)


# --- the same property through the live server, as clients send requests ------------------------------------

@pytest.fixture(scope="module")
def http(base_url):
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


LIVE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@LIVE
@given(data=images(), params=hf_seg_params, raw=st.booleans(), detect=st.booleans())
def test_hf_over_http(http, data, params, raw, detect):
    model, operation = ("facebook/detr-resnet-50", "object-detection") if detect else ("openmmlab/upernet-convnext-small", "image-segmentation")
    if detect:
        params = {k: v for k, v in params.items() if k == "threshold"}
    if raw:
        r, request = http.post(f"/models/{model}", content=data), data
    else:
        request = {"inputs": base64.b64encode(data).decode(), "parameters": params}
        r = http.post(f"/models/{model}", json=request, headers={"x-use-cache": "false"})
    assert r.status_code == 200, r.text
    _assert_valid("huggingface", operation, r.json(), request)


@LIVE
@given(data=images(), form=st.sampled_from(["multipart", "base64"]), confidence=st.integers(0, 100))
def test_roboflow_over_http(http, data, form, confidence):
    q = f"/ds/2?api_key=k&confidence={confidence}"
    if form == "multipart":
        r = http.post(q, files={"file": ("imageToUpload", data, "image/jpeg")})
    else:
        r = http.post(q, content=base64.b64encode(data))
    assert r.status_code == 200, r.text
    _assert_valid("roboflow", "semantic-segmentation", r.json(), data)

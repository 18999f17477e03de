"""Content-aware, deterministic answers that honour the parameters; headers, cache and the OpenAPI document."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
from PIL import Image

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

from server_support import CREATED, b64

HF_SEG = "/models/facebook/mask2former-swin-large-coco-panoptic"
HF_DET = "/models/facebook/detr-resnet-50"


def _mask(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def test_same_request_and_seed_give_byte_identical_bodies_across_servers(server_config, png, jpeg):
    requests = [
        (HF_SEG, {"json": {"inputs": b64(jpeg), "parameters": {"threshold": 0.5}}}),
        (HF_DET, {"content": png}),
        ("/ds/1?api_key=k", {"content": b64(jpeg).encode()}),
        ("/v1/images/segmentations", {"json": {"model": "m", "image_prompt": b64(png), "segment_prompt": [[[70, 30]]]}, "headers": {"authorization": "Bearer k"}}),
    ]
    bodies = []
    for _ in range(2):
        with serve(server_config) as url, httpx.Client(base_url=url) as c:
            bodies.append([c.post(p, **kw).content for p, kw in requests])
            again = [c.post(p, headers={"x-use-cache": "false", **kw.get("headers", {})}, **{k: v for k, v in kw.items() if k != "headers"}).content for p, kw in requests]
            assert again == bodies[-1]
    assert bodies[0] == bodies[1]


def test_the_seed_changes_labels_not_the_regions(png):
    answers = []
    for seed in (1, 2):
        with serve(Config(port=0, seed=seed)) as url:
            answers.append(httpx.post(url + HF_DET, json={"inputs": b64(png), "parameters": {"threshold": 0.0}}).json())
    assert [a["box"] for a in answers[0]] == [a["box"] for a in answers[1]]
    assert [a["label"] for a in answers[0]] != [a["label"] for a in answers[1]]


def test_hf_headers_and_the_response_cache(client, jpeg):
    body = {"inputs": b64(jpeg), "parameters": {"threshold": 0.31}}
    first = client.post(HF_DET, json=body)
    second = client.post(HF_DET, json=body)
    fresh = client.post(HF_DET, json=body, headers={"x-use-cache": "false"})
    assert first.headers["x-compute-type"] == "cpu" and float(first.headers["x-compute-time"]) >= 0
    assert [first.headers["x-vision-cache"], second.headers["x-vision-cache"], fresh.headers["x-vision-cache"]] == ["miss", "hit", "miss"]
    assert first.content == second.content == fresh.content


def test_detection_boxes_surround_the_drawn_shapes(client):
    # sample_image draws a red block at x 60%..80%, y 33%..75% of a 200x100 picture
    data = sample_image(200, 100)
    boxes = client.post(HF_DET, json={"inputs": b64(data), "parameters": {"threshold": 0.0}}).json()
    red = [b["box"] for b in boxes if abs(b["box"]["xmin"] - 120) <= 3 and abs(b["box"]["xmax"] - 160) <= 3]
    assert red and abs(red[0]["ymin"] - 33) <= 3 and abs(red[0]["ymax"] - 75) <= 3, boxes


def test_threshold_filters_scores(client, jpeg):
    def scores(t):
        return sorted(s["score"] for s in client.post(HF_DET, json={"inputs": b64(jpeg), "parameters": {"threshold": t}}).json())

    low = scores(0.0)
    assert len(set(low)) >= 2, low
    cut = (low[0] + low[-1]) / 2
    high = scores(cut)
    assert 0 < len(high) < len(low) and all(s >= cut for s in high) and set(high) <= set(low)


def test_segmentation_subtasks(client, png):
    def segments(subtask):
        return client.post(HF_SEG, json={"inputs": b64(png), "parameters": {"subtask": subtask, "threshold": 0.0}}).json()

    semantic, instance, panoptic = segments("semantic"), segments("instance"), segments("panoptic")
    assert all(s["score"] is None for s in semantic)
    # semantic masks partition the image: each pixel belongs to exactly one segment
    total = sum((_mask(s["mask"]) == 255).astype(int) for s in semantic)
    assert (total == 1).all()
    assert all(isinstance(s["score"], float) for s in instance + panoptic)
    assert {s["label"] for s in panoptic} & {"sky", "wall", "building", "road", "grass", "floor", "tree", "water"} or len(panoptic) >= 2


def test_mask_threshold_grows_and_shrinks_masks(client, png):
    def area(mt):
        seg = client.post(HF_SEG, json={"inputs": b64(png), "parameters": {"subtask": "semantic", "mask_threshold": mt}}).json()
        return [int((_mask(s["mask"]) == 255).sum()) for s in seg]

    low, mid, high = area(0.05), area(0.5), area(0.95)
    assert all(a >= b >= c for a, b, c in zip(low, mid, high, strict=False)) and sum(low) > sum(high)


def test_roboflow_confidence_and_class_map(client, jpeg):
    def answer(confidence):
        return client.post(f"/ds/1?api_key=k&confidence={confidence}", content=b64(jpeg).encode()).json()

    loose, strict = answer(0), answer(100)
    assert loose["class_map"] == strict["class_map"] and loose["class_map"]["0"] == "background"
    assert (_mask(strict["segmentation_mask"]) > 0).sum() < (_mask(loose["segmentation_mask"]) > 0).sum()
    assert set(np.unique(_mask(loose["segmentation_mask"])).tolist()) <= {int(k) for k in loose["class_map"]}


def test_airefinery_masks_grow_from_the_points(client):
    data = sample_image(100, 60)  # red block at x 60..80, y 20..45
    payload = {"model": "m", "image_prompt": b64(data), "segment_prompt": [[[70, 30]], [[2, 2]]], "extra_body": None}
    body = client.post("/v1/images/segmentations", json=payload, headers={"authorization": "Bearer k"}).json()
    assert body["created"] == CREATED
    red, sky = (_mask(d["b64_json"]) for d in body["data"])
    assert red.shape == (60, 100) and red[30, 70] == 1 and red[2, 2] == 0 and red[55, 5] == 0
    _, xs = np.nonzero(red)
    assert 58 <= xs.min() <= 62 and 78 <= xs.max() <= 81
    assert sky[2, 2] == 2 and sky[30, 70] == 0
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] and usage["output_tokens"] == 2


def test_created_defaults_to_the_server_start_time(png):
    import time

    before = int(time.time())
    with serve(Config(port=0)) as url:
        body = httpx.post(url + "/v1/images/segmentations", json={"model": "m", "image_prompt": b64(png), "segment_prompt": [[[1, 1]]]},
                          headers={"authorization": "Bearer k"}).json()
    assert before <= body["created"] <= int(time.time())


def test_openapi_documents_every_route(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/images/segmentations", "/{dataset}/{version}", "/__vision__/health", "/authentication/validate"):
        assert "post" in paths.get(path, {}) or "get" in paths.get(path, {}), path
    assert any(p.startswith("/models/") for p in paths) and any(p.startswith("/hf-inference/models/") for p in paths)
    assert "requestBody" in paths["/v1/images/segmentations"]["post"]
    from openapi_spec_validator import validate

    validate(doc)


def test_health(client):
    assert client.get("/__vision__/health").json()["status"] == "ok"

"""Role-based generation (``mockserver._generate_roles``) on hand-made compiled indexes: answers validate against
their schema, find every object of the seeded scenes in the declared units and encodings (box IoU >= 0.8, mask IoU
>= 0.85), honour the score threshold and max results, and are deterministic by seed."""

from __future__ import annotations

import io
import json
import statistics
from typing import Any

import jsonschema
import numpy as np
import pytest
from pack_support import HAND_MADE, box_of, inclusive, items, mask_of, scenes
from PIL import Image

from vision_contracts.contracts import geometry
from vision_contracts.mockserver._generate_roles import fill, local_resolver, role_answer

SEEDS = range(8)


def _answer(name: str, data: bytes, params: dict[str, Any] | None = None, seed: int = 0) -> Any:
    pack = HAND_MADE[name]
    schema = pack["schema"]
    return role_answer(data, pack["index"], params or {}, schema=schema, uri="hand-made.json", resolve=local_resolver(schema), seed=seed)


@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_answers_validate_against_their_schema(name: str) -> None:
    for seed in SEEDS:
        body = _answer(name, scenes.scene(seed).image)
        jsonschema.validate(body, HAND_MADE[name]["schema"], cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize("name", ["roboflow-like", "normalised-rle", "xywh-polygons"])
def test_every_object_is_found_in_the_declared_units_and_encodings(name: str) -> None:
    roles = HAND_MADE[name]["index"]["roles"]
    item_roles = roles["response"]["item"]
    box_ious: list[float] = []
    mask_ious: list[float] = []
    for seed in SEEDS:
        s = scenes.scene(seed)
        found = items(_answer(name, s.image), roles)
        for obj in s.objects:
            box_ious.append(max(scenes.box_iou(inclusive(box_of(i, item_roles["box"], s.size)), obj.box) for i in found))
            if "mask" in item_roles:
                mask_ious.append(max(scenes.mask_iou(mask_of(i, item_roles["mask"], s.size), obj.mask) for i in found))
            if "polygon" in item_roles:
                option = item_roles["polygon"]
                outline = [i[option["path"].strip("/")] for i in found]
                filled = [geometry.polygon_to_mask(geometry.points_from_json(o, option["point"], option["units"], *s.size), *s.size) for o in outline]
                assert max(scenes.mask_iou(m, obj.mask) for m in filled) >= 0.8
    summary = f"{name}: box IoU min {min(box_ious):.3f} median {statistics.median(box_ious):.3f}" + (
        f"; mask IoU min {min(mask_ious):.3f} median {statistics.median(mask_ious):.3f}" if mask_ious else "")
    assert min(box_ious) >= 0.8, summary
    assert not mask_ious or min(mask_ious) >= 0.85, summary


def test_score_threshold_in_its_scale_and_max_results_are_honoured() -> None:
    s = scenes.scene(3)
    roles = HAND_MADE["roboflow-like"]["index"]["roles"]
    everything = items(_answer("roboflow-like", s.image), roles)
    assert len(everything) >= 2
    scores = sorted(i["confidence"] for i in everything)
    middle = (scores[0] + scores[-1]) / 2
    kept = items(_answer("roboflow-like", s.image, {"confidence": middle * 100}), roles)  # scale 100, by pointer name
    assert kept and all(i["confidence"] >= middle for i in kept) and len(kept) < len(everything)
    assert len(items(_answer("roboflow-like", s.image, {"max-results": 1}), roles)) == 1  # by role name


def test_labels_come_from_the_pack_and_label_ids_match_them() -> None:
    labels = HAND_MADE["roboflow-like"]["index"]["pack"]["labels"]
    for seed in SEEDS:
        for item in _answer("roboflow-like", scenes.scene(seed).image)["predictions"]:
            assert item["class"] in labels and labels[item["class_id"]] == item["class"]


def test_size_is_echoed_and_the_class_map_names_every_value() -> None:
    s = scenes.scene(5)
    body = _answer("class-map", s.image)
    assert (body["w"], body["h"]) == s.size
    values = set(np.unique(np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(body["mask"]))))).tolist())
    assert {str(v) for v in values} <= set(body["classes"]) and len(values) >= 2
    robo = _answer("roboflow-like", s.image)
    assert (robo["image"]["width"], robo["image"]["height"]) == s.size


def test_classification_answers_scored_classes_most_salient_first() -> None:
    body = _answer("classes", scenes.scene(1).image, {"top_k": 2})
    assert len(body["classes"]) == 2
    assert all(c["label"] in {"red", "green", "blue", "grey"} for c in body["classes"])
    assert body["classes"][0]["p"] >= body["classes"][1]["p"]


def test_deterministic_by_seed() -> None:
    data = scenes.scene(2).image
    first = json.dumps(_answer("normalised-rle", data, seed=4))
    assert first == json.dumps(_answer("normalised-rle", data, seed=4))
    assert first != json.dumps(_answer("roboflow-like", data, seed=5))
    ids = [i["detection_id"] for i in _answer("roboflow-like", data, seed=4)["predictions"]]
    assert ids != [i["detection_id"] for i in _answer("roboflow-like", data, seed=5)["predictions"]]


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "integer", "exclusiveMinimum": 3}, "b": {"enum": ["x", "y"]}}}, {"a": 4, "b": "x"}),
    ({"type": "array", "minItems": 2, "items": {"type": "string", "minLength": 6}}, ["mockxx", "mockxx"]),
    ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, None),
    ({"type": ["null", "number"], "minimum": 0.5}, 0.5),
    ({"$ref": "#/$defs/t", "$defs": {"t": {"const": 7}}}, 7),
])
def test_fill_makes_a_value_the_schema_accepts(schema: dict[str, Any], expected: Any) -> None:
    value = fill(schema, "x.json", local_resolver(schema))
    assert value == expected
    jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)

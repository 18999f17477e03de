"""pack lint: one sentence per problem with its JSON path; load_pack refuses a bad pack naming the file and path."""

from __future__ import annotations

import json

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Catalog, PackError

from conftest import EXAMPLES, TEST_PACKS


def pack(**overrides):
    """A small valid detection pack as a dict; overrides replace parts of the operation."""
    operation = {
        "operationId": "detect", "x-vision": {"task": "object-detection"},
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "image": {"type": "string", "x-vision": "image"}}}}}},
        "responses": {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "boxes": {"type": "array", "x-vision": "items", "items": {"type": "object", "properties": {
                "box": {"type": "array", "items": {"type": "number"}, "x-vision": "box"},
                "label": {"type": "string", "x-vision": "label"}}}}}}}}}},
    }
    operation.update(overrides)
    return {"openapi": "3.1.0", "info": {"title": "Lint Me", "version": "1"}, "paths": {"/detect": {"post": operation}}}


def lint(tmp_path, document):
    path = tmp_path / "pack.json"
    path.write_text(json.dumps(document))
    return [str(f) for f in contracts.lint_pack(path)]


def response_schema(item_properties, items_role="items"):
    return {"200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
        "found": {"type": "array", **({"x-vision": items_role} if items_role else {}), "items": {"type": "object", "properties": item_properties}}}}}}}}


def test_clean_packs_have_no_findings():
    for path in [*EXAMPLES.glob("*.yaml"), *TEST_PACKS.glob("*.*")]:
        assert contracts.lint_pack(path) == [], path


def test_the_small_pack_is_clean(tmp_path):
    assert lint(tmp_path, pack()) == []


def test_a_role_on_a_node_of_the_wrong_type(tmp_path):
    found = lint(tmp_path, pack(responses=response_schema({"score": {"type": "string", "x-vision": "score"}})))
    assert found == [("$.paths['/detect'].post.responses['200'].content['application/json'].schema.properties.found.items.properties.score"
                      ".x-vision: the role 'score' belongs on a node of type number or integer, but this node is of type string.")]


def test_a_box_on_an_object_without_4_keys(tmp_path):
    box = {"type": "object", "x-vision": {"role": "box", "format": "xywh"}, "properties": {"x": {}, "y": {}, "w": {}, "h": {}}}
    found = lint(tmp_path, pack(responses=response_schema({"box": box})))
    assert len(found) == 1 and found[0].endswith("x-vision: a box on an object needs 'keys': the 4 property names in the format's order "
                                                 "(e.g. [\"x\", \"y\", \"width\", \"height\"] for xywh); without keys a box is an array of 4 numbers.")
    box["x-vision"]["keys"] = ["x", "y", "w"]
    assert lint(tmp_path, pack(responses=response_schema({"box": box})))[0].endswith("a box's 'keys' must be 4 property names in the format's order, received [\"x\", \"y\", \"w\"].")
    box["x-vision"]["keys"] = ["x", "y", "w", "height"]
    assert lint(tmp_path, pack(responses=response_schema({"box": box})))[0].endswith("the box's keys name 'height', which the box's properties lack.")


def test_an_operation_without_an_image_role(tmp_path):
    body = {"content": {"application/json": {"schema": {"type": "object", "properties": {"picture": {"type": "string"}}}}}}
    assert lint(tmp_path, pack(requestBody=body)) == [(
        "$.paths['/detect'].post: the operation has no 'image' role: mark the request's image (a JSON string, a multipart file or an "
        "image/* body) with x-vision: image.")]


def test_unknown_roles_and_options_with_did_you_mean(tmp_path):
    found = lint(tmp_path, pack(responses=response_schema({
        "bbox": {"type": "array", "x-vision": {"role": "box", "unit": "pixels"}},
        "name": {"type": "string", "x-vision": "lable"},
        "mask": {"type": "string", "x-vision": {"role": "mask", "encoding": "rle-string"}}})))
    assert any(f.endswith("unknown option 'unit' for the role 'box'; its options are format, units, keys. Did you mean 'units'?") for f in found)
    assert any("unknown role 'lable'; the roles are image, " in f and f.endswith("Did you mean 'label'?") for f in found)
    assert any(f.endswith("the 'mask' option 'encoding' must be one of \"png-base64\", \"rle\", \"rle-compressed\", received \"rle-string\".") for f in found)


def test_a_task_outside_the_four(tmp_path):
    assert lint(tmp_path, pack(**{"x-vision": {"task": "depth-estimation"}})) == [(
        "$.paths['/detect'].post.x-vision.task: expected a task among object-detection, instance-segmentation, semantic-segmentation, "
        "image-classification, received \"depth-estimation\".")]


def test_item_roles_without_an_items_role(tmp_path):
    found = lint(tmp_path, pack(responses=response_schema({"label": {"type": "string", "x-vision": "label"}}, items_role=None)))
    assert found == [("$.paths['/detect'].post.responses['200'].content['application/json'].schema.properties.found.items.properties.label"
                      ".x-vision: the item role 'label' needs an 'items' role on the array that holds the items; the answer has none.")]


def test_roles_in_the_wrong_place_and_dangling_refs(tmp_path):
    found = lint(tmp_path, pack(responses=response_schema({"image": {"type": "string", "x-vision": "image"}, "x": {"$ref": "#/components/schemas/Nope"}})))
    assert any(f.endswith("the role 'image' belongs in the request, not in the response.") for f in found)
    assert any(f.endswith(".x['$ref']: expected a reference inside this document (#/...) to an existing node, received '#/components/schemas/Nope'.") for f in found)


def test_a_role_in_a_referenced_component_is_reported_where_it_is_written(tmp_path):
    document = pack(responses=response_schema({"s": {"$ref": "#/components/schemas/Score"}}))
    document["components"] = {"schemas": {"Score": {"type": "boolean", "x-vision": "score"}}}
    assert lint(tmp_path, document) == ["$.components.schemas.Score.x-vision: the role 'score' belongs on a node of type number or integer, but this node is of type boolean."]


def test_load_pack_raises_pack_error_naming_file_and_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("openapi: '3.1.0'\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    post:\n      operationId: a\n      x-vision: {task: detection}\n")
    with pytest.raises(PackError) as info:
        contracts.load_pack(path, into=Catalog())
    assert str(info.value).startswith(f"{path}: $.paths['/a'].post.x-vision.task: expected a task among ")
    assert info.value.file == str(path) and info.value.path == "$.paths['/a'].post.x-vision.task"
    assert "more: run `vision-contracts pack lint" in str(info.value)


def test_unreadable_packs(tmp_path):
    with pytest.raises(PackError, match="the pack cannot be read"):
        contracts.lint_pack(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: [3.1\n")
    with pytest.raises(PackError, match=r"expected an OpenAPI 3\.1 document in YAML, but it does not parse"):
        contracts.lint_pack(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(PackError, match=r"\$: expected an OpenAPI document \(an object\), received list"):
        contracts.lint_pack(listed)


def test_unknown_operation_keys_and_an_image_in_a_parameter(tmp_path):
    found = lint(tmp_path, pack(**{"x-vision": {"task": "object-detection", "label": ["cat"]},
                                   "parameters": [{"name": "image", "in": "query", "schema": {"type": "string", "x-vision": "image"}}]}))
    assert "$.paths['/detect'].post.x-vision.label: unknown key 'label' in the operation's x-vision; it takes task and labels. Did you mean 'labels'?" in found
    assert ("$.paths['/detect'].post.parameters[0].schema.x-vision: packs read the image from the request body (a JSON string, a multipart "
            "file or an image/* body), not from a parameter.") in found

"""Packs compile into ordinary contracts: operation indexes with roles, schemas in the catalogue, get() finds them."""

from __future__ import annotations

import shutil

import pytest

from vision_contracts import contracts
from vision_contracts.contracts import Catalog, PackError

from conftest import EXAMPLES, TEST_PACKS


def test_load_pack_returns_the_operations_as_contracts():
    catalog = Catalog()
    pack = contracts.load_pack(EXAMPLES / "roboflow-detect.yaml", into=catalog)
    assert (pack.provider, pack.operations) == ("roboflow-detect", ("object-detection",))
    contract = pack.contracts["object-detection"]
    assert catalog.get("roboflow-detect", "object-detection") is contract
    assert isinstance(contract, contracts.Contract)
    assert ("roboflow-detect", "object-detection") in catalog.operations
    assert catalog.packs == [pack.file]


def test_the_index_has_the_shape_of_a_built_in_one(cat):
    index = cat.get("roboflow-detect", "object-detection").index
    assert index["method"] == "POST" and index["paths"] == ["/{dataset}/{version}"]
    assert index["hosts"] == ["detect.roboflow.com"]
    assert index["auth"]["scheme"] == "api_key" and index["auth"]["in"] == "query" and index["auth"]["name"] == "api_key"
    assert index["success"] == {"status": 200, "content_type": "application/json", "headers": []}
    assert sorted(index["errors"]) == ["403", "404"]
    assert index["pack"]["task"] == "object-detection" and index["pack"]["file"].endswith("roboflow-detect.yaml")
    request, response = index["roles"]["request"], index["roles"]["response"]
    assert request["image"] == {"form": "text", "pointer": "/body", "format": "base64"}
    assert request["score-threshold"] == {"pointer": "/query/confidence", "scale": 100}
    assert response["items"] == "/predictions"
    assert response["item"]["box"] == {"path": "", "format": "cxcywh", "units": "pixels", "keys": ["x", "y", "width", "height"]}
    assert response["item"]["score"] == {"path": "/confidence", "scale": 1}
    assert response["image-width"] == {"pointer": "/image/width"}


@pytest.mark.parametrize(("provider", "operation", "form", "image", "checks"), [
    ("example-instances", "instance-segmentation", "json", {"form": "json", "pointer": "/body/image", "format": "base64"},
     ["role-box-order", "role-box-inside-image", "role-rle-counts", "role-mask-size", "role-score-range", "role-score-threshold",
      "role-image-size-echo", "role-max-results"]),
    ("polygon-works-vision-api", "instances", "multipart", {"form": "multipart", "pointer": "/body/file", "format": "binary"},
     ["role-box-order", "role-box-inside-image", "role-polygon-inside-image", "role-score-range", "role-score-threshold"]),
    ("terrain", "terrain-map", "raw", {"form": "raw", "pointer": "/body", "format": "binary"},
     ["role-class-map-size", "role-class-map-values", "role-image-size-echo"]),
    ("tagger-9000", "tags", "raw", {"form": "raw", "pointer": "/body", "format": "binary"}, ["role-score-range", "role-max-results"]),
    ("remote-masks", "masks", "json", {"form": "json", "pointer": "/body/url", "format": "uri"},
     ["role-box-order", "role-box-inside-image", "role-rle-counts", "role-mask-size"]),
])
def test_each_pack_compiles_its_roles_into_checks(cat, provider, operation, form, image, checks):
    index = cat.get(provider, operation).index
    assert index["roles"]["request"]["image"] == image
    assert index["forms"][0]["name"] == form
    assert index["checks"] == checks


def test_provider_is_a_slug_of_the_title_unless_named(cat):
    providers = {p for p, _ in cat.operations}
    assert {"polygon-works-vision-api", "tagger-9000", "terrain", "example-instances"} <= providers


def test_a_raw_body_pack_accepts_each_declared_image_type(cat, png_b64):
    import base64
    contract = cat.get("terrain", "terrain-map")
    assert contract.index["forms"][0]["content_types"] == ["image/png", "image/jpeg"]
    request = contract.parse_request(base64.b64decode(png_b64(8, 6)), content_type="image/png", path={"model": "m"})
    assert request.form == "raw"
    report, facts = contract.check_request(request)
    assert report.ok and facts.image is not None and facts.image.size == (8, 6)


def test_an_image_url_is_not_decoded_and_says_so(cat):
    contract = cat.get("remote-masks", "masks")
    report, facts = contract.check_request({"url": "https://images.example/cat.jpg"})
    assert report.ok and facts.image is None
    assert facts.note == "the request carries its image as a URL"


def test_loading_the_same_file_twice_is_idempotent(tmp_path):
    catalog = Catalog()
    first = contracts.load_pack(EXAMPLES / "roboflow-detect.yaml", into=catalog)
    contract = first.contracts["object-detection"]
    second = contracts.load_pack(EXAMPLES / "roboflow-detect.yaml", into=catalog)
    assert second.contracts["object-detection"] is contract
    assert catalog.packs == [first.file]


def test_two_packs_defining_one_operation_is_an_error_naming_both(tmp_path):
    catalog = Catalog()
    contracts.load_pack(EXAMPLES / "roboflow-detect.yaml", into=catalog)
    copy = tmp_path / "copy.yaml"
    shutil.copy(EXAMPLES / "roboflow-detect.yaml", copy)
    with pytest.raises(PackError) as info:
        contracts.load_pack(copy, into=catalog)
    assert str(copy) in str(info.value) and str(EXAMPLES / "roboflow-detect.yaml") in str(info.value)
    assert "roboflow-detect/object-detection is defined both here and in the pack" in str(info.value)


def test_a_pack_cannot_redefine_a_built_in_operation(tmp_path):
    text = (TEST_PACKS / "classify-raw.yaml").read_text().replace('title: "Tagger 9000!"', 'title: x, x-vision-provider: huggingface')
    text = text.replace("operationId: tags", "operationId: object-detection")
    path = tmp_path / "clash.yaml"
    path.write_text(text)
    with pytest.raises(PackError, match="huggingface/object-detection is defined both here and in the built-in contracts"):
        contracts.load_pack(path, into=Catalog())


def test_get_finds_pack_operations_once_loaded(fresh_catalog):
    with pytest.raises(contracts.UnknownOperation):
        contracts.get("terrain", "terrain-map")
    contracts.load_pack(TEST_PACKS / "classmap-semantic.json")
    assert contracts.get("terrain", "terrain-map").index["pack"]["labels"] == ["sky", "water", "land"]

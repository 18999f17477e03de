"""Packs served by the mock (``--pack``, config ``packs``): the example packs (``contracts/packs``) and this folder's
own, answered by role over HTTP, validated by their own contracts, measured against the seeded scenes (the IoU
table the closing note quotes), with the pack's error shapes, start-up refusals, journal, scenarios and cache."""

from __future__ import annotations

import base64
import io
import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from pack_support import box_of, inclusive, items, mask_of, scenes, wire
from PIL import Image

from vision_contracts import contracts
from vision_contracts.contracts import geometry
from vision_contracts.mockserver import Config, ConfigError, create_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "contracts" / "packs").glob("*.yaml"))
OWN = sorted((Path(__file__).parent / "files").glob("*.yaml"))
SHAPES = Path(__file__).parent / "files" / "shapes-keyed.yaml"
PACKS = (*EXAMPLES, *OWN)
SCENES = range(6)
# Roboflow's hosted detection shares /{dataset}/{version} with the built-in Roboflow semantic segmentation
PROVIDERS = ("huggingface", "airefinery")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    config = Config(providers=PROVIDERS, packs=tuple(str(p) for p in PACKS), cache_size=64)
    with TestClient(create_app(config)) as c:
        yield c


def _pack_contracts() -> list[contracts.Contract]:
    return [c for p in PACKS for c in contracts.load_pack(p).contracts.values()]


def _geometric() -> list[contracts.Contract]:
    """The pack operations whose items carry a box or a mask."""
    return [c for c in _pack_contracts() if {"box", "mask"} & set(c.index["roles"]["response"].get("item", {}))]


def _measure(client: TestClient, contract: contracts.Contract) -> tuple[list[float], list[float]]:
    roles = contract.index["roles"]
    item_roles = roles["response"]["item"]
    boxes: list[float] = []
    masks: list[float] = []
    for seed in SCENES:
        s = scenes.scene(seed)
        method, url, kwargs = wire(contract, s.image)
        r = client.request(method, url, **kwargs)
        assert r.status_code == contract.index["success"]["status"], r.text
        body = r.json()
        report = contract.validate_response(body, request=s.image)
        assert not report.errors, f"{contract.provider} {contract.operation}, scene {seed}: {report.errors}"
        found = items(body, roles)
        for obj in s.objects:
            if "box" in item_roles:
                boxes.append(max((scenes.box_iou(inclusive(box_of(i, item_roles["box"], s.size)), obj.box) for i in found), default=0.0))
            if "mask" in item_roles:
                masks.append(max((scenes.mask_iou(mask_of(i, item_roles["mask"], s.size), obj.mask) for i in found), default=0.0))
    return boxes, masks


def test_packs_are_served_validated_and_find_every_object(
    client: TestClient, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str],
) -> None:
    """The table is a property of the test (JUnit XML) and is written on the terminal."""
    rows = []
    for contract in _geometric():
        boxes, masks = _measure(client, contract)
        for kind, values in (("box", boxes), ("mask", masks)):
            if values:
                rows.append((f"{contract.provider} {contract.operation}", kind, len(values), min(values), statistics.median(values)))
    table = "\n".join(["operation | IoU | objects | min | median", *(f"{o} | {k} | {n} | {lo:.3f} | {med:.3f}" for o, k, n, lo, med in rows)])
    title = f"Pack answers against {len(SCENES)} seeded scenes (every object's best match):"
    request.node.user_properties.append(("iou", f"{title}\n{table}"))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        with capsys.disabled():
            reporter.write_line(f"\n{title}\n{table}")
    assert {o for o, *_ in rows} == {f"{c.provider} {c.operation}" for c in _geometric()}
    assert {c.provider for c in _geometric()} >= {"roboflow-detect", "example-instances", "shapes", "blob-segmenter-api"}
    for operation, kind, _, low, _ in rows:
        assert low >= (0.8 if kind == "box" else 0.85), f"{operation}: {kind} IoU {low:.3f}\n{table}"


def test_class_maps_and_classes_are_served_and_validated(client: TestClient) -> None:
    s = scenes.scene(3)
    parser = contracts.get("scene-parser", "parse")
    method, url, kwargs = wire(parser, s.image)
    body = client.request(method, url, **kwargs).json()
    assert not parser.validate_response(body, request=s.image).errors
    assert (body["width"], body["height"], body["model"]) == (*s.size, "parser-2")
    ids = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["map"]))))
    assert ids.shape == (s.size[1], s.size[0]) and {str(v) for v in np.unique(ids).tolist()} <= set(body["names"])
    for obj in s.objects:  # each object is one class region of the map
        assert max(scenes.mask_iou(ids == int(k), obj.mask) for k in body["names"]) >= 0.85
    classify = contracts.get("colour-classifier", "classify")
    method, url, kwargs = wire(classify, s.image, {"top": 2})
    answer = client.request(method, url, **kwargs).json()
    assert not classify.validate_response(answer, request=s.image).errors
    assert len(answer["labels"]) == 2 and answer["labels"][0]["percent"] >= answer["labels"][1]["percent"] > 1


def test_threshold_and_max_results_travel_by_their_request_roles(client: TestClient) -> None:
    contract = contracts.get("shapes", "detect")  # found once loaded (the client fixture's --pack)
    s = scenes.scene(4)
    method, url, kwargs = wire(contract, s.image)
    everything = client.request(method, url, **kwargs).json()["found"]
    assert len(everything) >= 3
    cut = sorted(i["p"] for i in everything)[1]
    method, url, kwargs = wire(contract, s.image, {"min_score": int(cut * 100) + 1, "limit": 1})
    body = client.request(method, url, **kwargs).json()
    assert len(body["found"]) == 1 and body["found"][0]["p"] > cut
    assert not contract.validate_response(body, request=s.image).errors


def test_errors_take_the_packs_declared_shape(client: TestClient) -> None:
    shapes = client.post("/v2/detect/m1", json={"pic": "x"})
    assert shapes.status_code == 400
    assert shapes.json()["error"]["code"] == "bad_request"
    assert "$.body: expected the required property 'picture'" in shapes.json()["error"]["message"]
    assert not contracts.get("shapes", "detect").validate_error_body(shapes.json(), 400).errors
    blobs = client.post("/blobs/segment", files={"other": ("a.png", b"x", "image/png")})
    assert blobs.status_code == 422  # the one client error this pack declares
    assert "$.body: expected the required property 'file'" in blobs.json()["detail"]
    broken = client.post("/v2/detect/m1", json={"picture": "bm90IGFuIGltYWdl"})  # base64 of text, not an image
    assert broken.status_code == 400 and "image" in broken.json()["error"]["message"]


def test_undeclared_error_statuses_answer_a_sentence_under_error(tmp_path: Path) -> None:
    pack = ROOT / "tests" / "packs" / "files" / "shapes-keyed.yaml"
    text = pack.read_text().split('        "400":')[0]
    bare = tmp_path / "bare.yaml"
    bare.write_text(text.replace("x-vision-provider: shapes", "x-vision-provider: bare-shapes").replace("/v2/detect/", "/bare/detect/"))
    with TestClient(create_app(Config(providers=PROVIDERS, packs=(str(bare),)))) as c:
        r = c.post("/bare/detect/m1", json={})
    assert r.status_code == 400 and set(r.json()) == {"error"} and "$.body" in r.json()["error"]


def test_journal_scenarios_and_cache_work_for_pack_operations(client: TestClient) -> None:
    contract = contracts.get("shapes", "detect")
    method, url, kwargs = wire(contract, scenes.scene(9).image)  # a scene no other test sends
    first = client.request(method, url, **kwargs)
    again = client.request(method, url, **kwargs)
    assert first.headers["x-vision-cache"] == "miss" and again.headers["x-vision-cache"] == "hit" and first.content == again.content
    failed = client.request(method, url, **{**kwargs, "headers": {**kwargs["headers"], "x-vision-scenario": "server-error"}})
    assert failed.status_code == 500 and "error" in failed.json()
    journal = client.get("/__vision__/journal").json()
    ours = [e for e in journal["entries"] if e["path"] == url]
    assert len(ours) >= 3 and {e["status"] for e in ours} >= {200, 500}
    assert all(e["provider"] == "shapes" and e["operation"] == "detect" for e in ours)


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vision_contracts.mockserver", "--port", "0", *args],
                          check=False, capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_a_broken_pack_stops_the_server_with_exit_2_naming_file_and_path(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text((SHAPES).read_text().replace("x-vision: {role: box, format: cxcywh", "x-vision: {role: bbox, format: cxcywh"))
    done = _serve(tmp_path, "--pack", str(broken))
    assert done.returncode == 2
    assert str(broken) in done.stderr and "$.paths" in done.stderr and "bbox" in done.stderr, done.stderr


def test_a_path_clash_names_both_operations(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        Config(packs=(str(ROOT / "contracts" / "packs" / "roboflow-detect.yaml"),))  # beside the built-in roboflow
    message = str(raised.value)
    assert "POST /{dataset}/{version} of roboflow-detect object-detection" in message
    assert "clashes with POST /{dataset}/{version} of roboflow semantic-segmentation (the built-in contracts)" in message
    assert "--providers" in message
    shapes = str(SHAPES)
    twin = tmp_path / "twin.yaml"
    twin.write_text(SHAPES.read_text().replace("x-vision-provider: shapes", "x-vision-provider: twin-shapes"))
    with pytest.raises(ConfigError) as raised:
        Config(providers=PROVIDERS, packs=(shapes, str(twin)))
    assert f"of twin-shapes detect (the pack {twin})" in str(raised.value) and f"of shapes detect (the pack {shapes})" in str(raised.value)


def test_config_file_packs_are_relative_to_the_file(tmp_path: Path) -> None:
    from vision_contracts.mockserver._config import from_mapping

    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "p.yaml").write_text(SHAPES.read_text().replace("x-vision-provider: shapes", "x-vision-provider: conf-shapes"))
    config = from_mapping({"packs": ["p.yaml"]}, root=folder)
    assert config.packs == (str((folder / "p.yaml").resolve()),)
    assert {c.provider for c in config.pack_contracts()} == {"conf-shapes"}
    assert json.loads(json.dumps(config.to_json()))["packs"] == [str((folder / "p.yaml").resolve())]
    with pytest.raises(ConfigError, match="packs must be a list"):
        from_mapping({"packs": [3]}, root=folder)


def test_geometry_reads_what_the_mock_writes(client: TestClient) -> None:
    """The example instance pack's compressed RLE decodes with the contracts' codec to masks of the image's size."""
    contract = next(c for c in _pack_contracts() if c.index["roles"]["response"]["item"].get("mask", {}).get("encoding") == "rle-compressed")
    s = scenes.scene(2)
    method, url, kwargs = wire(contract, s.image)
    for item in items(client.request(method, url, **kwargs).json(), contract.index["roles"]):
        node = item[contract.index["roles"]["response"]["item"]["mask"]["path"].strip("/")]
        counts = geometry.rle_counts_from_string(node["counts"])
        assert sum(counts) == s.size[0] * s.size[1] and node["size"] == [s.size[1], s.size[0]]





def test_upstream_for_a_pack_provider_is_judged_recorded_and_replayed(tmp_path: Path) -> None:
    """A second mock serving the same pack stands in for the team's real service."""
    from vision_contracts.mockserver.testing import serve

    pack = str(SHAPES)
    contract = contracts.load_pack(pack).contracts["detect"]
    method, url, kwargs = wire(contract, scenes.scene(1).image)
    with serve(Config(port=0, packs=(pack,), seed=3)) as up, \
            serve(Config(port=0, packs=(pack,), scenarios=({"scenario": "schema-violation"},))) as broken_up:
        with serve(Config(port=0, packs=(pack,), upstream={"shapes": up}, record=str(tmp_path))) as proxy:
            proxied = httpx.request(method, proxy + url, **kwargs)
            direct = httpx.request(method, up + url, **kwargs)
        with serve(Config(port=0, packs=(pack,), upstream={"shapes": broken_up})) as proxy:
            judged = httpx.request(method, proxy + url, **kwargs)
            [entry] = httpx.get(proxy + "/__vision__/journal").json()["entries"]
    assert proxied.status_code == 200 and proxied.content == direct.content  # forwarded, never altered
    assert proxied.headers["x-vision-verdict"] == "valid"
    assert judged.status_code == 200 and judged.headers["x-vision-verdict"] == "invalid; checks=schema:required"
    assert entry["provider"] == "shapes" and entry["verdict"]["valid"] is False, entry["verdict"]
    [har] = list(tmp_path.glob("*.har"))
    assert har.name.startswith("shapes-detect-")
    with serve(Config(port=0, packs=(pack,), replay=str(tmp_path))) as replaying:
        replayed = httpx.request(method, replaying + url, **kwargs)
    assert replayed.headers["x-vision-source"] == "replayed" and replayed.content == proxied.content


def test_the_conformance_report_draws_a_pack_case_by_its_roles(client: TestClient) -> None:
    from vision_contracts.mockserver._inspector import ReportCase, report_html

    page = report_html("pack", [ReportCase("case", "shapes", "detect", "a message", answer={"found": []}),
                                ReportCase("other", "huggingface", "object-detection", "m", answer=[])])
    assert page.count('"roles": {"items": "/found", "item": {') == 1 and '"roles": null' in page


def test_the_mocks_openapi_document_describes_the_pack_operations(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    detect = doc["paths"]["/v2/detect/{model}"]["post"]
    assert "requestBody" in detect and "200" in detect["responses"]
    assert "/segment" in doc["paths"] and "/models/{name}" in doc["paths"]


@pytest.mark.parametrize("name", ["shapes detect", "blob-segmenter-api segment-instances", "example-instances instance-segmentation",
                                  "scene-parser parse", "colour-classifier classify", "roboflow-detect object-detection"])
def test_every_answer_to_a_generated_request_validates(client: TestClient, name: str) -> None:
    """Requests from ``strategies.requests`` (tiny and odd images, every parameter) get answers with no violation."""
    from hypothesis import HealthCheck, given, settings

    from vision_contracts.plugin import strategies, to_wire

    provider, operation = name.split()
    contract = contracts.get(provider, operation)

    @settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=strategies.requests(provider, operation))
    def check(request: Any) -> None:
        wire_ = to_wire(request, contract)
        headers = {**wire_.headers, **({"authorization": "Bearer k"} if (contract.index.get("auth") or {}).get("in") == "header" else {})}
        r = client.request(wire_.method, wire_.path, params=wire_.query, headers=headers, content=wire_.body)
        assert r.status_code == 200, r.text
        report = contract.validate_response(r.json(), request=request)
        assert not report.errors, report.errors

    check()

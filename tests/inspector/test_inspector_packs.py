"""The inspector draws a contract pack's answer by its roles (Chromium through Playwright): the example instance pack's
normalised boxes and compressed-RLE masks, and a centre-box pack's keyed pixel boxes, where they are on a generated
image."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_inspector_browser import BACKGROUND, RECT, RED, blend, near, open_entry, picture, pixel

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "contracts" / "packs" / "instance-segmentation-rle.yaml"
SHAPES = ROOT / "tests" / "packs" / "files" / "shapes-keyed.yaml"


@pytest.fixture(scope="module")
def pack_mock() -> Iterator[tuple[str, dict[str, int], dict[str, object]]]:
    png = picture()
    b64 = base64.b64encode(png).decode()
    with serve(Config(port=0, packs=(str(INSTANCES), str(SHAPES)))) as url, httpx.Client(base_url=url, timeout=30) as c:
        sent = {
            "instances": c.post("/segment", json={"image": b64}, headers={"authorization": "Bearer k"}),
            "shapes": c.post("/v2/detect/m1", json={"picture": b64}),
        }
        assert all(r.status_code == 200 for r in sent.values()), {k: r.text for k, r in sent.items()}
        entries = c.get("/__vision__/journal").json()["entries"][-len(sent):]
        yield url, {name: e["id"] for name, e in zip(sent, entries, strict=True)}, {k: r.json() for k, r in sent.items()}


def test_normalised_boxes_and_rle_masks_are_drawn_where_they_are(pack_mock, open_page) -> None:
    url, ids, answers = pack_mock
    p = open_page()
    open_entry(p.page, url, ids["instances"])
    [instance] = answers["instances"]["instances"]
    x0, _, x1, _ = (v * s for v, s in zip(instance["bbox"], (200, 150, 200, 150), strict=True))
    assert abs(x0 - RECT[0]) <= 3 and abs(x1 - RECT[2]) <= 3, "the mock's normalised box is the red rectangle's"
    colour = p.page.evaluate("VisionDraw.PALETTE[0]")
    inside = pixel(p.page, 85, 70)
    assert near(inside, blend(blend(RED, colour, 0.5), colour, 0.18), tolerance=6), "the RLE mask under the box's light fill"
    assert near(pixel(p.page, round(x0), 70), blend(RED, colour, 1.0), tolerance=6), "the box's left edge, in pixels from normalised units"
    assert pixel(p.page, 10, 10) == BACKGROUND, "nothing outside the object"
    assert p.page.locator("#items tbody tr").count() == 1
    assert p.page.locator("#answer-verdict .verdict").inner_text() == "valid"
    assert not p.errors, p.errors
    p.screenshot("pack-instances-entry.png")


def test_keyed_centre_boxes_are_drawn_where_they_are(pack_mock, open_page) -> None:
    url, ids, answers = pack_mock
    p = open_page()
    open_entry(p.page, url, ids["shapes"])
    [found] = answers["shapes"]["found"]
    xmin, xmax = found["cx"] - found["w"] / 2, found["cx"] + found["w"] / 2
    colour = p.page.evaluate("VisionDraw.PALETTE[0]")
    assert near(pixel(p.page, round(xmin), round(found["cy"])), blend(RED, colour, 1.0), tolerance=6), "the left edge of the centre box"
    assert near(pixel(p.page, round(found["cx"]), round(found["cy"])), blend(RED, colour, 0.18)), "its inside lightly filled"
    assert near(pixel(p.page, round(xmax) + 8, round(found["cy"])), BACKGROUND) and xmax + 8 < 200
    assert found["kind"] in p.page.locator("#items tbody tr").first.inner_text()
    assert not p.errors, p.errors
    p.screenshot("pack-shapes-entry.png")

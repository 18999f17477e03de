"""The inspector in a real browser (Chromium through Playwright): the list shows each request, an entry page draws the
answer's masks and boxes where they are (canvas pixels at known places of a generated image), a contract violation
is shown and points at its item, no JavaScript error, and the admin token case. Screenshots go to
test-artifacts/screenshots/."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import serve

pytestmark = pytest.mark.browser

BACKGROUND, RED = (240, 240, 240), (200, 30, 30)
RECT = (50, 40, 120, 100)  # left, top, right, bottom (exclusive) of the red rectangle
SEG, DET = "/models/openmmlab/upernet-convnext-small", "/models/facebook/detr-resnet-50"


def picture() -> bytes:
    im = Image.new("RGB", (200, 150), BACKGROUND)
    im.paste(RED, RECT)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def mock():
    with serve(Config(port=0, seed=3)) as url:
        yield url


def send_all(url: str) -> dict:
    """One request of each operation (and a violation); the journal ids by name."""
    png = picture()
    b64 = base64.b64encode(png).decode()
    with httpx.Client(base_url=url, timeout=30) as c:
        sent = {
            "segmentation": c.post(SEG, content=png),
            "detection": c.post(DET, content=png),
            "roboflow": c.post("/your-model/42", params={"api_key": "secret-key"}, content=b64,
                               headers={"content-type": "application/x-www-form-urlencoded"}),
            "airefinery": c.post("/v1/images/segmentations", headers={"authorization": "Bearer air-key"},
                                 json={"model": "syscv-community/sam-hq-vit-base", "image_prompt": b64, "segment_prompt": [[[85, 70]]]}),
            "violation": c.post(DET, content=png, headers={"x-vision-scenario": "schema-violation"}),
        }
        assert all(r.status_code == 200 for r in sent.values()), {k: r.status_code for k, r in sent.items()}
        entries = c.get("/__vision__/journal").json()["entries"][-len(sent):]
    return {**{name: e["id"] for name, e in zip(sent, entries, strict=True)}, "_answers": {k: r.json() for k, r in sent.items()}}


@pytest.fixture(scope="module")
def sent(mock):
    return send_all(mock)


def pixel(page, x: int, y: int) -> tuple[int, int, int]:
    return tuple(page.evaluate("([x, y]) => Array.from(document.getElementById('canvas').getContext('2d')"
                               ".getImageData(x, y, 1, 1).data.slice(0, 3))", [x, y]))


def near(a, b, tolerance=4) -> bool:
    return all(abs(p - q) <= tolerance for p, q in zip(a, b, strict=True))


def blend(under, colour_hex: str, alpha: float):
    top = tuple(int(colour_hex[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(round(alpha * t + (1 - alpha) * u) for t, u in zip(top, under, strict=True))


def open_entry(page, url: str, entry_id: int):
    page.goto(f"{url}/__vision__/ui/entries/{entry_id}")
    page.wait_for_selector("body[data-drawn='true']", timeout=15_000)


def test_the_list_shows_each_request_and_updates_live(mock, sent, open_page):
    p = open_page()
    p.page.goto(f"{mock}/__vision__/ui/")
    for name in ("segmentation", "detection", "roboflow", "airefinery", "violation"):
        p.page.wait_for_selector(f"#journal tr[data-id='{sent[name]}']", timeout=15_000)
    row = p.page.locator(f"#journal tr[data-id='{sent['violation']}']").inner_text()
    assert "huggingface" in row and "object-detection" in row and "schema-violation" in row and "cached" in row  # same image: a cache hit
    ids = [int(x) for x in p.page.eval_on_selector_all("#journal tbody tr", "rows => rows.map(r => r.dataset.id)")]
    assert ids == sorted(ids, reverse=True), "newest first"
    with httpx.Client(base_url=mock, timeout=30) as c:  # live: a new request appears without reloading
        c.post(DET, content=picture(), headers={"x-use-cache": "false"})
        newest = c.get("/__vision__/journal").json()["entries"][-1]["id"]
    p.page.wait_for_selector(f"#journal tr[data-id='{newest}']", timeout=15_000)
    p.page.select_option("select[name='provider']", "roboflow")
    assert p.page.eval_on_selector_all("#journal tbody tr", "rows => rows.map(r => r.dataset.id)") == [str(sent["roboflow"])]
    p.page.select_option("select[name='provider']", "")
    assert "syscv-community/sam-hq-vit-base" in p.page.locator(f"#journal tr[data-id='{sent['airefinery']}']").inner_text()
    p.screenshot("list.png")


def test_a_segmentation_entry_draws_its_masks_where_they_are(mock, sent, open_page):
    p = open_page()
    open_entry(p.page, mock, sent["segmentation"])
    answer = sent["_answers"]["segmentation"]
    palette = p.page.evaluate("VisionDraw.PALETTE")

    def covering(x, y):
        for i, item in enumerate(answer):
            mask = Image.open(io.BytesIO(base64.b64decode(item["mask"]))).convert("L").resize((200, 150), Image.NEAREST)
            if mask.getpixel((x, y)) >= 128:
                return i
        return None

    inside, outside = (85, 70), (10, 10)
    i_in, i_out = covering(*inside), covering(*outside)
    assert i_in is not None and i_in != i_out, "the mock masks the red rectangle apart from the background"
    assert near(pixel(p.page, *inside), blend(RED, palette[i_in % len(palette)], 0.5))
    expected_out = BACKGROUND if i_out is None else blend(BACKGROUND, palette[i_out % len(palette)], 0.5)
    assert near(pixel(p.page, *outside), expected_out)
    assert p.page.locator("#items tbody tr").count() == len(answer)
    assert p.page.locator("#answer-verdict .verdict").inner_text() == "valid"
    p.page.hover(f"#items tbody tr[data-item='{i_in}']")  # hover highlights: the item's overlay gets stronger
    assert near(pixel(p.page, *inside), blend(RED, palette[i_in % len(palette)], 0.75))
    p.page.mouse.move(0, 0)
    p.screenshot("segmentation-entry.png")


def test_a_detection_entry_draws_its_boxes_where_they_are(mock, sent, open_page):
    p = open_page()
    open_entry(p.page, mock, sent["detection"])
    box = sent["_answers"]["detection"][0]["box"]
    colour = p.page.evaluate("VisionDraw.PALETTE[0]")
    mid_y = (box["ymin"] + box["ymax"]) // 2
    assert near(pixel(p.page, box["xmin"], mid_y), blend(RED, colour, 1.0)), "the box's left edge is stroked"
    assert near(pixel(p.page, (box["xmin"] + box["xmax"]) // 2, mid_y), blend(RED, colour, 0.18)), "its inside lightly filled"
    assert pixel(p.page, 10, 140) == BACKGROUND, "nothing is drawn outside the box"
    assert p.page.locator("#items tbody tr").first.inner_text().count(str(box["xmin"])) >= 1
    p.screenshot("detection-entry.png")


def test_a_contract_violation_is_shown_and_points_at_its_box(mock, sent, open_page):
    p = open_page()
    open_entry(p.page, mock, sent["violation"])
    verdict = p.page.locator("#answer-verdict")
    assert verdict.locator(".verdict").inner_text() == "invalid"
    violation = verdict.locator(".violation").first
    assert violation.locator(".path").inner_text() == "$[0]" and "label" in violation.inner_text()
    violation.click()
    assert p.page.locator("#items tbody tr[data-item='0']").get_attribute("class") == "hot"
    assert "Highlighted: item 0" in p.page.locator("#action-note").inner_text()
    p.screenshot("violation-entry.png")


def test_roboflow_and_airefinery_entries_draw(mock, sent, open_page):
    p = open_page()
    open_entry(p.page, mock, sent["roboflow"])
    names = set(sent["_answers"]["roboflow"]["class_map"].values())
    assert {t.split("\t")[1] for t in p.page.locator("#items tbody tr").all_inner_texts()} == names
    assert "secret-key" not in p.page.content(), "the api_key is redacted everywhere on the page"
    p.screenshot("roboflow-entry.png")
    open_entry(p.page, mock, sent["airefinery"])
    assert "(85, 70)" in p.page.locator("#points").inner_text()
    assert near(pixel(p.page, 87, 72), (255, 235, 59)), "the prompt point is drawn where it was given"
    mask = Image.open(io.BytesIO(base64.b64decode(sent["_answers"]["airefinery"]["data"][0]["b64_json"])))
    assert mask.getpixel((60, 50)) == 1 and mask.getpixel((10, 10)) == 0, "the mock's mask (0/1 values) covers the rectangle"
    colour = p.page.evaluate("VisionDraw.PALETTE[0]")
    assert near(pixel(p.page, 60, 50), blend(RED, colour, 0.5)), "the mask is drawn over the rectangle"
    assert pixel(p.page, 10, 10) == BACKGROUND, "and not outside it"
    assert "air-key" not in p.page.content()
    p.screenshot("airefinery-entry.png")


def test_har_and_curl(mock, sent, open_page):
    p = open_page()
    open_entry(p.page, mock, sent["detection"])
    assert p.page.locator("#curl").inner_text().startswith("curl -X POST " + mock + DET)
    with p.page.expect_download() as download:
        p.page.click("#download-har")
    har = download.value.path().read_text()
    assert '"log"' in har and DET in har


def test_the_admin_token_case(open_page):
    with serve(Config(port=0, seed=3, admin_token="tok-123")) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.post(DET, content=picture()).status_code == 200
            assert c.get("/__vision__/ui/api/entries").status_code == 401
        p = open_page(allowed=("status of 401",))  # the page's first call, refused, is how it learns a token is needed
        p.page.goto(f"{url}/__vision__/ui/")
        p.page.wait_for_selector("#token-box:not([hidden])", timeout=15_000)
        p.page.fill("#token-input", "tok-123")
        p.page.click("#token-form button")
        p.page.wait_for_selector("#journal tr[data-id]", timeout=15_000)
        assert p.page.evaluate("sessionStorage.getItem('vision-admin-token')") == "tok-123"
        p.page.click("#journal tr[data-id] a")
        p.page.wait_for_selector("body[data-drawn='true']", timeout=15_000)
        assert p.page.locator("#token-box").is_hidden(), "the token, kept in sessionStorage, serves the entry page too"
        with p.page.expect_download() as download:
            p.page.click("#download-har")
        assert '"log"' in download.value.path().read_text()
        p.screenshot("token-entry.png")


def test_evicted_bodies_still_show_metadata(open_page):
    with serve(Config(port=0, keep_bodies_mb=0)) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.post(DET, content=picture()).status_code == 200
            entry_id = c.get("/__vision__/journal").json()["entries"][-1]["id"]
        p = open_page()
        p.page.goto(f"{url}/__vision__/ui/entries/{entry_id}")
        p.page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
        assert "no longer keeps this entry's bodies" in p.page.locator("#bodies-note").inner_text()
        assert "object-detection" in p.page.locator("#meta").inner_text()


def test_a_request_violation_points_at_its_prompt_point(mock, open_page):
    with httpx.Client(base_url=mock, timeout=30) as c:
        refused = c.post("/v1/images/segmentations", headers={"authorization": "Bearer air-key"},
                         json={"model": "syscv-community/sam-hq-vit-base", "image_prompt": base64.b64encode(picture()).decode(),
                               "segment_prompt": [[[150, 20], [450, 600]]]})
        assert 400 <= refused.status_code < 500
        entry_id = c.get("/__vision__/journal").json()["entries"][-1]["id"]
    p = open_page(allowed=())
    open_entry(p.page, mock, entry_id)
    verdict = p.page.locator("#request-verdict")
    assert verdict.locator(".verdict").inner_text() == "invalid"
    violation = verdict.locator(".violation[data-path='$.body.segment_prompt[0][1]']")
    violation.click()
    assert "the prompt point (450, 600)" in p.page.locator("#action-note").inner_text()
    assert near(pixel(p.page, 150 + 2, 20 + 2), (255, 235, 59)), "the point inside the image is drawn"
    p.screenshot("request-violation-entry.png")

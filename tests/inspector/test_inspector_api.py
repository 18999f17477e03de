"""The inspector's routes without a browser: the pages open and their data behind the admin token, a proxied answer's
source, HAR, entries gone from the journal, and the request body kept exactly."""

from __future__ import annotations

import json

import httpx

from vision_contracts.mockserver import Config
from vision_contracts.mockserver.testing import sample_image, serve

DET = "/models/facebook/detr-resnet-50"


def test_pages_are_open_and_their_data_needs_the_token():
    with serve(Config(port=0, admin_token="t0k")) as url, httpx.Client(base_url=url, timeout=30) as c:
        assert c.post(DET, content=sample_image(64, 48)).status_code == 200
        for page in ("/__vision__/ui/", "/__vision__/ui/entries/1", "/__vision__/ui/static/draw.js"):
            assert c.get(page).status_code == 200, page
        assert c.get("/__vision__/ui/static/nothing.js").status_code == 404
        refused = c.get("/__vision__/ui/api/entries")
        assert refused.status_code == 401 and "--admin-token" in refused.json()["detail"]
        assert c.get("/__vision__/ui/api/entries/1/image").status_code == 401
        listed = c.get("/__vision__/ui/api/entries", headers={"authorization": "Bearer t0k"}).json()
        assert [e["source"] for e in listed["entries"]] == ["computed"]


def test_a_proxied_answer_is_shown_as_proxied_with_its_bodies():
    image = sample_image(80, 60)
    with serve(Config(port=0)) as upstream, serve(Config(port=0, upstream={"huggingface": upstream})) as proxy, \
            httpx.Client(base_url=proxy, timeout=30) as c:
        sent = c.post(DET, content=image, headers={"authorization": "Bearer hf_secret"})
        assert sent.status_code == 200
        entry_id = c.get("/__vision__/journal").json()["entries"][-1]["id"]
        found = c.get(f"/__vision__/ui/api/entries/{entry_id}").json()
        assert found["entry"]["source"] == "proxied"
        assert found["answer"] == sent.json() and found["answer_verdict"]["valid"] is True
        assert c.get(f"/__vision__/ui/api/entries/{entry_id}/request-body").content == image
        assert c.get(f"/__vision__/ui/api/entries/{entry_id}/image").content == image
        har = c.get(f"/__vision__/ui/api/entries/{entry_id}/har")
        assert "attachment" in har.headers["content-disposition"]
        assert "hf_secret" not in har.text and json.loads(har.text)["log"]["entries"][0]["response"]["status"] == 200


def test_entries_gone_from_the_journal_say_so():
    with serve(Config(port=0)) as url, httpx.Client(base_url=url, timeout=30) as c:
        c.post(DET, content=sample_image(32, 32))
        c.delete("/__vision__/journal")
        gone = c.get("/__vision__/ui/api/entries/1")
        assert gone.status_code == 404 and "no entry 1" in gone.json()["detail"]


def test_an_answer_broken_by_the_schema_violation_scenario_is_listed_as_invalid():
    """The request was valid, the answer was not: the journal says so beside the request's verdict, and the list's
    verdict is the interaction's (invalid), not the request's alone."""
    with serve(Config(port=0)) as url, httpx.Client(base_url=url, timeout=30) as c:
        image = sample_image(64, 48)
        assert c.post(DET, content=image).status_code == 200
        assert c.post(DET, content=image, headers={"x-vision-scenario": "schema-violation"}).status_code == 200
        journal = c.get("/__vision__/journal").json()["entries"]
        broken = next(e for e in journal if e.get("scenario") == "schema-violation")
        assert broken["verdict"]["valid"] is True and broken["verdict"]["answer_valid"] is False
        assert any("required property" in v for v in broken["verdict"]["answer_violations"]), broken["verdict"]
        words = {e["scenario"] or "-": e["verdict_word"] for e in c.get("/__vision__/ui/api/entries").json()["entries"]}
        assert words == {"-": "valid", "schema-violation": "invalid"}

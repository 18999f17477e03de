"""Provider behaviour over HTTP: every error body validates against the contract's error schema for its status."""

from __future__ import annotations

import base64
import concurrent.futures
import json

import httpx
import pytest

from vision_contracts import contracts

from behaviour_support import AIR_KEY, HF_TOKEN, RF_KEY

HF_SEG = contracts.get("huggingface", "image-segmentation")
HF_DET = contracts.get("huggingface", "object-detection")
RF = contracts.get("roboflow", "semantic-segmentation")
AIR = contracts.get("airefinery", "image-segmentation")
HF_AUTH = {"Authorization": f"Bearer {HF_TOKEN}"}


def hf(base_url, png, headers=None, model="facebook/detr-resnet-50"):
    return httpx.post(f"{base_url}/models/{model}", content=png, headers={**HF_AUTH, **(headers or {})}, timeout=20)


def rf(base_url, png, key=RF_KEY, model="street-scenes/4", headers=None):
    return httpx.post(f"{base_url}/{model}", params={"api_key": key}, content=base64.b64encode(png),
                      headers={"content-type": "application/x-www-form-urlencoded", **(headers or {})}, timeout=20)


def air(base_url, png, key=AIR_KEY, body=None, headers=None):
    body = body or {"model": "syscv-community/sam-hq-vit-base", "image_prompt": base64.b64encode(png).decode(), "segment_prompt": [[[10, 10]]], "extra_body": None}
    return httpx.post(f"{base_url}/v1/images/segmentations", json=body, headers={"Authorization": f"Bearer {key}", **(headers or {})}, timeout=20)


def assert_error(contract, response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert contract.validate_error_body(response.json(), status) == [], response.text
    return response.json()


def journal(base_url, **params):
    return httpx.get(f"{base_url}/__vision__/journal", params=params).json()


# --- auth --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic aGY6eA=="}, {"Authorization": "Bearer"}])
def test_hf_auth_refuses_missing_or_wrong_tokens(base_url, png, headers):
    r = httpx.post(f"{base_url}/models/facebook/detr-resnet-50", content=png, headers=headers)
    body = assert_error(HF_DET, r, 401)
    assert body == {"error": "Invalid credentials in Authorization header"}


def test_hf_auth_accepts_the_token_and_the_docs_colon_spelling(base_url, png):
    assert hf(base_url, png).status_code == 200
    assert hf(base_url, png, {"Authorization": f"Bearer: {HF_TOKEN}"}).status_code == 200
    assert hf(base_url, png, {"Authorization": f"bearer {HF_TOKEN}"}).status_code == 200  # schemes are case-insensitive


def test_roboflow_bad_key_is_403_forbidden(base_url, png):
    assert_error(RF, rf(base_url, png, key="nope"), 403)
    assert rf(base_url, png, key="nope").json() == {"message": "Forbidden"}
    r = httpx.post(f"{base_url}/street-scenes/4", content=base64.b64encode(png))
    assert_error(RF, r, 403)


def test_roboflow_unknown_model_is_404_when_a_model_list_is_configured(base_url, png):
    assert rf(base_url, png).status_code == 200
    body = assert_error(RF, rf(base_url, png, model="other-model/1"), 404)
    assert body == {"detail": "Not Found"}


def test_airefinery_bad_bearer_is_401_and_malformed_body_422(base_url, png):
    assert_error(AIR, air(base_url, png, key="wrong"), 401)
    r = air(base_url, png, body={"model": "m", "image_prompt": "!!", "segment_prompt": "x"})
    body = assert_error(AIR, r, 422)
    assert {tuple(d["loc"]) for d in body["detail"]} >= {("body", "segment_prompt")}


def test_tokens_never_appear_in_the_journal(base_url, png):
    hf(base_url, png)
    rf(base_url, png)
    air(base_url, png)
    text = json.dumps(journal(base_url))
    for secret in (HF_TOKEN, RF_KEY, AIR_KEY):
        assert secret not in text
    config = httpx.get(f"{base_url}/__vision__/config").text
    assert HF_TOKEN not in config and "redacted" in config


# --- model loading, cache --------------------------------------------------------------------------------

def test_hf_model_loading_by_count_then_answers(base_url, png):
    httpx.post(f"{base_url}/__vision__/loading", json={"model": "facebook/detr-resnet-50", "requests": 2}).raise_for_status()
    for _ in range(2):
        body = assert_error(HF_DET, hf(base_url, png), 503)
        assert body["error"] == "Model facebook/detr-resnet-50 is currently loading" and body["estimated_time"] > 0
    assert hf(base_url, png).status_code == 200


def test_x_wait_for_model_waits_then_answers(base_url, png):
    # loading by count: no time window, so a loaded machine cannot make the first answer come too late
    httpx.post(f"{base_url}/__vision__/loading", json={"model": "facebook/detr-resnet-50", "requests": 5}).raise_for_status()
    assert hf(base_url, png).status_code == 503
    r = hf(base_url, png, {"x-wait-for-model": "true"})
    assert r.status_code == 200 and HF_DET.validate_response(r.json(), request=png).ok
    assert hf(base_url, png).status_code == 200  # loaded now, although 3 of its 5 loading answers were left


def test_loading_scenario_from_the_control_header(base_url, png):
    r = hf(base_url, png, {"x-vision-scenario": "loading; estimated_time=7.5"}, model="openmmlab/upernet-convnext-small")
    assert assert_error(HF_SEG, r, 503) == {"error": "Model openmmlab/upernet-convnext-small is currently loading", "estimated_time": 7.5}
    r = hf(base_url, png, {"x-vision-scenario": "loading; estimated_time=0.05", "x-wait-for-model": "true"}, model="openmmlab/upernet-convnext-small")
    assert r.status_code == 200


def test_x_use_cache(base_url, png):
    first = hf(base_url, png)
    again = hf(base_url, png)
    fresh = hf(base_url, png, {"x-use-cache": "false"})
    assert (first.headers["x-vision-cache"], again.headers["x-vision-cache"], fresh.headers["x-vision-cache"]) == ("miss", "hit", "miss")
    assert first.content == again.content == fresh.content
    assert float(first.headers["x-compute-time"]) >= 0 and first.headers["x-compute-type"] == "cpu"


# --- rate limits -----------------------------------------------------------------------------------------

def test_rate_limit_with_headers(base_url, png):
    httpx.post(f"{base_url}/__vision__/rate-limits", json={"provider": "huggingface", "requests": 2, "seconds": 60}).raise_for_status()
    assert [hf(base_url, png).status_code for _ in range(2)] == [200, 200]
    r = hf(base_url, png)
    assert_error(HF_DET, r, 429)
    assert r.headers["x-ratelimit-limit"] == "2" and r.headers["x-ratelimit-remaining"] == "0" and int(r.headers["retry-after"]) >= 1
    assert rf(base_url, png).status_code == 200  # other providers are not limited


@pytest.mark.parametrize(("contract", "send"), [(RF, rf), (AIR, air)])
def test_rate_limit_scenario_in_each_provider_format(base_url, png, contract, send):
    r = send(base_url, png, headers={"x-vision-scenario": "rate-limit; retry_after=3"})
    assert_error(contract, r, 429)
    assert r.headers["retry-after"] == "3"


# --- scenarios: faults, per request / count / duration / config --------------------------------------------

@pytest.mark.parametrize(("name", "status"), [("server-error", 500), ("unauthorized", 401), ("not-found", 404), ("unavailable", 503)])
def test_status_scenarios_validate(base_url, png, name, status):
    assert_error(HF_DET, hf(base_url, png, {"x-vision-scenario": name}), status)


def test_roboflow_scenarios_use_roboflow_statuses(base_url, png):
    assert rf(base_url, png, headers={"x-vision-scenario": "unauthorized"}).json() == {"message": "Forbidden"}
    assert assert_error(RF, rf(base_url, png, headers={"x-vision-scenario": "not-found"}), 404) == {"detail": "Not Found"}


def test_delay_then_normal_answer(base_url, png):
    r = hf(base_url, png, {"x-vision-scenario": "delay; ms=150"})
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.15


def test_malformed_json(base_url, png):
    r = hf(base_url, png, {"x-vision-scenario": "malformed-json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


@pytest.mark.parametrize("name", ["reset", "truncated"])
def test_connection_faults_and_the_server_stays_healthy(base_url, png, name):
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        hf(base_url, png, {"x-vision-scenario": name})
    assert httpx.get(f"{base_url}/__vision__/health").json()["status"] == "ok"
    assert hf(base_url, png).status_code == 200


@pytest.mark.parametrize(("contract", "send"), [(HF_DET, hf), (RF, rf), (AIR, air)])
def test_schema_violation_breaks_the_contract(base_url, png, contract, send):
    r = send(base_url, png, headers={"x-vision-scenario": "schema-violation"})
    assert r.status_code == 200
    report = contract.validate_response(r.json(), request=png)
    assert [v.check for v in report.errors][:1] == ["schema:required"]


def test_bad_control_header_is_a_clear_400(base_url, png):
    body = assert_error(HF_DET, hf(base_url, png, {"x-vision-scenario": "teapot"}), 400)
    assert "Unknown scenario 'teapot'" in body["error"]


def test_rule_for_n_requests_through_the_admin_api(base_url, png):
    r = httpx.post(f"{base_url}/__vision__/scenarios", json={"scenario": "server-error", "provider": "roboflow", "count": 2})
    assert r.status_code == 201 and r.json()["remaining"] == 2
    assert [rf(base_url, png).status_code for _ in range(3)] == [500, 500, 200]
    assert hf(base_url, png).status_code == 200


def test_rule_for_a_duration_and_removal(base_url, png):
    rule = httpx.post(f"{base_url}/__vision__/scenarios", json={"scenario": "unavailable", "seconds": 30}).json()
    assert hf(base_url, png).status_code == 503
    assert httpx.delete(f"{base_url}/__vision__/scenarios/{rule['id']}").json() == {"removed": 1}
    assert hf(base_url, png).status_code == 200
    assert httpx.delete(f"{base_url}/__vision__/scenarios/{rule['id']}").status_code == 404


def test_admin_rejects_bad_rules(base_url):
    r = httpx.post(f"{base_url}/__vision__/scenarios", json={"scenario": "teapot"})
    assert r.status_code == 422 and "Unknown scenario" in r.json()["detail"]
    assert httpx.post(f"{base_url}/__vision__/scenarios", json={"scenario": "delay", "count": 0}).status_code == 422


def test_admin_api_is_in_openapi(base_url):
    paths = httpx.get(f"{base_url}/openapi.json").json()["paths"]
    assert {"/__vision__/scenarios", "/__vision__/journal", "/__vision__/reset", "/__vision__/loading", "/__vision__/rate-limits"} <= set(paths)


# --- journal ---------------------------------------------------------------------------------------------

def test_journal_entry_has_verdict_image_and_digest(base_url, png):
    hf(base_url, png)
    httpx.post(f"{base_url}/models/facebook/detr-resnet-50", json={"inputs": "bm90IGFuIGltYWdl"}, headers=HF_AUTH)
    httpx.post(f"{base_url}/no/such/path/here", content=b"lost?")
    data = journal(base_url)
    first, second, third = data["entries"]
    assert first["verdict"]["valid"] is True and first["image"] == {"width": 64, "height": 48, "format": "PNG"}
    assert first["form"] == "raw" and first["status"] == 200 and len(first["body_sha256"]) == 64
    assert second["verdict"]["valid"] is False and second["status"] == 400 and "request-image" in second["verdict"]["violations"][0]
    assert third["status"] == 404 and third["body_size"] == 5
    assert [e["id"] for e in journal(base_url, status=400)["entries"]] == [second["id"]]
    assert journal(base_url, valid="true")["matched"] == 1


def test_journal_records_requests_answered_early_with_their_verdict(base_url, png):
    hf(base_url, png, {"Authorization": "Bearer wrong"})
    entry = journal(base_url)["entries"][-1]
    assert entry["status"] == 401 and entry["scenario"] == "auth" and entry["verdict"]["valid"] is True


def test_journal_counts_exactly_under_concurrency(base_url, png):
    def send(i):
        return [hf, rf, air][i % 3](base_url, png).status_code

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(90)))
    assert statuses.count(200) == 90
    data = journal(base_url)
    assert data["total"] == 90 and data["matched"] == 90
    assert len({e["id"] for e in data["entries"]}) == 90
    assert {p: journal(base_url, provider=p)["matched"] for p in ("huggingface", "roboflow", "airefinery")} == {"huggingface": 30, "roboflow": 30, "airefinery": 30}
    assert httpx.delete(f"{base_url}/__vision__/journal").json() == {"removed": 90}

"""Auth on, for every provider's scheme: no request without valid credentials gets a 2xx (tricky values included);
tokens are compared with hmac.compare_digest, every accepted token every time (checked structurally, not by
timing); tokens and api keys never appear unredacted in the journal, in error bodies or in the server's logs.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging

import httpx
import pytest

from vision_contracts import contracts
from vision_contracts.mockserver import Config, _auth
from vision_contracts.mockserver.testing import sample_image, serve

from reliability_support import raw_http, server_process

HF_TOKEN = "hf_R3liabilityToken0xC0FFEE"
HF_OTHER = "hf_SecondAcceptedToken77"
RF_KEY = "rfKeyR3liability0xBEEF"
AIR_KEY = "air_R3liabilityKey0xF00D"
SECRETS = (HF_TOKEN, HF_OTHER, RF_KEY, AIR_KEY)
AUTH = {"huggingface": (HF_TOKEN, HF_OTHER), "roboflow": (RF_KEY,), "airefinery": (AIR_KEY,)}

PNG = sample_image(40, 30)
PNG64 = base64.b64encode(PNG).decode()
HF_DET = "/models/facebook/detr-resnet-50"
RF = "/ds/1"
AIR = "/v1/images/segmentations"


def _bearer_variants(token: str) -> list[bytes | None]:
    """Authorization header values that must never be accepted (None: no header at all)."""
    values: list[str | bytes | None] = [
        None, "", " ", "Bearer", "Bearer ", "Bearer  ", "bearer", "Bearer:", "Bearer: ", "Basic " + token, "Token " + token,
        token, "Bearer" + token, "Bearer wrong", "Bearer " + token[:-1], "Bearer " + token[1:], "Bearer " + token[: len(token) // 2],
        "Bearer " + token + "x", "Bearer x" + token, "Bearer " + token.upper(), "Bearer " + token.lower(),
        "Bearer " + token + " " + token, "Bearer " + token + ",x", "Bearer " + token[:3] + "а" + token[4:],  # a Cyrillic a
        "Bearer " + token + "\u00a0", "Bearer " + "\u200b" + token, "Bearer " + token + "☃", "bearer wrong",
        "Bearer " + "A" * 5000, "Bearer " + token[:-1] + chr(ord(token[-1]) + 1),
    ]
    return [v if v is None or isinstance(v, bytes) else v.encode("utf-8") for v in values]


def _key_variants(key: str) -> list[str | None]:
    """api_key query values that must never be accepted (None: no api_key at all)."""
    return [None, "", " ", key + " ", " " + key, key[:-1], key[1:], key + "x", "x" + key, key.upper(), key.lower(),
            key[:3] + "е" + key[4:], key + "\u0000", key + "\u200b", "Bearer " + key, key[: len(key) // 2], "☃" * 8]


def _post(client: httpx.Client, path: str, body: bytes, content_type: str, value: bytes | None) -> httpx.Response:
    if value is not None and value != value.strip(b" \t"):  # httpx refuses such values: write the request by hand
        return raw_http(str(client.base_url).rstrip("/"), "POST", path, [(b"content-type", content_type.encode()), (b"authorization", value)], body)
    headers = {"content-type": content_type}
    if value is not None:
        headers["authorization"] = value  # type: ignore[assignment]
    return client.post(path, content=body, headers=headers)


def _hf(client: httpx.Client, value: bytes | None) -> httpx.Response:
    return _post(client, HF_DET, PNG, "image/png", value)


def _air(client: httpx.Client, value: bytes | None) -> httpx.Response:
    body = json.dumps({"model": "m", "image_prompt": PNG64, "segment_prompt": [[[4, 4]]]}).encode()
    return _post(client, AIR, body, "application/json", value)


def _rf(client: httpx.Client, value: str | None, *, header: str | None = None) -> httpx.Response:
    params = {} if value is None else {"api_key": value}
    return client.post(RF, content=PNG64, params=params, headers={"authorization": header} if header else {})


def _refused(response: httpx.Response, provider: str, operation: str) -> None:
    assert not 200 <= response.status_code < 300, response.text[:300]
    assert 400 <= response.status_code < 500, response.text[:300]
    report = contracts.get(provider, operation).validate_error_body(response.json(), response.status_code)
    assert report.errors == [], report.render("error body")


@pytest.fixture(scope="module")
def auth_url():
    with serve(Config(port=0, seed=2, auth=AUTH, journal_limit=10_000)) as url:
        yield url


@pytest.fixture
def auth_client(auth_url):
    with httpx.Client(base_url=auth_url, timeout=15) as client:
        yield client


def test_valid_credentials_are_served(auth_client):
    assert _hf(auth_client, f"Bearer {HF_TOKEN}".encode()).status_code == 200
    assert _hf(auth_client, f"Bearer {HF_OTHER}".encode()).status_code == 200
    assert _hf(auth_client, f"Bearer: {HF_TOKEN}".encode()).status_code == 200  # the HF docs' spelling
    assert _air(auth_client, f"Bearer {AIR_KEY}".encode()).status_code == 200
    assert _rf(auth_client, RF_KEY).status_code == 200


@pytest.mark.parametrize("value", _bearer_variants(HF_TOKEN), ids=repr)
def test_huggingface_bearer_without_a_valid_token_never_gets_a_2xx(auth_client, value):
    _refused(_hf(auth_client, value), "huggingface", "object-detection")


@pytest.mark.parametrize("value", _bearer_variants(AIR_KEY) + [f"bearer {AIR_KEY}x".encode(), f"Bearer {HF_TOKEN}".encode()], ids=repr)
def test_airefinery_bearer_without_a_valid_token_never_gets_a_2xx(auth_client, value):
    _refused(_air(auth_client, value), "airefinery", "image-segmentation")


@pytest.mark.parametrize("value", _key_variants(RF_KEY), ids=repr)
def test_roboflow_api_key_without_the_valid_key_never_gets_a_2xx(auth_client, value):
    _refused(_rf(auth_client, value), "roboflow", "semantic-segmentation")


def test_roboflow_key_in_a_header_instead_of_the_query_is_refused(auth_client):
    _refused(_rf(auth_client, None, header=f"Bearer {RF_KEY}"), "roboflow", "semantic-segmentation")
    _refused(_rf(auth_client, "wrong", header=f"Bearer {RF_KEY}"), "roboflow", "semantic-segmentation")


def test_another_providers_token_is_not_accepted(auth_client):
    _refused(_hf(auth_client, f"Bearer {AIR_KEY}".encode()), "huggingface", "object-detection")
    _refused(_rf(auth_client, HF_TOKEN), "roboflow", "semantic-segmentation")


# --- constant time, structurally -----------------------------------------------------------------------------------

class _Spy:
    def __init__(self):
        self.calls: list[tuple[object, object]] = []
        self.real = hmac.compare_digest

    def __call__(self, a, b):
        self.calls.append((a, b))
        return self.real(a, b)


@pytest.mark.parametrize("presented", [HF_TOKEN, HF_OTHER, "nope", "", None, HF_TOKEN[:-1]])
def test_token_ok_compares_every_accepted_token_with_compare_digest(monkeypatch, presented):
    spy = _Spy()
    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    accepted = (HF_TOKEN, "third-token", HF_OTHER)
    assert _auth.token_ok(presented, accepted) is (presented in accepted)
    # no early exit: every accepted token is compared, whichever matched (or none), always as bytes
    assert len(spy.calls) == len(accepted)
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in spy.calls)
    assert [b for _, b in spy.calls] == [t.encode() for t in accepted]


def test_token_ok_uses_no_plain_comparison():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(_auth.token_ok))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Compare)], "token_ok must compare with hmac.compare_digest only"
    assert "compare_digest" in inspect.getsource(_auth.token_ok)


def test_the_server_checks_credentials_through_compare_digest(monkeypatch, auth_client):
    spy = _Spy()
    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    _hf(auth_client, b"Bearer wrong-token")
    _rf(auth_client, "wrong-key")
    assert (b"wrong-token", HF_TOKEN.encode()) in spy.calls and (b"wrong-token", HF_OTHER.encode()) in spy.calls
    assert (b"wrong-key", RF_KEY.encode()) in spy.calls


# --- redaction: journal, error bodies, logs ------------------------------------------------------------------------

def _send_everything(client: httpx.Client) -> list[httpx.Response]:
    responses = [_hf(client, v) for v in [f"Bearer {HF_TOKEN}".encode(), f"bearer {HF_TOKEN}".encode(), f"Bearer {HF_TOKEN}x".encode(),
                                          f"Token {HF_TOKEN}".encode(), HF_TOKEN.encode(), f"Bearer: {HF_OTHER}".encode()]]
    responses += [_air(client, v) for v in [f"Bearer {AIR_KEY}".encode(), f"bearer {AIR_KEY}".encode(), f"Basic {AIR_KEY}".encode(), AIR_KEY.encode()]]
    responses += [_rf(client, v) for v in [RF_KEY, RF_KEY + "x", " " + RF_KEY]]
    responses.append(client.post(f"/nowhere?api_key={RF_KEY}", headers={"authorization": f"Bearer {HF_TOKEN}"}))
    responses.append(client.post(f"{RF}?api_key={RF_KEY}&api_key={RF_KEY}x", content=PNG64))
    return responses


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text or s[:12] in text]


def test_tokens_never_appear_in_the_journal_or_in_error_bodies(auth_client):
    auth_client.delete("/__vision__/journal")
    responses = _send_everything(auth_client)
    for r in responses:
        if r.status_code >= 400:
            assert _leaks(r.text) == [], (r.status_code, r.text[:400])
    journal = auth_client.get("/__vision__/journal", params={"limit": 100_000})
    assert journal.json()["total"] == len(responses)
    assert _leaks(journal.text) == [], journal.text[:2000]
    assert _leaks(auth_client.get("/__vision__/config").text) == []


def test_tokens_never_appear_in_the_servers_logs_in_process(auth_client, caplog):
    with caplog.at_level(logging.DEBUG):
        _send_everything(auth_client)
    server = ("vision_contracts.mockserver", "uvicorn", "fastapi", "starlette")  # not httpx's own client log
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records if r.name.startswith(server))
    assert _leaks(text) == [], text[:2000]


def test_tokens_never_appear_in_the_logs_of_python_m_mockserver(tmp_path):
    """The real command with debug logging and uvicorn's access log (which prints every request line)."""
    log = tmp_path / "server.log"
    args = ["--log-level", "debug", "--auth", f"huggingface={HF_TOKEN}", "--auth", f"huggingface={HF_OTHER}",
            "--auth", f"roboflow={RF_KEY}", "--auth", f"airefinery={AIR_KEY}"]
    with server_process(args, log=log) as (url, _proc), httpx.Client(base_url=url, timeout=15) as client:
        responses = _send_everything(client)
        assert any(r.status_code == 200 for r in responses)
        journal = client.get("/__vision__/journal", params={"limit": 100_000}).text
    text = log.read_text(errors="replace")
    assert "POST " in text  # the access log is on: the test would notice a leak
    assert _leaks(text) == [], text[-3000:]
    assert _leaks(journal) == []

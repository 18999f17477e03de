"""A hostile-input corpus, each case sent over loopback to a live server with small limits: every one gets a clear
4xx in the provider's own error format (validated against the contract's error schema), none a 5xx, a hang or a
crash, and the server answers a normal request afterwards.

The server's limits here: ``max_body_bytes=200_000``, ``max_pixels=4_000_000``, ``max_json_depth=32``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from vision_contracts import contracts
from vision_contracts.mockserver import Config, ConfigError
from vision_contracts.mockserver.testing import sample_image, serve

from hostile_payloads import b64, bmp_claiming, gif_claiming, jpeg_claiming, nested_json, png_claiming, png_zlib_bomb

MAX_BODY = 200_000
PNG = sample_image(48, 32)
JPEG = sample_image(64, 48, fmt="JPEG", noise=10)

HF_SEG, HF_DET = "/models/openmmlab/upernet-convnext-small", "/models/facebook/detr-resnet-50"
RF = "/ds/1"
AIR = "/v1/images/segmentations"
BEARER = {"authorization": "Bearer k"}
OPS = {
    HF_SEG: ("huggingface", "image-segmentation"), HF_DET: ("huggingface", "object-detection"),
    RF: ("roboflow", "semantic-segmentation"), AIR: ("airefinery", "image-segmentation"),
}
HF_ANY = ("huggingface", "image-segmentation")  # the error schema every Hugging Face path shares (404 unknown model)


@dataclass
class Case:
    id: str
    path: str
    status: int
    content: bytes | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    op: tuple[str, str] | None = None  # the contract whose error schema applies; default: by path
    chunked: bool = False

    def contract(self) -> contracts.Contract:
        base = self.path.split("?", 1)[0]
        return contracts.get(*(self.op or OPS.get(base) or (HF_ANY if base.startswith("/models/") else ("roboflow", "semantic-segmentation"))))


def _json(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()


def _hf_json(params: dict[str, Any] | None = None, inputs: Any = None, raw: str | None = None) -> bytes:
    if raw is not None:
        return f'{{"inputs": "{b64(PNG)}", "parameters": {raw}}}'.encode()
    return _json({"inputs": b64(PNG) if inputs is None else inputs, **({"parameters": params} if params is not None else {})})


def _air(raw_prompt: str | None = None, image: str | None = None, **extra: Any) -> bytes:
    body = {"model": "m", "image_prompt": b64(PNG) if image is None else image, "segment_prompt": [[[4, 4]]], **extra}
    text = json.dumps(body)
    if raw_prompt is not None:
        text = text.replace('[[[4, 4]]]', raw_prompt)
    return text.encode()


JSON_CT = {"content-type": "application/json"}
TEXT_CT = {"content-type": "text/plain"}
RFQ = {"api_key": "k"}


def _multipart(boundary: str, parts: list[tuple[str, str | None, bytes]], *, close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if close else b"")


CASES = [
    # --- Hugging Face: empty, truncated and non-image bodies -----------------------------------------------------
    Case("hf-empty-body-no-content-type", HF_DET, 400, content=b""),
    Case("hf-empty-body-png", HF_SEG, 400, content=b"", headers={"content-type": "image/png"}),
    Case("hf-empty-json-object", HF_DET, 400, content=b"{}", headers=JSON_CT),
    Case("hf-png-signature-only", HF_DET, 400, content=PNG[:16], headers={"content-type": "image/png"}),
    Case("hf-truncated-png", HF_SEG, 400, content=PNG[: len(PNG) // 2]),
    Case("hf-truncated-jpeg", HF_DET, 400, content=JPEG[: len(JPEG) // 3], headers={"content-type": "image/jpeg"}),
    Case("hf-text-as-png", HF_DET, 400, content=b"hello, I am not an image", headers={"content-type": "image/png"}),
    Case("hf-html-as-octet-stream", HF_SEG, 400, content=b"<html><body>oops</body></html>", headers={"content-type": "application/octet-stream"}),
    Case("hf-unparseable-json", HF_SEG, 400, content=b'{"inputs": "AAAA", "parameters": {', headers=JSON_CT),
    # --- decompression bombs ---------------------------------------------------------------------------------------
    Case("hf-png-ihdr-100000x100000", HF_DET, 400, content=png_claiming(100_000, 100_000), headers={"content-type": "image/png"}),
    Case("hf-png-bomb-in-json-inputs", HF_SEG, 400, content=_hf_json(inputs=b64(png_claiming(100_000, 100_000)))),
    Case("hf-gif-65535x65535", HF_DET, 400, content=gif_claiming(65535, 65535), headers={"content-type": "image/gif"}),
    Case("hf-jpeg-sof-65500x65500", HF_SEG, 400, content=jpeg_claiming(65500, 65500), headers={"content-type": "image/jpeg"}),
    Case("hf-jpeg-sof-3000x3000-no-data", HF_DET, 400, content=jpeg_claiming(3000, 3000), headers={"content-type": "image/jpeg"}),
    Case("hf-bmp-100000x100000", HF_DET, 400, content=bmp_claiming(100_000, 100_000)),
    Case("hf-png-zlib-bomb-3000x3000-over-max-pixels", HF_SEG, 400, content=png_zlib_bomb(3000), headers={"content-type": "image/png"}),
    # --- base64 and data URIs --------------------------------------------------------------------------------------
    Case("hf-invalid-base64", HF_DET, 400, content=_hf_json(inputs="!!!!not*base64!!!!")),
    Case("hf-base64-of-text", HF_DET, 400, content=_hf_json(inputs=b64(b"plain text, not an image"))),
    Case("hf-non-ascii-base64", HF_SEG, 400, content=_hf_json(inputs="ĳĳĳĳ☃☃")),
    Case("hf-data-uri-text-type", HF_DET, 400, content=_hf_json(inputs="data:text/plain;base64," + b64(PNG))),
    Case("hf-data-uri-not-base64", HF_DET, 400, content=_hf_json(inputs="data:image/png,rawbytes")),
    Case("hf-data-uri-broken-payload", HF_SEG, 400, content=_hf_json(inputs="data:image/png;base64,@@@@")),
    Case("hf-inputs-not-a-string", HF_DET, 400, content=_hf_json(inputs=[1, 2, 3])),
    # --- deep and huge JSON ----------------------------------------------------------------------------------------
    Case("hf-json-nested-90000", HF_SEG, 400, content=nested_json(90_000, key="inputs"), headers=JSON_CT),
    Case("hf-json-nested-900-parameters", HF_DET, 400, content=b'{"inputs": "AAAA", "parameters": ' + nested_json(900) + b"}", headers=JSON_CT),
    Case("hf-json-nested-objects-5000", HF_DET, 400, content=b'{"inputs": "AAAA", "parameters": ' + b'{"a":' * 5000 + b"1" + b"}" * 5001, headers=JSON_CT),
    Case("hf-json-huge-array", HF_SEG, 400, content=_json({"inputs": "AAAA", "parameters": {"threshold": list(range(30_000))}})),
    Case("hf-json-many-keys", HF_DET, 400, content=_json({"inputs": "AAAA", "parameters": {f"k{i}": i for i in range(10_000)}}),
         headers=JSON_CT),  # 10,000 unknown keys are warnings; the undecodable image is the 400
    # --- body size -------------------------------------------------------------------------------------------------
    Case("hf-body-over-limit", HF_DET, 413, content=b"\x89PNG" + b"\x00" * (MAX_BODY + 1), headers={"content-type": "image/png"}),
    Case("hf-body-over-limit-chunked", HF_SEG, 413, content=b"\x00" * (MAX_BODY * 2), chunked=True),
    Case("hf-json-over-limit", HF_DET, 413, content=_json({"inputs": "A" * (MAX_BODY + 8)})),
    # --- NaN, infinities, negative and out-of-range parameters ----------------------------------------------------
    Case("hf-threshold-nan", HF_DET, 400, content=_hf_json(raw='{"threshold": NaN}'), headers=JSON_CT),
    Case("hf-threshold-infinity", HF_DET, 400, content=_hf_json(raw='{"threshold": Infinity}'), headers=JSON_CT),
    Case("hf-threshold-minus-infinity", HF_SEG, 400, content=_hf_json(raw='{"threshold": -Infinity}'), headers=JSON_CT),
    Case("hf-threshold-1e309-overflows", HF_SEG, 400, content=_hf_json(raw='{"threshold": 1e309}'), headers=JSON_CT),
    # (a negative or above-one threshold is answered by the real service: see test_what_the_service_accepts_...)
    Case("hf-threshold-string", HF_DET, 400, content=_hf_json({"threshold": "0.5"}), headers=JSON_CT),
    Case("hf-threshold-bool", HF_SEG, 400, content=_hf_json({"overlap_mask_area_threshold": True}), headers=JSON_CT),
    Case("hf-subtask-unicode", HF_SEG, 400, content=_hf_json({"subtask": "ｐａｎｏｐｔｉｃ"}), headers=JSON_CT),
    Case("hf-wrong-content-type-json-label-garbage", HF_DET, 400, content=b"\x00\x01garbage", headers=JSON_CT),
    Case("hf-bad-authorization-scheme", HF_DET, 400, content=PNG, headers={"authorization": "Basic dXNlcjpwYXNz"}),
    # --- unicode and path traversal in model ids ----------------------------------------------------------------
    Case("hf-model-unicode", "/models/%E2%98%83/%D0%B6%D1%83%D0%BA", 404, content=PNG),
    Case("hf-model-emoji", "/models/%F0%9F%90%B1", 404, content=PNG),
    Case("hf-model-traversal-encoded", "/models/..%2F..%2Fetc%2Fpasswd", 404, content=PNG),
    Case("hf-model-nul-byte", "/models/acme/evil%00name", 404, content=PNG),
    Case("hf-model-very-long", "/models/acme/" + "x" * 4000, 404, content=PNG),
    # --- Roboflow --------------------------------------------------------------------------------------------------
    Case("rf-empty-body", RF, 400, content=b"", params=RFQ),
    Case("rf-base64-of-text", RF, 400, content=b64(b"not an image").encode(), params=RFQ),
    Case("rf-invalid-base64", RF, 400, content=b"@@@@ not base64 @@@@", params=RFQ),
    Case("rf-bad-data-uri", RF, 400, content=b"data:image/png;base64,%%%%", params=RFQ),
    Case("rf-png-bomb-base64", RF, 400, content=b64(png_claiming(100_000, 100_000)).encode(), params=RFQ),
    Case("rf-gif-bomb-multipart", RF, 400, content=_multipart("b0und", [("file", "x.gif", gif_claiming(65535, 65535))]),
         headers={"content-type": "multipart/form-data; boundary=b0und"}, params=RFQ),
    Case("rf-multipart-no-boundary", RF, 400, content=_multipart("b0und", [("file", "x.png", PNG)]),
         headers={"content-type": "multipart/form-data"}, params=RFQ),
    Case("rf-multipart-wrong-boundary", RF, 400, content=_multipart("b0und", [("file", "x.png", PNG)]),
         headers={"content-type": "multipart/form-data; boundary=other"}, params=RFQ),
    Case("rf-multipart-missing-file-part", RF, 400, content=_multipart("b0und", [("note", None, b"hello")]),
         headers={"content-type": "multipart/form-data; boundary=b0und"}, params=RFQ),
    Case("rf-multipart-unterminated", RF, 400, content=_multipart("b0und", [("file", "x.png", PNG[:40])], close=False),
         headers={"content-type": "multipart/form-data; boundary=b0und"}, params=RFQ),
    Case("rf-multipart-empty-body", RF, 400, content=b"", headers={"content-type": "multipart/form-data; boundary=b0und"}, params=RFQ),
    Case("rf-confidence-nan", RF, 400, content=b64(PNG).encode(), params={**RFQ, "confidence": "NaN"}),
    Case("rf-confidence-infinity", RF, 400, content=b64(PNG).encode(), params={**RFQ, "confidence": "Infinity"}),
    Case("rf-confidence-negative", RF, 400, content=b64(PNG).encode(), params={**RFQ, "confidence": "-1"}),
    Case("rf-confidence-too-big", RF, 400, content=b64(PNG).encode(), params={**RFQ, "confidence": "1e400"}),
    Case("rf-confidence-text", RF, 400, content=b64(PNG).encode(), params={**RFQ, "confidence": "fifty"}),
    Case("rf-missing-api-key", RF, 400, content=b64(PNG).encode()),
    Case("rf-empty-api-key", RF, 400, content=b64(PNG).encode(), params={"api_key": ""}),
    Case("rf-version-zero", "/ds/0", 400, content=b64(PNG).encode(), params=RFQ),
    Case("rf-dataset-unicode", "/%E2%98%83%E2%98%83/1", 400, content=b64(PNG).encode(), params=RFQ),
    Case("rf-dataset-traversal", "/..%2F..%2Fetc/1", 404, content=b64(PNG).encode(), params=RFQ),
    Case("rf-dataset-dotdot", "/../1", 404, content=b64(PNG).encode(), params=RFQ),
    Case("rf-image-url-file-scheme", RF, 400, params={**RFQ, "image": "file:///etc/passwd"}),
    Case("rf-image-url-remote-off", RF, 400, params={**RFQ, "image": "http://127.0.0.1:1/x.png"}),
    Case("rf-body-over-limit", RF, 413, content=b"A" * (MAX_BODY + 4), params=RFQ),
    # --- AI Refinery -----------------------------------------------------------------------------------------------
    Case("air-empty-body", AIR, 422, content=b"", headers={**BEARER, **JSON_CT}),
    Case("air-json-array", AIR, 422, content=b"[1, 2, 3]", headers={**BEARER, **JSON_CT}),
    Case("air-wrong-content-type", AIR, 422, content=_air(), headers={**BEARER, **TEXT_CT}),
    Case("air-missing-content-type", AIR, 422, content=_air(), headers=BEARER),
    Case("air-invalid-base64", AIR, 422, content=_air(image="%%%%"), headers={**BEARER, **JSON_CT}),
    Case("air-bad-data-uri", AIR, 422, content=_air(image="data:image/svg+xml;base64,PHN2Zz4="), headers={**BEARER, **JSON_CT}),
    Case("air-png-bomb", AIR, 422, content=_air(image=b64(png_claiming(100_000, 100_000))), headers={**BEARER, **JSON_CT}),
    Case("air-jpeg-bomb-data-uri", AIR, 422, content=_air(image="data:image/jpeg;base64," + b64(jpeg_claiming(65500, 65500))), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-nan", AIR, 422, content=_air("[[[NaN, 4]]]"), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-infinity", AIR, 422, content=_air("[[[Infinity, 4]]]"), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-negative", AIR, 422, content=_air("[[[-5, 4]]]"), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-huge", AIR, 422, content=_air("[[[1e308, 4]]]"), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-nested-90000", AIR, 422, content=_air("[" * 90_000 + "]" * 90_000), headers={**BEARER, **JSON_CT}),
    Case("air-prompt-nested-40", AIR, 422, content=_air("[" * 40 + "1" + "]" * 40), headers={**BEARER, **JSON_CT}),
    Case("air-model-unicode-nul", AIR, 422, content=_air(model="модель\u0000☃", n=-1), headers={**BEARER, **JSON_CT}),
    Case("air-body-over-limit", AIR, 413, content=_air(image="A" * MAX_BODY), headers={**BEARER, **JSON_CT}),
]


@pytest.fixture(scope="module")
def hostile_url():
    with serve(Config(port=0, seed=5, max_body_bytes=MAX_BODY, max_pixels=4_000_000, max_json_depth=32)) as url:
        yield url


@pytest.fixture(scope="module")
def hostile_client(hostile_url):
    with httpx.Client(base_url=hostile_url, timeout=httpx.Timeout(15.0)) as client:
        yield client


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_gets_a_clear_4xx_in_the_provider_format(hostile_client, case: Case):
    content: Any = case.content
    if case.chunked:
        data = content
        content = (data[i : i + 65536] for i in range(0, len(data), 65536))  # no Content-Length: chunked
    request = hostile_client.build_request("POST", case.path, content=content, headers=case.headers, params=case.params)
    if case.path.count("%") or ".." in case.path:  # keep the path exactly as written (no client normalisation)
        request.url = request.url.copy_with(raw_path=(case.path + ("?" + str(request.url.query, "ascii") if request.url.query else "")).encode())
    response = hostile_client.send(request)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert response.status_code == case.status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    report = case.contract().validate_error_body(body, response.status_code)
    assert report.errors == [], report.render("error body")


def test_server_answers_normally_after_the_corpus(hostile_client):
    for case in CASES:  # the whole corpus again, in one go, then normal requests
        hostile_client.post(case.path, content=case.content if not case.chunked else case.content[:1000], headers=case.headers, params=case.params)
    assert hostile_client.get("/__vision__/health").json()["status"] == "ok"
    r = hostile_client.post(HF_DET, content=PNG, headers={"content-type": "image/png"})
    assert r.status_code == 200 and contracts.get("huggingface", "object-detection").validate_response(r.json(), request=PNG).errors == []
    r = hostile_client.post(RF, content=b64(PNG).encode(), params=RFQ)
    assert r.status_code == 200
    r = hostile_client.post(AIR, content=_air(), headers={**BEARER, **JSON_CT})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_what_the_service_accepts_is_answered_with_warnings_unless_strict(strict):
    """Out-of-range thresholds and thousands of unknown parameters: the real service answers them (the pipeline
    compares scores with any number and drops unknown keywords), so the mock does, with a bounded x-vision-warnings
    header; strict, they get the provider's 400."""
    many = {f"k{i}": i for i in range(10_000)}
    bodies = [(HF_DET, {"threshold": -0.5}, "parameter-range"), (HF_SEG, {"mask_threshold": 1.5}, "parameter-range"),
              (HF_DET, many, "parameters-unknown")]
    with serve(Config(port=0, max_body_bytes=MAX_BODY, strict=strict)) as url, httpx.Client(base_url=url, timeout=30) as client:
        for path, params, check in bodies:
            r = client.post(path, content=_hf_json(params), headers=JSON_CT)
            warnings = r.headers.get(contracts.WARNINGS_HEADER, "")
            if strict:
                assert r.status_code == 400 and "$.body.parameters." in r.json()["error"], r.text[:300]
                continue
            assert r.status_code == 200, r.text[:300]
            assert warnings.startswith(f"{check}; path=$.body.parameters.") and len(warnings) <= 1024 and warnings.isascii()
        if not strict:
            assert contracts.parse_warnings(warnings)[-1][0] == "truncated"  # 10,000 warnings, one bounded header


def test_json_depth_is_limited_before_parsing_and_configurable(hostile_client):
    r = hostile_client.post(HF_DET, content=b'{"inputs": "AAAA", "parameters": ' + nested_json(33) + b"}", headers=JSON_CT)
    assert r.status_code == 400 and "more than 32 levels deep" in r.json()["error"]
    r = hostile_client.post(AIR, content=_air("[" * 40 + "1" + "]" * 40), headers={**BEARER, **JSON_CT})
    assert r.status_code == 422 and "more than 32 levels deep" in r.json()["detail"][0]["msg"]
    r = hostile_client.post(HF_DET, content=b'{"inputs": "' + b"[" * 1000 + b'"}', headers=JSON_CT)  # brackets inside a string
    assert r.status_code == 400 and "levels deep" not in r.json()["error"]
    from vision_contracts.mockserver._config import parse_args

    config = parse_args(["--max-json-depth", "7", "--max-body-bytes", "1234", "--max-pixels", "99"])
    assert (config.max_json_depth, config.max_body_bytes, config.max_pixels) == (7, 1234, 99)
    with pytest.raises(ConfigError, match="max_json_depth"):
        Config(max_json_depth=0)

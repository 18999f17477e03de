"""The response cache's fast path (issue 12): a raw request seen before and answered from the cache is answered again by
its raw identity (``_wire.raw_identity``), with no parsing, validation or image, while every guarantee of issue 10
holds: what differs in anything the parser, the validation or the generation reads is judged afresh; escaping cannot
make two requests collide; ``?image=URL`` answers follow the image's bytes; ``x-use-cache: false`` and HF's legacy
``options.use_cache: false`` are honoured; the journal of a fast answer reads as that of a validated hit.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from vision_contracts import contracts
from vision_contracts.mockserver import Config, create_app
from vision_contracts.mockserver._wire import RawRequest, judged_headers, raw_identity
from vision_contracts.mockserver.testing import sample_image

PNG = sample_image(48, 32)
B64 = base64.b64encode(PNG)
SEG = "/models/openmmlab/upernet-convnext-small"
RF = "/ds/1"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Config(image_dir=str(tmp_path)))) as c:
        yield c


def _cache(client: TestClient, *args: object, **kwargs: object) -> tuple[int, str | None, bytes]:
    r = client.post(*args, **kwargs)  # type: ignore[arg-type]
    return r.status_code, r.headers.get("x-vision-cache"), r.content


def _last_entry(client: TestClient) -> dict[str, object]:
    entries: list[dict[str, object]] = client.get("/__vision__/journal", params={"limit": 1}).json()["entries"]
    return entries[-1]


def test_a_repeat_is_answered_by_its_raw_identity_and_journalled_as_a_validated_hit(client: TestClient) -> None:
    body = {"inputs": B64.decode(), "parameters": {"threshold": 0.5}}
    first = _cache(client, SEG, json=body)
    second = _cache(client, SEG, json=body)
    slow_entry = _last_entry(client)
    assert len(client.app.state.server.judged) == 1  # type: ignore[attr-defined]
    third = _cache(client, SEG, json=body, headers={"user-agent": "another client", "accept": "*/*"})  # unjudged headers
    fast_entry = _last_entry(client)
    assert [first[:2], second[:2], third[:2]] == [(200, "miss"), (200, "hit"), (200, "hit")]
    assert first[2] == second[2] == third[2]
    for field in ("verdict", "form", "image", "model_family", "status"):
        assert fast_entry[field] == slow_entry[field], field
    assert fast_entry["verdict"]["note"] == "served from the response cache"  # type: ignore[index]
    assert fast_entry["headers"]["user-agent"] == "another client"  # type: ignore[index]


@pytest.mark.parametrize("header", [{"x-wait-for-model": "garbage"}, {"x-use-cache": "nonsense"}])
def test_a_judged_header_that_differs_is_judged_afresh(client: TestClient, header: dict[str, str]) -> None:
    for _ in range(3):
        assert _cache(client, SEG, content=PNG, headers={"content-type": "image/png"})[0] == 200
    status, cache, _ = _cache(client, SEG, content=PNG, headers={"content-type": "image/png", **header})
    assert status != 200 and cache is None


def test_escaping_cannot_reach_another_requests_answer(client: TestClient) -> None:
    for _ in range(3):
        assert _cache(client, f"{RF}?api_key=k&confidence=100", content=B64, headers=FORM)[:2][0] == 200
    escaped = _cache(client, f"{RF}?api_key=k%26confidence%3D100", content=B64, headers=FORM)
    assert escaped[1] == "miss"
    assert _cache(client, f"{RF}?confidence=100&api_key=k", content=B64, headers=FORM)[1] == "hit"  # the same pairs


def test_no_cache_requests_are_never_answered_by_their_raw_identity(client: TestClient) -> None:
    for headers in ({"x-use-cache": "false"}, {}):
        body = {"inputs": B64.decode(), "options": {"use_cache": False}} if not headers else {"inputs": B64.decode()}
        assert [_cache(client, SEG, json=body, headers=headers)[1] for _ in range(3)] == ["miss", "miss", "miss"]


def test_image_url_answers_follow_the_files_bytes(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(PNG)
    params = {"api_key": "k", "image": "https://cdn.example.com/photos/a.png"}
    assert [_cache(client, RF, params=params)[1] for _ in range(3)] == ["miss", "hit", "hit"]
    (tmp_path / "a.png").write_bytes(sample_image(64, 40, noise=30, seed=3))
    assert _cache(client, RF, params=params)[1] == "miss"
    assert len(client.app.state.server.judged) == 0  # type: ignore[attr-defined]


def test_the_identity_holds_what_the_parser_reads_and_only_that() -> None:
    contract = contracts.get("huggingface", "image-segmentation")
    judged = judged_headers(contract)
    assert judged is not None and {"content-type", "authorization", "x-use-cache", "x-wait-for-model", "x-vision-scenario"} <= judged
    base = RawRequest("POST", "/models/m", b"{}", "application/json", {"content-type": "application/json", "user-agent": "a"},
                      {"a": "1"}, {"model_id": "m"})

    def identity(**changes: object) -> str:
        fields = {**base.__dict__, **changes}
        raw = RawRequest(**fields)  # type: ignore[arg-type]
        return raw_identity(contract, raw, raw.path_params, "sha")

    same = identity(headers={"content-type": "application/json", "user-agent": "b"})
    assert same == identity()
    assert len({identity(), identity(query={"a": "2"}), identity(query={"a": "1", "b": ""}), identity(path_params={"model_id": "n"}),
                identity(headers={"content-type": "application/json", "authorization": "Bearer x"}), identity(method="PUT"),
                raw_identity(contract, base, base.path_params, "other")}) == 7


def test_provider_routes_skip_fastapis_route_layers_and_nothing_else_changes(client: TestClient,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider lane (``_app._ProviderLane``): a provider request reaches the pipeline without FastAPI's route
    handler; a wrong method on a provider path, an unknown path and the admin API still go through the app (405 and
    404 journalled as before)."""
    from fastapi import routing

    calls: list[str] = []
    handler = routing.get_request_handler

    def counting(*args: object, **kwargs: object) -> object:
        inner = handler(*args, **kwargs)  # type: ignore[arg-type]

        async def app(request: object) -> object:
            calls.append(str(getattr(request, "url", "")))
            return await inner(request)  # type: ignore[arg-type]

        return app

    monkeypatch.setattr(routing, "get_request_handler", counting)
    with TestClient(create_app(Config())) as fresh:
        assert fresh.post(SEG, json={"inputs": B64.decode()}).status_code == 200
        assert calls == []  # the lane answered: no FastAPI route handler ran
        assert fresh.get(SEG).status_code == 405 and _last_entry(fresh)["status"] == 405
        assert fresh.post("/no/such/path/here/at/all").status_code == 404 and _last_entry(fresh)["status"] == 404
        assert fresh.get("/__vision__/health").status_code == 200
        assert any(url.endswith("/__vision__/health") for url in calls)  # the app's routes still run their handlers
        assert [e["status"] for e in fresh.get("/__vision__/journal").json()["entries"]] == [200, 405, 404]

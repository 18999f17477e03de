"""``VisionMock``: a test's handle on a mock server, live over loopback or in-process behind respx.

No pytest import: the fixtures in ``_fixtures`` build these. Every admin call goes to the mock's own API under
``/__vision__`` through an ``admin`` callable, so the same handle works for a live server (stdlib ``urllib``, which
respx never intercepts) and for the in-process app of ``vision_respx`` (``httpx.ASGITransport``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

ADMIN_PREFIX = "/__vision__"  # mockserver.ADMIN_PREFIX, restated to keep FastAPI out of pytest's start-up (a test pins the two)

__all__ = ["MockError", "VisionMock", "admin_headers", "http_admin"]

#: (method, path under /__vision__, query, JSON body or None) -> (status, JSON answer)
Admin = Callable[[str, str, Mapping[str, Any] | None, Any], tuple[int, Any]]

CONTROL_HEADER = "x-vision-scenario"


class MockError(RuntimeError):
    """The mock's admin API refused a request (e.g. an unknown scenario name); the message is the mock's."""


def http_admin(base_url: str, timeout: float = 30.0, token: str | None = None) -> Admin:
    """Admin calls over HTTP with the standard library (not httpx: respx must never see the fixture's own calls);
    ``token``: the server's admin token (``--admin-token``), sent as ``Authorization: Bearer``."""

    def call(method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None) -> tuple[int, Any]:
        url = f"{base_url}{ADMIN_PREFIX}{path}"
        if query:
            url += "?" + urllib.parse.urlencode({k: _text(v) for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        headers = {**admin_headers(token), **({"content-type": "application/json"} if data else {})}
        req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (the mock's own http:// URL)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
        try:
            with opener.open(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    return call


def admin_headers(token: str | None) -> dict[str, str]:
    """``Authorization: Bearer TOKEN`` for a server started with an admin token, else nothing."""
    return {"authorization": f"Bearer {token}"} if token else {}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _spec(name: str, params: Mapping[str, Any]) -> str:
    return "; ".join([name, *(f"{k}={v}" for k, v in params.items())])


class VisionMock:
    """A mock server for one test: URLs to point clients at, scenarios for this test only, and the request journal.

    State (scenario rules, model loading, rate limits, journal, response cache) is reset before and after each test.
    """

    def __init__(self, base_url: str, admin: Admin, *, config: Any = None):
        self.base_url = base_url.rstrip("/")
        self._admin = admin
        self.config = config

    def __repr__(self) -> str:
        return f"<VisionMock {self.base_url}>"

    # --- URLs ------------------------------------------------------------------------------------------------

    def url(self, provider: str, model: str | None = None) -> str:
        """What to give a provider's client as its URL or base URL.

        ``huggingface``: ``{base}/models/{model}`` (pass as ``InferenceClient(model=...)``; ``model`` is required);
        ``roboflow``: ``{base}`` (``SEMANTIC_SEGMENTATION_URL``, ``InferenceHTTPClient(api_url=...)``), or
        ``{base}/{dataset}/{version}`` with ``model="dataset/version"``; ``airefinery``: ``{base}``
        (``AIRefinery(base_url=...)``).
        """
        if provider == "huggingface":
            if not model:
                raise ValueError("url('huggingface') needs model=, e.g. url('huggingface', model='facebook/detr-resnet-50').")
            return f"{self.base_url}/models/{model.strip('/')}"
        if provider in ("roboflow", "airefinery"):
            return self.base_url if not model or provider == "airefinery" else f"{self.base_url}/{model.strip('/')}"
        raise ValueError(f"Unknown provider {provider!r}; expected huggingface, roboflow or airefinery.")

    def endpoint(self, provider: str, operation: str, **path: Any) -> str:
        """The full URL of an operation, its path template from the contract filled with ``path``
        (``endpoint("roboflow", "semantic-segmentation", dataset="streets", version=4)``)."""
        from vision_contracts import contracts

        template: str = contracts.get(provider, operation).index["paths"][0]
        for name, value in path.items():
            template = template.replace("{" + name + "}", str(value))
        if "{" in template:
            raise ValueError(f"endpoint({provider!r}, {operation!r}) needs values for the path {template}.")
        return self.base_url + template

    # --- scenarios for this test ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, query: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        status, answer = self._admin(method, path, query, body)
        if status >= 400:
            detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
            raise MockError(f"The mock refused {method} {ADMIN_PREFIX}{path}: {status} {detail}")
        return answer

    def scenario(self, name: str, *, provider: str | None = None, operation: str | None = None, model: str | None = None,
                 count: int | None = None, seconds: float | None = None, **params: float) -> dict[str, Any]:
        """Play scenario ``name`` (``loading``, ``rate-limit``, ``unauthorized``, ``not-found``, ``server-error``,
        ``unavailable``, ``delay``, ``reset``, ``malformed-json``, ``truncated``, ``schema-violation``) for the
        matching requests of this test: ``count`` requests, ``seconds``, or (neither) until the test ends."""
        rule = {"scenario": name, "params": params, "provider": provider, "operation": operation, "model": model,
                "count": count, "seconds": seconds}
        answer: dict[str, Any] = self._call("POST", "/scenarios", body={k: v for k, v in rule.items() if v is not None})
        return answer

    def loading(self, model: str, *, requests: int | None = None, seconds: float | None = None) -> None:
        """A Hugging Face model answers 503 "currently loading" for ``requests`` requests or ``seconds``."""
        if requests is None and seconds is None:
            requests = 1
        self._call("POST", "/loading", body={k: v for k, v in {"model": model, "requests": requests, "seconds": seconds}.items() if v is not None})

    def rate_limit(self, provider: str, requests: int, seconds: float = 60.0) -> None:
        """Answer 429 past ``requests`` requests per ``seconds`` for ``provider``."""
        self._call("POST", "/rate-limits", body={"provider": provider, "requests": requests, "seconds": seconds})

    def latency(self, ms: float, **match: Any) -> dict[str, Any]:
        """Answer every matching request ``ms`` milliseconds late (``match``: provider, operation, model, count,
        seconds)."""
        return self.scenario("delay", ms=ms, **match)

    def fault(self, kind: str, **match: Any) -> dict[str, Any]:
        """A broken answer: ``reset``, ``truncated``, ``malformed-json``, ``schema-violation``, ``server-error``..."""
        return self.scenario(kind, **match)

    def clear_scenarios(self) -> None:
        self._call("DELETE", "/scenarios")

    @staticmethod
    def header(name: str, **params: float) -> dict[str, str]:
        """The control header that plays a scenario for one request:
        ``requests.post(url, headers=mock.header("loading"))``."""
        return {CONTROL_HEADER: _spec(name, params)}

    def reset(self) -> None:
        """Back to the configured state: rules, model loading, rate limits, journal and response cache."""
        self._call("POST", "/reset")

    # --- the journal ----------------------------------------------------------------------------------------

    def journal(self, *, provider: str | None = None, operation: str | None = None, status: int | None = None,
                valid: bool | None = None, path: str | None = None) -> list[dict[str, Any]]:
        """The requests this test sent, oldest first (dicts: method, path, query, headers with secrets redacted,
        provider, operation, form, image, verdict {valid, violations}, scenario, status), filtered."""
        query = {"provider": provider, "operation": operation, "status": status, "valid": valid, "path": path, "limit": 100_000}
        entries: list[dict[str, Any]] = self._call("GET", "/journal", query={k: v for k, v in query.items() if v is not None})["entries"]
        return entries

    # --- SDKs that cannot be reached otherwise --------------------------------------------------------------

    def point_sdks(self, monkeypatch: Any) -> VisionMock:
        """Point the SDKs that read their URL from the environment at this mock, for this test (``monkeypatch``):
        roboflow (``SEMANTIC_SEGMENTATION_URL``, read by every ``predict()``) and airefinery (``AIR_BASE_URL``,
        read when ``air`` is first imported, so pass ``base_url=`` if it may be imported already; ``AIR_SILENT``
        silences its banner). huggingface_hub and inference-sdk take the URL as a constructor argument only:
        ``InferenceClient(model=mock.url("huggingface", model=...))``, ``InferenceHTTPClient(api_url=mock.base_url)``.
        """
        monkeypatch.setenv("SEMANTIC_SEGMENTATION_URL", self.base_url)
        monkeypatch.setenv("AIR_BASE_URL", self.base_url)
        monkeypatch.setenv("AIR_SILENT", os.environ.get("AIR_SILENT", "1"))
        return self

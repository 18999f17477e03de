"""The validating proxy: a provider's requests forwarded to its real base URL, every answer judged, maybe recorded.

``--upstream PROVIDER=BASE_URL``: the request goes to BASE_URL + the same path and query, with the same method and
body bytes and the same headers but the hop-by-hop ones; the upstream's answer comes back byte for byte (status,
headers but the hop-by-hop ones, body), read as a stream bounded in time (``upstream_timeout_seconds``) and size
(``upstream_max_bytes``). Upstream failures become the provider's own error format: refused or timed out -> 503,
too large or broken -> 500, each with a sentence naming the upstream.

Every answer is judged by ``contracts.judge`` (request and response, semantic checks with the request image) in a
worker thread; the verdict goes to the journal entry and to the ``x-vision-verdict`` header (``valid`` or
``invalid; checks=box-order,mask-size``), and never blocks or alters the answer. With ``--record DIR`` the
interaction is written as HAR (see ``_replay.Recorder``).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from vision_contracts.contracts import VERDICT_HEADER, Contract, Interaction, Judgement, judge, verdict_header

from ._config import Config
from ._wire import RawRequest, error_response

__all__ = ["HOP_BY_HOP", "SOURCE_HEADER", "Upstream", "forwardable", "journal_verdict"]

log = logging.getLogger("vision_contracts.mockserver.proxy")

SOURCE_HEADER = "x-vision-source"  # where the answer came from: upstream, replayed (a computed answer has none)
#: RFC 9110 section 7.6.1's connection-specific headers, plus what the proxy sets itself (Host, Content-Length).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
})


class UpstreamTooLarge(Exception):
    pass


def forwardable(headers: Mapping[str, str] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers without the hop-by-hop ones (nor those the ``Connection`` header names)."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    named = {n.strip().lower() for k, v in items if k.lower() == "connection" for n in v.split(",")}
    return [(k, v) for k, v in items if k.lower() not in HOP_BY_HOP and k.lower() not in named]


def journal_verdict(judgement: Judgement, source: str) -> dict[str, Any]:
    """The journal's verdict for an answer that was not computed: the request's and the response's violations."""
    return {
        "valid": judgement.valid, "checks": judgement.checks, "source": source,
        "violations": [f"{side} {v}" for side, v in judgement.violations],
    }


def _decoded(body: bytes, encoding: str | None) -> bytes | None:
    """The body as the contract reads it: gzip/deflate undone; None for an encoding the proxy cannot undo."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    try:
        if coding in ("gzip", "x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if coding == "deflate":
            return zlib.decompress(body)
    except zlib.error:
        return None
    return None


Record = Callable[[Interaction], Awaitable[None]]


class Upstream:
    """Forwards the providers named in ``config.upstream`` and judges their answers."""

    def __init__(self, config: Config, record: Record | None = None):
        self.config = config
        self.bases = {p: url.rstrip("/") for p, url in config.upstream.items()}
        self.record = record
        self._client: httpx.AsyncClient | None = None

    def covers(self, provider: str) -> bool:
        return provider in self.bases

    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the server's event loop
            self._client = httpx.AsyncClient(timeout=self.config.upstream_timeout_seconds, follow_redirects=False, trust_env=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def url(self, provider: str, raw: RawRequest) -> str:
        return self.bases[provider] + raw.path + (f"?{raw.query_string}" if raw.query_string else "")

    async def forward(self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Any) -> Response:
        """The upstream's answer to ``raw``, judged (journal and header), recorded when recording is on."""
        url = self.url(contract.provider, raw)
        started, sent = time.time(), time.perf_counter()
        try:
            status, reason, headers, body = await self._exchange(raw, url)
        except (httpx.TimeoutException, httpx.TransportError, UpstreamTooLarge) as exc:
            entry.verdict = {"valid": False, "source": "upstream", "checks": ["upstream"], "violations": [f"$: {self._failure(contract, exc)}"]}
            return error_response(contract, *self._failure_status(contract, exc))
        interaction = Interaction(raw.method, url, tuple(raw.headers.items()), raw.body, status, tuple(headers), body,
                                  reason=reason, started=started, duration_ms=(time.perf_counter() - sent) * 1000)
        judgement = await self.judge(contract, interaction, path_params)
        entry.verdict = journal_verdict(judgement, "upstream")
        if self.record is not None:
            await self.record(_for_recording(interaction, judgement, raw.path))
        out = [(k, v) for k, v in forwardable(headers) if k.lower() not in (VERDICT_HEADER, SOURCE_HEADER)]
        response = Response(body, status_code=status)
        for name, value in out:
            response.headers.append(name, value)
        response.headers[VERDICT_HEADER] = verdict_header(judgement.valid, judgement.checks)
        response.headers[SOURCE_HEADER] = "upstream"
        return response

    async def judge(self, contract: Contract, interaction: Interaction, path_params: Mapping[str, Any]) -> Judgement:
        decoded = _decoded(interaction.response_body, interaction.response_header("content-encoding"))
        readable = interaction if decoded is None else _with_body(interaction, decoded)
        return await run_in_threadpool(judge, readable, contract=contract, path_params=dict(path_params),
                                       max_pixels=self.config.max_pixels)

    async def _exchange(self, raw: RawRequest, url: str) -> tuple[int, str, list[tuple[str, str]], bytes]:
        limit = self.config.upstream_max_bytes
        request = self.client().build_request(raw.method, url, content=raw.body, headers=forwardable(dict(raw.headers)))
        response = await self.client().send(request, stream=True)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
                if size > limit:
                    raise UpstreamTooLarge(f"more than {limit} bytes")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return response.status_code, response.reason_phrase, list(response.headers.multi_items()), b"".join(chunks)

    def _failure(self, contract: Contract, exc: Exception) -> str:
        base = self.bases[contract.provider]
        if isinstance(exc, httpx.TimeoutException):
            return f"The upstream {base} did not answer within {self.config.upstream_timeout_seconds:g} seconds (--upstream-timeout-seconds)."
        if isinstance(exc, UpstreamTooLarge):
            return f"The upstream {base} answered with a body larger than {self.config.upstream_max_bytes} bytes (--upstream-max-bytes)."
        return f"The upstream {base} could not be reached: {type(exc).__name__}: {str(exc) or 'no detail'}."

    def _failure_status(self, contract: Contract, exc: Exception) -> tuple[int, str]:
        status = 500 if isinstance(exc, UpstreamTooLarge) else 503
        if status not in contract.error_statuses:
            status = max(contract.error_statuses)
        return status, self._failure(contract, exc)


def _with_body(interaction: Interaction, body: bytes) -> Interaction:
    headers = tuple((k, v) for k, v in interaction.response_headers if k.lower() != "content-encoding")
    return Interaction(interaction.method, interaction.url, interaction.request_headers, interaction.request_body,
                       interaction.status, headers, body, interaction.reason, interaction.started, interaction.duration_ms)


def _for_recording(interaction: Interaction, judgement: Judgement, path: str) -> Interaction:
    """What is written: the body decoded (HAR's content.text is the decoded content), the judgement as ``_vision``."""
    decoded = _decoded(interaction.response_body, interaction.response_header("content-encoding"))
    readable = interaction if decoded is None else _with_body(interaction, decoded)
    return Interaction(readable.method, readable.url, readable.request_headers, readable.request_body, readable.status,
                       readable.response_headers, readable.response_body, readable.reason, readable.started,
                       readable.duration_ms, judgement.vision(path, "upstream"))

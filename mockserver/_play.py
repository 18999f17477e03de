"""Playing provider behaviour for one request: auth, rate limits, scenarios, model loading and faults.

``gate`` runs before a request is served and either answers it (a provider-format error, a fault) or lets it
through with the scenarios still to apply to the normal answer (``schema-violation``). The state lives in
``_scenarios.Behaviour`` over the shared state store (blocking calls, made from worker threads); this module turns
it into Starlette responses in each provider's format, reading the statuses and error shapes from the contract.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from vision_contracts.contracts import Contract

from ._auth import credential, token_ok
from ._limits import DelayBudget
from ._packs import is_pack
from ._scenarios import CONTROL_HEADER, Admission, ScenarioError, Spec, parse_header
from ._state import offload, settle
from ._wire import JSON_MEDIA_TYPE, RawRequest, error_response

__all__ = ["FaultResponse", "Outcome", "gate", "violate"]


class FaultResponse(Response):
    """A broken answer: ``reset`` closes the connection without a response, ``truncated`` announces more bytes than
    it sends, then closes. Under uvicorn the transport is aborted; where there is no transport (an in-process ASGI
    client), the client sees a ConnectionResetError raised by the app."""

    def __init__(self, kind: str, body: bytes = b""):
        super().__init__(body, status_code=200, media_type=JSON_MEDIA_TYPE)
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if self.kind == "truncated":
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", JSON_MEDIA_TYPE.encode()), (b"content-length", str(len(self.body) + 1024).encode())]})
            await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
        if transport is None:
            raise ConnectionResetError(f"vision-mock scenario {self.kind!r}: the connection was dropped on purpose.")
        transport.abort()
        for _ in range(3):  # let uvicorn see the disconnect, so it sends no 500 of its own
            await asyncio.sleep(0)


@dataclass
class Outcome:
    """What the gate decided: an answer now, or the scenarios to apply to the normal answer."""

    response: Response | None = None
    after: list[Spec] = field(default_factory=list)
    played: list[str] = field(default_factory=list)


def _status_response(contract: Contract, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    if status not in contract.error_statuses and not is_pack(contract):  # a pack's undeclared status: {"error": ...}
        status = 500 if 500 in contract.error_statuses else contract.error_statuses[-1]
    return error_response(contract, status, message, headers=headers)


def loading_response(contract: Contract, model: str, eta: float) -> Response:
    """Hugging Face's 503 while a model loads; other providers' 503 in their own shape."""
    if contract.provider == "huggingface":
        body = {"error": f"Model {model} is currently loading", "estimated_time": float(eta)}
        return Response(json.dumps(body).encode(), status_code=503, media_type=JSON_MEDIA_TYPE)
    return _status_response(contract, 503, f"The model {model} is temporarily unavailable; retry in {eta:.1f} seconds.")


async def _loading(server: Any, contract: Contract, raw: RawRequest, model: str, eta: float, budget: DelayBudget) -> Response | None:
    if contract.provider == "huggingface" and raw.flag("x-wait-for-model", False):
        await asyncio.sleep(budget.take(min(eta, server.config.max_wait_seconds)))
        await offload(server.behaviour.finish_loading, model)
        return None
    return loading_response(contract, model, eta)


def _model(contract: Contract, path_params: Mapping[str, Any], envelope_body: Any = None) -> str:
    if "model_id" in path_params:
        return str(path_params["model_id"])
    if "dataset" in path_params:
        return f"{path_params['dataset']}/{path_params.get('version')}"
    return ""


def _specs(header: str | None, admission: Admission) -> list[Spec]:
    if header is not None:
        return parse_header(header)
    return [admission.rule] if admission.rule is not None else []


#: The credential check of an operation that declares none (a pack without securitySchemes) when --auth names
#: its provider.
_BEARER = {"scheme": "bearer", "in": "header", "name": "authorization", "failure_status": 401, "failure_message": "Unauthorized"}


def _auth(contract: Contract) -> Mapping[str, Any]:
    auth: Mapping[str, Any] = contract.index.get("auth") or _BEARER
    return auth


async def gate(server: Any, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any]) -> Outcome:
    """Auth, then rate limit, then scenarios (control header, else a matching rule), then model loading."""
    model = _model(contract, path_params)
    tokens = server.config.auth_tokens(contract.provider)
    auth = _auth(contract)
    if tokens is not None and not token_ok(credential(auth["scheme"], auth["name"], raw.headers, raw.query), tokens):
        return Outcome(_status_response(contract, auth["failure_status"], auth["failure_message"]), played=["auth"])
    header = raw.header(CONTROL_HEADER)
    admission = await settle(server.state, server.behaviour.admit, contract.provider, contract.operation, model, rules=header is None)
    if not admission.allowed:
        limit_headers = admission.limit_headers
        return Outcome(_status_response(contract, 429, f"Rate limit reached: retry after {limit_headers['retry-after']} seconds.", limit_headers), played=["rate-limit"])
    try:
        specs = _specs(header, admission)
    except ScenarioError as exc:
        return Outcome(_status_response(contract, 400 if 400 in contract.error_statuses else 422, f"The {CONTROL_HEADER} header cannot be played: {exc}"), played=["bad-scenario"])
    outcome = Outcome(played=[s.name for s in specs])
    budget = DelayBudget(server.config.max_delay_seconds)  # every delay and loading wait of this request, together
    for spec in specs:
        answer = await _play(server, contract, raw, model, spec, budget)
        if answer is not None:
            outcome.response = answer
            return outcome
        if spec.name == "schema-violation":
            outcome.after.append(spec)
    if contract.provider == "huggingface" and admission.loading:
        eta = await settle(server.state, server.behaviour.loading_eta, model)
        if eta is not None:
            outcome.played.append("loading")
            outcome.response = await _loading(server, contract, raw, model, eta, budget)
    return outcome


async def _play(server: Any, contract: Contract, raw: RawRequest, model: str, spec: Spec, budget: DelayBudget) -> Response | None:
    name = spec.name
    if name == "delay":
        await asyncio.sleep(budget.take(server.behaviour.delay_seconds(spec)))
        return None
    if name == "loading":
        return await _loading(server, contract, raw, model or "model", spec.get("estimated_time"), budget)
    if name == "unavailable":
        return loading_response(contract, model or "model", spec.get("estimated_time"))
    if name == "rate-limit":
        after = max(1, int(spec.get("retry_after")))
        return _status_response(contract, 429, f"Rate limit reached: retry after {after} seconds.", {"retry-after": str(after)})
    if name == "unauthorized":
        auth = _auth(contract)
        return _status_response(contract, auth["failure_status"], auth["failure_message"])
    if name == "not-found":
        message = f"Model {model} does not exist" if contract.provider == "huggingface" else "Not Found"
        return _status_response(contract, 404, message)
    if name == "server-error":
        return _status_response(contract, 500, "The server had an internal error while processing the request (a vision-mock scenario).")
    if name in ("reset", "truncated"):
        return FaultResponse(name, b'[{"label": "cat", "score": 0.9, "mask": "iVBORw0KGgo')
    if name == "malformed-json":
        return Response(b'[{"label": "cat", "score": 0.9, "mask": "iVBORw0KGgo', media_type=JSON_MEDIA_TYPE)
    return None  # schema-violation applies to the normal answer


def violate(contract: Contract, content: bytes) -> bytes:
    """A well-formed JSON body that breaks the contract: the first item (or the object) loses a required key."""
    body = json.loads(content)
    schema = contract.response_schema
    if isinstance(body, list):
        required = schema.get("items", {}).get("required", [])
        if body and isinstance(body[0], dict) and required:
            body[0].pop(required[0], None)
        else:
            body = [{}] if required else {"unexpected": "an object where the contract wants an array"}
    elif isinstance(body, dict):
        for key in schema.get("required", [])[:1]:
            body.pop(key, None)
    return json.dumps(body, separators=(",", ":")).encode()

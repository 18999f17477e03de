"""The admin API under the reserved prefix ``/__vision__``: scenarios, model loading, rate limits, the request
journal and a reset. It never collides with provider paths (no provider path starts with ``/__``) and is listed in
``/openapi.json``.

The endpoints that read or change the shared state store are plain ``def`` functions: FastAPI runs them in its
thread pool, so the store's blocking calls never hold up the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ._intercept.service import ca_certificate
from ._scenarios import SCENARIOS, Behaviour, Rule, RuleRequest, ScenarioError

if TYPE_CHECKING:
    from ._app import Server  # _app imports this module

__all__ = ["ADMIN_PREFIX", "add_rule", "admin_router"]

ADMIN_PREFIX = "/__vision__"


class RuleIn(BaseModel):
    """A server-wide scenario for matching requests, for ``count`` requests and/or ``seconds``; without either it
    stays until removed."""

    scenario: str = Field(description="one of the scenario names listed by GET /__vision__/scenarios")
    params: dict[str, float] = Field(default_factory=dict, strict=True)
    provider: Literal["huggingface", "roboflow", "airefinery"] | None = None
    operation: str | None = None
    model: str | None = Field(None, description="Hugging Face model id, or 'dataset/version' for Roboflow")
    count: int | None = Field(None, ge=1, strict=True)
    seconds: float | None = Field(None, gt=0, strict=True)


class LoadingIn(BaseModel):
    model: str
    requests: int | None = Field(None, ge=1, strict=True)
    seconds: float | None = Field(None, gt=0, strict=True)


class AdminError(BaseModel):
    """An admin error: a sentence, or FastAPI's validation list when the body does not fit the model."""

    detail: str | list[dict[str, Any]]


# Documented beside FastAPI's own 422: a sentence for a rule the catalogue refuses, 400 for a body that is not JSON
# (FastAPI's "There was an error parsing the body"), 404 for an unknown rule id.
_BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": AdminError, "description": "The body is not JSON"},
    422: {"model": AdminError, "description": "The body does not fit (a validation list) or names an unknown scenario or parameter (a sentence)"},
}


class RateLimitIn(BaseModel):
    provider: Literal["huggingface", "roboflow", "airefinery"]
    requests: int = Field(ge=1, strict=True)
    seconds: float = Field(gt=0, strict=True)


def add_rule(behaviour: Behaviour, rule: Mapping[str, Any]) -> Rule:
    """Add a rule from its JSON form (config file or admin API); raises ScenarioError with a clear sentence."""
    return behaviour.add(RuleRequest.from_json(rule))


def _server(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


def admin_router() -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX, tags=["vision-mock admin"])

    @router.get("/health", summary="Readiness probe")
    async def health(request: Request) -> dict[str, Any]:
        server = _server(request)
        return {"status": "ok", "providers": list(server.config.providers), "seed": server.config.seed, "cached": len(server.cache)}

    @router.get("/ca.pem", summary="The --intercept CA certificate (public part only)",
                responses={200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}},
                           404: {"description": "The server was started without --intercept: no CA to serve"}})
    def ca_pem(request: Request) -> Response:
        config = _server(request).config
        if not config.intercept:
            raise HTTPException(404, "This server was started without --intercept: it has no CA to serve.")
        return Response(ca_certificate(config), media_type="application/x-pem-file")

    @router.get("/config", summary="The server's configuration (tokens redacted)")
    async def config(request: Request) -> dict[str, Any]:
        return _server(request).config.describe()

    @router.get("/scenarios", summary="The scenario catalogue, the active rules, model loading and rate limits")
    def scenarios(request: Request) -> dict[str, Any]:
        behaviour = _server(request).behaviour
        return {
            "catalogue": {name: {"description": d, "params": dict(p)} for name, (d, p) in SCENARIOS.items()},
            "rules": [r.as_dict() for r in behaviour.rules()],
            "loading": behaviour.loading(),
            "rate_limits": behaviour.rate_limits(),
        }

    @router.post("/scenarios", status_code=201, summary="Add a server-wide scenario rule", responses=_BODY_ERRORS)
    def add_scenario(request: Request, rule: RuleIn) -> dict[str, Any]:
        try:
            return add_rule(_server(request).behaviour, rule.model_dump(exclude_none=True)).as_dict()
        except ScenarioError as exc:
            raise HTTPException(422, str(exc)) from None

    @router.delete("/scenarios", summary="Remove every scenario rule")
    def clear_scenarios(request: Request) -> dict[str, int]:
        return {"removed": _server(request).behaviour.clear_rules()}

    @router.delete("/scenarios/{rule_id}", summary="Remove one scenario rule",
                   responses={404: {"model": AdminError, "description": "No rule has this id"}})
    def remove_scenario(request: Request, rule_id: int) -> dict[str, int]:
        if not _server(request).behaviour.remove_rule(rule_id):
            raise HTTPException(404, f"No scenario rule has the id {rule_id}.")
        return {"removed": 1}

    @router.post("/loading", status_code=201, summary="Make a Hugging Face model 'load' for N requests or S seconds",
                 responses=_BODY_ERRORS)
    def loading(request: Request, body: LoadingIn) -> dict[str, Any]:
        behaviour = _server(request).behaviour
        try:
            behaviour.set_loading(body.model, requests=body.requests, seconds=body.seconds)
        except ScenarioError as exc:
            raise HTTPException(422, str(exc)) from None
        return {"loading": behaviour.loading()}

    @router.post("/rate-limits", status_code=201, summary="Limit a provider to N requests per S seconds", responses=_BODY_ERRORS)
    def rate_limit(request: Request, body: RateLimitIn) -> dict[str, Any]:
        behaviour = _server(request).behaviour
        behaviour.set_rate_limit(body.provider, body.requests, body.seconds)
        return {"rate_limits": behaviour.rate_limits()}

    @router.get("/journal", summary="The request journal, oldest first, filtered")
    def journal(
        request: Request,
        provider: str | None = None,
        operation: str | None = None,
        status: int | None = None,
        valid: bool | None = None,
        path: str | None = Query(None, description="a path prefix"),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> dict[str, Any]:
        j = _server(request).journal
        page = j.entries(limit=limit, provider=provider, operation=operation, status=status, valid=valid, path=path)
        return {**j.summary(), "matched": page.matched, "entries": page.entries}

    @router.delete("/journal", summary="Clear the request journal")
    def clear_journal(request: Request) -> dict[str, int]:
        return {"removed": _server(request).journal.clear()}

    @router.post("/reset", summary="Back to the configured state: rules, loading, rate limits, journal and cache")
    def reset(request: Request) -> dict[str, str]:
        _server(request).reset()
        return {"status": "reset"}

    return router

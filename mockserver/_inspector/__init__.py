"""The inspector: the request journal as pages, with each answer drawn over its input image.

``/__vision__/ui/`` lists the journal, newest first, filtered and updated live (the page polls
``/__vision__/ui/api/entries``); ``/__vision__/ui/entries/{id}`` draws one entry: the request image with the answer's
masks, boxes, class regions or prompt points, the items in a table, the request's and the answer's contract verdicts
(each check with its JSON path), parameters and headers (secrets redacted), copy as curl, download as HAR.

The pages are static files in ``static/`` (HTML, CSS, JavaScript; no build step, nothing fetched from elsewhere), and
``draw.js`` is also what the conformance run's HTML report inlines (:func:`report_html`), so the drawing is written
once. The files are open (they hold no data); everything under ``/__vision__/ui/api/`` is admin API, behind
``--admin-token`` like the rest of ``/__vision__``: the page asks for the token once, keeps it in the tab's
``sessionStorage`` and sends it as ``Authorization: Bearer``.

Bodies: the journal keeps each entry's request and answer bodies (``_bodies``) in the state store, bounded by
``--keep-bodies-mb``; an entry whose bodies were dropped still shows its metadata, and says so.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import re
import shlex
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import RedirectResponse, Response

from vision_contracts import contracts

from ._bodies import Kept, pack, pack_parts, unpack

if TYPE_CHECKING:
    from .._app import Server  # _app imports this package
    from .._journal import Entry, Journal
    from .._wire import RawRequest

__all__ = ["UI_PREFIX", "Kept", "ReportCase", "inspector_router", "pack", "record_with_bodies", "report_html", "static_text",
           "unpack"]

UI_PREFIX = "/__vision__/ui"
STATIC_PREFIX = UI_PREFIX + "/static/"
_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
#: Image formats a browser draws as they are; others (TIFF...) are converted to PNG for the page.
_BROWSER_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}
_SOURCES = {"upstream": "proxied", "replayed": "replayed", "replay-miss": "replay miss"}
_CURL_SKIP = {"host", "content-length", "connection", "accept-encoding", "user-agent"}
# A JSON body's model member (AI Refinery names its model in the body, not the path), read from the body's start.
_BODY_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


class _BodyModels:
    """The model a kept JSON body names, per entry id: read once (a body never changes), a bounded map."""

    def __init__(self, size: int = 10_000):
        self.size = size
        self._known: OrderedDict[int, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, server: Server, entry_id: int) -> str | None:
        with self._lock:
            if entry_id in self._known:
                return self._known[entry_id]
        blob = server.state.body(entry_id)
        kept = unpack(blob) if blob is not None else None
        found = _BODY_MODEL.search(kept.request_body[:65536]) if kept is not None else None
        model = json.loads(b'"' + found.group(1) + b'"') if found is not None else None
        with self._lock:
            self._known[entry_id] = model
            while len(self._known) > self.size:
                self._known.popitem(last=False)
        return model


def static_text(name: str) -> str:
    """A file of ``static/`` as text (the report inlines them)."""
    return resources.files(__package__).joinpath("static").joinpath(name).read_text(encoding="utf-8")


def _static_names() -> set[str]:
    return {f.name for f in resources.files(__package__).joinpath("static").iterdir() if f.name.endswith(tuple(_TYPES))}


def _server(request: Request) -> Server:
    server: Server = request.app.state.server
    return server


# --- what the pages show of an entry ------------------------------------------------------------------------------

def _source(entry: Mapping[str, Any]) -> str:
    verdict = entry.get("verdict") or {}
    if verdict.get("source") in _SOURCES:
        return _SOURCES[str(verdict["source"])]
    if "cache" in str(verdict.get("note", "")):
        return "cached"
    return "computed"


def _contract(entry: Mapping[str, Any]) -> contracts.Contract | None:
    provider, operation = entry.get("provider"), entry.get("operation")
    if not isinstance(provider, str) or not isinstance(operation, str):
        return None
    try:
        return contracts.get(provider, operation)
    except contracts.UnknownOperation:
        return None


def _model(entry: Mapping[str, Any], contract: contracts.Contract | None) -> str | None:
    family = entry.get("model_family") or {}
    params = contracts.match_path(contract, str(entry.get("path", ""))) if contract is not None else None
    if params:
        if "model_id" in params:
            return params["model_id"]
        if "dataset" in params:
            return f"{params['dataset']}/{params.get('version', '')}"
    return family.get("name") if isinstance(family, Mapping) else None


def row(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A journal entry as the list shows it: the entry, plus its source, model and verdict in words."""
    contract = _contract(entry)
    verdict = entry.get("verdict") or {}
    valid = verdict.get("valid")
    if valid is not False and verdict.get("answer_valid") is False:  # a valid request answered by a broken answer
        valid = False
    return {
        **entry,
        "source": _source(entry),
        "model": _model(entry, contract),
        "verdict_word": "valid" if valid is True else "invalid" if valid is False else "unjudged",
        "warnings": list(verdict.get("warnings") or []),
    }


def _url(entry: Mapping[str, Any]) -> str:
    query = entry.get("query") or {}
    return str(entry.get("path", "/")) + (f"?{urlencode(query, safe='[]')}" if query else "")


def _curl(entry: Mapping[str, Any], origin: str, kept: Kept | None) -> str:
    """The request as a curl command (credentials stay redacted; a binary body is read from a file)."""
    parts = ["curl", "-X", str(entry.get("method", "POST")), origin + _url(entry)]
    for name, value in (entry.get("headers") or {}).items():
        if name not in _CURL_SKIP:
            parts += ["-H", f"{name}: {value}"]
    if kept is not None and kept.request_body:
        try:
            text = kept.request_body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text) <= 4096:
            parts += ["--data-binary", text]
        else:
            parts += ["--data-binary", f"@entry-{entry.get('id')}-request.bin"]
    elif entry.get("body_size"):
        parts += ["--data-binary", f"@entry-{entry.get('id')}-request.bin"]
    return shlex.join(parts)


def _interaction(entry: Mapping[str, Any], kept: Kept) -> contracts.Interaction:
    return contracts.Interaction(
        str(entry.get("method", "POST")), _url(entry), tuple((entry.get("headers") or {}).items()), kept.request_body,
        kept.status, kept.response_headers, kept.response_body, started=float(entry.get("time") or 0),
        duration_ms=float(entry.get("duration_ms") or 0),
    )


def _violations(report: Iterable[contracts.Violation]) -> list[dict[str, Any]]:
    return [{"path": v.path, "check": v.check, "severity": v.severity.value, "message": contracts.redact_url(v.message)}
            for v in report]


def _image(contract: contracts.Contract, envelope: contracts.Request | None, max_pixels: int) -> tuple[bytes, str] | str:
    """The request image as (bytes, media type) a browser draws, or a sentence saying why there is none."""
    if envelope is None:
        return "The request did not parse, so it has no image to show."
    value = contract.request_image(envelope)
    if envelope.form == "url":
        return f"The request named its image by URL ({contracts.redact_url(str(value))[:200]}); the journal keeps no fetched image."
    if not isinstance(value, str):
        return "The request carries no image."
    try:
        data = contracts.decode_image_string(value)
        im = contracts.open_image(data, max_pixels=max_pixels, load=True)
    except contracts.ImageError as exc:
        return f"The request image does not decode: {exc}."
    fmt = str(im.format or "").upper()
    if fmt in _BROWSER_FORMATS:
        return data, _BROWSER_FORMATS[fmt]
    out = io.BytesIO()
    im.convert("RGBA").save(out, "PNG")
    return out.getvalue(), "image/png"


@dataclass
class Detail:
    """What the entry page needs, computed from the journal entry and its kept bodies."""

    entry: dict[str, Any]
    kept: Kept | None
    image: tuple[bytes, str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def detail(server: Server, entry_id: int) -> Detail:
    found = next((e for e in server.journal.entries().entries if e.get("id") == entry_id), None)
    if found is None:
        raise HTTPException(404, f"The journal holds no entry {entry_id}: it was never recorded, or the journal's bound "
                                 f"evicted it, or the journal was cleared.")
    blob = server.state.body(entry_id)
    kept = unpack(blob) if blob is not None else None
    contract = _contract(found)
    facts: dict[str, Any] = {"bodies_kept": kept is not None}
    if kept is not None and kept.regenerate:
        kept = _regenerated(server, found, kept, contract, facts)
    out = Detail(row(found), kept)
    if kept is None:
        facts["bodies_note"] = ("The journal no longer keeps this entry's bodies (the oldest go first past --keep-bodies-mb, "
                                "or none are kept with --keep-bodies-mb 0, or the request was refused before its body was "
                                "read): its metadata is all there is.")
    contract = _contract(found)
    if contract is not None and "roles" in contract.index:  # a pack's answer is drawn by its roles (draw.js)
        facts["roles"] = contract.index["roles"]["response"]
    if kept is not None:
        facts["response_headers"] = [list(h) for h in kept.response_headers]
        facts["request_size"] = len(kept.request_body)
        try:
            facts["answer"] = json.loads(kept.response_body) if kept.response_body else None
        except ValueError:
            facts["answer_text"] = kept.response_body[:4096].decode("utf-8", "replace")
    if kept is not None and contract is not None:
        max_pixels = server.config.max_pixels
        path_params = contracts.match_path(contract, str(found.get("path", ""))) or {}
        interaction = _interaction(found, kept)
        try:
            identity = contracts.identify(interaction, contract, path_params, max_pixels=max_pixels)
            judged = contracts.judge(interaction, contract=contract, path_params=path_params, max_pixels=max_pixels)
        except Exception as exc:  # a stored body the contracts cannot read: say so on the page
            facts["judge_error"] = f"The contracts could not judge this entry: {type(exc).__name__}: {exc}."
        else:
            facts["request_verdict"] = {"valid": judged.request.ok, "violations": _violations(judged.request)}
            facts["answer_verdict"] = {"valid": judged.response.ok, "violations": _violations(judged.response)}
            facts["params"] = dict(identity.match.get("params") or {})
            facts["path_params"] = {k: str(v) for k, v in path_params.items()}
            if identity.envelope is not None and isinstance(identity.envelope.body, dict) and isinstance(identity.envelope.body.get("model"), str):
                out.entry["model"] = out.entry.get("model") or identity.envelope.body["model"]
            image = _image(contract, identity.envelope, max_pixels)
            if isinstance(image, str):
                facts["image_note"] = image
            else:
                out.image = image
                facts["image"] = True
    out.facts = facts
    return out


def har_bytes(entry: Mapping[str, Any], kept: Kept, origin: str) -> bytes:
    """The entry as a HAR 1.2 log (``contracts.write_har``: credentials redacted, bodies inline)."""
    interaction = _interaction(entry, kept)
    interaction = contracts.Interaction(
        interaction.method, origin + interaction.url, interaction.request_headers, interaction.request_body,
        interaction.status, interaction.response_headers, interaction.response_body, started=interaction.started,
        duration_ms=interaction.duration_ms,
        vision={"provider": entry.get("provider"), "operation": entry.get("operation"), "path": entry.get("path"),
                "source": _source(entry), "journal_id": entry.get("id"), "verdict": entry.get("verdict")},
    )
    with tempfile.TemporaryDirectory(prefix="vision-inspector-") as folder:
        path = Path(folder) / "entry.har"
        contracts.write_har(path, [interaction], body_limit=1 << 62)
        return path.read_bytes()


# --- routes -------------------------------------------------------------------------------------------------------

def _file(name: str) -> Response:
    if name not in _static_names():
        raise HTTPException(404, f"The inspector has no file {name!r}.")
    suffix = name[name.rfind("."):]
    return Response(static_text(name).encode("utf-8"), media_type=_TYPES[suffix], headers={"cache-control": "no-cache"})


def inspector_router() -> APIRouter:
    """The pages (open: static files, no data) and their API (admin: behind ``--admin-token``)."""
    router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
    body_models = _BodyModels()

    @router.get("")
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/")

    @router.get("/")
    async def ui_list() -> Response:
        return _file("index.html")

    @router.get("/entries/{entry_id}")
    async def ui_entry(entry_id: int) -> Response:
        return _file("entry.html")

    @router.get("/static/{name}")
    async def ui_static(name: str) -> Response:
        return _file(name)

    @router.get("/api/entries")
    def api_entries(request: Request, limit: int = 1000) -> dict[str, Any]:
        server = _server(request)
        page = server.journal.entries(limit=max(1, min(limit, 100_000)))
        rows = [row(e) for e in reversed(page.entries)]
        for r in rows:
            if r["model"] is None and r.get("provider") == "airefinery" and isinstance(r.get("id"), int):
                r["model"] = body_models(server, r["id"])
        return {**server.journal.summary(), "entries": rows}

    @router.get("/api/entries/{entry_id}")
    def api_entry(request: Request, entry_id: int) -> dict[str, Any]:
        found = detail(_server(request), entry_id)
        origin = str(request.base_url).rstrip("/")
        return {"entry": found.entry, **found.facts, "curl": _curl(found.entry, origin, found.kept)}

    @router.get("/api/entries/{entry_id}/image")
    def api_image(request: Request, entry_id: int) -> Response:
        found = detail(_server(request), entry_id)
        if found.image is None:
            raise HTTPException(404, str(found.facts.get("image_note") or found.facts.get("bodies_note") or
                                         f"The entry {entry_id} has no image to show."))
        return Response(found.image[0], media_type=found.image[1])

    @router.get("/api/entries/{entry_id}/har")
    def api_har(request: Request, entry_id: int) -> Response:
        found = detail(_server(request), entry_id)
        if found.kept is None:
            raise HTTPException(404, str(found.facts["bodies_note"]))
        data = har_bytes(found.entry, found.kept, str(request.base_url).rstrip("/"))
        return Response(data, media_type="application/json",
                        headers={"content-disposition": f'attachment; filename="vision-entry-{entry_id}.har"'})

    @router.get("/api/entries/{entry_id}/request-body")
    def api_request_body(request: Request, entry_id: int) -> Response:
        found = detail(_server(request), entry_id)
        if found.kept is None:
            raise HTTPException(404, str(found.facts["bodies_note"]))
        return Response(found.kept.request_body, media_type="application/octet-stream",
                        headers={"content-disposition": f'attachment; filename="entry-{entry_id}-request.bin"'})

    return router


# --- the conformance run's report ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportCase:
    """One failing case of a conformance run, as the HTML report draws it."""

    name: str
    provider: str
    operation: str
    message: str
    image: bytes | None = None
    answer: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    violations: Sequence[Mapping[str, Any]] = ()
    status: int | None = None


def _data_uri(image: bytes | None) -> str | None:
    if image is None:
        return None
    try:
        im = contracts.open_image(image, load=True)
    except contracts.ImageError:
        return None
    fmt = str(im.format or "").upper()
    if fmt not in _BROWSER_FORMATS:
        out = io.BytesIO()
        im.convert("RGBA").save(out, "PNG")
        image, fmt = out.getvalue(), "PNG"
    return f"data:{_BROWSER_FORMATS[fmt]};base64,{base64.b64encode(image).decode('ascii')}"


def _response_roles(provider: str, operation: str) -> Any:
    """A pack operation's response roles (draw.js reads its answers by them), else None."""
    try:
        roles = contracts.get(provider, operation).index.get("roles")
    except contracts.UnknownOperation:
        return None
    return roles["response"] if roles else None


def report_html(title: str, cases: Sequence[ReportCase]) -> str:
    """One self-contained HTML page drawing every case (the inspector's CSS and ``draw.js`` inlined: works offline)."""
    data = [{"name": c.name, "provider": c.provider, "operation": c.operation, "message": c.message, "status": c.status,
             "image": _data_uri(c.image), "answer": c.answer, "params": dict(c.params), "violations": list(c.violations),
             "roles": _response_roles(c.provider, c.operation)}
            for c in cases]
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    return static_text("report.html").replace("{{TITLE}}", html.escape(title)).replace(
        "/*{{CSS}}*/", static_text("inspector.css")).replace(
        "/*{{DRAW}}*/", static_text("draw.js").replace("</", "<\\/")).replace(
        "/*{{REPORT}}*/", static_text("report.js").replace("</", "<\\/")).replace(
        "/*{{DATA}}*/null", payload)


def _regenerated(server: Server, entry: Mapping[str, Any], kept: Kept, contract: contracts.Contract | None,
                 facts: dict[str, Any]) -> Kept:
    """``kept`` with the answer the mock computed for it, computed again from the kept request (the same request, seed
    and configuration give the same bytes); on failure, without it and a note in ``facts``."""
    try:
        if contract is None:
            raise ValueError("the entry names no operation")
        path_params = contracts.match_path(contract, str(entry.get("path", ""))) or {}
        identity = contracts.identify(_interaction(entry, kept), contract, path_params, max_pixels=server.config.max_pixels)
        if identity.envelope is None:
            raise ValueError("the kept request does not parse")
        answer = server.regenerate(contract, path_params, identity.envelope)
    except Exception as exc:  # said on the page: the metadata and the request are still there
        facts["bodies_note"] = f"The answer was not kept and could not be computed again: {type(exc).__name__}: {exc}."
        return dataclasses.replace(kept, regenerate=False)
    return dataclasses.replace(kept, response_body=answer, regenerate=False)


# --- recording ----------------------------------------------------------------------------------------------------

def record_with_bodies(journal: Journal, entry: Entry, raw: RawRequest, response: Response) -> int:
    """Commit ``entry`` with its request and answer bodies (blocking: the server calls it in a store thread), as
    :meth:`Journal.record` does, with the bodies packed (credentials scrubbed) into the same store call."""
    url = raw.path + (f"?{raw.query_string}" if raw.query_string else "")
    answer = bytes(getattr(response, "body", b"") or b"")
    # computed by the mock (its cache header, no source header, no scenario altering it): computed again when asked
    computed = response.status_code == 200 and "x-vision-cache" in response.headers and "x-vision-source" not in response.headers
    parts = pack_parts(raw.method, url, raw.headers.items(), raw.body, response.status_code, response.headers.items(), answer,
                       request_digest=entry.body_sha256, regenerate=computed and not entry.scenario and entry.form != "url")
    entry.id = journal.store.record(vars(entry), parts)
    return entry.id

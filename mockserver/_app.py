"""The FastAPI application: routes from the contracts' operation indexes, one request pipeline for every operation.

``create_app(config)`` builds the app. State lives on ``app.state.server`` (a :class:`Server`); nothing is kept at
module level. Every provider route runs :meth:`Server.handle`, the single pipeline:

    read the raw request -> journal entry -> pick the operation (HF: by the model's task) -> ``_play.gate``
    (auth, rate limit, scenarios from the control header or a rule, model loading: may answer here) -> envelope
    (``contract.parse_request``, in a worker thread) -> ``contract.check_request`` (strict with ``--strict``; the
    journal's verdict; warnings answered all the same and named in ``x-vision-warnings``) -> image
    bytes (body, or ``?image=URL`` via ``_fetch``) -> response cache (keyed on the parsed request and the image's
    bytes, so a hit skips generation only, never validation) -> generate (``_generate``, in a worker thread, through
    the ``_limits.DecodeGate``) -> JSON body and the provider's headers -> cache -> scenarios applied to the answer
    (``schema-violation``) -> the journal entry, committed in a group (``_state.GroupCommit``) before the answer leaves
    (``--state PATH``, Redis) or behind it (the default temporary store; every journal read flushes first)

A raw request answered from the cache once is answered again by its raw identity (``_wire.raw_identity``: operation,
path, parameters, decoded query pairs, the headers the contract judges, the body's SHA-256) with no parse, validation
or image at all, its journal entry filled in from the first judgement; ``?image=URL`` requests never are.

The admin API (``_admin``) lives under the reserved prefix ``/__vision__``.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from vision_contracts import contracts
from vision_contracts.contracts import Contract, ImageError, WireError, open_image

from . import _families, _generate, _hub, _packs
from ._admin import ADMIN_PREFIX, admin_router
from ._adminauth import AdminGuard
from ._auth import credential, token_ok
from ._config import Config
from ._fetch import FetchError, fetch_image
from ._inspector import inspector_router, record_with_bodies
from ._journal import Entry, Journal, RedactQueryFilter
from ._limits import Busy, DecodeGate
from ._play import FaultResponse, gate, loading_response, violate
from ._pool import GenerationPool
from ._replay import Sources
from ._scenarios import Behaviour, Configured
from ._state import FlushingStore, GroupCommit, JournalBounds, Marks, SQLiteStore, StateStore, offload, open_store
from ._wire import (
    JSON_MEDIA_TYPE,
    BodyTimeout,
    RawRequest,
    RequestTooLarge,
    cache_identity,
    error_response,
    image_bytes,
    image_value,
    raw_identity,
    read_raw,
    redacted,
    reject_status,
    report_message,
    use_cache,
    wire_violation,
)

__all__ = ["ADMIN_PREFIX", "Server", "create_app", "guess_task"]

log = logging.getLogger("vision_contracts.mockserver")

CACHE_HEADER = "x-vision-cache"  # the mock's own header: "hit" or "miss"
# Hugging Face answers: the model family and subtask answered ("semantic-ade20k; subtask=semantic"), and, for a model
# served only because its name matched a family's pattern (--guess-tasks), the guess ("object-detection; family=detr").
FAMILY_HEADER = "x-vision-model-family"
GUESS_HEADER = "x-vision-model-guess"


def guess_task(model_id: str) -> str | None:
    """A Hugging Face task guessed from a model id's name, or None: 'detr'/'yolo'/... detect; 'seg'/'mask2former'/...
    segment."""
    family = _families.catalogue().guess(model_id)  # the built-in families' name patterns, in catalogue order
    return family.task if family is not None else None


_V = TypeVar("_V")


class _LRU(Generic[_V]):
    """A bounded LRU, safe across threads."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, _V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> _V | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: str, value: _V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class _ResponseCache(_LRU[tuple[bytes, dict[str, str]]]):
    """Finished responses (body bytes and headers) by the canonical parsed request (``Server.cache_key``)."""


@dataclass(frozen=True)
class _Judged:
    """What a request answered from the cache was found to be, kept by its raw identity (``_wire.raw_identity``), so
    that the same raw request again needs neither parsing nor validation nor its image: the response cache's key,
    the journal's facts (form, image, verdict, model family) and the answer's headers (warnings included)."""

    key: str
    form: str | None
    image: dict[str, Any] | None
    verdict: dict[str, Any]
    model_family: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Route:
    """One (method, path) served: the contracts that share it, and the path parameter that selects among them."""

    provider: str
    method: str
    path: str  # the contract's path template, e.g. /models/{model_id}
    contracts: tuple[Contract, ...]


class Server:
    """The mock's state and its request pipeline. One per app (``app.state.server``). Rules, model loading, rate-limit
    windows and the journal live in the state store (``mockserver._state``), shared by every worker of a server and,
    over Redis, by several servers; only the response cache belongs to this process."""

    def __init__(self, config: Config):
        self.config = config
        self.started = time.time()
        self.created = config.created if config.created is not None else int(self.started)
        self.cache = _ResponseCache(config.cache_size)
        self.judged: _LRU[_Judged] = _LRU(config.cache_size)  # raw identity -> the judged request answered from the cache
        self.decodes = DecodeGate.from_config(config)  # images decoded/generated at once, and their pixels
        # rules, loading, rate-limit windows and the journal: in the state store every worker (and server) shares
        store = open_store(config.state, JournalBounds(config.journal_limit, config.journal_max_bytes, int(config.keep_bodies_mb * 2**20)))
        # the default temporary store promises no durability: journal entries and bodies are written behind the answer
        # (flushed before every journal or body read, a reset and shutdown); --state PATH and Redis commit first
        behind = Marks(os.path.dirname(store.path)) if isinstance(store, SQLiteStore) and (config.state is None or config.state_temporary) else None
        self.writes = GroupCommit(store, behind=behind)
        self.state: StateStore = FlushingStore(store, self.writes.flush) if behind is not None else store
        self.behaviour = Behaviour(self.state, config.seed)
        self.journal = Journal(self.state)
        self.configured = Configured.from_json(config.rate_limits, config.loading, config.scenarios)
        self.behaviour.seed(self.configured)  # once per store: a restart on a kept --state finds its state as it was
        self.catalogue = config.catalogue()
        self.generators: Mapping[tuple[str, str], Callable[[bytes, Mapping[str, Any]], Any]] = {
            ("huggingface", "image-segmentation"): self._hf_segmentation,
            ("huggingface", "object-detection"): self._hf_detection,
            ("roboflow", "semantic-segmentation"): self._roboflow,
            ("airefinery", "image-segmentation"): self._airefinery,
            **{(c.provider, c.operation): _packs.pack_generator(c, self._common()) for c in config.pack_contracts()},
        }
        self.sources = Sources(config)  # --replay / --upstream: answers the mock does not compute
        self.pool = GenerationPool(config.generate_processes, config.generate_process_pixels)  # large images: processes

    def reset(self) -> None:
        """Back to the configured state: rules, loading, rate limits and the journal in the shared store (in one step,
        for every worker and server), and this process's response cache. Blocking: call it from a worker thread."""
        self.behaviour.reset(self.configured)
        self.cache.clear()
        self.judged.clear()

    # --- generation adapters (pure functions of the image and parameters) ------------------------------------

    def _common(self) -> dict[str, Any]:
        c = self.config
        return {"seed": c.seed, "work": c.work_size, "colours": c.colours, "max_pixels": c.max_pixels}

    def _hf_segmentation(self, data: bytes, params: Mapping[str, Any], family: _families.Family | None = None) -> Any:
        return self._hf_generator("image-segmentation", family)(data, params)

    def _hf_detection(self, data: bytes, params: Mapping[str, Any], family: _families.Family | None = None) -> Any:
        return self._hf_generator("object-detection", family)(data, params)

    def _hf_generator(self, task: str, family: _families.Family | None) -> Callable[[bytes, Mapping[str, Any]], Any]:
        """A Hugging Face task's generation as a picklable partial of a pure function (a process pool can run it),
        answering as ``family`` (default: the task's default family)."""
        family = family or self.catalogue.default(task)
        words = family.vocabulary
        if task == "object-detection":
            return functools.partial(_generate.hf_object_detection, thing_labels=words.thing_labels, **self._common())
        return functools.partial(_generate.hf_image_segmentation, default_subtask=str(family.default_subtask),
                                 thing_labels=words.thing_labels, stuff_labels=words.stuff_labels, **self._common())

    def _generator(self, contract: Contract, resolution: _families.Resolution | None) -> Callable[[bytes, Mapping[str, Any]], Any]:
        """The operation's generation function (picklable for the built-ins; a pack's is a closure over its compiled
        contract); a Hugging Face model's answers as its resolved family."""
        if _packs.is_pack(contract):
            return self.generators[(contract.provider, contract.operation)]
        if contract.provider == "huggingface":
            return self._hf_generator(contract.operation, resolution.family if resolution is not None else None)
        if contract.provider == "roboflow":
            return functools.partial(_generate.roboflow_semantic_segmentation, **self._common())
        return functools.partial(_airefinery_generate, created=self.created, **self._common())

    def _roboflow(self, data: bytes, params: Mapping[str, Any]) -> Any:
        return _generate.roboflow_semantic_segmentation(data, params, **self._common())

    def _airefinery(self, data: bytes, params: Mapping[str, Any]) -> Any:
        return _airefinery_generate(data, params, created=self.created, **self._common())

    def regenerate(self, contract: Contract, path_params: Mapping[str, Any], envelope: contracts.Request) -> bytes:
        """The answer the mock computes for a parsed request (the inspector's kept bodies hold the request only: the
        same request, seed and configuration give the same bytes). Blocking: call it from a worker thread."""
        _, facts = contract.check_request(envelope, max_pixels=self.config.max_pixels, decode_pixels=False, strict=self.config.strict)
        data = facts.image_data if facts.image_data is not None else image_bytes(image_value(contract, envelope))
        return _generate_json(self._generator(contract, self._resolution(contract, path_params)), data, facts.params)

    # --- routing -----------------------------------------------------------------------------------------------

    def select(self, route: Route, raw: RawRequest) -> tuple[Contract | None, dict[str, Any], Response | None]:
        """The operation a request on this route asks for, its path parameters, or an error response."""
        params = dict(raw.path_params)
        if route.provider == "roboflow" and self.config.roboflow_models:
            model = f"{params.get('dataset')}/{params.get('version')}"
            if model not in self.config.roboflow_models:
                return None, params, error_response(route.contracts[0], 404, "Not Found")
        if route.provider != "huggingface":
            return route.contracts[0], params, None
        model = str(params.get("model_id", "")).strip("/")
        params["model_id"] = model
        resolution = self.resolve_model(model)
        by_task = {c.operation: c for c in route.contracts}
        if resolution is None or resolution.task not in by_task:
            return None, params, error_response(route.contracts[0], 404, self._unknown_model(model))
        return by_task[resolution.task], params, None

    def resolve_model(self, model: str) -> _families.Resolution | None:
        """The family a Hugging Face model id answers as, or None when the mock does not serve it (see Config).

        With an upstream or recordings for Hugging Face (``--upstream huggingface=URL``, ``--replay``), the real
        service decides which models exist: ids the catalogue does not list are routed by their name pattern (made
        visible as a guess, ``x-vision-model-guess`` and the journal), so a proxied request reaches the real model."""
        c = self.config
        guess = c.guess_tasks or "huggingface" in c.upstream or c.replay is not None
        return self.catalogue.resolve(model, c.models, guess)

    def _resolution(self, contract: Contract, path_params: Mapping[str, Any]) -> _families.Resolution | None:
        if contract.provider != "huggingface":
            return None
        return self.resolve_model(str(path_params.get("model_id", "")))

    def _unknown_model(self, model: str) -> str:
        """The 404 message for a model not served: Hugging Face's sentence, then how to serve it."""
        served = self.config.served_models()
        close = difflib.get_close_matches(model, list(served), n=1, cutoff=0.85)
        hint = None if self.config.guess_tasks else self.catalogue.guess(model)
        task = hint.task if hint is not None else "TASK"
        message = [f"Model {model} does not exist."]
        if close:
            message.append(f"Did you mean {close[0]}?")
        message.append(
            f"The mock serves the {len(served)} Hugging Face models its catalogue lists (families.json, --families) "
            f"and those given with --model ID=TASK{', and ids matching a family name pattern' if self.config.guess_tasks else ''}; "
            f"to serve this one, start the mock with --model {model}={task}"
            + (f" (its name suggests {hint.task}, family {hint.name}), or with --guess-tasks to serve ids by name pattern."
               if hint is not None else " (TASK: image-segmentation or object-detection)."))
        return " ".join(message)

    def cache_key(self, contract: Contract, raw: RawRequest, envelope: contracts.Request, image: bytes) -> str:
        """The response cache's key: the canonical parsed request with its image's bytes (``_wire.cache_identity``),
        the operation and the seed. Computed after validation, so a hit never skips it."""
        auth = contract.index.get("auth") or {}
        credential = raw.header(auth["name"]) if auth.get("in") == "header" else None
        return _generate.digest(
            contract.provider, contract.operation, str(self.config.seed), cache_identity(contract, envelope, image, credential),
        )

    # --- the pipeline ------------------------------------------------------------------------------------------

    async def handle(self, request: StarletteRequest, route: Route) -> Response:
        """Serve one provider request and record it in the journal, whatever its outcome."""
        started = time.perf_counter()
        try:
            raw = await read_raw(request, self.config.max_body_bytes, self.config.body_timeout_seconds)
        except BodyTimeout as exc:  # a slow or stalled client: it may still read the answer
            entry = self._unread(request, route, f"$.body: {exc}")
            return await self._finish(entry, error_response(route.contracts[0], reject_status(route.contracts[0]), str(exc)), started)
        except RequestTooLarge as exc:
            entry = self._unread(request, route, f"$.body: {exc}.")
            entry.body_size, entry.body_sha256 = exc.received or exc.limit + 1, None
            return await self._finish(entry, error_response(route.contracts[0], 413, f"The request body is too large: {exc}."), started)
        except ClientDisconnect:  # the client left mid-body: journal it; the answer goes nowhere (uvicorn drops it)
            entry = self._unread(request, route, "$.body: the client disconnected before sending the whole body.")
            response = error_response(route.contracts[0], reject_status(route.contracts[0]), "The client disconnected before sending the whole body.")
            return await self._finish(entry, response, started, answered=False)
        entry = self.journal.open(raw.method, raw.path, raw.query.items(), raw.headers.items(), raw.body)
        entry.provider = route.provider
        try:
            response = await self._respond(raw, route, entry)
        except Exception as exc:  # a bug in the mock: answer in the provider's format, never a bare 500 page
            log.exception("the mock failed on %s %s", raw.method, raw.path)
            contract = route.contracts[0]
            status = 500 if 500 in contract.error_statuses else reject_status(contract)
            response = error_response(contract, status, f"The mock server failed: {type(exc).__name__}: {exc}.")
        return await self._finish(entry, response, started, raw=raw)

    def _unread(self, request: StarletteRequest, route: Route, violation: str) -> Entry:
        """The journal entry of a request whose body was not read whole (too large, too slow, the client gone)."""
        entry = self.journal.open(request.method, request.url.path, request.query_params.multi_items(), request.headers.items(), b"")
        entry.provider = route.provider
        entry.verdict = {"valid": False, "violations": [violation]}
        return entry

    async def _finish(self, entry: Entry, response: Response, started: float, *, answered: bool = True,
                      raw: RawRequest | None = None) -> Response:
        """Record the entry: with ``--state PATH`` or Redis committed before the answer leaves (a server killed after
        answering loses no entry); with the default temporary store, behind it (``GroupCommit.write``). With
        ``raw``, its bodies too (the inspector's, within --keep-bodies-mb), in the same store call."""
        entry.status = response.status_code if answered and not isinstance(response, FaultResponse) else None
        entry.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if raw is not None and entry.status is not None and self.state.bounds.bodies:
            await self.writes.write(record_with_bodies, self.journal, entry, raw, response)
        else:
            await self.writes.write(self.journal.record, entry)
        return response

    async def _respond(self, raw: RawRequest, route: Route, entry: Entry) -> Response:
        contract, path_params, error = self.select(route, raw)
        if error is not None:
            return error
        assert contract is not None  # noqa: S101 (narrows the type: select gives a contract whenever no error)
        entry.operation = contract.operation
        resolution = self._resolution(contract, path_params)
        if resolution is not None:
            entry.model_family = resolution.journal()
        outcome = await gate(self, contract, raw, path_params)
        entry.scenario = ", ".join(outcome.played) or None
        if outcome.response is not None:
            await self._judge(contract, raw, path_params, entry)
            return _mark_guess(outcome.response, resolution)
        response = await self._answer(contract, raw, path_params, entry, resolution)
        if outcome.after and response.status_code == 200:
            broken = violate(contract, bytes(response.body))
            response = Response(broken, media_type=JSON_MEDIA_TYPE, headers={
                k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")})
            _record_answer_verdict(entry, contract, broken)
        return _mark_guess(response, resolution)

    async def _answer(
        self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Entry,
        resolution: _families.Resolution | None,
    ) -> Response:
        """The answer's source: a recording or the upstream (judged, ``x-vision-source``), else computed here."""
        sourced = await self.sources.answer(contract, raw, path_params, entry)
        return sourced if sourced is not None else await self._compute(contract, raw, path_params, entry, resolution)

    async def _judge(
        self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Entry, *, prepare: bool = False,
    ) -> tuple[contracts.Request | None, contracts.Report | WireError, contracts.RequestFacts | None, _Prepared | ImageError | None]:
        """The contract's verdict on the request, recorded in the journal entry; returns (envelope, report, facts,
        prepared). With ``prepare``, a valid request carrying its image (not ``?image=URL``) also has its image's
        bytes and its response-cache key made in the same trip to a thread (or the ImageError its image gives)."""
        try:  # off the event loop, in one trip to a thread: a large JSON or multipart body takes CPU time
            envelope, report, facts, prepared = await run_in_threadpool(self._parse_and_check, contract, raw, path_params, prepare)
        except WireError as exc:
            entry.verdict = {"valid": False, "violations": [str(redacted(wire_violation(exc)))]}
            return None, exc, None, None
        entry.form = envelope.form
        entry.image = None if facts.image is None else {"width": facts.image.width, "height": facts.image.height, "format": facts.image.format}
        entry.verdict = _verdict(report, self.config.strict)
        return envelope, report, facts, prepared

    def _parse_and_check(
        self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], prepare: bool,
    ) -> tuple[contracts.Request, contracts.Report, contracts.RequestFacts, _Prepared | ImageError | None]:
        """The envelope (raises WireError), the contract's report and facts on it, and (``prepare``) the image's bytes
        with the cache key. Blocking: call it in a thread."""
        envelope = raw.parse(contract, path_params, max_json_depth=self.config.max_json_depth, max_form_parts=self.config.max_form_parts)
        report, facts = contract.check_request(envelope, max_pixels=self.config.max_pixels, decode_pixels=False, strict=self.config.strict)
        if not prepare or report.errors or envelope.form == "url":
            return envelope, report, facts, None
        try:  # the bytes the contract's check decoded already (facts.image_data), else decoded here
            data = facts.image_data if facts.image_data is not None else image_bytes(image_value(contract, envelope))
        except ImageError as exc:
            return envelope, report, facts, exc
        return envelope, report, facts, _Prepared(data, self.cache_key(contract, raw, envelope, data))

    def _known(self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Entry) -> tuple[str, Response | None]:
        """The request's raw identity, and its answer when the same raw request was judged and answered from the cache
        before (the journal entry filled in as it was then): no parsing, validation or image needed. ``?image=URL``
        requests are never known this way (their answer follows the image's bytes, fetched anew)."""
        identity = _generate.digest(str(self.config.seed), raw_identity(contract, raw, path_params, entry.body_sha256 or ""))
        known = self.judged.get(identity)
        hit = self.cache.get(known.key) if known is not None else None
        if known is None or hit is None:
            return identity, None
        entry.form, entry.image, entry.verdict = known.form, known.image, dict(known.verdict)
        if known.model_family is not None:
            entry.model_family = dict(known.model_family)
        return identity, Response(hit[0], media_type=JSON_MEDIA_TYPE, headers={**known.headers, CACHE_HEADER: "hit"})

    async def _compute(
        self, contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], entry: Entry,
        resolution: _families.Resolution | None,
    ) -> Response:
        reject = reject_status(contract)
        identity, known = self._known(contract, raw, path_params, entry)
        if known is not None:
            return known
        envelope, report, facts, prepared = await self._judge(contract, raw, path_params, entry, prepare=True)
        if isinstance(report, WireError):  # the wire did not parse: no envelope, no facts
            exc = report
            return error_response(contract, reject, f"The request does not match the {contract.provider} {contract.operation} contract: {exc.message}", [wire_violation(exc)])
        assert envelope is not None  # noqa: S101 (_judge returns an envelope and facts once the wire parsed)
        assert facts is not None  # noqa: S101
        warned = _warnings_header(report)
        if report.errors:
            return error_response(contract, reject, report_message(contract, report), report.errors, headers=warned)
        loaded = await self._request_image(contract, envelope, facts, reject, prepared)
        if isinstance(loaded, Response):
            return loaded
        data, pixels = loaded
        key = prepared.key if isinstance(prepared, _Prepared) else self.cache_key(contract, raw, envelope, data)
        cacheable = use_cache(contract, raw, envelope)
        hit = self.cache.get(key) if cacheable else None
        if hit is not None:  # validated above like any request; only generation is skipped
            entry.verdict["note"] = "served from the response cache"
            if resolution is not None:
                entry.model_family = resolution.journal(_families.header_subtask(hit[1].get(FAMILY_HEADER)))
            cached = {k: v for k, v in hit[1].items() if k != contracts.WARNINGS_HEADER}
            headers = {**cached, **warned}
            if envelope.form != "url":  # the same raw request again: answered by its raw identity (see _known)
                self.judged.put(identity, _Judged(key, entry.form, entry.image, dict(entry.verdict), entry.model_family, headers))
            return Response(hit[0], media_type=JSON_MEDIA_TYPE, headers={**headers, CACHE_HEADER: "hit"})
        generate = self._generator(contract, resolution)
        started = time.perf_counter()
        try:
            async with self.decodes.slot(pixels):  # bounded decodes at once; the work (and its JSON) in a thread
                # a pack's generation is a closure over its contract: never pickled into the process pool
                pooled = -1 if _packs.is_pack(contract) else pixels
                content = await self.pool.run(pooled, _generate_json, generate, data, dict(facts.params))
        except Busy as exc:
            return _busy_response(contract, path_params, exc)
        except ImageError as exc:
            if envelope.form == "url":
                return error_response(contract, reject, _undecodable_url(image_value(contract, envelope), self.config))
            return error_response(contract, reject, f"The request image is unusable: {exc}.")
        except Exception as exc:  # a bug in the mock: answer in the provider's format, never a bare 500 page
            log.exception("generation failed for %s %s", contract.provider, contract.operation)
            status = 500 if 500 in contract.error_statuses else reject
            return error_response(contract, status, f"The mock server failed to generate a response: {type(exc).__name__}: {exc}.")
        elapsed = time.perf_counter() - started
        headers = {**self._success_headers(contract, elapsed), **warned}
        if resolution is not None:
            subtask = resolution.family.subtask(facts.params)
            entry.model_family = resolution.journal(subtask)
            headers[FAMILY_HEADER] = resolution.family_header(subtask)
        self.cache.put(key, (content, headers))
        if cacheable and envelope.form != "url":  # the same raw request again: answered by its raw identity (see _known)
            again = {**entry.verdict, "note": "served from the response cache"}
            self.judged.put(identity, _Judged(key, entry.form, entry.image, again, entry.model_family, headers))
        return Response(content, media_type=JSON_MEDIA_TYPE, headers={**headers, CACHE_HEADER: "miss"})

    async def _request_image(
        self, contract: Contract, envelope: contracts.Request, facts: contracts.RequestFacts, reject: int,
        prepared: _Prepared | ImageError | None = None,
    ) -> tuple[bytes, int] | Response:
        """The request image's bytes and pixel count, or the error answer: from the body (decoded already when
        ``prepared``), or fetched for ``?image=URL`` (whose errors never repeat what was fetched: no bytes, sizes or
        decoder messages)."""
        value = image_value(contract, envelope)
        try:
            if envelope.form == "url":
                data = await fetch_image(self.config, str(value))
                width, height = open_image(data, max_pixels=self.config.max_pixels).size
                return data, width * height
            if isinstance(prepared, ImageError):
                raise prepared
            data = prepared.data if prepared is not None else image_bytes(value)
        except FetchError as exc:
            return error_response(contract, reject, str(exc))
        except ImageError as exc:
            if envelope.form == "url":
                return error_response(contract, reject, _undecodable_url(value, self.config))
            return error_response(contract, reject, f"The image at {value!s:.100} is unusable: {exc}.")
        pixels = facts.image.width * facts.image.height if facts.image is not None else self.config.max_pixels
        return data, pixels

    def _success_headers(self, contract: Contract, elapsed: float) -> dict[str, str]:
        known = {"x-compute-time": f"{elapsed:.3f}", "x-compute-type": "cpu"}
        return {name: known[name] for name in contract.index["success"].get("headers", []) if name in known}


@dataclass(frozen=True)
class _Prepared:
    """A valid request's image bytes and response-cache key, made in the thread that parsed and judged it."""

    data: bytes
    key: str


def _airefinery_generate(data: bytes, params: Mapping[str, Any], **options: Any) -> Any:
    return _generate.airefinery_image_segmentation(data, params.get("segment_prompt") or [], **options)


def _generate_json(generate: Callable[[bytes, Mapping[str, Any]], Any], data: bytes, params: Mapping[str, Any]) -> bytes:
    """The generated answer as compact JSON bytes (serialised in the generating thread, not on the event loop)."""
    return json.dumps(generate(data, params), separators=(",", ":")).encode()


def _verdict(report: contracts.Report, strict: bool) -> dict[str, Any]:
    """The journal's verdict: errors (the request was refused) apart from warnings (answered all the same, and named in
    the x-vision-warnings header), and whether the server judged strictly."""
    return {"valid": not report.errors, "violations": [str(redacted(v)) for v in report.errors],
            "warnings": [str(redacted(v)) for v in report.warnings], "strict": strict}


def _warnings_header(report: contracts.Report) -> dict[str, str]:
    """``x-vision-warnings`` for a report with warnings (see ``contracts.format_warnings``), else no header."""
    value = contracts.format_warnings(report.warnings)
    return {contracts.WARNINGS_HEADER: value} if value else {}


def _undecodable_url(value: Any, config: Config) -> str:
    """The one sentence for a fetched image that does not decode: nothing of what was fetched is repeated."""
    return (f"The image at {value!s:.200} is not an image the mock can decode (PNG, JPEG, GIF, BMP, TIFF or WebP of at "
            f"most {config.max_pixels} pixels).")


def _busy_response(contract: Contract, path_params: Mapping[str, Any], busy: Busy) -> Response:
    """503 with Retry-After when no decode slot came free in time; Hugging Face's own 503 is its loading answer."""
    retry = {"retry-after": str(busy.retry_after)}
    if contract.provider == "huggingface":
        response = loading_response(contract, str(path_params.get("model_id", "model")), float(busy.retry_after))
        response.headers.update(retry)
        return response
    return error_response(contract, 503, str(busy), headers=retry)


def _record_answer_verdict(entry: Entry, contract: Contract, body: bytes) -> None:
    """The journal's verdict on an answer the mock broke on purpose (``schema-violation``): ``answer_valid`` and
    its violations beside the request's verdict, so the journal and the inspector show the answer as invalid."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        entry.verdict = {**entry.verdict, "answer_valid": False, "answer_violations": [f"$: the answer is not JSON: {exc}."]}
        return
    report = contract.validate_response(document)
    entry.verdict = {**entry.verdict, "answer_valid": report.ok, "answer_violations": [str(v) for v in report.errors]}


def _mark_guess(response: Response, resolution: _families.Resolution | None) -> Response:
    """A guessed model's answer says so (``x-vision-model-guess``), whatever its status."""
    if resolution is not None and resolution.guessed:
        response.headers[GUESS_HEADER] = resolution.guess_header()
    return response


# --- ASGI glue -------------------------------------------------------------------------------------------------

class _CollapseSlashes:
    """``//v1/images/segmentations`` -> ``/v1/images/segmentations`` (the AI Refinery SDK keeps a base URL's trailing
    slash)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = dict(scope)
            scope["path"] = re.sub(r"/{2,}", "/", scope["path"])
            scope["raw_path"] = re.sub(rb"/{2,}", b"/", scope.get("raw_path") or scope["path"].encode())
        await self.app(scope, receive, send)


class _ProviderLane:
    """Provider requests handed straight to :meth:`Server.handle`, past FastAPI's per-route layers (exception
    middleware, exit stack, route wrappers, dependency solving: about 15% of a repeated request's time under the GIL,
    py-spy). The route is found as the router finds it: the first of the app's routes that matches fully, in order.
    When that is a provider route, the lane does its endpoint's work (path parameters into the scope, the pipeline's
    response sent); anything else (admin, inspector, docs, unknown paths or methods, a route matched through an
    included router's context) goes on to the app unchanged. Nothing those layers do applies to a provider endpoint:
    it takes a plain Request (no dependencies, no parsed body, nothing to exit), raises no HTTPException (the pipeline
    answers every failure in the provider's format), and an unexpected exception still reaches ServerErrorMiddleware,
    outside this lane, as before."""

    _CHILD_KEYS = frozenset({"endpoint", "path_params", "route"})

    def __init__(self, app: ASGIApp, server: Server, routes: list[BaseRoute], lanes: Mapping[int, Route]):
        self.app, self.server, self.routes, self.lanes = app, server, routes, lanes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for candidate in self.routes:
                match, child = candidate.matches(scope)
                if match is not Match.FULL:
                    continue
                route = self.lanes.get(id(candidate))
                if route is not None and child.keys() <= self._CHILD_KEYS:
                    scope.update(child)
                    request = StarletteRequest(scope, receive, send)
                    response = await self.server.handle(request, route)
                    await response(scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


_HF_PATH = re.compile(r"^/(hf-inference/)?models/")


def _hf_contract(config: Config) -> Contract | None:
    return contracts.get("huggingface", "object-detection") if "huggingface" in config.providers else None


def _starlette_path(contract: Contract, template: str) -> str:
    """The contract's path template with Starlette converters from the path schema (``/`` allowed -> ``:path``,
    integer -> ``:int``)."""
    path_schema, _ = contract.request_part("path")
    props = path_schema.get("properties", {})

    def convert(m: re.Match[str]) -> str:
        name = m.group(1)
        schema = props.get(name, {})
        if schema.get("type") == "integer":
            return f"{{{name}:int}}"
        if "/" in schema.get("pattern", ""):
            return f"{{{name}:path}}"
        return m.group(0)

    return re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", convert, template)


def _routes(config: Config) -> list[Route]:
    grouped: dict[tuple[str, str, str], list[Contract]] = {}
    for provider, operation in contracts.operations():
        if provider not in config.providers:
            continue
        contract = contracts.get(provider, operation)
        if _packs.is_pack(contract):
            continue
        for path in contract.index["paths"]:
            grouped.setdefault((provider, contract.index["method"], path), []).append(contract)
    for contract in config.pack_contracts():  # beside the providers (Config refused path clashes)
        for path in contract.index["paths"]:
            grouped.setdefault((contract.provider, contract.index["method"], path), []).append(contract)
    routes = [Route(p, m, path, tuple(cs)) for (p, m, path), cs in grouped.items()]
    # literal paths before templated ones, so /v1/images/segmentations never falls to Roboflow's /{dataset}/{version}
    return sorted(routes, key=lambda r: (r.path.count("{") > 0 and r.path.startswith("/{"), r.path))


def _endpoint(route: Route) -> Callable[[StarletteRequest], Awaitable[Response]]:
    async def endpoint(request: StarletteRequest) -> Response:
        server: Server = request.app.state.server
        return await server.handle(request, route)

    endpoint.__name__ = f"{route.provider}_{route.path.strip('/').replace('/', '_').replace('{', '').replace('}', '') or 'root'}"
    return endpoint


async def _journal_side_call(server: Server, request: StarletteRequest, provider: str, operation: str, status: int) -> None:
    """A call the providers' clients make besides the contracts' operations, journaled like any other request."""
    entry = server.journal.open(request.method, request.url.path, request.query_params.multi_items(), request.headers.items(), await request.body())
    entry.provider, entry.operation, entry.status = provider, operation, status
    entry.verdict = {"valid": None, "violations": [], "note": f"{operation}: a call the {provider} clients make, not an operation of the contracts"}
    await server.writes.write(server.journal.record, entry)  # the pipeline's own path: the journal keeps arrival order


async def _hub_answer(server: Server, request: StarletteRequest, operation: str, answer: _hub.HubAnswer) -> JSONResponse:
    await _journal_side_call(server, request, "huggingface", operation, answer.status)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _side_routes(app: FastAPI, server: Server, config: Config) -> None:
    """The calls the SDKs make besides the contracts' operations: the Hub's model info (huggingface_hub's and
    @huggingface/inference's provider ``auto``, ``mockserver._hub``) and AI Refinery's key check."""
    if "huggingface" in config.providers:
        @app.get(_hub.TASKS_PATH, tags=["huggingface"], summary="Hugging Face Hub tasks (the client's recommended model per task)")
        async def hub_tasks(request: StarletteRequest) -> JSONResponse:
            return await _hub_answer(server, request, "hub-tasks", _hub.tasks(config.served_models()))

        @app.get(_hub.AGENT_HARNESSES_PATH, tags=["huggingface"], summary="Hugging Face Hub agent-harness registry (empty)")
        async def hub_agent_harnesses(request: StarletteRequest) -> JSONResponse:
            return await _hub_answer(server, request, "hub-agent-harnesses", _hub.agent_harnesses())

        @app.get(_hub.HUB_PATH, tags=["huggingface"], summary="Hugging Face Hub model info (the inference clients' provider mapping)")
        async def hub_model_info(request: StarletteRequest, model_id: str) -> JSONResponse:
            resolution = server.resolve_model(model_id.strip("/"))
            expand = _hub.expanded(request.query_params.multi_items())
            answer = _hub.not_found() if resolution is None else _hub.model_info(resolution.model, resolution.task, expand)
            return await _hub_answer(server, request, "hub-model-info", answer)

    if "airefinery" in config.providers:
        contract = contracts.get("airefinery", "image-segmentation")
        auth = contract.index["auth"]

        @app.post("/authentication/validate", tags=["airefinery"], summary="AI Refinery key check (the SDK's clients call it)")
        async def airefinery_validate(request: StarletteRequest) -> Response:
            # Not an operation of the contracts: air's distiller client (validate_api_key) and APIKeysClient.validate
            # post here with the key as a Bearer token and read ``organization_id`` (and ``message``) back.
            tokens = config.auth_tokens("airefinery")
            presented = credential(auth["scheme"], auth["name"], request.headers, request.query_params)
            if tokens is not None and not token_ok(presented, tokens):
                response = error_response(contract, auth["failure_status"], auth["failure_message"])
            else:
                response = JSONResponse({"message": "API key is valid", "organization_id": "vision-mock", "valid": True})
            await _journal_side_call(server, request, "airefinery", "authentication-validate", response.status_code)
            return response


def _redact_logs() -> None:
    """Keep api keys out of uvicorn's access log (it prints the request line with its query string)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
            logger.addFilter(RedactQueryFilter())


def prepare_state(config: Config) -> None:
    """Before uvicorn starts (workers or not): the config's state store created, or opened, and seeded with the
    configured behaviour unless it was before. Raises StateError or ScenarioError with a sentence."""
    store = open_store(config.state, JournalBounds(config.journal_limit, config.journal_max_bytes, int(config.keep_bodies_mb * 2**20)))
    try:
        Behaviour(store, config.seed).seed(Configured.from_json(config.rate_limits, config.loading, config.scenarios))
    finally:
        store.close()


def create_app(config: Config | None = None) -> FastAPI:
    """The mock server's FastAPI app for a configuration (defaults: every provider, the seed models)."""
    config = config or Config()
    _redact_logs()
    app = FastAPI(
        title="vision-contracts mock server",
        version="0.1.0",
        description="Mock Hugging Face, Roboflow and AI Refinery computer-vision APIs, validated against the vision-contracts.",
    )
    server = Server(config)
    app.state.server = server
    app.state.config = config
    lanes: dict[int, Route] = {}  # id of each provider route's APIRoute -> its Route (see _ProviderLane)
    for route in _routes(config):
        contract = route.contracts[0]
        app.add_api_route(
            _starlette_path(contract, route.path), _endpoint(route), methods=[route.method],
            summary=" / ".join(c.index["title"] for c in route.contracts),
            description="Request forms: " + "; ".join(f"{f['name']}: {f['description']}" for f in contract.index["forms"]),
            tags=[route.provider],
        )
        lanes[id(app.router.routes[-1])] = route
    _side_routes(app, server, config)
    app.include_router(admin_router())
    app.include_router(inspector_router())  # /__vision__/ui/: the journal as pages (mockserver._inspector)

    @app.exception_handler(StarletteHTTPException)
    async def journal_unrouted(request: StarletteRequest, exc: StarletteHTTPException) -> Response:
        """Requests no route serves (wrong path or method) still reach the journal: nothing a client sent is lost."""
        if not request.url.path.startswith(ADMIN_PREFIX):
            entry = server.journal.open(request.method, request.url.path, request.query_params.multi_items(), request.headers.items(), await request.body())
            entry.status = exc.status_code
            entry.verdict = {"valid": False, "violations": [f"$: no operation is served at {request.method} {request.url.path}."]}
            await server.writes.write(server.journal.record, entry)  # as the pipeline: arrival order kept
        hf = _hf_contract(config) if exc.status_code == 404 and _HF_PATH.match(request.url.path) else None
        if hf is not None:  # a model id no route can hold (e.g. a newline): Hugging Face's own 404 shape
            return error_response(hf, 404, f"Model {request.url.path.split('models/', 1)[1]!r} does not exist.")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def flush_journal() -> None:  # at shutdown: the journal's writes behind the answers, committed
        await offload(server.writes.flush)
        server.pool.close()

    app.router.on_shutdown.append(flush_journal)
    app.openapi = lambda: _openapi(app, config)  # type: ignore[method-assign]
    app.add_middleware(_ProviderLane, server=server, routes=app.router.routes, lanes=lanes)  # innermost: after the guard
    app.add_middleware(AdminGuard, config=config)  # inside _CollapseSlashes: it sees the collapsed path
    app.add_middleware(_CollapseSlashes)
    return app


def _openapi(app: FastAPI, config: Config) -> dict[str, Any]:
    """The contracts' OpenAPI document for the enabled providers and the packs, plus FastAPI's own paths for the other
    routes."""
    if app.openapi_schema:
        return app.openapi_schema
    from vision_contracts.contracts import openapi as contract_openapi

    served = config.served_providers()  # the built-in providers enabled, then the packs'
    provider_routes = [r for r in app.routes if isinstance(r, APIRoute) and r.tags and r.tags[0] in served]
    generated = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    models = None if config.guess_tasks else {"huggingface": sorted(config.served_models())}
    doc = contract_openapi.build(list(served), models=models, server_url=f"http://{config.host}:{config.port}")
    paths = doc.setdefault("paths", {})
    operation_paths = {getattr(r, "path_format", "") for r in provider_routes if not r.path.startswith("/authentication")}
    for path, item in generated.get("paths", {}).items():
        if path not in paths and path not in operation_paths:
            paths[path] = item
    for name, schema in generated.get("components", {}).get("schemas", {}).items():
        doc.setdefault("components", {}).setdefault("schemas", {}).setdefault(name, schema)
    app.openapi_schema = doc
    return doc

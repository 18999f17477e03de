"""Between Starlette and the contracts: the raw request, the envelope, and errors in each provider's format.

Nothing here re-states a contract: error shapes are read from the operation's error schemas (``index["errors"]``),
the image's place in a request from ``index["image"]``, and request validity from ``Contract.check_request``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response

from vision_contracts import contracts
from vision_contracts.contracts import Contract, ImageError, Report, Violation, WireError, decode_image_string

from . import _packs
from ._generate_roles import Resolve, fill, put, schema_at
from ._journal import is_secret_name, redact_url

__all__ = [
    "MAX_PART_HEADER_BYTES", "BodyTimeout", "RawRequest", "RequestTooLarge", "cache_identity", "error_body",
    "error_response", "form_problem", "image_value", "judged_headers", "raw_identity", "read_raw", "redacted",
    "reject_status", "use_cache",
]

JSON_MEDIA_TYPE = "application/json"


class RequestTooLarge(Exception):
    def __init__(self, limit: int, received: int | None):
        super().__init__(f"expected a body of at most {limit} bytes, received {received if received is not None else 'more'}")
        self.limit, self.received = limit, received


class BodyTimeout(Exception):
    """The client did not send the whole body within the allowed time (a slow or stalled client)."""

    def __init__(self, seconds: float):
        super().__init__(f"The request body did not arrive within {seconds:g} seconds; send it faster, or start the "
                         f"mock with a larger --body-timeout-seconds.")
        self.seconds = seconds


@dataclass(frozen=True)
class RawRequest:
    """A request exactly as it came off the wire (kept whole for later hooks: scenarios, a request journal)."""

    method: str
    path: str
    body: bytes
    content_type: str | None
    headers: Mapping[str, str]  # lower-cased names; the last value wins for repeated headers
    query: Mapping[str, str]  # the last value wins for repeated keys
    path_params: Mapping[str, Any] = field(default_factory=dict)
    query_string: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def flag(self, name: str, default: bool) -> bool:
        """A boolean header (HF's x-use-cache, x-wait-for-model): absent gives the default; the contract's
        request schema has already limited the spelling to true/false/1/0 in any case."""
        value = self.header(name)
        if value is None:
            return default
        return value.strip().lower() in ("true", "1")

    def parse(
        self, contract: Contract, path_params: Mapping[str, Any] | None = None, *, max_json_depth: int | None = 64,
        max_form_parts: int | None = None,
    ) -> contracts.Request:
        """The contract's envelope for this request; raises WireError when it fits none of the wire forms, or when a
        multipart body has more than ``max_form_parts`` parts or a part header over ``MAX_PART_HEADER_BYTES``
        (checked by a linear scan before the parser sees it). CPU-bound on large bodies: call it off the event loop."""
        if max_form_parts is not None:
            problem = form_problem(self.body, self.content_type, max_form_parts)
            if problem is not None:
                raise problem
        return contract.parse_request(
            self.body, content_type=self.content_type, headers=self.headers, query=self.query,
            path={k: str(v) for k, v in (path_params if path_params is not None else self.path_params).items()},
            max_json_depth=max_json_depth,
        )


async def read_raw(request: StarletteRequest, max_body_bytes: int, body_timeout: float = 0) -> RawRequest:
    """Read the whole body (bounded in size, and in time when ``body_timeout`` > 0: BodyTimeout) and the request's
    parts; no parsing of the body here."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise RequestTooLarge(max_body_bytes, int(declared))
    try:
        body = await _read_body_by(request, max_body_bytes, body_timeout if body_timeout > 0 else None)
    except TimeoutError:
        raise BodyTimeout(body_timeout) from None
    headers = {k.lower(): v for k, v in request.headers.items()}
    return RawRequest(
        method=request.method, path=request.url.path, body=body, content_type=headers.get("content-type"),
        headers=headers, query=dict(request.query_params.items()), path_params=dict(request.path_params),
        query_string=request.url.query,
    )


async def _read_body_by(request: StarletteRequest, max_body_bytes: int, seconds: float | None) -> bytes:
    """The body, TimeoutError past ``seconds`` (None: no bound). On asyncio from Python 3.11, ``asyncio.timeout`` (a
    timer handle; anyio's cancel scope cost about 5% of a repeated request's time under the GIL, py-spy); else (Python
    3.10, or another event loop: trio) anyio's ``fail_after``."""
    if sys.version_info >= (3, 11):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # not asyncio: anyio below
        else:
            async with asyncio.timeout(seconds):
                return await _read_body(request, max_body_bytes)
    with anyio.fail_after(seconds):
        return await _read_body(request, max_body_bytes)


async def _read_body(request: StarletteRequest, max_body_bytes: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise RequestTooLarge(max_body_bytes, None)
        chunks.append(chunk)
    return b"".join(chunks)


# --- multipart bounds: checked before the standard library's parser (which is slow on many parts) -------------

MAX_PART_HEADER_BYTES = 16 * 1024  # one part's header block (Content-Disposition, Content-Type...)
_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,200})"|([^\s;,"]{1,200}))', re.IGNORECASE)


def form_problem(body: bytes, content_type: str | None, max_parts: int) -> WireError | None:
    """Why a multipart body is refused before parsing (too many parts, a part header too large), or None. A linear
    scan: the delimiter is counted, and each part's header block measured."""
    if not content_type or not content_type.strip().lower().startswith("multipart/"):
        return None
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None  # the parser explains a missing boundary
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1", "replace")
    parts = max(0, body.count(delimiter) - 1)  # the closing delimiter matches too
    if parts > max_parts:
        return WireError(
            "$.body", f"a multipart/form-data body of at most {max_parts} parts", f"{parts} parts",
            f"The multipart body has {parts} parts; the mock accepts at most {max_parts} (--max-form-parts).",
        )
    if _oversized_part_header(body, delimiter):
        return WireError(
            "$.body", f"multipart part headers of at most {MAX_PART_HEADER_BYTES} bytes", "a larger part header",
            f"A part of the multipart body has a header block longer than {MAX_PART_HEADER_BYTES} bytes (or none that "
            f"ends with an empty line).",
        )
    return None


def _oversized_part_header(body: bytes, delimiter: bytes) -> bool:
    start = body.find(delimiter)
    while start >= 0:
        after = start + len(delimiter)
        if body[after:after + 2] == b"--":
            return False  # the closing delimiter: no header follows
        window = body[after:after + MAX_PART_HEADER_BYTES + 4]
        ends = [i for i in (window.find(b"\r\n\r\n"), window.find(b"\n\n")) if i >= 0]
        if not ends:
            return True
        start = body.find(delimiter, after + min(ends))
    return False


# --- error shapes, read from the contract's error schemas ---------------------------------------------------

@dataclass(frozen=True)
class ErrorShape:
    key: str  # the body's required property: "error", "message", "detail"
    kind: str  # "text" (a string), "validation" (FastAPI's [{loc, msg, type}]), "const" (a fixed string) or "filled"
    const: str | None = None
    template: Any = None  # "filled": a body made from the schema, the message going at ``key`` (a JSON pointer)


@functools.cache
def error_shape(contract: Contract, status: int) -> ErrorShape:
    """How the contract's error schema for ``status`` wants the body built (contracts are long-lived: memoised).
    A pack's error body is made from its schema (``_generate_roles.fill``) with the message at its first required
    string property; a status a pack does not declare answers ``{"error": message}``."""
    if str(status) not in contract.index.get("errors", {}) and _packs.is_pack(contract):
        return ErrorShape("error", "text")
    schema = contract.error_schema(status)
    if _packs.is_pack(contract):
        uri = contract.uri(contract.index["errors"][str(status)])
        resolve = _packs.schema_resolver(contract)
        template = fill(schema, uri, resolve)
        pointer = _message_pointer(schema, uri, resolve)
        if pointer is not None and isinstance(template, dict):
            return ErrorShape(pointer, "filled", template=template)
        return ErrorShape("error", "text")
    key = schema["required"][0]
    prop = schema.get("properties", {}).get(key, {})
    if "const" in prop:
        return ErrorShape(key, "const", prop["const"])
    if prop.get("type") == "array":
        return ErrorShape(key, "validation")
    return ErrorShape(key, "text")


def _message_pointer(schema: Any, uri: str, resolve: Resolve, at: str = "", depth: int = 0) -> str | None:
    """The pointer of the first required string property (depth first), where an error's message goes."""
    node, uri = schema_at(schema, uri, resolve, "")
    if not isinstance(node, dict) or depth > 4:
        return None
    props = node.get("properties", {})
    for name in node.get("required", []) + [n for n in ("message", "error", "detail") if n in props]:
        child, child_uri = schema_at(props.get(name, {}), uri, resolve, "")
        if isinstance(child, dict) and child.get("type") == "string" and "const" not in child and "enum" not in child:
            return f"{at}/{name}"
        if isinstance(child, dict) and child.get("type") == "object":
            found = _message_pointer(child, child_uri, resolve, f"{at}/{name}", depth + 1)
            if found is not None:
                return found
    return None


def reject_status(contract: Contract) -> int:
    """The status a malformed request gets: 422 where the service answers FastAPI validation lists, else 400; for a
    pack, the client error it declares (400 first; not 401, 403, 404 or 429), else 400."""
    statuses = contract.error_statuses
    if _packs.is_pack(contract):  # the pack's declared client error (400 first), else 400 with {error}
        declared = sorted(s for s in statuses if 400 <= s < 500 and s not in (401, 403, 404, 429))
        return 400 if 400 in declared or not declared else declared[0]
    if 422 in statuses and error_shape(contract, 422).kind == "validation":
        return 422
    return 400


_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


def loc_of(path: str) -> list[str | int]:
    """``$.body.segment_prompt[0][1]`` -> ``["body", "segment_prompt", 0, 1]``, with FastAPI's ``header`` spelling."""
    parts: list[str | int] = []
    for m in _PATH_TOKEN.finditer(path[1:] if path.startswith("$") else path):
        if m.group(1) is not None:
            parts.append(m.group(1))
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(m.group(3)[1:-1])
    if parts and parts[0] == "headers":
        parts[0] = "header"
    return parts or ["body"]


def error_body(contract: Contract, status: int, message: str, violations: Iterable[Violation] = ()) -> dict[str, Any]:
    shape = error_shape(contract, status)
    if shape.kind == "const":
        return {shape.key: shape.const}
    if shape.kind == "validation":
        items = [{"loc": loc_of(v.path), "msg": v.message, "type": v.check} for v in violations]
        return {shape.key: items or [{"loc": ["body"], "msg": message, "type": "value_error"}]}
    if shape.kind == "filled":
        body: dict[str, Any] = put(copy.deepcopy(shape.template), shape.key, message)
        return body
    return {shape.key: message}


def error_response(
    contract: Contract, status: int, message: str, violations: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """An error in the provider's format; secrets in the message and violations are redacted (see ``redacted``)."""
    body = error_body(contract, status, redact_url(message), [redacted(v) for v in violations])
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON_MEDIA_TYPE, headers=dict(headers or {}))


def report_message(contract: Contract, report: Report) -> str:
    """One paragraph naming every error's JSON path, what was expected and what arrived."""
    errors = [redacted(v) for v in report.errors]
    lines = [v.message if v.message.startswith(v.path) else f"{v.path}: {v.message}" for v in errors]
    noun = "problem" if len(errors) == 1 else "problems"
    return f"The request does not match the {contract.provider} {contract.operation} contract ({len(errors)} {noun}): " + " ".join(lines)


def wire_violation(exc: WireError) -> Violation:
    return Violation(exc.path, "wire-format", exc.expected, exc.received, exc.message)


def image_value(contract: Contract, envelope: contracts.Request) -> Any:
    """The image as the request carries it (a base64 string, a data URI or a URL), found by the contract's pointer."""
    return contract.request_image(envelope)


def image_bytes(value: str) -> bytes:
    """Bytes of an image carried as base64 or a data URI; raises ImageError."""
    if not isinstance(value, str):
        raise ImageError(f"expected the image as a base64 string, got {type(value).__name__}")
    return decode_image_string(value)


# --- secrets in violations --------------------------------------------------------------------------------------

def redacted(violation: Violation) -> Violation:
    """A violation safe to show in an error body, the journal or a log: the received value of a secret-named header
    or query parameter is not repeated, and secrets in URLs within the message are redacted."""
    last = loc_of(violation.path)[-1]
    if isinstance(last, str) and last not in ("body", "header", "query") and is_secret_name(last):
        return dataclasses.replace(
            violation, received="a secret (redacted)",
            message=f"{violation.path}: expected {violation.expected}; the value received is not shown (a secret).",
        )
    message, received = redact_url(violation.message), redact_url(violation.received)
    if (message, received) == (violation.message, violation.received):
        return violation
    return dataclasses.replace(violation, message=message, received=received)


# --- the response cache's view of a request -------------------------------------------------------------------

def use_cache(contract: Contract, raw: RawRequest, envelope: contracts.Request) -> bool:
    """Whether a request may be answered from the response cache: Hugging Face's ``x-use-cache: false`` header, or
    the legacy ``options.use_cache: false`` of its JSON body, turn the cache off for that request."""
    if contract.provider != "huggingface":
        return True
    body = envelope.body
    options = body.get("options") if isinstance(body, dict) else None
    if isinstance(options, dict) and options.get("use_cache") is False:
        return False
    return raw.flag("x-use-cache", True)


def cache_identity(contract: Contract, envelope: contracts.Request, image: bytes, credential: str | None) -> str:
    """What a cached answer is keyed on: the parsed, validated request as canonical JSON (form, path, query, body;
    so no spelling or escaping of the wire can make two different requests collide), its image replaced by the
    SHA-256 of the image's bytes (for ``?image=URL``, the bytes fetched now, not the URL), and the credential."""
    document = envelope.instance()
    document.pop("headers", None)  # none but the credential changes an answer; that is added below
    pointer = contract.index["image"].get(envelope.form)
    digest = "sha256:" + hashlib.sha256(image).hexdigest()
    document = _replaced(document, _pointer_tokens(pointer), digest) if pointer else {**document, "image": digest}
    document["credential"] = hashlib.sha256((credential or "").encode("utf-8", "surrogateescape")).hexdigest()
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)


def _pointer_tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _replaced(document: Any, tokens: list[str], value: Any) -> Any:
    """A copy of ``document`` with the value at the JSON pointer ``tokens`` replaced (left alone where absent)."""
    if not tokens:
        return value
    head, rest = tokens[0], tokens[1:]
    if isinstance(document, dict) and head in document:
        return {**document, head: _replaced(document[head], rest, value)}
    if isinstance(document, list) and head.isdigit() and int(head) < len(document):
        index = int(head)
        return [*document[:index], _replaced(document[index], rest, value), *document[index + 1:]]
    return document


# The request schema's keywords for the headers part that name the headers they judge; any other keyword (additional-
# or patternProperties, propertyNames...) may judge any header, and then every header is part of a request's identity.
_NAMING_KEYWORDS = frozenset({"type", "properties", "required", "description", "title", "$comment"})
_ALWAYS_JUDGED = ("content-type", "x-vision-scenario")


@functools.cache
def judged_headers(contract: Contract) -> frozenset[str] | None:
    """The headers that can change a request's envelope, verdict or answer: those the contract's request schema
    names, the credential's header, the content type (it picks the wire form) and the scenario control header; None
    when the schema may judge any header (all of them count then). The semantic request checks read the body and the
    image, never headers (see ``contracts``' REQUEST_CHECKS)."""
    schema, _ = contract.request_part("headers")
    if set(schema) - _NAMING_KEYWORDS:
        return None
    names = {str(name).lower() for name in schema.get("properties", {})} | set(_ALWAYS_JUDGED)
    auth = contract.index.get("auth") or {}
    if auth.get("in") == "header":
        names.add(str(auth["name"]).lower())
    return frozenset(names)


def raw_identity(contract: Contract, raw: RawRequest, path_params: Mapping[str, Any], body_sha256: str) -> str:
    """A request's identity from its raw form, before any parsing: the operation, method and path, the path
    parameters as the parser gets them, the query as parsed (decoded) pairs (so no escaping can make two requests
    collide: ``?a=k&c=1`` and ``?a=k%26c%3D1`` differ), the judged headers (``judged_headers``: their values as
    sent) and the SHA-256 of the body's bytes. Everything the parser, the validation and the generation read is in
    it; two requests with the same identity parse, judge and answer alike (for ``?image=URL`` only until the file
    changes: the app does not use this identity for those). Canonical JSON, unambiguous."""
    names = judged_headers(contract)
    headers = sorted((k, v) for k, v in raw.headers.items() if names is None or k in names)
    document = [
        contract.provider, contract.operation, raw.method, raw.path,
        sorted((str(k), str(v)) for k, v in path_params.items()), sorted(raw.query.items()), headers, body_sha256,
    ]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True)

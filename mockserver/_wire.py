"""Between Starlette and the contracts: the raw request, the envelope, and errors in each provider's format.

Nothing here re-states a contract: error shapes are read from the operation's error schemas (``index["errors"]``),
the image's place in a request from ``index["image"]``, and request validity from ``Contract.check_request``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request as StarletteRequest
from starlette.responses import Response

from vision_contracts import contracts
from vision_contracts.contracts import Contract, ImageError, Report, Violation, WireError, decode_image_string

__all__ = ["RawRequest", "RequestTooLarge", "error_body", "error_response", "image_value", "read_raw", "reject_status"]

JSON_MEDIA_TYPE = "application/json"


class RequestTooLarge(Exception):
    def __init__(self, limit: int, received: int | None):
        super().__init__(f"expected a body of at most {limit} bytes, received {received if received is not None else 'more'}")
        self.limit, self.received = limit, received


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

    def parse(self, contract: Contract, path_params: Mapping[str, Any] | None = None, *, max_json_depth: int | None = 64) -> contracts.Request:
        """The contract's envelope for this request; raises WireError when it fits none of the wire forms."""
        return contract.parse_request(
            self.body, content_type=self.content_type, headers=self.headers, query=self.query,
            path={k: str(v) for k, v in (path_params if path_params is not None else self.path_params).items()},
            max_json_depth=max_json_depth,
        )


async def read_raw(request: StarletteRequest, max_body_bytes: int) -> RawRequest:
    """Read the whole body (bounded) and the request's parts; no parsing of the body here."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise RequestTooLarge(max_body_bytes, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise RequestTooLarge(max_body_bytes, None)
        chunks.append(chunk)
    body = b"".join(chunks)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return RawRequest(
        method=request.method, path=request.url.path, body=body, content_type=headers.get("content-type"),
        headers=headers, query=dict(request.query_params.items()), path_params=dict(request.path_params),
        query_string=request.url.query,
    )


# --- error shapes, read from the contract's error schemas ---------------------------------------------------

@dataclass(frozen=True)
class ErrorShape:
    key: str  # the body's required property: "error", "message", "detail"
    kind: str  # "text" (a string), "validation" (FastAPI's [{loc, msg, type}]) or "const" (a fixed string)
    const: str | None = None


@functools.cache
def error_shape(contract: Contract, status: int) -> ErrorShape:
    """How the contract's error schema for ``status`` wants the body built (contracts are long-lived: memoised)."""
    schema = contract.error_schema(status)
    key = schema["required"][0]
    prop = schema.get("properties", {}).get(key, {})
    if "const" in prop:
        return ErrorShape(key, "const", prop["const"])
    if prop.get("type") == "array":
        return ErrorShape(key, "validation")
    return ErrorShape(key, "text")


def reject_status(contract: Contract) -> int:
    """The status a malformed request gets: 422 where the service answers FastAPI validation lists, else 400."""
    statuses = contract.error_statuses
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
    return {shape.key: message}


def error_response(
    contract: Contract, status: int, message: str, violations: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = error_body(contract, status, message, violations)
    return Response(json.dumps(body).encode(), status_code=status, media_type=JSON_MEDIA_TYPE, headers=dict(headers or {}))


def report_message(contract: Contract, report: Report) -> str:
    """One paragraph naming every error's JSON path, what was expected and what arrived."""
    errors = report.errors
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

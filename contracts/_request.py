"""The request envelope and the pure wire parser that builds it from what a client sent.

A request is validated as one JSON document, the envelope ``{form, path, query, headers, body}``: ``form`` names
the wire form (from the operation index), headers are lower-cased, query and path values are typed as the request
schema declares, and binary bodies (raw image bytes, multipart files) travel as base64 strings.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import email.utils
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MAX_JSON_DEPTH", "Request", "WireError", "json_depth_exceeds", "parse_wire"]

DEFAULT_MAX_JSON_DEPTH = 64  # the deepest request of the contracts nests 4 levels (AI Refinery's segment_prompt)


class WireError(ValueError):
    """A request whose bytes fit none of the operation's wire forms."""

    def __init__(self, path: str, expected: str, received: str, message: str):
        super().__init__(message)
        self.path, self.expected, self.received, self.message = path, expected, received, message


@dataclass
class Request:
    """One request in envelope form, ready for ``Contract.validate_request``."""

    form: str
    body: Any = None
    path: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    headers: dict[str, str] | None = None

    def instance(self) -> dict[str, Any]:
        """The JSON document validated against the request schema; parts that were not given are left out."""
        out: dict[str, Any] = {"form": self.form, "body": self.body}
        for part in ("path", "query", "headers"):
            value = getattr(self, part)
            if value is not None:
                out[part] = value
        return out


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _matches(media_type: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern == "*/*" or pattern == media_type:
            return True
        if pattern.endswith("/*") and media_type.startswith(pattern[:-1]):
            return True
    return False


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """Type a query or path string as its schema declares; leave it a string when it does not parse."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            number = float(value)
            if not math.isfinite(number):  # "NaN", "inf", "1e400": not numbers; left a string, the schema refuses it
                return value
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
    except ValueError:
        pass
    return value


def coerce_params(values: Mapping[str, str], schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {k: _coerce(v, props.get(k, {})) if isinstance(v, str) else v for k, v in values.items()}


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    """Parse multipart/form-data with the standard library: files as base64, fields as text."""
    if "boundary=" not in content_type:
        raise WireError("$.body", "multipart/form-data with a boundary parameter", content_type, "The multipart body has no boundary in its Content-Type header.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise WireError("$.body", "a multipart/form-data body", f"{len(body)} bytes", "The body is labelled multipart/form-data but holds no parts.")
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, tuple):  # an RFC 2231 encoded name (name*=utf-8''...)
            name = email.utils.collapse_rfc2231_value(name)
        if not name:
            continue
        decoded = part.get_payload(decode=True)  # bytes for a leaf part, None for a nested multipart
        payload = decoded if isinstance(decoded, bytes) else b""
        if part.get_filename() is not None:
            out[name] = base64.b64encode(payload).decode("ascii")
        else:
            out[name] = payload.decode("utf-8", "replace")
    if not out:
        raise WireError("$.body", "a multipart/form-data body with named parts", f"{len(body)} bytes", "The multipart body holds no named form fields; its boundary may not match.")
    return out


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number (RFC 8259)")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


_JSON_TOKENS = re.compile(rb'\\.|["\[\]{}]', re.S)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than ``limit``; a scan of the brackets and quotes only
    (strings are skipped), run before ``json.loads`` so a deep document costs no recursion."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string = 0, False
    for m in _JSON_TOKENS.finditer(body):
        token = m.group()
        if in_string:
            in_string = token != b'"'
        elif token == b'"':
            in_string = True
        elif token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _decode_json(body: bytes, max_depth: int | None = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """Strict JSON: Python's json accepts NaN, Infinity and -Infinity and turns 1e400 into inf; no provider does."""
    if max_depth is not None and json_depth_exceeds(body, max_depth):
        raise WireError("$.body", f"a JSON document nested at most {max_depth} levels deep", "a deeper document",
                        f"The body is not acceptable JSON: it nests arrays or objects more than {max_depth} levels deep.")
    try:
        return json.loads(body, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise WireError("$.body", "a JSON document", f"{len(body)} bytes that do not parse", f"The body is not valid JSON: {exc}.") from None


def parse_wire(
    forms: list[Mapping[str, Any]],
    request_schema: Mapping[str, Any],
    *,
    body: bytes,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    path: Mapping[str, str] | None = None,
    max_json_depth: int | None = DEFAULT_MAX_JSON_DEPTH,
) -> Request:
    """Build the envelope for a request, picking the first wire form (in index order) that the request fits.
    ``max_json_depth`` bounds the nesting of JSON bodies (None: only Python's recursion limit)."""
    media = _media_type(content_type)
    defs = request_schema.get("$defs", {})
    envelope = Request(
        form="",
        path=None if path is None else coerce_params(path, defs.get("path", {})),
        query=None if query is None else coerce_params(query, defs.get("query", {})),
        headers=None if headers is None else {k.lower(): v for k, v in headers.items()},
    )
    given_query = envelope.query or {}
    for form in forms:
        encoding = form["encoding"]
        if encoding == "none":
            if not body and "image" in given_query:
                envelope.form = form["name"]
                return envelope
            continue
        if not _matches(media, form["content_types"]):
            continue
        if encoding == "json":
            if len(forms) > 1 and not body.lstrip().startswith(b"{"):
                continue  # e.g. a file's bytes labelled application/json, as seed 001's JavaScript sends
            envelope.form, envelope.body = form["name"], _decode_json(body, max_json_depth)
        elif encoding == "multipart":
            envelope.form, envelope.body = form["name"], _multipart(body, content_type or "")
        elif encoding == "text":
            envelope.form, envelope.body = form["name"], body.decode("latin-1").strip()
        else:
            envelope.form, envelope.body = form["name"], base64.b64encode(body).decode("ascii")
        return envelope
    names = [f"{f['name']} ({', '.join(f['content_types']) or 'no body'})" for f in forms]
    raise WireError(
        "$.form", "one of the wire forms " + "; ".join(names), f"Content-Type {media or 'absent'} with {len(body)} body bytes",
        f"The request fits none of the operation's wire forms: expected {'; '.join(names)}, received Content-Type {media or 'absent'} with {len(body)} body bytes.",
    )

"""Turning a request envelope back into the bits a client puts on the wire."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

from vision_contracts.contracts import Contract, Request

from ._images import MEDIA_TYPES

__all__ = ["Wire", "to_wire", "wire_text"]


class Wire(NamedTuple):
    """A request as a client sends it: method, path (params filled in), query, headers and body bytes."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def url(self, base_url: str) -> str:
        """The full URL under ``base_url`` (query not included; pass ``query`` to your client)."""
        return base_url.rstrip("/") + self.path


def wire_text(value: Any) -> str:
    """A query, path or header value as text: booleans as true/false, numbers as Python spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _fill_path(template: str, params: Mapping[str, Any]) -> str:
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(wire_text(value), safe="/"))
    return path


def _media_type_of(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return MEDIA_TYPES["PNG"]
    if data.startswith(b"\xff\xd8"):
        return MEDIA_TYPES["JPEG"]
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return MEDIA_TYPES["WEBP"]
    return "application/octet-stream"


def _multipart(fields: Mapping[str, Any], file_fields: set[str]) -> tuple[bytes, str]:
    """multipart/form-data with a boundary derived from the content (deterministic, absent from the parts)."""
    parts = []
    for name, value in fields.items():
        if name in file_fields and isinstance(value, str):
            data = base64.b64decode(value + "=" * (-len(value) % 4))
            media = _media_type_of(data)
            ext = media.rsplit("/", 1)[-1].replace("jpeg", "jpg").replace("octet-stream", "bin")
            head = f'Content-Disposition: form-data; name="{name}"; filename="image.{ext}"\r\nContent-Type: {media}\r\n\r\n'
        else:
            data = wire_text(value).encode("utf-8")
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append((head.encode("utf-8"), data))
    digest = hashlib.sha1(b"".join(h + d for h, d in parts), usedforsecurity=False).hexdigest()
    boundary = f"vision-contracts-{digest[:24]}"
    while any(boundary.encode() in d for _, d in parts):
        boundary += "x"
    out = b"".join(b"--" + boundary.encode() + b"\r\n" + h + d + b"\r\n" for h, d in parts)
    return out + b"--" + boundary.encode() + b"--\r\n", f"multipart/form-data; boundary={boundary}"


def _file_fields(contract: Contract, form: str) -> set[str]:
    pointer = contract.index["image"].get(form, "")
    parts = pointer.strip("/").split("/")
    return {parts[1]} if len(parts) == 2 and parts[0] == "body" else set()


def to_wire(request: Request, contract: Contract, *, path_template: str | None = None) -> Wire:
    """The wire bits of ``request`` for ``contract``: send them with any HTTP client.

    The path comes from the contract's first path template (or ``path_template``, one of ``contract.index["paths"]``).
    Bodies by wire form: json as JSON bytes (no bytes when the body is None), raw as the decoded image bytes, text as
    the string's bytes, multipart encoded with a boundary (the image field as a file part), and no body for a form
    without one. A ``content-type`` in ``request.headers`` is kept; otherwise json and multipart bodies get theirs.
    Headers come back with lower-case names.
    """
    forms = {f["name"]: f for f in contract.index["forms"]}
    if request.form not in forms:
        raise ValueError(f"The request's form {request.form!r} is none of the contract's wire forms {sorted(forms)}.")
    encoding = forms[request.form]["encoding"]
    headers = {k.lower(): wire_text(v) for k, v in (request.headers or {}).items()}
    body = request.body
    if encoding == "json":
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        headers.setdefault("content-type", "application/json")
    elif encoding == "raw":
        data = base64.b64decode(body + "=" * (-len(body) % 4)) if isinstance(body, str) else bytes(body or b"")
    elif encoding == "text":
        data = (body if isinstance(body, str) else wire_text(body)).encode("utf-8")
    elif encoding == "multipart":
        data, content_type = _multipart(body if isinstance(body, dict) else {}, _file_fields(contract, request.form))
        headers["content-type"] = content_type
    else:
        data = b""
    path = _fill_path(path_template or contract.index["paths"][0], request.path or {})
    query = {k: wire_text(v) for k, v in (request.query or {}).items()}
    return Wire(contract.index["method"], path, query, headers, data)

"""Recorded interactions as HAR 1.2: judged against the contracts, written without credentials, read back, re-checked.

Pure: no server, no pytest, no HTTP client. The mock server's proxy records through :func:`write_har` and judges each
upstream answer with :func:`judge`; ``vision-contracts check`` re-judges recordings with the same function.

The files are plain HAR 1.2 (browser devtools, Playwright's ``route_from_har``, mitmproxy and Schemathesis read them),
with these documented extensions (HAR allows custom fields whose names start with ``_``):

- ``request.postData._encoding``: ``"base64"`` when the request body is not UTF-8 text (raw image bytes, multipart
  with a binary part); ``postData.text`` then holds its base64. HAR 1.2 has no encoding for request bodies. Bodies
  are kept exactly, byte for byte, unless a credential sent in a header or the query appears inside a text body.
- ``_file`` (in ``postData`` or ``response.content``): a body larger than the size limit lives in a sidecar file
  beside the HAR, named by its SHA-256 (``<sha256>.bin``, content-addressed, so identical bodies share one file);
  ``text`` is absent then and ``_sha256`` guards the sidecar against edits. (Playwright's HAR uses the same name.)
- ``_vision`` per entry: ``provider``, ``operation``, ``path`` and ``path_params`` (the contract's view of the URL),
  ``verdict`` (``valid``, the failing ``checks``, every violation with its side, JSON path, check, severity and
  message), ``contracts_version``, ``image`` (width, height, format, ``pixels_sha256``: the hash of the decoded
  pixels, whatever the encoding or wire form), ``match`` (operation, model, normalised parameters and image hash:
  what a replay matches on) and ``key`` (the hash of ``match``).

Credentials never reach the disk: every header and query parameter whose name is secret (``Authorization``,
``api_key`` and any name containing key, token, secret, password, auth...: see ``_secrets``) is replaced by a
placeholder, also inside URLs nested in query values, and the credentials themselves are scrubbed from every other
text (URLs, header values, text bodies) of the interaction. Writes are atomic: a temporary file in the same folder,
flushed and synced, then ``os.replace``; a crash leaves the old file or none, never half of one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ._contract import Contract
from ._images import DEFAULT_MAX_PIXELS, ImageError, decode_image_string, open_image
from ._model import Report, Severity, Violation
from ._request import Request, WireError
from ._secrets import REDACTED, is_secret_name, redact_header_value, redact_url, secret_values

__all__ = [
    "DEFAULT_BODY_LIMIT",
    "VERDICT_HEADER",
    "Identity",
    "ImageFacts",
    "Interaction",
    "Judgement",
    "RecordingError",
    "contracts_version",
    "find_recordings",
    "identify",
    "judge",
    "pixel_facts",
    "read_har",
    "read_recordings",
    "redact_interaction",
    "verdict_header",
    "write_har",
]

HAR_VERSION = "1.2"
DEFAULT_BODY_LIMIT = 256 * 1024  # bodies larger than this go to a sidecar file
VERDICT_HEADER = "x-vision-verdict"
_CREATOR = "vision-contracts"


class RecordingError(ValueError):
    """A recording that cannot be read or written, with a sentence saying what was expected, what was found, where."""


# --- the interaction ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interaction:
    """One request and its answer, as they crossed the wire (bodies as bytes, headers in order)."""

    method: str
    url: str  # absolute, query included
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes
    reason: str = ""
    started: float = field(default_factory=time.time)  # Unix time the request was sent
    duration_ms: float = 0.0
    vision: Mapping[str, Any] = field(default_factory=dict)  # the ``_vision`` object
    where: str = ""  # read from: ``file.har#3``; empty when built in memory

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.url).query, keep_blank_values=True)

    def request_header(self, name: str) -> str | None:
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return _header(self.response_headers, name)

    @property
    def name(self) -> str:
        """A short id: ``huggingface/object-detection`` and the key's first characters, or the location."""
        v = self.vision
        if v.get("provider") and v.get("operation"):
            return f"{v['provider']}/{v['operation']}/{str(v.get('key', ''))[:12] or 'entry'}"
        return self.where or f"{self.method} {self.path}"


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in reversed(list(headers)) if k.lower() == lowered), None)


# --- judging an interaction against its contract -----------------------------------------------------------------

@dataclass(frozen=True)
class ImageFacts:
    width: int
    height: int
    format: str | None
    pixels_sha256: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Judgement:
    """The contracts' verdict on one interaction: the request's report, the response's (judged with its request),
    the image facts and the replay key."""

    provider: str
    operation: str
    path_params: Mapping[str, Any]
    request: Report
    response: Report
    image: ImageFacts | None
    match: Mapping[str, Any]
    key: str

    @property
    def violations(self) -> list[tuple[str, Violation]]:
        return [("request", v) for v in self.request] + [("response", v) for v in self.response]

    @property
    def valid(self) -> bool:
        return self.request.ok and self.response.ok

    @property
    def checks(self) -> list[str]:
        """The checks of the errors, each named once, in order."""
        return list(dict.fromkeys(v.check for _, v in self.violations if v.severity is Severity.ERROR))

    def verdict(self) -> dict[str, Any]:
        return {
            "valid": self.valid, "checks": self.checks,
            "violations": [{"side": side, "path": v.path, "check": v.check, "severity": v.severity.value,
                            "message": redact_url(v.message)} for side, v in self.violations],
        }

    def vision(self, path: str, source: str = "upstream") -> dict[str, Any]:
        """The ``_vision`` object of a HAR entry."""
        return {
            "provider": self.provider, "operation": self.operation, "path": path,
            "path_params": {k: str(v) for k, v in self.path_params.items()}, "source": source,
            "contracts_version": contracts_version(), "verdict": self.verdict(),
            "image": None if self.image is None else self.image.as_json(), "match": dict(self.match), "key": self.key,
        }


def verdict_header(valid: bool, checks: Sequence[str]) -> str:
    """``valid``, or ``invalid; checks=box-order,mask-size`` (ASCII: check names are)."""
    if valid:
        return "valid"
    names = ",".join(c.encode("ascii", "replace").decode("ascii").replace(",", "_").replace(";", "_") for c in checks)
    return f"invalid; checks={names}" if names else "invalid"


@functools.lru_cache(maxsize=1)
def contracts_version() -> str:
    """The package version and a digest of every schema and index: ``0.1.0+3f2a9c1d0b4e``."""
    from importlib.metadata import PackageNotFoundError, version

    from . import catalog

    try:
        package = version("vision-contracts")
    except PackageNotFoundError:
        package = "0+unknown"
    schemas = json.dumps(catalog().schemas, sort_keys=True, default=str).encode()
    return f"{package}+{hashlib.sha256(schemas).hexdigest()[:12]}"


def judge(
    interaction: Interaction, *, contract: Contract | None = None, path_params: Mapping[str, Any] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Judgement:
    """Validate the recorded request and its response against the current contracts (semantic checks with the
    request's image and parameters), and compute the image facts and the replay key.

    The operation is ``contract`` when given, else the one ``interaction.vision`` names, else the one whose path
    template matches the URL (a path two operations share, Hugging Face's, goes to the one whose response schema the
    answer fits with the fewest schema errors)."""
    if contract is None:
        contract, path_params = operation_of(interaction)
    elif path_params is None:
        path_params = match_path(contract, _contract_path(interaction)) or {}
    identity = identify(interaction, contract, path_params or {}, max_pixels=max_pixels)
    response_report = contract.validate_response(
        interaction.response_body, request=identity.envelope, status=interaction.status, max_pixels=max_pixels)
    return Judgement(contract.provider, contract.operation, identity.path_params, identity.report, response_report,
                     identity.image, identity.match, identity.key)


@dataclass(frozen=True)
class Identity:
    """A request as a replay sees it: its envelope and report, its image, what it matches on and the key."""

    path_params: Mapping[str, Any]
    envelope: Request | None
    report: Report
    image: ImageFacts | None
    match: Mapping[str, Any]
    key: str


def identify(interaction: Interaction, contract: Contract, path_params: Mapping[str, Any], *,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> Identity:
    """The request side of an interaction (its response is not looked at): parsed, checked, its image's pixels
    hashed, and its replay key (operation, model, normalised parameters, image; never a credential)."""
    params = dict(path_params)
    envelope, report, named = _request_report(contract, interaction, params, max_pixels)
    image, image_id = _image_identity(contract, envelope, interaction, max_pixels)
    match = match_facts(envelope, params, named, image_id, f"{contract.provider}/{contract.operation}")
    return Identity(params, envelope, report, image, match, match_key(match))


def _request_report(contract: Contract, interaction: Interaction, path_params: Mapping[str, Any],
                    max_pixels: int) -> tuple[Request | None, Report, Mapping[str, Any]]:
    try:
        envelope = contract.parse_request(
            interaction.request_body, content_type=interaction.request_header("content-type"),
            headers={k.lower(): v for k, v in interaction.request_headers}, query=dict(interaction.query),
            path={k: str(v) for k, v in path_params.items()})
    except WireError as exc:
        return None, Report([Violation(exc.path, "wire-format", exc.expected, exc.received, exc.message)]), {}
    report, facts = contract.check_request(envelope, max_pixels=max_pixels, decode_pixels=False)
    return envelope, report, facts.params


def _image_identity(contract: Contract, envelope: Request | None, interaction: Interaction,
                    max_pixels: int) -> tuple[ImageFacts | None, str]:
    """The image's facts and what identifies it in a replay key: ``pixels:<sha256>`` of the decoded pixels, the
    (redacted) URL of a URL-form image, or ``body:<sha256>`` of the raw body when no image can be read."""
    body_id = "body:" + hashlib.sha256(interaction.request_body).hexdigest()
    if envelope is None:
        return None, body_id
    value = contract.request_image(envelope)
    if envelope.form == "url":
        return None, "url:" + redact_url(str(value))
    try:
        facts = pixel_facts(decode_image_string(value) if isinstance(value, str) else b"", max_pixels)
    except ImageError:
        return None, body_id
    return facts, "pixels:" + facts.pixels_sha256


def pixel_facts(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFacts:
    """Size, format and the SHA-256 of an image's decoded pixels (as RGBA, with its size): the same picture sent as
    PNG bytes, base64 or a data URI hashes the same. Raises ImageError."""
    im = open_image(data, max_pixels=max_pixels, load=True)
    try:
        rgba = im.convert("RGBA")
    except (OSError, ValueError) as exc:
        raise ImageError(f"expected an image whose pixels convert to RGBA, but Pillow failed: {exc}") from None
    digest = hashlib.sha256(f"{rgba.width}x{rgba.height}:".encode() + rgba.tobytes()).hexdigest()
    return ImageFacts(rgba.width, rgba.height, im.format, digest)


def match_facts(envelope: Request | None, path_params: Mapping[str, Any], params: Mapping[str, Any], image: str,
                operation: str) -> dict[str, Any]:
    """What a replay matches on: the operation, the model (path parameters and a body's ``model`` member, secrets
    left out), the parameters the contract names (typed, as the request schema reads them) and the image's id."""
    model = {k: str(v) for k, v in sorted(path_params.items()) if not is_secret_name(k)}
    body = envelope.body if envelope is not None else None
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        model["model"] = body["model"]
    named = {k: v for k, v in sorted(params.items()) if not is_secret_name(k)}
    return {"operation": operation, "model": model, "params": named, "image": image}


def match_key(match: Mapping[str, Any]) -> str:
    text = json.dumps(match, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- which operation a URL is ----------------------------------------------------------------------------------

_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def match_path(contract: Contract, path: str) -> dict[str, str] | None:
    """The path parameters when ``path`` fits one of the contract's path templates (a parameter whose schema allows
    ``/`` takes several segments), else None."""
    schema, _ = contract.request_part("path")
    props = schema.get("properties", {})

    def group(m: re.Match[str]) -> str:
        name = m.group(1)
        return f"(?P<{name}>.+)" if "/" in props.get(name, {}).get("pattern", "") else f"(?P<{name}>[^/]+)"

    for template in contract.index["paths"]:
        pattern = _NAME.sub(group, re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        found = re.fullmatch(pattern, path)
        if found:
            return dict(found.groupdict())
    return None


def _contract_path(interaction: Interaction) -> str:
    return str(interaction.vision.get("path") or interaction.path)


def operation_of(interaction: Interaction) -> tuple[Contract, dict[str, str]]:
    """The contract and path parameters of a recorded interaction (see :func:`judge`); RecordingError if none."""
    from . import catalog

    named = (interaction.vision.get("provider"), interaction.vision.get("operation"))
    path = _contract_path(interaction)
    if all(isinstance(n, str) for n in named):
        contract = catalog().get(str(named[0]), str(named[1]))
        recorded = interaction.vision.get("path_params")
        params = dict(recorded) if isinstance(recorded, Mapping) else match_path(contract, path)
        return contract, params or {}
    candidates = []
    for provider, operation in catalog().operations:
        contract = catalog().get(provider, operation)
        params = match_path(contract, path)
        if params is not None and contract.index["method"] == interaction.method.upper():
            report = contract.validate_response(interaction.response_body, status=interaction.status)
            errors = sum(1 for v in report.errors if v.check.startswith("schema"))  # the shape, not the semantics
            candidates.append((errors, contract.provider, contract.operation, contract, params))
    if not candidates:
        raise RecordingError(
            f"{interaction.where or 'the interaction'}: expected a request to an operation with a contract, but "
            f"{interaction.method} {path} matches none of their paths and the entry has no _vision.provider/operation.")
    _, _, _, contract, params = min(candidates, key=lambda c: c[:3])
    return contract, params


# --- redaction -------------------------------------------------------------------------------------------------

def redact_interaction(interaction: Interaction) -> Interaction:
    """The interaction with every credential replaced by a placeholder (headers and query parameters by name, URLs
    nested in query values, and the credentials' values wherever else they appear in text)."""
    secrets = secret_values(interaction.request_headers, interaction.query)
    scrub = functools.partial(_scrub, secrets=secrets)
    return dataclasses.replace(
        interaction,
        url=scrub(_redact_url_query(interaction.url)),
        request_headers=tuple((k, scrub(redact_header_value(k, v))) for k, v in interaction.request_headers),
        response_headers=tuple((k, scrub(redact_header_value(k, v))) for k, v in interaction.response_headers),
        request_body=_scrub_body(interaction.request_body, secrets),
        response_body=_scrub_body(interaction.response_body, secrets),
        vision=json.loads(scrub(json.dumps(dict(interaction.vision)))) if interaction.vision else {},
    )


def _redact_url_query(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if "@" not in parts.netloc else parts.netloc.split("@", 1)[1]
    return redact_url(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _scrub_body(body: bytes, secrets: Iterable[str]) -> bytes:
    """A text body with credentials scrubbed; binary bodies (images) are left exact."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    scrubbed = _scrub(text, secrets)
    return body if scrubbed == text else scrubbed.encode("utf-8")


# --- writing -----------------------------------------------------------------------------------------------------

def write_har(path: str | os.PathLike[str], interactions: Sequence[Interaction], *,
              body_limit: int = DEFAULT_BODY_LIMIT, comment: str = "") -> Path:
    """Write the interactions (credentials redacted first) to ``path`` as one HAR 1.2 log, atomically; bodies over
    ``body_limit`` bytes go to sidecar files beside it. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    entries = [_entry(redact_interaction(i), target.parent, body_limit) for i in interactions]
    log: dict[str, Any] = {"version": HAR_VERSION, "creator": {"name": _CREATOR, "version": contracts_version()},
                           "entries": entries}
    if comment:
        log["comment"] = comment
    atomic_write(target, json.dumps({"log": log}, indent=1, ensure_ascii=False).encode("utf-8"))
    return target


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and ``os.replace``."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _pairs(items: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in items]


def _body_fields(body: bytes, folder: Path, body_limit: int) -> dict[str, Any]:
    """``text`` (with ``encoding: base64`` when binary), or ``_file``/``_sha256`` of a sidecar for a large body."""
    if len(body) > body_limit:
        digest = hashlib.sha256(body).hexdigest()
        sidecar = folder / f"{digest}.bin"
        if not sidecar.exists():
            atomic_write(sidecar, body)
        return {"_file": sidecar.name, "_sha256": digest}
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": base64.b64encode(body).decode("ascii"), "encoding": "base64"}


def _entry(i: Interaction, folder: Path, body_limit: int) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": i.method, "url": i.url, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": _pairs(i.request_headers), "queryString": _pairs(i.query), "headersSize": -1,
        "bodySize": len(i.request_body),
    }
    if i.request_body:
        fields = _body_fields(i.request_body, folder, body_limit)
        if "encoding" in fields:
            fields["_encoding"] = fields.pop("encoding")  # HAR 1.2 has no request encoding: the documented extension
        request["postData"] = {"mimeType": i.request_header("content-type") or "", **fields}
    content = {"size": len(i.response_body), "mimeType": i.response_header("content-type") or "",
               **_body_fields(i.response_body, folder, body_limit)}
    response = {
        "status": i.status, "statusText": i.reason, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": _pairs(i.response_headers), "content": content, "redirectURL": "", "headersSize": -1,
        "bodySize": len(i.response_body),
    }
    wait = round(i.duration_ms, 3)
    return {"startedDateTime": _iso(i.started), "time": wait, "request": request, "response": response, "cache": {},
            "timings": {"send": 0, "wait": wait, "receive": 0}, "_vision": dict(i.vision)}


# --- reading -----------------------------------------------------------------------------------------------------

def find_recordings(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` itself when it is a file, else every ``*.har`` below the folder, sorted; RecordingError if none."""
    where = Path(path)
    if where.is_file():
        return [where]
    if not where.is_dir():
        raise RecordingError(f"expected a HAR file or a folder of them at {where}, but nothing is there.")
    return sorted(p for p in where.rglob("*.har") if p.is_file())


def read_recordings(path: str | os.PathLike[str]) -> list[Interaction]:
    """Every interaction of a HAR file, or of every ``*.har`` in a folder (sorted by path, entries in order)."""
    return [i for file in find_recordings(path) for i in read_har(file)]


def read_har(path: str | os.PathLike[str]) -> list[Interaction]:
    """The interactions of one HAR file, bodies restored exactly (base64, sidecars checked against their hash)."""
    where = Path(path)
    try:
        document = json.loads(where.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise RecordingError(f"expected a HAR file at {where}, but it cannot be read: {exc.strerror or exc}.") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordingError(f"expected a HAR file (JSON) at {where}, but it does not parse: {exc}.") from None
    entries = document.get("log", {}).get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise RecordingError(f"expected a HAR document with log.entries (a list) in {where}, but it has none.")
    return [_interaction(e, where, n) for n, e in enumerate(entries)]


def _interaction(entry: Any, where: Path, n: int) -> Interaction:
    at = f"{where}#{n}"
    try:
        request, response = entry["request"], entry["response"]
        post = request.get("postData") or {}
        content = response.get("content") or {}
        return Interaction(
            method=str(request["method"]), url=str(request["url"]),
            request_headers=_unpairs(request.get("headers", [])),
            request_body=_body(post, post.get("_encoding") or post.get("encoding"), where.parent, at),
            status=int(response["status"]), reason=str(response.get("statusText", "")),
            response_headers=_unpairs(response.get("headers", [])),
            response_body=_body(content, content.get("encoding"), where.parent, at),
            started=_unix(entry.get("startedDateTime")), duration_ms=float(entry.get("time") or 0),
            vision=entry.get("_vision") or {}, where=at,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise RecordingError(f"expected a HAR 1.2 entry with request and response at {at}, but {exc!r} is missing or malformed.") from None


def _unpairs(items: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(h["name"]), str(h["value"])) for h in items)


def _body(fields: Mapping[str, Any], encoding: Any, folder: Path, at: str) -> bytes:
    if "_file" in fields:
        return _sidecar(folder / str(fields["_file"]), fields.get("_sha256"), at)
    text = fields.get("text")
    if text is None:
        return b""
    if encoding == "base64":
        try:
            return base64.b64decode(str(text), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RecordingError(f"expected base64 text (encoding: base64) at {at}, but it does not decode: {exc}.") from None
    return str(text).encode("utf-8")


def _sidecar(file: Path, digest: Any, at: str) -> bytes:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RecordingError(f"expected the body of {at} in the sidecar file {file}, but it cannot be read: {exc.strerror or exc}.") from None
    actual = hashlib.sha256(data).hexdigest()
    if digest is not None and actual != digest:
        raise RecordingError(f"expected the sidecar {file} of {at} to hash to {digest}, but it hashes to {actual} (edited or truncated).")
    return data


def _unix(text: Any) -> float:
    if not isinstance(text, str):
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0

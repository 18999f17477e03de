"""Hypothesis strategies for the provider operations: images, valid and invalid requests, valid responses.

Everything is built from the contracts (``contracts.get(provider, operation)``): the wire forms and image locations
come from the operation index, parameter values from the request schema through a small JSON Schema translator
(``plugin._schema``), and the response values the semantic checks constrain (mask sizes, boxes, scores, class ids,
timestamps, token counts) are fitted afterwards by one small function per check.

    >>> from hypothesis import given
    >>> from vision_contracts.plugin.strategies import requests, to_wire
    >>> @given(requests("huggingface", "object-detection"))
    ... def test_my_server(req): ...

Roboflow's ``url`` form carries ``?image=http://127.0.0.1/vision-contracts/images/<sha256>.<ext>``: nothing serves
that URL, so a server under test must map it to ``request.image`` (the generated request keeps the image's bytes),
for example through the mock server's URL mapping. ``image_url_prefix`` changes the prefix.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st
from PIL import Image

from vision_contracts import contracts
from vision_contracts.contracts import Contract, Request, find, json_path

from . import _images
from ._images import ImageSample, image_infos, images, junk_bytes, oversized_png
from ._schema import OMIT, Translator, UnsupportedSchema, _Parts, merge, pick, tokens
from ._wire import Wire, to_wire

__all__ = [
    "GeneratedRequest",
    "ImageSample",
    "InvalidRequest",
    "SuspiciousRequest",
    "UnsupportedSchema",
    "Wire",
    "error_responses",
    "image_infos",
    "image_responses",
    "images",
    "invalid_requests",
    "requests",
    "responses",
    "suspicious_requests",
    "to_wire",
]

DEFAULT_IMAGE_URL_PREFIX = "http://127.0.0.1/vision-contracts/images/"
#: Content types real clients put on bodies whose form accepts any type (PROVIDERS.md); None sends no header.
CONTENT_TYPES = MappingProxyType({
    "raw": (None, "{media}", "application/octet-stream", "application/json"),
    "text": (None, "application/x-www-form-urlencoded", "application/json", "text/plain"),
})
#: Built once: a strategy built inside a draw is validated by Hypothesis on every draw.
_CONTENT_TYPE_PICKS = MappingProxyType({encoding: pick(choices) for encoding, choices in CONTENT_TYPES.items()})
_BOOLEANS = st.booleans()
SECTIONS = ("path", "query", "headers", "body")
EARLIEST_CREATED = 1420070400  # the created-plausible check's lower bound (2015-01-01)


@dataclass
class GeneratedRequest(Request):
    """A generated request envelope, with the image it carries (also for the url form, whose URL it stands for)."""

    image: bytes | None = None
    image_size: tuple[int, int] | None = None

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis prints falsifying examples with this
        printer.text(repr(self))

    def __repr__(self) -> str:
        body = self.body if not isinstance(self.body, str) or len(self.body) < 60 else self.body[:40] + f"...({len(self.body)} chars)"
        return (
            f"GeneratedRequest(form={self.form!r}, path={self.path!r}, query={_short(self.query)}, headers={self.headers!r}, "
            f"body={_short(body)}, image_size={self.image_size})"
        )


@dataclass(frozen=True)
class InvalidRequest:
    """A request the provider must reject: ``kind`` (a short tag), ``path`` (where it breaks the contract) and
    ``reason``."""

    kind: str
    path: str
    reason: str
    request: GeneratedRequest


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:40] + f"...({len(value)} chars)")
    return repr(value)


# --- pointers into documents -----------------------------------------------------------------------------------

def _json_path(parts: Iterable[str | int]) -> str:
    return json_path(list(parts))


def _set(document: Any, parts: _Parts, value: Any) -> Any:
    """``document`` with the value at ``parts`` replaced (containers copied on the way down), or deleted for OMIT."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(document, list):
        items = list(document)
        items[int(head)] = _set(items[int(head)], rest, value)
        return items
    copy = dict(document or {})
    if not rest and value is OMIT:
        copy.pop(head, None)
    else:
        copy[head] = _set(copy.get(head), rest, value)
    return copy


def _find(document: Any, pointer: str) -> list[tuple[_Parts, Any]]:
    return [(tuple(parts), value) for parts, value in find(document, pointer)]


# --- the contract's shape per wire form ----------------------------------------------------------------------

class _Shape:
    """A contract's request schema as seen by one wire form, with a translator for its sections."""

    def __init__(self, contract: Contract, form: Mapping[str, Any], overrides: Mapping[str, Any]):
        self.contract = contract
        self.form = form
        self.name = form["name"]
        self.encoding = form["encoding"]
        self.translator = Translator(contract.catalog.registry, overrides=overrides)
        self.resolver = self.translator.resolver(contract.uri(contract.index["request_schema"]))
        self.schema = self._form_schema(contract.request_schema)
        self.image_pointer = contract.index["image"].get(self.name)
        self.image_parts = tokens(self.image_pointer) if self.image_pointer else None
        self.data_uri = self.allows_data_uri()

    def _form_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The envelope schema with the ``allOf``/``if``/``then`` branch of this form merged in."""
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for branch in schema.get("allOf", []):
            condition = branch.get("if", {}).get("properties", {}).get("form", {})
            if condition.get("const") == self.name:
                merged = merge(merged, branch.get("then", {}))
            elif "if" not in branch:
                raise UnsupportedSchema("The strategies only understand allOf branches of the form if/then on 'form'.")
        return merged

    def section(self, name: str | int) -> Any:
        return self.schema.get("properties", {}).get(name, True)

    def schema_at(self, parts: _Parts) -> tuple[Any, Any] | None:
        """The (dereferenced schema, resolver) at a pointer, or None when the form's schema has no such place."""
        if not parts:
            return None
        schema, resolver = self.translator.deref(self.section(parts[0]), self.resolver)
        for part in parts[1:]:
            props = schema.get("properties", {}) if isinstance(schema, dict) else {}
            if part not in props:
                return None
            schema, resolver = self.translator.deref(props[part], resolver)
        return schema, resolver

    def allows_data_uri(self) -> bool:
        found = self.schema_at(self.image_parts) if self.image_parts else None
        if found is None:
            return False
        schema, resolver = found
        branches = schema.get("anyOf", [schema])
        return any(str(self.translator.deref(b, resolver)[0].get("pattern", "")).startswith("^data:") for b in branches)

    def strategies(self) -> dict[str, st.SearchStrategy[Any]]:
        out: dict[str, st.SearchStrategy[Any]] = {}
        for name in SECTIONS:
            schema = self.section(name)
            if name != "body" and (schema is True or schema == {"type": "object"}):
                out[name] = st.just({})
            else:
                out[name] = self.translator.strategy(schema, self.resolver, (name,))
        out["path"] = out["path"].filter(_routable)
        return out


def _routable(path: Any) -> bool:
    """Path parameters a URL can carry: an empty segment routes nowhere (a pack's path schema may allow '')."""
    return not isinstance(path, dict) or all(v != "" for v in path.values())


# --- images inside requests ----------------------------------------------------------------------------------

def _sample_of(value: Any) -> ImageSample:
    """An ImageSample from whatever an image strategy drew: a sample already, or encoded bytes."""
    if isinstance(value, ImageSample):
        return value
    im = Image.open(io.BytesIO(value))
    return ImageSample(bytes(value), im.size[0], im.size[1], im.format or "PNG", im.mode)


def _image_string(sample: ImageSample, data_uri: bool) -> str:
    text = base64.b64encode(sample.data).decode("ascii")
    return f"data:{sample.media_type};base64,{text}" if data_uri else text


def _image_url(sample: ImageSample, prefix: str) -> str:
    return f"{prefix}{hashlib.sha256(sample.data).hexdigest()[:32]}.{sample.extension}"


def _points_inside(body: Any, size: tuple[int, int]) -> Any:
    """AI Refinery: fold every drawn prompt point into the image (x mod width, y mod height)."""
    prompt = body.get("segment_prompt") if isinstance(body, dict) else None
    if not isinstance(prompt, list):
        return body
    w, h = size
    folded = [[[p[0] % w, p[1] % h, *p[2:]] for p in group] for group in prompt]
    return {**body, "segment_prompt": folded}


#: How a valid request is fitted to the request checks JSON Schema cannot express (by check name).
REQUEST_FITS: Mapping[str, Callable[[Any, tuple[int, int]], Any]] = MappingProxyType({
    "prompt-points-inside-image": _points_inside,
})


# --- valid requests ------------------------------------------------------------------------------------------

def _override_pointers(contract: Contract, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword overrides to JSON pointers: a parameter name from the index, or a property of path/query/headers/body."""
    out = {}
    index_params = contract.index.get("parameters", {})
    for name, value in overrides.items():
        value = OMIT if value is None else value if isinstance(value, st.SearchStrategy) else st.just(value)
        if name.startswith("/"):
            out[name] = value
        elif name in index_params:
            out[index_params[name]] = value
        else:
            candidates = [name, name.replace("_", "-")]
            pointer = _find_property(contract, candidates)
            if pointer is None:
                raise ValueError(
                    f"Cannot override {name!r}: it is neither a parameter of the {contract.provider} {contract.operation} "
                    f"contract ({', '.join(index_params) or 'none'}) nor a property of its path, query, headers or body."
                )
            out[pointer] = value
    return out


def _find_property(contract: Contract, names: list[str]) -> str | None:
    for form in contract.index["forms"]:
        shape = _Shape(contract, form, {})
        for section in SECTIONS:
            for name in names:
                if shape.schema_at((section, name)) is not None:
                    return f"/{section}/{name}"
    return None


def _content_type_choices(shape: _Shape, sample: ImageSample) -> st.SearchStrategy[str | None] | None:
    """The Content-Types to draw for a raw or text body: what real clients send where the form accepts any type
    (``*/*``), else the form's own listed types (the image's own type first when listed, as a pack's
    ``image/png``/``image/jpeg`` bodies want)."""
    listed = [t for t in shape.form.get("content_types", []) if "*" not in t]
    if shape.encoding not in CONTENT_TYPES or "*/*" in shape.form.get("content_types", []) or not listed:
        return _CONTENT_TYPE_PICKS.get(shape.encoding)
    if shape.encoding == "raw" and sample.media_type in listed:
        return st.just(sample.media_type)
    return pick(listed)


@st.composite
def _valid_request(
    draw: st.DrawFn, shape: _Shape, sections: Mapping[str, st.SearchStrategy[Any]], image_strategy: st.SearchStrategy[Any], url_prefix: str,
) -> GeneratedRequest:
    sample = _sample_of(draw(image_strategy))
    values = {name: draw(strategy) for name, strategy in sections.items()}
    envelope = {"form": shape.name, **values}
    if shape.image_parts:
        if shape.encoding == "none":
            image_value = _image_url(sample, url_prefix)
        elif shape.encoding in ("raw", "multipart"):
            image_value = _image_string(sample, False)
        else:
            image_value = _image_string(sample, shape.data_uri and draw(_BOOLEANS))
        envelope = _set(envelope, shape.image_parts, image_value)
    for check in shape.contract.index.get("request_checks", []):
        fit = REQUEST_FITS.get(check)
        if fit is not None:
            envelope["body"] = fit(envelope["body"], sample.size)
    headers = dict(envelope["headers"] or {})
    choices = _content_type_choices(shape, sample)
    if choices is not None and "content-type" not in headers:
        content_type = draw(choices)
        if content_type is not None:
            headers["content-type"] = content_type.format(media=sample.media_type)
    return GeneratedRequest(
        form=shape.name, body=envelope["body"], path=envelope["path"] or {}, query=envelope["query"] or {},
        headers=headers, image=sample.data, image_size=sample.size,
    )


def _shapes(contract: Contract, forms: Iterable[str] | None, pointers: Mapping[str, Any]) -> list[_Shape]:
    known = [f["name"] for f in contract.index["forms"]]
    wanted = list(forms) if forms is not None else known
    unknown = set(wanted) - set(known)
    if unknown:
        raise ValueError(f"Unknown wire forms {sorted(unknown)} for {contract.provider} {contract.operation}; its forms are {known}.")
    shapes = [_Shape(contract, f, pointers) for f in contract.index["forms"] if f["name"] in wanted]
    # an override that sets a value needs a form whose schema has that place (parameters live in JSON bodies)
    needed = [tokens(p) for p, v in pointers.items() if v is not OMIT]
    fitting = [s for s in shapes if all(s.schema_at(p) is not None for p in needed)]
    if not fitting:
        raise ValueError(f"No wire form among {wanted} of {contract.provider} {contract.operation} carries all of {sorted(pointers)}.")
    return fitting


def _image_overrides(contract: Contract, shape: _Shape) -> dict[str, Any]:
    """A placeholder at this form's image location (filled per draw), and no other form's query image (Roboflow's
    ``?image=`` belongs to the url form only: a server may prefer it over the body)."""
    out: dict[str, Any] = {p: OMIT for p in contract.index["image"].values() if p.startswith("/query/") and p != shape.image_pointer}
    if shape.image_pointer:
        out[shape.image_pointer] = st.just("")
    return out


def requests(
    provider: str,
    operation: str,
    *,
    forms: Iterable[str] | None = None,
    images: st.SearchStrategy | None = None,
    image_url_prefix: str = DEFAULT_IMAGE_URL_PREFIX,
    **overrides: Any,
) -> st.SearchStrategy[GeneratedRequest]:
    """Valid requests of one operation, in every wire form its contract lists (or those named in ``forms``).

    Each is a :class:`GeneratedRequest` (a ``contracts.Request`` envelope plus the image bytes it carries) that passes
    ``contracts.get(provider, operation).validate_request`` with no errors; send it with :func:`to_wire`.
    ``images`` replaces the image strategy (bytes or :class:`ImageSample` values; default PNG/JPEG/WebP up to 32x32).
    Other keywords pin values: a parameter name from the index (``threshold=0.5``), or a property of path, query,
    headers or body (``model_id="facebook/detr-resnet-50"``, ``api_key="..."``, ``authorization="Bearer hf_x"``;
    underscores also match hyphens, ``x_use_cache="false"``); the value is a constant or a strategy, and None leaves
    the property out. Pinning a body parameter keeps only the forms whose body can carry it.
    """
    contract = contracts.get(provider, operation)
    pointers = _override_pointers(contract, overrides)
    image_strategy = images if images is not None else image_infos(max_size=32)
    options = []
    for shape in _shapes(contract, forms, pointers):
        shape.translator = Translator(contract.catalog.registry, overrides={**_image_overrides(contract, shape), **pointers})
        options.append(_valid_request(shape, shape.strategies(), image_strategy, image_url_prefix))
    return st.one_of(options)


# --- invalid requests ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Mutation:
    kind: str
    parts: _Parts
    value: st.SearchStrategy[Any]  # OMIT (as st.just(OMIT)) deletes
    reason: str
    keyword: str | None = None  # the schema keyword it breaks, where the contract may name that failure

    def finding(self, contract: Contract) -> str | None:
        """The check the contract reports this change under, when it names the failure (``schema_findings``)."""
        if self.keyword is None:
            return None
        at = self.parts[:-1] if self.keyword == "additionalProperties" else self.parts
        return contract.finding_at(self.keyword, at)

    def suspicious(self, contract: Contract) -> bool:
        """Accepted by the real service though the documents do not list it: a warning unless strict."""
        return self.finding(contract) in contract.lenient_checks


_MALFORMED = ("-", "not valid!", "ftp://example.invalid/image.png")
_WIRE_TEXT_SECTIONS = ("path", "query", "headers")


def _leaf_mutations(schema: Mapping[str, Any], parts: _Parts, value: Any) -> Iterator[_Mutation]:
    where = _json_path(parts)
    textual = parts[0] in _WIRE_TEXT_SECTIONS  # these travel as text: only string-shaped breakage survives the wire
    if "enum" in schema:
        yield _Mutation("unknown-enum", parts, st.just("not_a_known_value"), f"{where} is not one of {schema['enum']}.")
        return
    if "const" in schema or "anyOf" in schema or isinstance(schema.get("type"), list):
        return
    kind = schema.get("type")
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        if lo is not None:
            low = "minimum" if "minimum" in schema else "exclusiveMinimum"
            yield _Mutation("out-of-range", parts, st.just(lo - 1), f"{where} is {lo - 1}, below its minimum {lo}.", low)
        if hi is not None:
            high = "maximum" if "maximum" in schema else "exclusiveMaximum"
            yield _Mutation("out-of-range", parts, st.just(hi + 1), f"{where} is {hi + 1}, above its maximum {hi}.", high)
        yield _Mutation("wrong-type", parts, st.just("not-a-number"), f"{where} is a string where the contract wants a {kind}.")
    elif kind == "string":
        if schema.get("minLength", 0) > 0:
            yield _Mutation("too-short", parts, st.just(""), f"{where} is empty, shorter than its minLength {schema['minLength']}.")
        if "maxLength" in schema and "pattern" not in schema:
            n = schema["maxLength"] + 1
            yield _Mutation("too-long", parts, st.just("a" * n), f"{where} has {n} characters, more than its maxLength {n - 1}.")
        pattern = schema.get("pattern")
        if pattern:
            bad = next((c for c in _MALFORMED if not re.search(pattern, c)), None)
            if bad is not None:
                yield _Mutation("malformed", parts, st.just(bad), f"{where} is {bad!r}, which does not match {pattern}.")
        if not textual:
            yield _Mutation("wrong-type", parts, st.just(12345), f"{where} is a number where the contract wants a string.")
    elif kind == "boolean" and not textual:
        yield _Mutation("wrong-type", parts, st.just("yes"), f"{where} is a string where the contract wants a boolean.")


def _mutations(shape: _Shape, value: Any, schema: Any, resolver: Any, parts: _Parts) -> Iterator[_Mutation]:
    """Every single-place change that breaks the schema and survives the wire, found by walking value and schema."""
    schema, resolver = shape.translator.deref(schema, resolver)
    if not isinstance(schema, dict) or (parts == shape.image_parts and shape.encoding != "none"):
        return
    where = _json_path(parts)
    if isinstance(value, dict) and ("properties" in schema or "required" in schema):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name in value and parts[0] != "path":
                yield _Mutation("missing-required", parts + (name,), st.just(OMIT), f"{where} lacks the required property {name!r}.")
        if schema.get("additionalProperties") is False:
            yield _Mutation("unknown-property", parts + ("unexpected_parameter",), st.just(1),
                            f"{where} has a property the contract does not know, 'unexpected_parameter'.", "additionalProperties")
        for name, sub in props.items():
            if name in value:
                yield from _mutations(shape, value[name], sub, resolver, parts + (name,))
    elif isinstance(value, list) and schema.get("type") == "array":
        if schema.get("minItems", 0) > 0:
            yield _Mutation("too-few-items", parts, st.just([]), f"{where} is empty, shorter than its minItems {schema['minItems']}.")
        prefix = schema.get("prefixItems", [])
        if prefix and schema.get("items") is False:
            yield _Mutation("too-many-items", parts, st.just([*value, 0]), f"{where} has more than its {len(prefix)} items.")
        for i, item in enumerate(value[:1]):
            sub = prefix[i] if i < len(prefix) else schema.get("items", True)
            yield from _mutations(shape, item, sub, resolver, parts + (i,))
        for i in range(1, min(len(prefix), len(value))):
            yield from _mutations(shape, value[i], prefix[i], resolver, parts + (i,))
    elif not isinstance(value, (dict, list)):
        yield from _leaf_mutations(schema, parts, value)


def _image_mutations(shape: _Shape) -> Iterator[_Mutation]:
    if not shape.image_parts or shape.encoding == "none":
        return
    where = _json_path(shape.image_parts)

    def as_text(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    yield _Mutation("undecodable-image", shape.image_parts, junk_bytes().map(as_text), f"{where} holds bytes that are not an image.")
    yield _Mutation("empty-image", shape.image_parts, st.just(""), f"{where} is empty.")
    yield _Mutation("oversized-image", shape.image_parts, st.just(as_text(oversized_png())), f"{where} declares 8000x8000 pixels, above the 50 megapixel limit.")
    if shape.encoding in ("json", "text"):
        yield _Mutation("invalid-base64", shape.image_parts, st.just("@@ not base64 @@"), f"{where} is not valid base64.")
    if shape.allows_data_uri():
        yield _Mutation("bad-data-uri", shape.image_parts, st.just("data:text/plain;base64,SGVsbG8="), f"{where} is a data URI that does not hold an image.")


def _check_mutations(shape: _Shape, request: GeneratedRequest) -> Iterator[_Mutation]:
    checks = shape.contract.index.get("request_checks", [])
    prompt = request.body.get("segment_prompt") if isinstance(request.body, dict) else None
    if "prompt-points-inside-image" in checks and prompt and prompt[0] and request.image_size:
        w, h = request.image_size
        parts = ("body", "segment_prompt", 0, 0)
        point = st.sampled_from([[w, 0], [0, h], [w + 100, h + 100]])
        yield _Mutation("point-outside-image", parts, point, f"{_json_path(parts)} lies outside the {w}x{h} image.")
    if shape.encoding == "json":
        yield _Mutation("empty-body", ("body",), st.just(None), "The request has an empty body.")


def _all_mutations(shape: _Shape, request: GeneratedRequest) -> list[_Mutation]:
    envelope = request.instance()
    found: list[_Mutation] = []
    for section in SECTIONS:
        found.extend(_mutations(shape, envelope[section], shape.section(section), shape.resolver, (section,)))
    found.extend(_image_mutations(shape))
    found.extend(_check_mutations(shape, request))
    return found


def _mutate(
    draw: st.DrawFn, shape: _Shape, request: GeneratedRequest, found: list[_Mutation],
    group: Callable[[_Mutation], str] = lambda m: m.kind,
) -> tuple[_Mutation, GeneratedRequest]:
    """One of ``found`` applied to ``request``: a group (by default the kind) first, so each is drawn as often, then
    a place."""
    kind = draw(st.sampled_from(sorted({group(m) for m in found})))
    mutation = draw(st.sampled_from([m for m in found if group(m) == kind]))
    envelope = _set(request.instance(), mutation.parts, draw(mutation.value))
    changed = GeneratedRequest(
        form=shape.name, body=envelope["body"], path=envelope["path"], query=envelope["query"], headers=envelope["headers"],
        image=request.image, image_size=request.image_size,
    )
    return mutation, changed


@st.composite
def _invalid_request(draw: st.DrawFn, shape: _Shape, valid: st.SearchStrategy[GeneratedRequest]) -> InvalidRequest:
    request = draw(valid)
    found = [m for m in _all_mutations(shape, request) if not m.suspicious(shape.contract)]
    mutation, broken = _mutate(draw, shape, request, found)
    return InvalidRequest(mutation.kind, _json_path(mutation.parts), mutation.reason, broken)


def invalid_requests(provider: str, operation: str, *, forms: Iterable[str] | None = None, **overrides: Any) -> st.SearchStrategy[InvalidRequest]:
    """Requests the provider must reject, each an :class:`InvalidRequest` labelled with ``kind``, ``path`` and
    ``reason``.

    Each starts as a valid request with one change: a parameter out of range, an unknown enum value, a wrong type, a
    missing required field (Roboflow's ``api_key``, AI Refinery's ``authorization``...), an unknown property, an
    image that is undecodable, empty, oversized, not base64 or a non-image data URI, an empty body, or an AI Refinery
    prompt point outside the image. Only changes that survive :func:`to_wire` are made: query, path and header
    values travel as text, so they are never given a wrong JSON type. Changes the real service accepts (the
    contract's default leniencies, e.g. an unknown Hugging Face parameter) are not made here: they are
    :func:`suspicious_requests`. An invalid request is refused with a 4xx in both modes, lenient and strict.
    """
    contract = contracts.get(provider, operation)
    options = []
    for shape in _shapes(contract, forms, _override_pointers(contract, overrides)):
        valid = requests(provider, operation, forms=[shape.name], **overrides)
        options.append(_invalid_request(shape, valid))
    return st.one_of(options)


# --- suspicious requests -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SuspiciousRequest:
    """A request the real service accepts although the documented contract finds it suspicious: ``kind``, ``path``
    and ``reason`` as for :class:`InvalidRequest`, and ``check``, the warning the contract reports it under (e.g.
    ``parameters-unknown``). Expected answer: the success status, with an ``x-vision-warnings`` header naming
    ``check`` from the mock; a 4xx in strict mode (``vision-mock --strict``, ``validate_request(..., strict=True)``)."""

    kind: str
    path: str
    reason: str
    check: str
    request: GeneratedRequest


def _can_be_suspicious(shape: _Shape) -> bool:
    """Whether this form's schema has an object that a default leniency's schema finding names (its properties, or
    a property's bounds)."""
    lenient = shape.contract.lenient_checks
    for finding in shape.contract.schema_findings:
        if finding.check not in lenient:
            continue
        for place in finding.at:
            found = shape.schema_at(tuple(itertools.takewhile(lambda t: t != "*", place)))
            if found is not None and isinstance(found[0], dict) and "properties" in found[0]:
                return True
    return False


@st.composite
def _suspicious_request(draw: st.DrawFn, shape: _Shape, valid: st.SearchStrategy[GeneratedRequest]) -> SuspiciousRequest:
    request = draw(valid)
    found = [m for m in _all_mutations(shape, request) if m.suspicious(shape.contract)]
    assume(found)
    mutation, changed = _mutate(draw, shape, request, found, group=lambda m: m.finding(shape.contract) or "")
    check = mutation.finding(shape.contract) or ""
    return SuspiciousRequest(mutation.kind, _json_path(mutation.parts), mutation.reason, check, changed)


def suspicious_requests(
    provider: str, operation: str, *, forms: Iterable[str] | None = None, **overrides: Any
) -> st.SearchStrategy[SuspiciousRequest]:
    """Requests the real service accepts but the documented contract finds suspicious, each a
    :class:`SuspiciousRequest` labelled with ``kind``, ``path``, ``reason`` and the warning ``check``.

    Each starts as a valid request with one change that a default leniency of the contract covers: for Hugging
    Face, an unknown key in the JSON body, in ``options`` or in ``parameters`` (``parameters-unknown``,
    ``body-property-unknown``), or a threshold outside [0, 1] (``parameter-range``). Lenient (the default), the
    mock answers it with the success status and names ``check`` in ``x-vision-warnings``, and
    ``validate_request`` reports a warning; strict, it is refused with a 4xx and reported as an error. Raises
    ValueError for an operation (or forms) where the contract names no such place.
    """
    contract = contracts.get(provider, operation)
    options = []
    for shape in _shapes(contract, forms, _override_pointers(contract, overrides)):
        if _can_be_suspicious(shape):
            valid = requests(provider, operation, forms=[shape.name], **overrides)
            options.append(_suspicious_request(shape, valid))
    if not options:
        raise ValueError(
            f"The {provider} {operation} contract names nothing its service accepts beyond the documents in the forms "
            f"{sorted(forms) if forms is not None else [f['name'] for f in contract.index['forms']]}: there are no "
            f"suspicious requests to generate (see its leniencies marked default)."
        )
    return st.one_of(options)


# --- responses -----------------------------------------------------------------------------------------------

@dataclass
class _Fit:
    """What the response fits need: the image size, the requested threshold and the contract's locations."""

    size: tuple[int, int]
    threshold: float | None
    locations: Mapping[str, str]
    checks: tuple[str, ...]


@st.composite
def _mask_png(draw: st.DrawFn, size: tuple[int, int], values: list[int]) -> str:
    pick = st.sampled_from(values)
    corner = st.integers(0, size[0] * size[1] - 1)
    rectangles = [(draw(corner), draw(corner), draw(pick)) for _ in range(draw(st.integers(0, 2)))]
    im = _images._render("L", size, draw(pick), rectangles, None)
    return base64.b64encode(_images.encode(im, "PNG")).decode("ascii")


def _fit_masks(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    pointer = fit.locations.get("masks")
    if not pointer:
        return body
    if "mask-classes-in-map" in fit.checks:
        class_map = body.get("class_map") or {}
        ids = sorted(int(k) for k in class_map if int(k) <= 255)
        if not ids:
            class_map = {"0": "background", **class_map}
            body = {**body, "class_map": class_map}
            ids = [0]
        values = ids
    elif "mask-binary" in fit.checks:
        values = [0, 255]
    else:
        values = [0, 1, 2, 255]
    for parts, value in _find(body, pointer):
        if isinstance(value, str):
            body = _set(body, parts, draw(_mask_png(fit.size, values)))
    return body


def _fit_image_size(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    for parts, value in _find(body, fit.locations.get("image_size", "/-")):
        if isinstance(value, dict):
            body = _set(body, parts, {**value, "width": fit.size[0], "height": fit.size[1]})
    return body


def _fit_boxes(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    w, h = fit.size
    xs, ys = st.integers(0, w), st.integers(0, h)
    for parts, value in _find(body, fit.locations.get("boxes", "/-")):
        if isinstance(value, dict):
            x0, x1, y0, y1 = draw(xs), draw(xs), draw(ys), draw(ys)
            body = _set(body, parts, {**value, "xmin": min(x0, x1), "xmax": max(x0, x1), "ymin": min(y0, y1), "ymax": max(y0, y1)})
    return body


def _fit_scores(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    t = fit.threshold
    if t is None:
        return body
    for parts, value in _find(body, fit.locations.get("scores", "/-")):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            body = _set(body, parts, min(1.0, max(float(t), t + (1 - t) * value)))
    return body


def _fit_created(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    span = int(time.time()) - EARLIEST_CREATED
    for parts, value in _find(body, fit.locations.get("created", "/-")):
        if isinstance(value, int):
            body = _set(body, parts, EARLIEST_CREATED + value % span)
    return body


def _fit_usage(draw: st.DrawFn, body: Any, fit: _Fit) -> Any:
    for parts, usage in _find(body, fit.locations.get("usage", "/-")):
        if not isinstance(usage, dict):
            continue
        budget, details = usage["input_tokens"], {}
        for key, n in usage.get("input_tokens_details", {}).items():
            details[key] = min(n, budget)
            budget -= details[key]
        fitted = {**usage, "input_tokens_details": details, "total_tokens": usage["input_tokens"] + usage["output_tokens"]}
        body = _set(body, parts, fitted)
    return body


#: Fits applied after a response is drawn from its schema, in order; each serves the checks named with it.
RESPONSE_FITS = (
    (("mask-image", "mask-size", "mask-binary", "mask-classes-in-map"), _fit_masks),
    (("roboflow-image-size", "roboflow-mask-matches-image"), _fit_image_size),
    (("box-order", "box-inside-image"), _fit_boxes),
    (("score-threshold",), _fit_scores),
    (("created-plausible",), _fit_created),
    (("usage-consistent",), _fit_usage),
)


def _response_strategy(contract: Contract) -> st.SearchStrategy:
    translator = Translator(contract.catalog.registry)
    uri = contract.uri(contract.index["response_schema"])
    return translator.strategy(contract.response_schema, translator.resolver(uri))


@st.composite
def _response(draw: st.DrawFn, contract: Contract, image: Any, threshold: float | None, pair: bool) -> Any:
    sample = _sample_of(draw(image) if isinstance(image, st.SearchStrategy) else image)
    body = draw(_response_strategy(contract))
    fit = _Fit(sample.size, threshold, contract.index.get("locations", {}), tuple(contract.index["checks"]))
    for checks, fitter in RESPONSE_FITS:
        if set(checks) & set(fit.checks):
            body = fitter(draw, body, fit)
    return (sample.data, body) if pair else body


def _image_source(image: Any) -> Any:
    if image is None:
        return image_infos(max_size=32)
    return image if isinstance(image, st.SearchStrategy) else _sample_of(image)


def responses(provider: str, operation: str, *, image: Any = None, threshold: float | None = None) -> st.SearchStrategy[Any]:
    """Valid success bodies (parsed JSON) of one operation, for consumer-side tests.

    ``image`` is the request image (bytes, an :class:`ImageSample` or a strategy of either); the bodies fit it: masks
    are real single-channel PNGs of its size (0/255 for Hugging Face, class ids of class_map for Roboflow), boxes lie
    inside it, Roboflow's ``image`` gives its size. ``threshold`` keeps every score at or above it. AI Refinery's
    ``created`` is a plausible Unix time and its usage adds up. Each body passes
    ``validate_response(body, request=image)``. Without ``image`` an image is drawn and not returned: use
    :func:`image_responses` to get it too.
    """
    return _response(contracts.get(provider, operation), _image_source(image), threshold, False)


def image_responses(provider: str, operation: str, *, image: Any = None, threshold: float | None = None) -> st.SearchStrategy[tuple[bytes, Any]]:
    """Pairs (image bytes, valid body), as :func:`responses` draws them."""
    return _response(contracts.get(provider, operation), _image_source(image), threshold, True)


def error_responses(provider: str, operation: str, statuses: Iterable[int] | None = None) -> st.SearchStrategy[tuple[int, Any]]:
    """Pairs (status, body) of the error answers the contract describes, each valid for ``validate_error_body``."""
    contract = contracts.get(provider, operation)
    wanted = list(statuses) if statuses is not None else contract.error_statuses
    translator = Translator(contract.catalog.registry)
    options = []
    for status in wanted:
        ref = contract.index["errors"].get(str(status))
        if ref is None:
            raise ValueError(f"The {provider} {operation} contract describes no error with status {status}; it knows {contract.error_statuses}.")
        uri = contract.uri(ref)
        resolved = translator.resolver(uri.split("#")[0]).lookup(uri)
        options.append(st.tuples(st.just(status), translator.strategy(resolved.contents, resolved.resolver)))
    return st.one_of(options)

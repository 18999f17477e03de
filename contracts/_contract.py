"""Loading the contracts from their JSON files, compiling their validators once, and validating with them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from types import MappingProxyType
from typing import Any
from urllib.parse import urljoin

import jsonschema
import jsonschema_rs
import referencing
import referencing.jsonschema

from ._checks import CHECKS, REQUEST_CHECKS, CheckContext, apply_tolerance, run_checks
from ._images import DEFAULT_MAX_PIXELS, ImageError, ImageInfo, open_image, sniff_image
from ._model import ContractViolation, Report, Severity, Violation, brief
from ._pack import CompiledPack, Pack, PackError
from ._paths import find, json_path, resolve
from ._request import DEFAULT_MAX_JSON_DEPTH, Request, WireError, parse_wire
from ._role_checks import ROLE_CHECKS

__all__ = ["Catalog", "Contract", "SchemaFinding", "UnknownOperation"]

SCHEMA_ROOT = "https://vision-contracts.dev/schemas/"
RESPONSE_CHECKS = MappingProxyType({**CHECKS, **ROLE_CHECKS})  # the built-in operations' checks and the packs' role checks


class UnknownOperation(LookupError):
    """Asked for a (provider, operation) that no contract describes."""


@dataclass(frozen=True)
class RequestFacts:
    """What the semantic checks need from a request: the image's facts and the request's parameters; and, when
    :meth:`Contract.check_request` decoded the request image from base64 or a data URI, its bytes (``image_data``,
    None otherwise: an image given by URL, or one that did not decode), so a caller that needs them (the mock server
    generating its answer) does not decode the string again."""

    image: ImageInfo | None
    note: str
    params: Mapping[str, Any]
    image_data: bytes | None = field(default=None, repr=False, compare=False)


def _load_json(path: Any) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class Catalog:
    """Every contract shipped in ``contracts/schemas``; schemas are read once and validators compiled once."""

    def __init__(self, root: Any = None):
        self.root = root or resources.files("vision_contracts.contracts") / "schemas"
        self.schemas: dict[str, Any] = {}
        self.indexes: dict[tuple[str, str], dict[str, Any]] = {}
        for provider_dir in sorted(self.root.iterdir(), key=lambda p: p.name):
            self._load_dir(provider_dir, provider_dir.name)
        self._build_registries()
        self._contracts: dict[tuple[str, str], Contract] = {}

    def _build_registries(self) -> None:
        self.registry = referencing.Registry().with_resources(
            (uri, referencing.Resource.from_contents(s, default_specification=referencing.jsonschema.DRAFT202012))
            for uri, s in self.schemas.items()
        )
        self.rs_registry = jsonschema_rs.Registry(list(self.schemas.items()))

    def add_pack(self, pack: CompiledPack) -> Pack:
        """Register a compiled contract pack's operations (see ``contracts.load_pack``). Adding the same file again
        is a no-op (or a reload, when the file changed); an operation that another pack or a built-in contract
        already defines is a PackError naming both."""
        for name in pack.operations:
            existing = self.indexes.get((pack.provider, name))
            if existing is None:
                continue
            owner = existing.get("pack", {}).get("file")
            if owner != pack.file:
                other = f"the pack {owner}" if owner else "the built-in contracts"
                raise PackError(pack.file, "", f"the operation {pack.provider}/{name} is defined both here and in {other}.")
        changed = [n for n in pack.operations if self.indexes.get((pack.provider, n)) != pack.indexes[n]]
        if changed:
            for name in changed:
                self.indexes[(pack.provider, name)] = pack.indexes[name]
                self._contracts.pop((pack.provider, name), None)
            self.schemas.update(pack.schemas)
            self._build_registries()
        return Pack(pack.file, pack.provider, pack.operations, {n: self.get(pack.provider, n) for n in pack.operations})

    @property
    def packs(self) -> list[str]:
        """The files of the packs registered, in the order they were added."""
        return list(dict.fromkeys(i["pack"]["file"] for i in self.indexes.values() if "pack" in i))

    def _load_dir(self, directory: Any, prefix: str) -> None:
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            if entry.is_dir():
                self._load_dir(entry, f"{prefix}/{entry.name}")
            elif entry.name == "operation.json":
                index = _load_json(entry)
                index["base"] = f"{SCHEMA_ROOT}{prefix}/"
                self.indexes[(index["provider"], index["operation"])] = index
            elif entry.name.endswith(".json"):
                schema = _load_json(entry)
                self.schemas[schema["$id"]] = schema

    @property
    def operations(self) -> list[tuple[str, str]]:
        return sorted(self.indexes)

    def get(self, provider: str, operation: str) -> Contract:
        key = (provider, operation)
        if key not in self.indexes:
            known = ", ".join(f"({p!r}, {o!r})" for p, o in self.operations)
            raise UnknownOperation(f"No contract for provider {provider!r} and operation {operation!r}; known operations are {known}.")
        if key not in self._contracts:
            self._contracts[key] = Contract(self, self.indexes[key])
        return self._contracts[key]


def _pointer_tokens(pointer: str) -> tuple[str, ...]:
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.strip("/").split("/")) if pointer.strip("/") else ()


@dataclass(frozen=True)
class SchemaFinding:
    """A schema keyword that fails at named places, reported under a check name of its own (the operation index's
    ``schema_findings``): so a leniency can name it like any semantic check, and the message can say what the real
    service does with it (``accepted``)."""

    check: str
    keywords: frozenset[str]
    at: tuple[tuple[str, ...], ...]  # JSON pointer tokens into the validated document, "*" matching any one part
    accepted: str  # what the real service does with it, the end of each violation's message
    evidence: str = ""

    @classmethod
    def from_index(cls, check: str, spec: Mapping[str, Any]) -> SchemaFinding:
        at = tuple(_pointer_tokens(p) for p in spec["at"])
        return cls(check, frozenset(spec["keywords"]), at, spec["accepted"], spec.get("evidence", ""))

    def matches(self, keyword: str, parts: Sequence[str | int]) -> bool:
        """Whether a failure of ``keyword`` at ``parts`` is this finding."""
        return keyword in self.keywords and any(
            len(place) == len(parts) and all(t in ("*", str(p)) for t, p in zip(place, parts, strict=True))
            for place in self.at
        )

    def violations(self, error: jsonschema.ValidationError) -> list[Violation]:
        """The failure as this finding's violations: one per undocumented property, or one at the failing value."""
        parts = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            return self._unknown_properties(error.instance, error.schema, parts)
        path = json_path(parts)
        expected, received = _expectation(error), brief(error.instance)
        return [Violation(path, self.check, expected, received, f"{path}: expected {expected}, received {received}; {self.accepted}.")]

    def _unknown_properties(self, instance: Mapping[str, Any], schema: Any, parts: list[str | int]) -> list[Violation]:
        documented = sorted(schema.get("properties", {})) if isinstance(schema, dict) else []
        expected = f"only the documented properties {', '.join(documented)}"
        out = []
        for key in (k for k in instance if k not in documented):
            path = json_path([*parts, key])
            received = f"the property {key!r} = {brief(instance[key])}"
            out.append(Violation(path, self.check, expected, received, f"{path}: expected {expected}, received {received}; {self.accepted}."))
        return out


class _Validator:
    """One schema, compiled twice: jsonschema-rs answers 'valid?' fast, python-jsonschema explains failures."""

    def __init__(self, catalog: Catalog, uri: str):
        ref_schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": uri}
        self.uri = uri
        self.fast = jsonschema_rs.validator_for(ref_schema, registry=catalog.rs_registry)
        self.slow = jsonschema.Draft202012Validator(ref_schema, registry=catalog.registry)

    def violations(self, instance: Any, findings: Sequence[SchemaFinding] = ()) -> list[Violation]:
        """Every failure, explained; failures that are named findings are reported under their finding's check."""
        if self.fast.is_valid(instance):
            return []
        out: list[Violation] = []
        for error in self.slow.iter_errors(instance):
            if error.context:
                error = jsonschema.exceptions.best_match(error.context)
            parts = list(error.absolute_path)
            finding = next((f for f in findings if f.matches(str(error.validator), parts)), None)
            out.extend(finding.violations(error) if finding else [_schema_violation(error)])
        return sorted(out, key=lambda v: v.path)


def _expectation(error: jsonschema.ValidationError) -> str:
    keyword = str(error.validator)  # always set on the errors a validator yields
    value: Any = error.validator_value
    phrases: dict[str, Callable[[], str]] = {
        "type": lambda: f"a value of type {value if isinstance(value, str) else ' or '.join(value)}",
        "required": lambda: f"the required properties {', '.join(value)}",
        "minimum": lambda: f"a number >= {value}",
        "maximum": lambda: f"a number <= {value}",
        "exclusiveMinimum": lambda: f"a number > {value}",
        "exclusiveMaximum": lambda: f"a number < {value}",
        "minLength": lambda: f"a string of at least {value} characters",
        "maxLength": lambda: f"a string of at most {value} characters",
        "minItems": lambda: f"an array of at least {value} items",
        "maxItems": lambda: f"an array of at most {value} items",
        "pattern": lambda: f"a string matching {value}",
        "enum": lambda: f"one of {', '.join(json.dumps(v) for v in value)}",
        "const": lambda: f"exactly {json.dumps(value)}",
        "additionalProperties": lambda: "no properties other than those the contract names",
        "items": lambda: "no items beyond the ones the contract names",
        "minProperties": lambda: f"an object with at least {value} properties",
        "propertyNames": lambda: "property names matching the contract",
    }
    phrase = phrases.get(keyword)
    return phrase() if phrase else f"a value satisfying the schema keyword {keyword}"


def _schema_violation(error: jsonschema.ValidationError) -> Violation:
    path = json_path(list(error.absolute_path))
    expected = _expectation(error)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        received = f"an object without {missing}"
        message = f"{path}: expected the required property '{missing}', but it is missing."
    elif error.validator in ("additionalProperties", "propertyNames"):
        received = error.message
        message = f"{path}: expected {expected}; {error.message}."
    else:
        received = brief(error.instance)
        message = f"{path}: expected {expected}, received {received}."
    return Violation(path, f"schema:{error.validator}", expected, received, message)


def _redact_credential(violations: list[Violation], auth: Mapping[str, Any] | None) -> list[Violation]:
    """Violations of the credential (``$.headers.authorization``, ``$.query.api_key``) without its value: a token
    must not be echoed in error bodies, journals or logs."""
    if not auth or not violations:
        return violations
    where = f"$.{'headers' if auth.get('in') == 'header' else 'query'}.{auth.get('name', '').lower() if auth.get('in') == 'header' else auth.get('name', '')}"
    out = []
    for v in violations:
        if v.path == where and v.received:
            hidden = "a credential (redacted)"
            v = dataclasses.replace(v, received=hidden, message=v.message.replace(v.received, hidden))
        out.append(v)
    return out


class Contract:
    """One provider operation: its index, schemas and checks, with ``validate_*`` and ``assert_*``."""

    def __init__(self, catalog: Catalog, index: dict[str, Any]):
        self.catalog = catalog
        self.index = index
        self.provider: str = index["provider"]
        self.operation: str = index["operation"]

    def __repr__(self) -> str:
        return f"<Contract {self.provider}/{self.operation}>"

    def uri(self, ref: str) -> str:
        """The absolute URI of a schema reference written relative to this operation's folder."""
        base: str = self.index["base"]
        return urljoin(base, ref)

    @cached_property
    def request_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.catalog.schemas[self.uri(self.index["request_schema"])]
        return schema

    @cached_property
    def response_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.catalog.schemas[self.uri(self.index["response_schema"])]
        return schema

    @cached_property
    def _request_validator(self) -> _Validator:
        return _Validator(self.catalog, self.uri(self.index["request_schema"]))

    @cached_property
    def _response_validator(self) -> _Validator:
        return _Validator(self.catalog, self.uri(self.index["response_schema"]))

    @cached_property
    def _error_validators(self) -> dict[int, _Validator]:
        return {int(s): _Validator(self.catalog, self.uri(ref)) for s, ref in self.index["errors"].items()}

    @property
    def error_statuses(self) -> list[int]:
        return sorted(int(s) for s in self.index["errors"])

    # --- leniency: named findings, tolerated checks, strictness ----------------------------------------------

    @cached_property
    def schema_findings(self) -> tuple[SchemaFinding, ...]:
        """The schema failures the index names (``schema_findings``), each reported under a check name of its own."""
        return tuple(SchemaFinding.from_index(name, spec) for name, spec in self.index.get("schema_findings", {}).items())

    @property
    def check_names(self) -> list[str]:
        """Every check name besides ``schema:*`` that this contract's violations can carry: response checks, request
        checks and named schema findings."""
        return [*self.index["checks"], *self.index["request_checks"], *(f.check for f in self.schema_findings)]

    def finding_at(self, keyword: str, parts: Sequence[str | int]) -> str | None:
        """The check name under which a failure of the schema ``keyword`` at ``parts`` (tokens into the request
        envelope or the response body) is reported, when the index names one; None for a plain ``schema:*``."""
        return next((f.check for f in self.schema_findings if f.matches(keyword, parts)), None)

    @cached_property
    def lenient_checks(self) -> frozenset[str]:
        """The checks of the leniencies marked ``"default": true``: what the real service accepts although the
        documents do not say so. Their violations are warnings unless a judgement is ``strict``."""
        leniencies = self.index.get("leniencies", {})
        return self.tolerated([name for name, spec in leniencies.items() if spec.get("default")])

    def tolerance(self, tolerate: Iterable[str] = (), *, strict: bool = False) -> frozenset[str]:
        """The checks a judgement reports as warnings: those named in ``tolerate`` (checks or leniencies), plus,
        unless ``strict``, the default leniencies' (:attr:`lenient_checks`)."""
        return self.tolerated(tolerate) | (frozenset() if strict else self.lenient_checks)

    # --- requests ------------------------------------------------------------------------------------------

    def parse_request(
        self, body: bytes = b"", *, content_type: str | None = None, headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None, path: Mapping[str, str] | None = None,
        max_json_depth: int | None = DEFAULT_MAX_JSON_DEPTH,
    ) -> Request:
        """The envelope for a request as it came off the wire; raises WireError when it fits no wire form (or its
        JSON nests deeper than ``max_json_depth``)."""
        return parse_wire(
            self.index["forms"], self.request_schema, body=body, content_type=content_type,
            headers=headers, query=query, path=path, max_json_depth=max_json_depth,
        )

    def _envelope(self, request: Any) -> Request:
        if isinstance(request, Request):
            return request
        if isinstance(request, dict) and "form" in request and "body" in request:
            return Request(form=request["form"], body=request["body"], path=request.get("path"), query=request.get("query"),
                           headers=request.get("headers"))
        if isinstance(request, dict):
            return Request(form="json", body=request)
        if isinstance(request, (bytes, bytearray)):
            return self.parse_request(bytes(request))
        if isinstance(request, str):
            return self.parse_request(request.encode("utf-8"), content_type="text/plain")
        raise TypeError(f"Expected a Request, a JSON body (dict), bytes or a str, got {type(request).__name__}.")

    def check_request(
        self, request: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, decode_pixels: bool = True,
        strict: bool = False, tolerate: Iterable[str] = (),
    ) -> tuple[Report, RequestFacts]:
        """Validate a request and return its report with the facts the response checks need.

        By default a request is judged as the real service judges it: what the service accepts although the
        documents do not list it (the default leniencies, e.g. an unknown ``parameters`` key) is a warning.
        ``strict=True`` holds the request to the documented contract: those warnings are errors. ``tolerate``
        names more checks or leniencies to report as warnings.

        ``decode_pixels=False`` reads only the image's header (size, mode): for callers that decode the pixels
        themselves anyway, as the mock server does, so a truncated image is still caught once."""
        try:
            envelope = self._envelope(request)
        except WireError as exc:
            return Report([Violation(exc.path, "wire-format", exc.expected, exc.received, exc.message)]), RequestFacts(None, exc.message, {})
        instance = envelope.instance()
        tolerance = self.tolerance(tolerate, strict=strict)
        schema = self._request_validator.violations(instance, self.schema_findings)
        violations = apply_tolerance(_redact_credential(schema, self.index.get("auth")), tolerance)
        ctx = CheckContext(
            body=instance, locations={}, image_pointer=self.index["image"].get(envelope.form),
            max_pixels=max_pixels, image_note="the request image could not be decoded", decode_pixels=decode_pixels,
        )
        blocked = any(v.severity is Severity.ERROR for v in violations)
        found, skipped = run_checks(self.index["request_checks"], REQUEST_CHECKS, ctx, tolerance) if not blocked else ([], [])
        report = Report(violations + found, skipped)
        by_url = envelope.form == "url" or self.index.get("roles", {}).get("request", {}).get("image", {}).get("format") == "uri"
        note = "" if ctx.image else ("the request carries its image as a URL" if by_url else ctx.image_note)
        return report, RequestFacts(ctx.image, note, self._params(instance), ctx.image_data)

    def validate_request(
        self, request: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, strict: bool = False, tolerate: Iterable[str] = (),
    ) -> Report:
        """Violations of a request: a Request envelope, a JSON body as sent, or the raw body bytes / text; ``strict``
        and ``tolerate`` as for :meth:`check_request`."""
        return self.check_request(request, max_pixels=max_pixels, strict=strict, tolerate=tolerate)[0]

    def assert_request(self, request: Any, **kwargs: Any) -> Report:
        report = self.validate_request(request, **kwargs)
        if report.errors:
            raise ContractViolation(f"The request breaks the {self.provider} {self.operation} contract.", report)
        return report

    def _params(self, instance: Mapping[str, Any]) -> dict[str, Any]:
        params = {}
        for name, pointer in self.index.get("parameters", {}).items():
            for _, value in find(instance, pointer):
                params[name] = value
        return params

    def request_facts(self, request: Any) -> RequestFacts:
        """Image facts and parameters from whatever the caller has: image bytes, the body as sent, or an envelope."""
        if request is None:
            return RequestFacts(None, "no request was given", {})
        if isinstance(request, (bytes, bytearray)) and sniff_image(bytes(request)):
            try:
                im = open_image(bytes(request))
            except ImageError as exc:
                return RequestFacts(None, f"the request image could not be decoded: {exc}", {})
            return RequestFacts(ImageInfo(im.size[0], im.size[1], im.mode, im.format), "", {})
        if isinstance(request, ImageInfo):
            return RequestFacts(request, "", {})
        return self.check_request(request)[1]

    # --- responses -----------------------------------------------------------------------------------------

    def validate_response(
        self, body: Any, *, request: Any = None, status: int = 200, tolerate: Iterable[str] = (),
        max_pixels: int = DEFAULT_MAX_PIXELS, strict: bool = False,
    ) -> Report:
        """Violations of a response body (parsed JSON, or its bytes/text) for the given status.

        ``request`` is the request image's bytes or the request as the client sent it; without it, checks that
        need it are reported in ``report.skipped``. ``tolerate`` names checks or leniencies whose violations become
        warnings. ``strict=True`` drops the default leniencies, as for :meth:`check_request` (no contract has a
        default leniency on responses today: a response leniency such as Roboflow's ``downscaled-mask`` is asked
        for by name).
        """
        if isinstance(body, (bytes, bytearray, str)):
            try:
                body = json.loads(body)
            except ValueError as exc:
                return Report([Violation("$", "json", "a JSON document", brief(body), f"$: expected a JSON document, but the body does not parse ({exc}).")])
        if status != self.index["success"]["status"]:
            return self._validate_error(body, status)
        tolerance = self.tolerance(tolerate, strict=strict)
        violations = apply_tolerance(self._response_validator.violations(body, self.schema_findings), tolerance)
        facts = self.request_facts(request)
        ctx = CheckContext(
            body=body, locations=self.index.get("locations", {}), image=facts.image, image_note=facts.note,
            params=facts.params, threshold_parameter=self.index.get("score_threshold_parameter"), max_pixels=max_pixels,
            roles=self.index.get("roles", {}),
        )
        found, skipped = run_checks(self.index["checks"], RESPONSE_CHECKS, ctx, tolerance)
        return Report(self._superseded(violations, found) + found, skipped)

    def _superseded(self, violations: list[Violation], found: list[Violation]) -> list[Violation]:
        """Schema violations that a check's finding explains (the index's ``supersedes``: check -> the schema checks it
        replaces at the path it reports), dropped for that one finding, e.g. Roboflow's nested answer instead of a
        missing-key error per key."""
        rules = self.index.get("supersedes", {})
        covered = {(v.path, kind) for v in found for kind in rules.get(v.check, ())}
        return [v for v in violations if (v.path, v.check) not in covered]

    def tolerated(self, names: Iterable[str]) -> frozenset[str]:
        """Check names to downgrade to warnings: check names as they are, named leniencies expanded."""
        if isinstance(names, str):
            names = (names,)
        leniencies = self.index.get("leniencies", {})
        known = self.check_names
        out: set[str] = set()
        for name in names:
            if name in leniencies:
                out.update(leniencies[name]["checks"])
            elif name in known:
                out.add(name)
            else:
                raise ValueError(
                    f"Cannot tolerate {name!r}: expected one of this contract's checks {known}"
                    f" or leniencies {sorted(leniencies)}."
                )
        return frozenset(out)

    def _validate_error(self, body: Any, status: int) -> Report:
        validator = self._error_validators.get(status)
        if validator is None:
            known = ", ".join(str(s) for s in [self.index["success"]["status"], *self.error_statuses])
            return Report([Violation(
                "$", "status", f"one of the statuses {known}", str(status),
                f"$: expected one of the statuses {known} that {self.provider} {self.operation} is known to send, received {status}.",
            )])
        return Report(validator.violations(body))

    def assert_response(self, body: Any, **kwargs: Any) -> Report:
        report = self.validate_response(body, **kwargs)
        if report.errors:
            raise ContractViolation(f"The response breaks the {self.provider} {self.operation} contract.", report)
        return report

    def validate_error_body(self, body: Any, status: int) -> Report:
        return self._validate_error(body, status)

    def _resolve(self, node: Any, uri: str) -> tuple[Any, str]:
        """Follow a chain of bare ``$ref`` nodes (a $ref with at most a description beside it) from ``node``,
        found at ``uri``; returns the schema reached and the URI it was found at."""
        while isinstance(node, dict) and "$ref" in node and set(node) <= {"$ref", "description"}:
            uri = urljoin(uri, node["$ref"])
            node = self.catalog.registry.resolver().lookup(uri).contents
        return node, uri

    def error_schema(self, status: int) -> dict[str, Any]:
        """The error body schema for a status, with a top-level $ref chain followed (KeyError if none)."""
        uri = self.uri(self.index["errors"][str(status)])
        schema: dict[str, Any] = self._resolve({"$ref": uri}, uri)[0]
        return schema

    def request_part(self, part: str) -> tuple[dict[str, Any], str]:
        """The request schema's schema for one envelope part (``path``, ``query``, ``headers``), $ref followed, with
        the URI it was found at (the base for its own references)."""
        node = self.request_schema.get("properties", {}).get(part, {})
        return self._resolve(node, self.uri(self.index["request_schema"]))

    def request_image(self, request: Request) -> Any:
        """The image as a request envelope carries it (base64, data URI or URL), found by the index's pointer."""
        pointer = self.index["image"].get(request.form)
        return None if pointer is None else resolve(request.instance(), pointer)

"""Contract packs: an OpenAPI 3.1 document whose schema nodes carry ``x-vision`` roles, compiled into the operation
indexes and schemas the built-in operations are made of.

Pure: reading a file, linting the document (:func:`lint_document`: sentences with the JSON path of each problem) and
compiling it (:func:`compile_document`) know nothing of the catalogue; ``Catalog.add_pack`` registers what
:func:`read_pack` returns. The role vocabulary is data (:data:`ROLES`): where a role may sit, the node types it fits
and the options it takes.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ._geometry import BOX_FORMATS, BOX_UNITS, MASK_ENCODINGS, POINT_STYLES
from ._paths import json_path

if TYPE_CHECKING:
    from ._contract import Contract

__all__ = [
    "PACK_ROOT",
    "ROLES",
    "TASKS",
    "CompiledPack",
    "LintFinding",
    "Pack",
    "PackError",
    "RoleSpec",
    "compile_document",
    "lint_document",
    "lint_file",
    "read_document",
    "read_pack",
]

PACK_ROOT = "https://vision-contracts.dev/packs/"
TASKS: tuple[str, ...] = ("object-detection", "instance-segmentation", "semantic-segmentation", "image-classification")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Parts = tuple[str | int, ...]


class PackError(ValueError):
    """A pack that cannot be read or compiled; the message names the file and the JSON path."""

    def __init__(self, file: str, path: str, message: str):
        super().__init__(f"{file}: {path}: {message}" if path else f"{file}: {message}")
        self.file, self.path, self.message = file, path, message


@dataclass(frozen=True)
class RoleSpec:
    """Where a role may sit (``request``, ``response`` or ``item``: inside one element of the ``items`` array), the
    JSON types of the nodes it fits, and its options with their allowed values (None: any value, checked apart)."""

    where: str
    types: tuple[str, ...]
    options: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    meaning: str = ""


ROLES: Mapping[str, RoleSpec] = {
    "image": RoleSpec("request", ("string",), {"format": ("base64", "uri", "binary")}, "the request image"),
    "score-threshold": RoleSpec("request", ("number", "integer"), {"scale": (1, 100)}, "answers drop items scored below it"),
    "max-results": RoleSpec("request", ("integer", "number"), {}, "at most this many items"),
    "items": RoleSpec("response", ("array",), {}, "the array of detections, instances, segments or classes"),
    "label": RoleSpec("item", ("string",)),
    "label-id": RoleSpec("item", ("integer", "string", "number")),
    "score": RoleSpec("item", ("number", "integer"), {"scale": (1, 100)}),
    "id": RoleSpec("item", ("string", "integer")),
    "box": RoleSpec("item", ("object", "array"), {"format": BOX_FORMATS, "units": BOX_UNITS, "keys": None}),
    "polygon": RoleSpec("item", ("array",), {"units": BOX_UNITS, "point": POINT_STYLES}),
    "mask": RoleSpec("item", ("string", "object"), {"encoding": MASK_ENCODINGS}),
    "class-map-mask": RoleSpec("response", ("string",), {"encoding": ("png-base64",)}),
    "class-names": RoleSpec("response", ("object",)),
    "image-width": RoleSpec("response", ("integer", "number")),
    "image-height": RoleSpec("response", ("integer", "number")),
}
DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "score-threshold": {"scale": 1}, "score": {"scale": 1}, "box": {"format": "xyxy", "units": "pixels", "keys": None},
    "polygon": {"units": "pixels", "point": "pair"}, "mask": {"encoding": "png-base64"}, "class-map-mask": {"encoding": "png-base64"},
}
_MASK_TYPES = {"png-base64": "string", "rle": "object", "rle-compressed": "object"}


@dataclass(frozen=True)
class LintFinding:
    """One problem of a pack: where (a JSON path into the document) and a sentence."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class CompiledPack:
    """A pack compiled: its provider, one operation index per operation and the schemas they refer to."""

    file: str
    provider: str
    indexes: Mapping[str, dict[str, Any]]
    schemas: Mapping[str, dict[str, Any]]

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self.indexes)


@dataclass(frozen=True)
class Pack:
    """A pack registered in a catalogue: ``contracts.get(pack.provider, name)`` returns ``pack.contracts[name]``."""

    file: str
    provider: str
    operations: tuple[str, ...]
    contracts: Mapping[str, Contract]


# --- reading -----------------------------------------------------------------------------------------------

def _string_keys(node: Any) -> Any:
    """YAML reads ``200:`` as an integer key; OpenAPI means the string."""
    if isinstance(node, dict):
        return {str(k): _string_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_string_keys(v) for v in node]
    return node


def read_document(path: str | Path) -> tuple[str, dict[str, Any]]:
    """The file's absolute path and its document (JSON, else YAML); PackError when unreadable or not an object."""
    file = str(Path(path).resolve())
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(file, "", f"the pack cannot be read ({exc.__class__.__name__}: {exc}).") from None
    try:
        document = json.loads(text) if file.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if file.endswith(".json") else "YAML"
        raise PackError(file, "", f"expected an OpenAPI 3.1 document in {kind}, but it does not parse: {' '.join(str(exc).split())}.") from None
    if not isinstance(document, dict):
        raise PackError(file, "$", f"expected an OpenAPI document (an object), received {type(document).__name__}.")
    return file, _string_keys(document)


# --- references --------------------------------------------------------------------------------------------

def _ref_parts(ref: str) -> Parts | None:
    if not ref.startswith("#"):
        return None
    pointer = ref[1:]
    if pointer in ("", "/"):
        return ()
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/"))


def _lookup(document: Any, parts: Parts) -> Any:
    node = document
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


class _Refs:
    """``$ref`` resolution inside one document (``#/...`` only), with the document path of every target."""

    def __init__(self, document: dict[str, Any]):
        self.document = document

    def follow(self, node: Any, parts: Parts, findings: list[LintFinding]) -> tuple[Any, Parts]:
        """The node a chain of ``$ref`` leads to and where it is; sibling keywords of a ``$ref`` are merged over it."""
        seen: list[str] = []
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            target_parts = _ref_parts(ref)
            if ref in seen:
                findings.append(LintFinding(json_path(parts), f"the $ref {ref!r} refers to itself in a loop."))
                return {}, parts
            seen.append(ref)
            try:
                if target_parts is None:
                    raise KeyError(ref)
                target = _lookup(self.document, target_parts)
            except KeyError:
                findings.append(LintFinding(json_path(parts + ("$ref",)), f"expected a reference inside this document (#/...) to an existing node, received {ref!r}."))
                return {}, parts
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings} if isinstance(target, dict) and siblings else target
            parts = parts if siblings and "x-vision" in siblings else target_parts
        return node, parts

    def inline(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        """A copy of ``node`` with every ``$ref`` replaced by its target (a recursive schema is a PackError's
        finding, reported by lint: this returns an empty schema there)."""
        if isinstance(node, list):
            return [self.inline(v, stack) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            parts = _ref_parts(ref)
            if ref in stack or parts is None:
                return {}
            try:
                target = _lookup(self.document, parts)
            except KeyError:
                return {}
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}} if isinstance(target, dict) else target
            return self.inline(merged, (*stack, ref))
        return {k: self.inline(v, stack) for k, v in node.items()}


# --- roles in schemas --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Site:
    """One role found on a schema node: its options, where the node is in the document, and the JSON pointer tokens
    of the values it describes (relative to the walk's root, ``*`` for each array element)."""

    role: str
    options: dict[str, Any]
    at: Parts
    pointer: tuple[str, ...]
    node: Mapping[str, Any]


def _role_of(annotation: Any) -> tuple[str | None, dict[str, Any]]:
    if isinstance(annotation, str):
        return annotation, {}
    if isinstance(annotation, dict) and isinstance(annotation.get("role"), str):
        return annotation["role"], {k: v for k, v in annotation.items() if k != "role"}
    return None, {}


def _walk(refs: _Refs, node: Any, at: Parts, pointer: tuple[str, ...], findings: list[LintFinding], depth: int = 0) -> Iterator[_Site]:
    node, at = refs.follow(node, at, findings)
    if not isinstance(node, dict) or depth > 32:
        return
    if "x-vision" in node:
        role, options = _role_of(node["x-vision"])
        if role is None:
            findings.append(LintFinding(json_path(at + ("x-vision",)), f"expected a role name or an object with 'role' and options, received {json.dumps(node['x-vision'])[:80]}."))
        else:
            yield _Site(role, options, at + ("x-vision",), pointer, node)
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(refs, child, at + ("properties", name), pointer + (name,), findings, depth + 1)
    if isinstance(node.get("items"), dict):
        yield from _walk(refs, node["items"], at + ("items",), pointer + ("*",), findings, depth + 1)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for i, child in enumerate(node.get(keyword) or []):
            yield from _walk(refs, child, at + (keyword, i), pointer, findings, depth + 1)


def _pointer(tokens: Sequence[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


def _node_types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str) and k != "null"}
    if "properties" in node:
        return {"object"}
    if "items" in node:
        return {"array"}
    return set()


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _site_findings(site: _Site) -> Iterator[LintFinding]:
    """Problems of one role annotation taken alone: its name, options, and the type of its node."""
    where = json_path(site.at)
    spec = ROLES.get(site.role)
    if spec is None:
        yield LintFinding(where, f"unknown role {site.role!r}; the roles are {', '.join(ROLES)}.{_did_you_mean(site.role, list(ROLES))}")
        return
    for option, value in site.options.items():
        if option not in spec.options:
            known = f"its options are {', '.join(spec.options)}" if spec.options else "it takes no options"
            yield LintFinding(where, f"unknown option {option!r} for the role {site.role!r}; {known}.{_did_you_mean(option, list(spec.options))}")
            continue
        allowed = spec.options[option]
        if allowed is not None and value not in allowed:
            yield LintFinding(where, f"the {site.role!r} option {option!r} must be one of {', '.join(json.dumps(a) for a in allowed)}, received {json.dumps(value)}.")
    types = _node_types(site.node)
    if types and not types & set(spec.types):
        yield LintFinding(where, f"the role {site.role!r} belongs on a node of type {' or '.join(spec.types)}, but this node is of type {' or '.join(sorted(types))}.")
    yield from _shape_findings(site, types, where)


def _shape_findings(site: _Site, types: set[str], where: str) -> Iterator[LintFinding]:
    """Role-specific shapes: a box's 4 keys, a polygon's points, a mask's encoding against its node."""
    options = {**DEFAULTS.get(site.role, {}), **site.options}
    if site.role == "box":
        keys = options.get("keys")
        if keys is None and "object" in types:
            yield LintFinding(where, "a box on an object needs 'keys': the 4 property names in the format's order (e.g. [\"x\", \"y\", \"width\", \"height\"] for xywh); without keys a box is an array of 4 numbers.")
        elif keys is not None and not (isinstance(keys, list) and len(keys) == 4 and all(isinstance(k, str) for k in keys)):
            yield LintFinding(where, f"a box's 'keys' must be 4 property names in the format's order, received {json.dumps(keys)}.")
        elif keys is not None:
            props = site.node.get("properties")
            missing = [k for k in keys if isinstance(props, dict) and k not in props]
            if missing:
                yield LintFinding(where, f"the box's keys name {', '.join(repr(k) for k in missing)}, which the box's properties lack.")
    elif site.role == "mask":
        want = _MASK_TYPES.get(options.get("encoding", ""))
        if want and types and want not in types:
            yield LintFinding(where, f"a mask encoded {options['encoding']!r} is a{'n object {size, counts}' if want == 'object' else ' string'}, but this node is of type {' or '.join(sorted(types))}.")
    elif site.role == "polygon":
        items = site.node.get("items")
        point_types = _node_types(items) if isinstance(items, dict) else set()
        want = "array" if options.get("point") == "pair" else "object"
        if point_types and want not in point_types:
            yield LintFinding(where, f"a polygon with point {options.get('point')!r} has points of type {want}, but its items are of type {' or '.join(sorted(point_types))}.")


# --- operations ------------------------------------------------------------------------------------------------

@dataclass
class _Operation:
    path: str
    method: str
    node: dict[str, Any]
    at: Parts

    @property
    def task(self) -> Any:
        annotation = self.node.get("x-vision")
        return annotation.get("task") if isinstance(annotation, dict) else None


def _operations(document: Mapping[str, Any], refs: _Refs, findings: list[LintFinding]) -> Iterator[_Operation]:
    paths = document.get("paths")
    if not isinstance(paths, dict):
        findings.append(LintFinding("$.paths", "expected an object of paths, received " + ("nothing" if paths is None else type(paths).__name__) + "."))
        return
    for template, item in paths.items():
        item, at = refs.follow(item, ("paths", template), findings)
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            node = item.get(method)
            if isinstance(node, dict) and "x-vision" in node:
                yield _Operation(template, method, node, at + (method,))


def _media(content: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in content.items() if isinstance(v, dict)} if isinstance(content, dict) else {}


def _form_of(media_type: str) -> tuple[str, str] | None:
    """(form name, encoding) for a request media type, None when packs do not read it."""
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json", "json"
    if media_type == "multipart/form-data":
        return "multipart", "multipart"
    if media_type.startswith("image/") or media_type == "application/octet-stream":
        return "raw", "raw"
    if media_type in ("application/x-www-form-urlencoded", "text/plain"):
        return "text", "text"
    return None


@dataclass
class _Compiler:
    """One document being linted and compiled; findings accumulate, indexes are built when there are none."""

    file: str
    document: dict[str, Any]
    findings: list[LintFinding] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.refs = _Refs(self.document)

    def note(self, parts: Parts, message: str) -> None:
        self.findings.append(LintFinding(json_path(parts), message))

    @property
    def provider(self) -> str:
        info = self.document.get("info")
        info = info if isinstance(info, dict) else {}
        named = info.get("x-vision-provider")
        if isinstance(named, str) and named:
            return named
        slug = re.sub(r"[^a-z0-9]+", "-", str(info.get("title", "")).lower()).strip("-")
        return slug or Path(self.file).stem

    def run(self) -> dict[str, dict[str, Any]]:
        version = self.document.get("openapi")
        if not (isinstance(version, str) and version.startswith("3.1")):
            self.note(("openapi",), f"expected an OpenAPI 3.1 document (openapi: \"3.1.0\"), received {json.dumps(version)}.")
        indexes: dict[str, dict[str, Any]] = {}
        operations = list(_operations(self.document, self.refs, self.findings))
        if not operations:
            self.note(("paths",), "expected at least one operation with x-vision: {task: ...}; the pack has none.")
        for op in operations:
            index = self.operation(op)
            if index is None:
                continue
            if index["operation"] in indexes:
                self.note(op.at + ("operationId",), f"the operationId {index['operation']!r} names two operations; each must be unique.")
            indexes[index["operation"]] = index
        return indexes

    # one operation --------------------------------------------------------------------------------------

    def operation(self, op: _Operation) -> dict[str, Any] | None:
        before = len(self.findings)
        annotation = op.node["x-vision"]
        task = op.task
        if not isinstance(annotation, dict) or task not in TASKS:
            self.note(op.at + ("x-vision", "task"), f"expected a task among {', '.join(TASKS)}, received {json.dumps(task)}.{_did_you_mean(str(task), TASKS)}")
        for key in (k for k in annotation if k not in ("task", "labels")) if isinstance(annotation, dict) else ():
            self.note(op.at + ("x-vision", key), f"unknown key {key!r} in the operation's x-vision; it takes task and labels.{_did_you_mean(key, ['task', 'labels'])}")
        labels = annotation.get("labels") if isinstance(annotation, dict) else None
        if labels is not None and not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
            self.note(op.at + ("x-vision", "labels"), f"expected labels as a list of strings, received {json.dumps(labels)[:80]}.")
        name = op.node.get("operationId")
        if not isinstance(name, str) or not name:
            self.note(op.at + ("operationId",), "expected an operationId naming the operation (the pack's contracts are found by it).")
        request = self.request(op)
        response = self.response(op)
        if len(self.findings) > before or request is None or response is None or not isinstance(name, str):
            return None
        provider = self.provider
        base = f"{PACK_ROOT}{provider}/{name}/"
        index: dict[str, Any] = {
            "provider": provider, "operation": name, "title": str(op.node.get("summary") or f"{provider} {name}"),
            "sources": [self.file], "method": op.method.upper(), "paths": [op.path], "hosts": self.hosts(op),
            "auth": self.auth(op), "base": base,
            "pack": {"file": self.file, "task": task, "labels": labels},
            **request, **response,
        }
        return index

    def hosts(self, op: _Operation) -> list[str]:
        servers = op.node.get("servers") or self.document.get("servers") or []
        out = []
        for server in servers if isinstance(servers, list) else []:
            url = server.get("url") if isinstance(server, dict) else None
            match = re.match(r"^[a-z]+://([^/:]+)", url or "")
            if match and match.group(1) not in out:
                out.append(match.group(1))
        return out

    def auth(self, op: _Operation) -> dict[str, Any] | None:
        requirements = op.node.get("security", self.document.get("security"))
        schemes = ((self.document.get("components") or {}).get("securitySchemes") or {})
        for requirement in requirements if isinstance(requirements, list) else []:
            for scheme_name in requirement if isinstance(requirement, dict) else {}:
                scheme, _ = self.refs.follow(schemes.get(scheme_name), ("components", "securitySchemes", scheme_name), self.findings)
                if not isinstance(scheme, dict):
                    continue
                responses = op.node.get("responses") or {}
                status = next((s for s in (401, 403) if str(s) in responses), 401)
                common = {"required": True, "failure_status": status, "failure_message": "Unauthorized" if status == 401 else "Forbidden"}
                if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                    return {"scheme": "bearer", "in": "header", "name": "authorization", **common}
                if scheme.get("type") == "apiKey" and scheme.get("in") in ("query", "header"):
                    where = scheme["in"]
                    return {"scheme": "api_key", "in": where, "name": str(scheme.get("name", "")).lower() if where == "header" else scheme.get("name", ""), **common}
        return None

    # the request --------------------------------------------------------------------------------------

    def parameters(self, op: _Operation) -> tuple[dict[str, dict[str, Any]], list[_Site]]:
        """The envelope's path/query/headers schemas from the declared parameters, and their role sites."""
        parts: dict[str, dict[str, Any]] = {p: {"type": "object", "properties": {}, "required": []} for p in ("path", "query", "headers")}
        sites: list[_Site] = []
        for i, raw in enumerate(op.node.get("parameters") or []):
            param, at = self.refs.follow(raw, op.at + ("parameters", i), self.findings)
            if not isinstance(param, dict) or param.get("in") not in ("path", "query", "header"):
                continue
            part = "headers" if param["in"] == "header" else str(param["in"])
            name = str(param.get("name", ""))
            name = name.lower() if part == "headers" else name
            schema = self.refs.inline(param.get("schema", {}))
            parts[part]["properties"][name] = schema
            if param.get("required") or part == "path":
                parts[part]["required"].append(name)
            for site_at, annotation in ((at, param.get("x-vision")), (at + ("schema",), schema.get("x-vision") if isinstance(schema, dict) else None)):
                role, options = _role_of(annotation)
                if annotation is not None:
                    sites.append(_Site(role or "", options, site_at + ("x-vision",), (part, name), schema if isinstance(schema, dict) else {}))
        return parts, sites

    def request(self, op: _Operation) -> dict[str, Any] | None:
        envelope_parts, param_sites = self.parameters(op)
        forms, bodies, body_sites, images = self.forms(op)
        sites = param_sites + body_sites
        for site in sites:
            self.findings.extend(_site_findings(site))
            spec = ROLES.get(site.role)
            if spec is not None and spec.where != "request":
                self.note(site.at, f"the role {site.role!r} belongs in the {'response' if spec.where == 'response' else 'items of the response'}, not in the request.")
        for site in (s for s in param_sites if s.role == "image"):
            self.note(site.at, "packs read the image from the request body (a JSON string, a multipart file or an image/* body), not from a parameter.")
        if not images:
            self.note(op.at, "the operation has no 'image' role: mark the request's image (a JSON string, a multipart file or an image/* body) with x-vision: image.")
            return None
        roles: dict[str, Any] = {"image": next(iter(images.values()))}
        parameters: dict[str, str] = {}
        for role in ("score-threshold", "max-results"):
            found = [s for s in sites if s.role == role]
            if found:
                roles[role] = {"pointer": _pointer(found[0].pointer), **({"scale": found[0].options.get("scale", 1)} if role == "score-threshold" else {})}
                parameters[role] = _pointer(found[0].pointer)
        schema = self.envelope([f["name"] for f in forms], envelope_parts, bodies)
        checks = [] if all(i["format"] == "uri" for i in images.values()) else ["request-image"]
        return {"forms": forms, "request_envelope": schema, "image": {n: i["pointer"] for n, i in images.items()},
                "image_forms": images, "parameters": parameters, "request_checks": checks, "request_roles": roles}

    def forms(self, op: _Operation) -> tuple[list[dict[str, Any]], dict[str, Any], list[_Site], dict[str, dict[str, Any]]]:
        """The wire forms of the request body (one per kind; media types of one kind share it), their envelope body
        schemas, the role sites in them and where each form carries the image."""
        body, body_at = self.refs.follow(op.node.get("requestBody"), op.at + ("requestBody",), self.findings)
        content = _media(body.get("content")) if isinstance(body, dict) else {}
        forms: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}
        sites: list[_Site] = []
        images: dict[str, dict[str, Any]] = {}
        for media_type, media in content.items():
            kind = _form_of(media_type)
            at = body_at + ("content", media_type)
            if kind is None:
                self.note(at, f"packs read request bodies of type application/json, multipart/form-data, image/*, application/octet-stream, text/plain or application/x-www-form-urlencoded (a bare base64 string); {media_type} is none of them.")
                continue
            name, encoding = kind
            existing = next((f for f in forms if f["name"] == name), None)
            if existing is not None:
                existing["content_types"].append(media_type)
                existing["media_types"].append(media_type)
                continue
            accepted = [media_type, "text/plain"] if name == "text" and media_type != "text/plain" else [media_type]  # a str given to validate_* is text/plain
            forms.append({"name": name, "encoding": encoding, "content_types": accepted, "media_types": [media_type],
                          "description": f"{media_type} body, from the pack", "body_schema": f"request.json#/$defs/body_{name}"})
            schema = media.get("schema", {})
            form_sites = list(_walk(self.refs, schema, at + ("schema",), ("body",), self.findings))
            sites.extend(form_sites)
            bodies[name] = self.body_schema(name, self.refs.inline(schema))
            image = self.image_site(name, form_sites, at)
            if image is not None:
                images[name] = image
        return forms, bodies, sites, images

    def image_site(self, form: str, sites: list[_Site], at: Parts) -> dict[str, Any] | None:
        if form == "raw":
            return {"form": "raw", "pointer": "/body", "format": "binary"}
        found = [s for s in sites if s.role == "image"]
        if not found:
            return None
        site = found[0]
        if "*" in site.pointer:
            self.note(site.at, "the image role must sit on one value of the body, not inside an array.")
        fmt = site.options.get("format") or ("binary" if site.node.get("format") == "binary" else "uri" if site.node.get("format") == "uri" else "base64")
        return {"form": form, "pointer": _pointer(site.pointer), "format": fmt}

    def body_schema(self, form: str, schema: Any) -> Any:
        """The schema of a form's body as the envelope carries it: binary parts and bodies are base64 strings."""
        if form == "raw":
            return {"type": "string", "contentEncoding": "base64", "description": "the image file's bytes (base64 in the envelope)"}
        if form == "multipart" and isinstance(schema, dict):
            schema = copy.deepcopy(schema)
            for prop in (schema.get("properties") or {}).values():
                if isinstance(prop, dict) and prop.get("format") == "binary":
                    prop.pop("format")
                    prop["contentEncoding"] = "base64"
        return schema

    def envelope(self, forms: list[str], parts: dict[str, dict[str, Any]], bodies: dict[str, Any]) -> dict[str, Any]:
        for part in parts.values():
            if not part["required"]:
                part.pop("required")
        return {
            "type": "object", "required": ["form", "body"] if forms else ["form"],
            "properties": {"form": {"enum": forms or ["none"]}, "path": {"$ref": "#/$defs/path"}, "query": {"$ref": "#/$defs/query"},
                           "headers": {"$ref": "#/$defs/headers"}, "body": True},
            "allOf": [{"if": {"properties": {"form": {"const": n}}}, "then": {"properties": {"body": {"$ref": f"#/$defs/body_{n}"}}}} for n in forms],
            "$defs": {**parts, **{f"body_{n}": s for n, s in bodies.items()}},
        }

    # the response -------------------------------------------------------------------------------------

    def response(self, op: _Operation) -> dict[str, Any] | None:
        responses = op.node.get("responses")
        if not isinstance(responses, dict):
            self.note(op.at + ("responses",), "expected the operation's responses, received none.")
            return None
        success = next((s for s in responses if s.isdigit() and 200 <= int(s) < 300), None)
        if success is None:
            self.note(op.at + ("responses",), "expected a 2xx response with a JSON body; the operation declares none.")
            return None
        node, at = self.refs.follow(responses[success], op.at + ("responses", success), self.findings)
        content = _media(node.get("content")) if isinstance(node, dict) else {}
        media_type = next((m for m in content if m == "application/json" or m.endswith("+json")), None)
        if media_type is None:
            self.note(at + ("content",), "expected the success response to have an application/json body.")
            return None
        schema = content[media_type].get("schema", {})
        sites = list(_walk(self.refs, schema, at + ("content", media_type, "schema"), (), self.findings))
        roles = self.response_roles(op, sites)
        errors = self.error_schemas(op, responses)
        return {
            "success": {"status": int(success), "content_type": media_type, "headers": []},
            "response_body": self.refs.inline(schema), "error_bodies": errors, "response_roles": roles,
        }

    def response_roles(self, op: _Operation, sites: list[_Site]) -> dict[str, Any]:
        for site in sites:
            self.findings.extend(_site_findings(site))
        known = [s for s in sites if s.role in ROLES]
        items = [s for s in known if s.role == "items"]
        for extra in items[1:]:
            self.note(extra.at, f"a response has one 'items' role; another one is at {json_path(items[0].at)}.")
        items_pointer = items[0].pointer if items else None
        item_roles: dict[str, Any] = {}
        top: dict[str, Any] = {}
        for site in known:
            spec = ROLES[site.role]
            if spec.where == "request":
                self.note(site.at, f"the role {site.role!r} belongs in the request, not in the response.")
            elif spec.where == "item":
                self.item_role(site, items_pointer, item_roles)
            elif site.role != "items":
                if "*" in site.pointer:
                    self.note(site.at, f"the role {site.role!r} must sit on one value of the answer, not inside an array.")
                top[site.role] = {"pointer": _pointer(site.pointer), **DEFAULTS.get(site.role, {}), **site.options}
        if item_roles and items_pointer is None:
            first = next(s for s in known if ROLES[s.role].where == "item")
            self.note(first.at, f"the item role {first.role!r} needs an 'items' role on the array that holds the items; the answer has none.")
        if not item_roles and "class-map-mask" not in top and items_pointer is None:
            self.note(op.at + ("responses",), "the success response has no roles: mark the array of results with x-vision: items (and its fields with label, score, box, polygon or mask), or a class-map-mask.")
        return {"items": None if items_pointer is None else _pointer(items_pointer), "item": item_roles, **top}

    def item_role(self, site: _Site, items: tuple[str, ...] | None, out: dict[str, Any]) -> None:
        if items is None:
            out[site.role] = {"path": "", **site.options}
            return
        prefix = (*items, "*")
        if site.pointer[: len(prefix)] != prefix:
            self.note(site.at, f"the item role {site.role!r} must sit inside the elements of the items array at {_pointer(items) or '(the body)'}.")
            return
        if site.role in out:
            self.note(site.at, f"one item has one {site.role!r} role; this is a second one.")
            return
        out[site.role] = {"path": _pointer(site.pointer[len(prefix):]), **DEFAULTS.get(site.role, {}), **site.options}

    def error_schemas(self, op: _Operation, responses: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for status, raw in responses.items():
            if not (status.isdigit() and 400 <= int(status) < 600):
                continue
            node, _ = self.refs.follow(raw, op.at + ("responses", status), self.findings)
            content = _media(node.get("content")) if isinstance(node, dict) else {}
            media = next((m for m in content.values()), None)
            out[status] = self.refs.inline(media.get("schema", True)) if media else True
        return out


# --- compiling -------------------------------------------------------------------------------------------------

_RESPONSE_CHECKS: tuple[tuple[str, str | None, Mapping[str, Any] | None], ...] = (
    # (check, the role it needs, options that role must have)
    ("mask-image", "mask", {"encoding": "png-base64"}),
    ("mask-binary", "mask", {"encoding": "png-base64"}),
    ("role-box-order", "box", None),
    ("role-box-inside-image", "box", None),
    ("role-polygon-inside-image", "polygon", None),
    ("role-rle-counts", "mask", None),
    ("role-mask-size", "mask", None),
    ("role-class-map-size", "class-map-mask", None),
    ("role-class-map-values", "class-names", None),
    ("role-score-range", "score", None),
    ("role-score-threshold", "score", None),
    ("role-image-size-echo", None, None),
    ("role-max-results", None, None),
)


def _checks_for(response: Mapping[str, Any], request: Mapping[str, Any]) -> list[str]:
    present = {**response.get("item", {}), **{k: v for k, v in response.items() if isinstance(v, dict) and k != "item"}}
    out = []
    for check, role, needs in _RESPONSE_CHECKS:
        if check == "role-image-size-echo":
            wanted = "image-width" in present or "image-height" in present
        elif check == "role-max-results":
            wanted = "max-results" in request and response.get("items") is not None
        elif check == "role-score-threshold":
            wanted = "score-threshold" in request and role in present
        elif check == "role-rle-counts":
            wanted = role in present and present[role].get("encoding") in ("rle", "rle-compressed")
        elif check == "role-class-map-values":
            wanted = "class-names" in present and "class-map-mask" in present
        else:
            wanted = role in present and all(present[role].get(k) == v for k, v in (needs or {}).items())
        if wanted:
            out.append(check)
    return out


def _finish(index: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a compiled operation into its index and its schemas (with their ``$id``)."""
    base = index["base"]
    envelope, body, errors = index.pop("request_envelope"), index.pop("response_body"), index.pop("error_bodies")
    request_roles, response_roles = index.pop("request_roles"), index.pop("response_roles")
    index.pop("image_forms")
    dialect = "https://json-schema.org/draft/2020-12/schema"
    response_schema = body if isinstance(body, dict) else {"allOf": [body]}
    schemas = {
        f"{base}request.json": {"$schema": dialect, "$id": f"{base}request.json", **envelope},
        f"{base}response.json": {**response_schema, "$schema": dialect, "$id": f"{base}response.json"},
        f"{base}errors.json": {"$schema": dialect, "$id": f"{base}errors.json", "$defs": {f"status-{s}": v for s, v in errors.items()}},
    }
    item = response_roles.get("item", {})
    locations = {}
    if response_roles.get("items") is not None:
        for role, location in (("mask", "masks"), ("score", "scores")):
            if role in item and item[role].get("encoding", "png-base64") == "png-base64":  # the built-in checks read PNG masks
                locations[location] = f"{response_roles['items']}/*{item[role]['path']}"
    index.update({
        "request_schema": "request.json", "response_schema": "response.json",
        "errors": {s: f"errors.json#/$defs/status-{s}" for s in errors},
        "locations": locations, "checks": _checks_for(response_roles, request_roles),
        "roles": {"request": request_roles, "response": response_roles},
    })
    return index, schemas


def lint_document(file: str, document: dict[str, Any]) -> list[LintFinding]:
    """Every problem of a pack document, each a sentence with its JSON path (empty: the pack is clean)."""
    compiler = _Compiler(file, document)
    compiler.run()
    return list(dict.fromkeys(compiler.findings))


def compile_document(file: str, document: dict[str, Any]) -> CompiledPack:
    """The pack's operation indexes and schemas; PackError (the first finding, with a count of the others) when the
    document has lint findings."""
    compiler = _Compiler(file, document)
    compiled = compiler.run()
    findings = list(dict.fromkeys(compiler.findings))
    if findings:
        more = f" ({len(findings) - 1} more: run `vision-contracts pack lint {file}`)" if len(findings) > 1 else ""
        raise PackError(file, findings[0].path, findings[0].message + more)
    indexes: dict[str, dict[str, Any]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for name, raw in compiled.items():
        index, own = _finish(raw)
        indexes[name] = index
        schemas.update(own)
    return CompiledPack(file, compiler.provider, indexes, schemas)


def read_pack(path: str | Path) -> CompiledPack:
    """Read and compile a pack file (JSON or YAML); PackError naming the file and JSON path when it is bad."""
    file, document = read_document(path)
    return compile_document(file, document)


def lint_file(path: str | Path) -> list[LintFinding]:
    """The lint findings of a pack file; PackError when it cannot be read at all."""
    file, document = read_document(path)
    return lint_document(file, document)

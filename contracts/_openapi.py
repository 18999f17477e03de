"""An OpenAPI 3.1 document per provider, built from the contracts alone.

Model ids contain a slash (``facebook/detr-resnet-50``), which no OpenAPI path parameter may hold; the Hugging Face
paths are therefore documented as ``/models/{namespace}/{name}``, which Prism and Schemathesis both route, and the
namespace-less form ``/models/{name}`` beside it. Hugging Face serves segmentation and detection on the same path
(the model decides), so one operation carries both request parameter sets and both response shapes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin

from ._contract import Catalog, Contract

__all__ = ["build"]

OPENAPI_VERSION = "3.1.0"
_ANNOTATIONS = ("$id", "$schema")


class _Bundler:
    """Copies referenced schema parts into components/schemas and rewrites every $ref to point there."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.components: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def ref(self, uri: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{self._component(uri)}"}

    def _component(self, uri: str) -> str:
        if uri in self.names:
            return self.names[uri]
        doc_uri, _, fragment = uri.partition("#")
        name = re.sub(r"[^A-Za-z0-9_]+", "_", doc_uri.rsplit("/schemas/", 1)[-1].removesuffix(".json") + ("_" + fragment.rsplit("/", 1)[-1] if fragment else "")).strip("_")
        self.names[uri] = name
        node = self.catalog.schemas[doc_uri]
        for token in [t for t in fragment.split("/") if t]:
            node = node[token]
        self.components[name] = self._rewrite(node, doc_uri)
        return name

    def _rewrite(self, node: Any, base: str) -> Any:
        if isinstance(node, list):
            return [self._rewrite(n, base) for n in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key in _ANNOTATIONS or key == "$defs":
                continue
            if key == "$ref":
                target = urljoin(base, value)
                if target.startswith("#"):
                    target = base + target
                out.update(self.ref(target))
            else:
                out[key] = self._rewrite(value, base)
        return out

    def inline(self, node: Any, base: str) -> Any:
        return self._rewrite(copy.deepcopy(node), base)


def _part_schema(contract: Contract, bundler: _Bundler, part: str) -> dict[str, Any]:
    """The request schema's schema for one envelope part (path, query, headers), with $refs bundled."""
    schema, uri = contract.request_part(part)
    inlined: dict[str, Any] = bundler.inline(schema, uri.partition("#")[0])
    return inlined


def _parameters(contract: Contract, bundler: _Bundler, where: str, part: str, skip: Iterable[str] = ()) -> list[dict[str, Any]]:
    schema = _part_schema(contract, bundler, part)
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": where, "required": where == "path" or name in required, "schema": sub,
         **({"description": sub["description"]} if "description" in sub else {})}
        for name, sub in schema.get("properties", {}).items() if name not in skip
    ]


def _request_body(contract: Contract, bundler: _Bundler) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    optional = False
    for form in contract.index["forms"]:
        if "body_schema" not in form:
            optional = True
            continue
        ref = bundler.ref(contract.uri(form["body_schema"]))
        for media in form["media_types"]:
            if form["encoding"] in ("raw",):
                content[media] = {"schema": {"type": "string", "contentMediaType": media if media.startswith("image/") else "image/*", "description": form["description"]}}
            elif form["encoding"] == "multipart":
                content[media] = {"schema": ref, "encoding": {"file": {"contentType": "image/jpeg, image/png, application/octet-stream"}}}
            else:
                content[media] = {"schema": ref}
    if not content:
        return None
    return {"required": not optional, "content": content}


def _responses(contract: Contract, bundler: _Bundler) -> dict[str, Any]:
    success = contract.index["success"]
    out: dict[str, Any] = {
        str(success["status"]): {
            "description": contract.response_schema.get("description", "Success"),
            "headers": {h: {"schema": {"type": "string"}} for h in success.get("headers", [])},
            "content": {success["content_type"]: {"schema": bundler.ref(contract.uri(contract.index["response_schema"]))}},
        }
    }
    for status, ref in contract.index["errors"].items():
        out[status] = {"description": f"Error {status}", "content": {"application/json": {"schema": bundler.ref(contract.uri(ref))}}}
    return out


def _security(contract: Contract) -> tuple[list[dict[str, list[str]]], dict[str, Any]]:
    auth = contract.index["auth"]
    if auth is None:  # a contract pack that declares no security scheme
        return [{}], {}
    if auth["scheme"] == "bearer":
        scheme_name, scheme = "bearer", {"type": "http", "scheme": "bearer"}
    else:
        scheme_name, scheme = auth["name"], {"type": "apiKey", "in": auth["in"], "name": auth["name"]}
    requirement: list[dict[str, list[str]]] = [{scheme_name: []}] if auth["required"] else [{}, {scheme_name: []}]
    return requirement, {scheme_name: scheme}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two operations on one path (HF segmentation and detection): union of bodies, parameters and responses."""
    merged = copy.deepcopy(a)
    merged["operationId"] = a["operationId"].rsplit("_", 1)[0] + "_inference"
    merged["summary"] = "Image segmentation or object detection, depending on the model's task"
    for media, item in b.get("requestBody", {}).get("content", {}).items():
        mine = merged["requestBody"]["content"].setdefault(media, item)
        if mine is not item and mine["schema"] != item["schema"]:
            mine["schema"] = {"anyOf": [mine["schema"], item["schema"]]}
    for status, item in b["responses"].items():
        mine = merged["responses"].setdefault(status, item)
        if mine is not item:
            for media, c in item.get("content", {}).items():
                have = mine["content"][media]["schema"]
                if have != c["schema"]:
                    mine["content"][media]["schema"] = {"anyOf": [have, c["schema"]]}
            mine["headers"] = {**mine.get("headers", {}), **item.get("headers", {})}
    return merged


def _paths_for(template: str) -> list[tuple[str, list[str]]]:
    """OpenAPI path templates for a contract path; {model_id} is split at its slash."""
    if "{model_id}" not in template:
        return [(template, [])]
    return [
        (template.replace("{model_id}", "{namespace}/{name}"), ["namespace", "name"]),
        (template.replace("{model_id}", "{name}"), ["name"]),
    ]


def _model_parameters(names: list[str], models: list[str] | None) -> list[dict[str, Any]]:
    pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    params = []
    for i, name in enumerate(names):
        schema: dict[str, Any] = {"type": "string", "pattern": pattern, "maxLength": 96}
        if models is not None:
            values = sorted({m.split("/")[i] if len(names) == 2 else m for m in models if (m.count("/") == 1) == (len(names) == 2)})
            if values:
                schema = {"type": "string", "enum": values}
        params.append({"name": name, "in": "path", "required": True, "schema": schema,
                       "description": "The model id's namespace (before the slash)." if name == "namespace" else "The model id's name (after the slash, or the whole id)."})
    return params


def operation_object(contract: Contract, bundler: _Bundler, models: list[str] | None = None) -> dict[str, Any]:
    security, _ = _security(contract)
    params = _parameters(contract, bundler, "query", "query") + _parameters(contract, bundler, "header", "headers", skip=("authorization",))
    if "{model_id}" not in contract.index["paths"][0]:
        params = _parameters(contract, bundler, "path", "path") + params
    op: dict[str, Any] = {
        "operationId": f"{contract.provider}_{contract.operation.replace('-', '_')}",
        "summary": contract.index["title"],
        "description": "Sources: " + "; ".join(contract.index["sources"]) + ".",
        "tags": [contract.provider],
        "parameters": params,
        "security": security,
        "responses": _responses(contract, bundler),
    }
    body = _request_body(contract, bundler)
    if body:
        op["requestBody"] = body
    return op


def build(
    providers: Iterable[str] | None = None,
    *,
    operations: Iterable[str] | None = None,
    catalog: Catalog | None = None,
    server_url: str = "http://127.0.0.1:8000",
    models: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the given providers (all by default), optionally only some operations.

    ``models`` maps a provider to the model ids a server knows; the model path parameters then become enums.
    """
    if catalog is None:
        from . import catalog as default_catalog

        catalog = default_catalog()
    wanted = set(providers) if providers is not None else {p for p, _ in catalog.operations}
    unknown = wanted - {p for p, _ in catalog.operations}
    if unknown:
        raise ValueError(f"Unknown providers {sorted(unknown)}; known providers are {sorted({p for p, _ in catalog.operations})}.")
    bundler = _Bundler(catalog)
    paths: dict[str, Any] = {}
    schemes: dict[str, Any] = {}
    for provider, operation in catalog.operations:
        if provider not in wanted or (operations is not None and operation not in operations):
            continue
        contract = catalog.get(provider, operation)
        _, scheme = _security(contract)
        schemes.update(scheme)
        op = operation_object(contract, bundler, (models or {}).get(provider))
        for template in contract.index["paths"]:
            for path, model_params in _paths_for(template):
                this = copy.deepcopy(op)
                if model_params:
                    this["parameters"] = _model_parameters(model_params, (models or {}).get(provider)) + this["parameters"]
                    this["operationId"] += "__" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
                item = paths.setdefault(path, {})
                method = contract.index["method"].lower()  # packs may use PUT and others
                item[method] = _merge(item[method], this) if method in item else this
    if not paths:
        raise ValueError("No operation matched the providers and operations asked for.")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "vision-contracts: " + ", ".join(sorted(wanted)),
            "version": "1.0.0",
            "description": "Built from the vision-contracts JSON Schema contracts; the semantic checks (mask sizes, boxes inside the image, thresholds) are not expressible here and run in contracts.validate_response.",
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": dict(sorted(bundler.components.items())), "securitySchemes": schemes},
    }

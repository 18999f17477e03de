"""Pure, deterministic answers for contract-pack operations, written by the roles of the pack's schemas.

A pack's compiled operation index says where each role sits (``index["roles"]``, see ``contracts.load_pack``):
where the items are in the success body and, inside one item, where its label, score, box, polygon or mask go
and in which units and encodings. ``role_answer`` finds the image's objects with the same region analysis as the
built-in operations (``_generate.analyze``: every clearly separated region of at least 5% of the image that is not
the background; regions under 2% are ignored), and writes each one at its roles:

- ``box``: the region's bounding box, continuous pixel edges ``[x0, x1)``, in the role's ``format``
  (``xyxy``, ``xywh``, ``cxcywh``) and ``units`` (``pixels``, ``normalized``), as the 4 ``keys`` or an array;
- ``polygon``: the region's outline traced on the work grid (the right ends of its rows downwards, then the left
  ends upwards), in pixels or normalised, as ``[x, y]`` pairs or ``{x, y}`` objects;
- ``mask``: the region at the input's size, as a 0/255 PNG (base64, ``_png``'s upsampling encoder) or COCO RLE
  (column-major; plain counts or COCO's compressed string, ``contracts.geometry.mask_to_json``);
- ``label`` from the pack's ``labels`` (else the family vocabulary's default), ``label-id`` its index there,
  ``score`` from the region's salience in the role's ``scale``, ``id`` a stable id of the schema's type;
- response roles: ``class-map-mask`` (class ids per pixel) with ``class-names``, ``image-width``/``image-height``.

Required properties that carry no role get a value made from their schema (``fill``), so an answer validates
against the pack's schema. The request's ``score-threshold`` (in its scale) and ``max-results`` are honoured.
``image-classification`` answers classes with scores: the image's colour classes, most salient first.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from vision_contracts.contracts import DEFAULT_MAX_PIXELS, geometry

from ._generate import STUFF, THINGS, Regions, _hash, _label, _score, analyze
from ._png import encode_upsampled

__all__ = ["Resolve", "fill", "local_resolver", "put", "role_answer", "schema_at"]

MIN_SHARE = 0.02  # regions under this share are ignored: objects of 5% and more are found with a margin for blurred edges
MAX_ITEMS = 100
MAX_POLYGON_POINTS = 64

Resolve = Callable[[str, str], tuple[Any, str]]
"""Follows a ``$ref`` (the reference, the URI of the document it sits in) to ``(schema, its URI)``."""


def local_resolver(root: Any) -> Resolve:
    """A ``Resolve`` for a self-contained schema: only ``#/...`` references, into ``root``."""

    def resolve(ref: str, uri: str) -> tuple[Any, str]:
        node = root
        for token in _tokens(ref.partition("#")[2]):
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node, uri

    return resolve


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]] if pointer else []


# --- schema-made values -----------------------------------------------------------------------------------------

def _follow(schema: Any, uri: str, resolve: Resolve) -> tuple[Any, str]:
    for _ in range(32):
        if not (isinstance(schema, dict) and "$ref" in schema):
            break
        target, uri = resolve(schema["$ref"], uri)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest} if rest and isinstance(target, dict) else target
    return schema, uri


def _first_type(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or kind
        return str(kinds[0]) if kinds else None
    return str(kind) if kind is not None else None


def _number(schema: Mapping[str, Any], integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value: float = float(low) if low is not None else (float(high) if high is not None and high < 0 else 0.0)
    if "exclusiveMinimum" in schema and "minimum" not in schema:
        value += 1 if integer else (min(1.0, (float(high) - value) / 2) if high is not None else 1.0)
    return int(value) if integer else value


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.invalid/", "email": "mock@example.invalid",
}


def fill(schema: Any, uri: str, resolve: Resolve, depth: int = 0) -> Any:
    """A small value that the schema accepts: ``const``, an ``enum``'s first, a ``default`` or an example, else by
    type (objects with their required properties, arrays of ``minItems`` items, numbers at their lower bound)."""
    schema, uri = _follow(schema, uri, resolve)
    if not isinstance(schema, dict) or depth > 16:
        return None
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("examples"):
        return schema["examples"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return fill(schema[key][0], uri, resolve, depth + 1)
    if schema.get("allOf"):
        merged: Any = None
        for part in schema["allOf"]:
            value = fill(part, uri, resolve, depth + 1)
            merged = {**merged, **value} if isinstance(merged, dict) and isinstance(value, dict) else (value if merged is None else merged)
        if "type" not in schema:
            return merged
    kind = _first_type(schema) or ("object" if "properties" in schema else None)
    if kind == "object":
        props = schema.get("properties", {})
        return {name: fill(props.get(name, {}), uri, resolve, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return [fill(schema.get("items", {}), uri, resolve, depth + 1) for _ in range(int(schema.get("minItems", 0)))]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "string":
        text = _FORMATS.get(str(schema.get("format")), "mock")
        return text.ljust(int(schema.get("minLength", 0)), "x")
    if kind == "boolean":
        return False
    return None


def schema_at(schema: Any, uri: str, resolve: Resolve, pointer: str) -> tuple[Any, str]:
    """The subschema that describes the value at ``pointer`` of a document ``schema`` describes."""
    schema, uri = _follow(schema, uri, resolve)
    for token in _tokens(pointer):
        if not isinstance(schema, dict):
            return {}, uri
        for key in ("allOf", "anyOf", "oneOf"):
            for part in schema.get(key, []):
                found, found_uri = _follow(part, uri, resolve)
                if isinstance(found, dict) and (token in found.get("properties", {}) or "items" in found):
                    schema, uri = found, found_uri
                    break
        nxt = schema.get("items", {}) if token.isdigit() and "items" in schema else schema.get("properties", {}).get(token, {})
        schema, uri = _follow(nxt, uri, resolve)
    return schema, uri


def put(document: Any, pointer: str, value: Any) -> Any:
    """``document`` with ``value`` at ``pointer`` (objects made on the way); ``""`` replaces the document."""
    tokens = _tokens(pointer)
    if not tokens:
        return value
    node = document
    for token in tokens[:-1]:
        if isinstance(node, list):
            node = node[int(token)]
            continue
        if not isinstance(node.get(token), (dict, list)):
            node[token] = {}
        node = node[token]
    if isinstance(node, list):
        node[int(tokens[-1])] = value
    else:
        node[tokens[-1]] = value
    return document


# --- regions -> objects -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Object:
    key: Any  # stable identity for the score hash
    region: NDArray[Any]  # (wh, ww) bool on the work grid
    colour: NDArray[Any]
    salience: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 inclusive, on the work grid


def _objects(r: Regions, task: str) -> list[_Object]:
    """The regions an answer reports: colour classes for semantic segmentation and classification, else the
    components of at least ``MIN_SHARE`` of the image that are not the background, largest first."""
    if task in ("semantic-segmentation", "image-classification"):
        salience = r.class_salience()
        out = []
        for c in range(len(r.counts)):
            region = r.classes == c
            ys, xs = np.nonzero(region)
            out.append(_Object(("class", c), region, r.colours[c], float(salience[c]),
                               (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))))
        return out
    salience = r.component_salience()
    least = MIN_SHARE * r.pixels
    out = []
    for comp in np.argsort(-r.component_counts, kind="stable").tolist():
        c = int(r.component_class[comp])
        if c == r.background or r.component_counts[comp] < least:
            continue
        box = tuple(int(v) for v in r.component_boxes[comp])
        out.append(_Object(("component", comp, c), r.components == comp, r.colours[c], float(salience[comp]),
                           (box[0], box[1], box[2], box[3])))
    return out


def _pixel_box(r: Regions, box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """A work-grid box (inclusive cells) as continuous input pixel edges ``x0, y0, x1, y1`` (x1, y1 exclusive)."""
    (w, h), (ww, wh) = r.size, r.work_size
    return (box[0] * w / ww, box[1] * h / wh, (box[2] + 1) * w / ww, (box[3] + 1) * h / wh)


def _outline(region: NDArray[Any]) -> list[tuple[int, int]]:
    """Corner points (work grid) of the region's rows: right ends downwards, then left ends upwards."""
    rows = np.flatnonzero(region.any(axis=1))
    step = max(1, -(-rows.size // (MAX_POLYGON_POINTS // 4)))
    rows = np.unique(np.append(rows[::step], rows[-1]))
    right: list[tuple[int, int]] = []
    left: list[tuple[int, int]] = []
    for y in rows.tolist():
        xs = np.flatnonzero(region[y])
        right += [(int(xs[-1]) + 1, y), (int(xs[-1]) + 1, y + 1)]
        left += [(int(xs[0]), y), (int(xs[0]), y + 1)]
    return right + left[::-1]


def _full_mask(region: NDArray[Any], size: tuple[int, int]) -> NDArray[Any]:
    """The work-grid region at the input's size (NEAREST, as the PNG masks are), bool (h, w)."""
    im = Image.fromarray(region.astype(np.uint8) * np.uint8(255), "L").resize(size, Image.Resampling.NEAREST)
    return np.asarray(im) > 0


# --- writing roles ------------------------------------------------------------------------------------------

def _scale(options: Mapping[str, Any]) -> float:
    return float(options.get("scale", 1) or 1)


def _round(value: float) -> float:
    return round(float(value), 4)


def _box_value(box: tuple[float, float, float, float], options: Mapping[str, Any], size: tuple[int, int]) -> Any:
    """A pixel ``xyxy`` box as the role writes it (``contracts.geometry.box_to_json``), rounded; normalised values
    kept within [0, 1]."""
    normal = options.get("units") == "normalized"

    def tidy(v: float) -> float:
        return min(1.0, max(0.0, _round(v))) if normal else _round(v)

    value = geometry.box_to_json(box, options, size[0], size[1])
    return {k: tidy(v) for k, v in value.items()} if isinstance(value, dict) else [tidy(v) for v in value]


def _polygon_value(r: Regions, region: NDArray[Any], options: Mapping[str, Any]) -> list[Any]:
    (w, h), (ww, wh) = r.size, r.work_size
    points = [(x * w / ww, y * h / wh) for x, y in _outline(region)]
    written = geometry.points_to_json(points, str(options.get("point", "pair")), str(options.get("units", "pixels")), w, h)
    return [{k: _round(v) for k, v in p.items()} if isinstance(p, dict) else [_round(v) for v in p] for p in written]


def _mask_value(r: Regions, region: NDArray[Any], options: Mapping[str, Any]) -> Any:
    encoding = options.get("encoding", "png-base64")
    if encoding == "png-base64":
        return base64.b64encode(encode_upsampled(region.astype(np.uint8) * np.uint8(255), r.size)).decode("ascii")
    return geometry.mask_to_json(_full_mask(region, r.size), str(encoding))


def _id_value(schema: Mapping[str, Any], seed: int, n: int, key: Any) -> Any:
    if _first_type(schema) in ("integer", "number"):
        return n
    return str(uuid.UUID(int=_hash(seed, "id", key) << 64 | _hash(seed, "id2", key), version=4))


@dataclass(frozen=True)
class _Facts:
    regions: Regions
    labels: Sequence[str]
    seed: int
    item_schema: Any
    item_uri: str
    resolve: Resolve


def _item(facts: _Facts, n: int, obj: _Object, label: str, score: float, roles: Mapping[str, Mapping[str, Any]]) -> Any:
    r = facts.regions
    item = fill(facts.item_schema, facts.item_uri, facts.resolve)
    for role, options in roles.items():
        path = str(options.get("path", ""))
        if role == "label":
            value: Any = label
        elif role == "label-id":
            value = list(facts.labels).index(label) if label in facts.labels else n
        elif role == "score":
            value = round(score * _scale(options), 6)
        elif role == "id":
            value = _id_value(schema_at(facts.item_schema, facts.item_uri, facts.resolve, path)[0], facts.seed, n, obj.key)
        elif role == "box":
            value = _box_value(_pixel_box(r, obj.box), options, r.size)
            if isinstance(value, dict):  # keyed: merged into the object at the path (the item itself for "")
                for k, v in value.items():
                    item = put(item, f"{path}/{k}", v)
                continue
        elif role == "polygon":
            value = _polygon_value(r, obj.region, options)
        elif role == "mask":
            value = _mask_value(r, obj.region, options)
        else:
            continue
        item = put(item, path, value)
    return item


def _pointer_value(params: Mapping[str, Any], role: str, spec: Mapping[str, Any] | None) -> Any:
    """A request parameter by its role name, else by the last token of its pointer (the index's parameter name)."""
    if spec is None:
        return None
    if role in params:
        return params[role]
    tokens = _tokens(str(spec.get("pointer", "")))
    return params.get(tokens[-1]) if tokens else None


def _class_map(r: Regions, labels: Sequence[str], seed: int) -> tuple[str, dict[str, str]]:
    """A PNG (base64) of class ids (0: the background, 1.. the other colour classes) and the names of the ids."""
    grid = np.zeros(r.classes.shape, dtype=np.uint8)
    names = {"0": "background"}
    taken = {"background"}
    others = [c for c in range(len(r.counts)) if c != r.background]
    for class_id, c in enumerate(others, start=1):
        grid[r.classes == c] = class_id
        names[str(class_id)] = _label(seed, labels, r.colours[c], taken)
    return base64.b64encode(encode_upsampled(grid, r.size)).decode("ascii"), names


def role_answer(
    data: bytes, index: Mapping[str, Any], params: Mapping[str, Any], *, schema: Any, uri: str, resolve: Resolve,
    seed: int = 0, work: int = 128, colours: int = 6, max_pixels: int = DEFAULT_MAX_PIXELS,
    vocabulary: Sequence[str] | None = None,
) -> Any:
    """The success body of a pack operation for this image: ``schema`` is its response schema (found at ``uri``),
    ``index`` its compiled operation index (``pack`` and ``roles``), ``params`` the request's parameters (by role
    name, ``score-threshold`` and ``max-results``, or by their index names)."""
    pack, roles = index.get("pack", {}), index.get("roles", {})
    task = str(pack.get("task", "object-detection"))
    labels = list(pack.get("labels") or vocabulary or (STUFF + THINGS if task == "semantic-segmentation" else THINGS))
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    response, request = roles.get("response", {}), roles.get("request", {})
    body = fill(schema, uri, resolve)
    items_at = response.get("items")
    if items_at is not None:
        body = put(body, items_at, _items(r, task, labels, params, request, response, seed, (schema, uri, resolve)))
    if "class-map-mask" in response:
        png, names = _class_map(r, labels, seed)
        body = put(body, response["class-map-mask"]["pointer"], png)
        if "class-names" in response:
            body = put(body, response["class-names"]["pointer"], names)
    for role, value in (("image-width", r.size[0]), ("image-height", r.size[1])):
        if role in response:
            body = put(body, response[role]["pointer"], value)
    return body


def _items(
    r: Regions, task: str, labels: Sequence[str], params: Mapping[str, Any], request: Mapping[str, Any],
    response: Mapping[str, Any], seed: int, where: tuple[Any, str, Resolve],
) -> list[Any]:
    schema, uri, resolve = where
    items_schema, items_uri = schema_at(schema, uri, resolve, response["items"])
    item_schema, item_uri = _follow(items_schema.get("items", {}) if isinstance(items_schema, dict) else {}, items_uri, resolve)
    facts = _Facts(r, labels, seed, item_schema, item_uri, resolve)
    item_roles: Mapping[str, Mapping[str, Any]] = response.get("item", {})
    threshold = _pointer_value(params, "score-threshold", request.get("score-threshold"))
    low = float(threshold) / _scale(request["score-threshold"]) if threshold is not None else None
    limit = _pointer_value(params, "max-results", request.get("max-results"))
    cap = min(MAX_ITEMS, int(limit)) if limit is not None else MAX_ITEMS
    scored = [(obj, _score(seed, ("pack", obj.key), obj.salience, 0.5, 1.0)) for obj in _objects(r, task)]
    if task == "image-classification":
        scored.sort(key=lambda pair: -pair[1])
    out: list[Any] = []
    taken: set[str] = set()
    for n, (obj, score) in enumerate(scored):
        if low is not None and score < low:
            continue
        if len(out) >= cap:
            break
        label = _label(seed, labels, obj.colour, taken if task in ("semantic-segmentation", "image-classification") else set())
        out.append(_item(facts, n, obj, label, score, item_roles))
    return out


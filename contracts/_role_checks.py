"""Checks by role, for contract packs: they read where boxes, polygons, masks and scores sit, and in which
convention, from the operation's roles (``ctx.roles``, compiled from the pack's ``x-vision`` annotations), convert
them with :mod:`._geometry`, and judge them as the built-in checks judge the built-in operations' answers.

Same signature and dispatcher as :mod:`._checks`; their own read-only registry, :data:`ROLE_CHECKS`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from ._checks import SINGLE_CHANNEL_MODES, Check, CheckContext, Finding, _number, _present_values
from ._geometry import GeometryError, box_to_xyxy, points_from_json, rle_counts_from_string
from ._images import ImageError
from ._model import Skip, brief
from ._paths import find, resolve

__all__ = ["ROLE_CHECKS"]

Parts = tuple[str | int, ...]
EPSILON = 1e-6  # rounding slack for converted coordinates and scaled scores


def _response_roles(ctx: CheckContext) -> Mapping[str, Any]:
    roles: Mapping[str, Any] = ctx.roles.get("response", {})
    return roles


def _items(ctx: CheckContext) -> Iterator[tuple[Parts, Any]]:
    pointer = _response_roles(ctx).get("items")
    if pointer is None:
        return
    for parts, items in find(ctx.body, pointer):
        if isinstance(items, list):
            for i, item in enumerate(items):
                yield (*parts, i), item


def _values(ctx: CheckContext, role: str) -> Iterator[tuple[Parts, Any, Mapping[str, Any]]]:
    """Every value of an item role, with its path from the body's root and the role's options."""
    spec = _response_roles(ctx).get("item", {}).get(role)
    if spec is None:
        return
    for parts, item in _items(ctx):
        for sub, value in find(item, spec["path"]):
            yield (*parts, *sub), value, spec


def _top(ctx: CheckContext, role: str) -> tuple[Parts, Any, Mapping[str, Any]] | None:
    spec = _response_roles(ctx).get(role)
    if spec is None:
        return None
    for parts, value in find(ctx.body, spec["pointer"]):
        return tuple(parts), value, spec
    return None


def _image_size(ctx: CheckContext) -> tuple[int, int, str] | None:
    """The image's width and height, and where they come from: the request image, else the size the answer echoes."""
    if ctx.image is not None:
        return ctx.image.width, ctx.image.height, "the request image"
    width, height = _top(ctx, "image-width"), _top(ctx, "image-height")
    if width and height and _number(width[1]) and _number(height[1]) and width[1] > 0 and height[1] > 0:
        return int(width[1]), int(height[1]), "the size the answer gives"
    return None


def _box_numbers(value: Any, spec: Mapping[str, Any]) -> list[float] | None:
    keys = spec.get("keys")
    numbers = [value.get(k) for k in keys] if keys and isinstance(value, dict) else value
    if isinstance(numbers, list) and len(numbers) == 4 and all(_number(v) for v in numbers):
        return [float(v) for v in numbers]
    return None


def _component(spec: Mapping[str, Any], i: int) -> str | int:
    """The key (or array index) of a box's i-th number, for JSON paths."""
    keys = spec.get("keys")
    return str(keys[i]) if keys else i


def _describe(spec: Mapping[str, Any]) -> str:
    return f"{spec.get('format', 'xyxy')}, {spec.get('units', 'pixels')}"


# --- boxes -------------------------------------------------------------------------------------------------

def role_box_order(ctx: CheckContext) -> Iterator[Finding]:
    """Boxes are not inverted: in ``xyxy`` the first corner is above-left of the second; in ``xywh`` and ``cxcywh``
    width and height are not negative."""
    for parts, value, spec in _values(ctx, "box"):
        numbers = _box_numbers(value, spec)
        if numbers is None:
            continue
        if spec.get("format", "xyxy") == "xyxy":
            for lo, hi, axis in ((0, 2, "x"), (1, 3, "y")):
                if numbers[lo] > numbers[hi]:
                    a, b = _component(spec, lo), _component(spec, hi)
                    yield Finding(parts + (a,), f"{a} <= {b} ({numbers[hi]:g})", f"{numbers[lo]:g}",
                                  f"The box is inverted: its {axis} start {a} = {numbers[lo]:g} is greater than its {axis} end {b} = {numbers[hi]:g}.")
        else:
            for i, what in ((2, "width"), (3, "height")):
                if numbers[i] < 0:
                    key = _component(spec, i)
                    yield Finding(parts + (key,), f"a {what} >= 0", f"{numbers[i]:g}", f"The box ({_describe(spec)}) has a negative {what}: {key} = {numbers[i]:g}.")


def _outside(corners: tuple[float, float, float, float], width: float, height: float) -> list[tuple[int, float, float]]:
    """(corner index, value, limit) for every corner outside [0, limit]."""
    limits = (width, height, width, height)
    return [(i, v, lim) for i, (v, lim) in enumerate(zip(corners, limits, strict=True)) if not -EPSILON <= v <= lim * (1 + EPSILON)]


_CORNERS = ("x0", "y0", "x1", "y1")


def role_box_inside_image(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Boxes lie inside the image once converted to corners: normalised values within [0, 1], pixel values within
    the image's width and height (the request image's, else the size the answer echoes)."""
    size = _image_size(ctx)
    for parts, value, spec in _values(ctx, "box"):
        numbers = _box_numbers(value, spec)
        if numbers is None:
            continue
        normalised = spec.get("units") == "normalized"
        if not normalised and size is None:
            yield Skip("role-box-inside-image", ctx.image_note)
            return
        width, height, source = (1, 1, "normalised units") if normalised else size  # type: ignore[misc]
        corners = box_to_xyxy(numbers, spec.get("format", "xyxy"))
        for i, v, limit in _outside(corners, width, height):
            where = parts + (_component(spec, i),) if spec.get("format", "xyxy") == "xyxy" else parts
            bound = f"[0, {limit:g}]" + ("" if normalised else f" ({source} is {width}x{height})")
            yield Finding(where, f"{_CORNERS[i]} within {bound}", f"{v:g}",
                          f"The box ({_describe(spec)}) leaves the image: its corner {_CORNERS[i]} is {v:g}, expected within {bound}.")


# --- polygons ----------------------------------------------------------------------------------------------

def role_polygon_inside_image(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Polygon points lie inside the image: normalised within [0, 1], pixels within the image's size."""
    size = _image_size(ctx)
    for parts, value, spec in _values(ctx, "polygon"):
        if not isinstance(value, list):
            continue
        normalised = spec.get("units") == "normalized"
        if not normalised and size is None:
            yield Skip("role-polygon-inside-image", ctx.image_note)
            return
        try:
            points = points_from_json(value, spec.get("point", "pair"))
        except GeometryError:
            continue  # the schema reports the shape
        width, height, source = (1, 1, "normalised units") if normalised else size  # type: ignore[misc]
        for i, (x, y) in enumerate(points):
            if not (-EPSILON <= x <= width * (1 + EPSILON) and -EPSILON <= y <= height * (1 + EPSILON)):
                bound = f"0 <= x <= {width:g}, 0 <= y <= {height:g}" + ("" if normalised else f" ({source})")
                yield Finding(parts + (i,), bound, f"({x:g}, {y:g})", f"The polygon's point {i} ({x:g}, {y:g}) lies outside the image: expected {bound}.")


# --- masks -------------------------------------------------------------------------------------------------

def _rle_counts(value: Mapping[str, Any]) -> list[int] | str:
    """A COCO RLE's counts as integers, or a sentence saying why they are not."""
    counts = value.get("counts")
    if isinstance(counts, str):
        try:
            return rle_counts_from_string(counts)
        except GeometryError as exc:
            return f"the compressed counts do not decode: {exc}"
    if isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
        return counts
    return f"expected counts as a list of non-negative integers or COCO's compressed string, received {brief(counts)}"


def _rle_size(value: Any) -> tuple[int, int] | None:
    size = value.get("size") if isinstance(value, dict) else None
    if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in size):
        return size[0], size[1]
    return None


def role_rle_counts(ctx: CheckContext) -> Iterator[Finding]:
    """COCO run-length masks: counts (plain or compressed) decode and add up to height * width of their ``size``."""
    for parts, value, spec in _values(ctx, "mask"):
        if spec.get("encoding") not in ("rle", "rle-compressed") or not isinstance(value, dict):
            continue
        size = _rle_size(value)
        counts = _rle_counts(value)
        if isinstance(counts, str):
            yield Finding(parts + ("counts",), "COCO run-length counts", brief(value.get("counts")), f"The mask's {counts}.")
        elif size is not None and sum(counts) != size[0] * size[1]:
            h, w = size
            yield Finding(parts + ("counts",), f"counts adding up to {h}x{w} = {h * w} (the mask's size [h, w])", str(sum(counts)),
                          f"The run-length counts add up to {sum(counts)}, but the mask's size [{h}, {w}] has {h * w} pixels.")


def _mask_size(ctx: CheckContext, parts: Parts, value: Any, encoding: str) -> tuple[int, int] | None:
    """A mask's (width, height): read from its PNG header or its RLE size."""
    if encoding == "png-base64":
        if not isinstance(value, str):
            return None
        im = ctx.mask(parts, value)
        return None if isinstance(im, ImageError) else im.size
    size = _rle_size(value)
    return None if size is None else (size[1], size[0])


def _size_findings(ctx: CheckContext, check: str, masks: list[tuple[Parts, Any, str]]) -> Iterator[Finding | Skip]:
    if not masks:
        return
    size = _image_size(ctx)
    if size is None:
        yield Skip(check, ctx.image_note)
        return
    width, height, source = size
    for parts, value, encoding in masks:
        got = _mask_size(ctx, parts, value, encoding)
        if got is not None and got != (width, height):
            where = parts + ("size",) if encoding != "png-base64" else parts
            yield Finding(where, f"{width}x{height} ({source})", f"{got[0]}x{got[1]}",
                          f"The mask must have the image's size {width}x{height} ({source}), but it is {got[0]}x{got[1]}.")


def role_mask_size(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Each item's mask (PNG or RLE) has the image's width and height."""
    masks = [(p, v, str(s.get("encoding", "png-base64"))) for p, v, s in _values(ctx, "mask")]
    yield from _size_findings(ctx, "role-mask-size", masks)


def role_class_map_size(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """The class-map mask has the image's width and height."""
    found = _top(ctx, "class-map-mask")
    yield from _size_findings(ctx, "role-class-map-size", [(found[0], found[1], "png-base64")] if found else [])


def role_class_map_values(ctx: CheckContext) -> Iterator[Finding]:
    """Every pixel value of the class-map mask is a class id that ``class-names`` names."""
    found, names = _top(ctx, "class-map-mask"), _top(ctx, "class-names")
    if not found or not names or not isinstance(found[1], str) or not isinstance(names[1], dict):
        return
    im = ctx.mask(found[0], found[1])
    if isinstance(im, ImageError):
        yield Finding(found[0], "base64 of a decodable PNG image", brief(found[1]), f"The class-map mask is not a decodable image: {im}.")
        return
    if im.mode not in SINGLE_CHANNEL_MODES:
        yield Finding(found[0], "a single-channel image", f"mode {im.mode}", f"The class-map mask must have a single channel, but its mode is {im.mode}.")
        return
    known = {int(k) for k in names[1] if k.lstrip("-").isdigit()}
    unknown = [v for v in _present_values(im) if v not in known]
    if unknown:
        yield Finding(found[0], f"class ids among the class-names keys {sorted(known)}", f"also {brief(unknown)}",
                      f"Every class-map pixel must be a class id that class-names names, but the mask holds {brief(unknown)}, which class-names lacks.")


# --- scores, sizes, counts -----------------------------------------------------------------------------------

def role_score_range(ctx: CheckContext) -> Iterator[Finding]:
    """Scores are finite and within their scale: [0, 1] or [0, 100]."""
    for parts, score, spec in _values(ctx, "score"):
        scale = spec.get("scale", 1)
        if _number(score) and not (math.isfinite(score) and 0 <= score <= scale):
            yield Finding(parts, f"a score within [0, {scale}]", repr(score), f"The score {score!r} is outside its scale [0, {scale}].")


def role_score_threshold(ctx: CheckContext) -> Iterator[Finding]:
    """Scores are not below the threshold the request set (each read in its own scale)."""
    request = ctx.roles.get("request", {}).get("score-threshold")
    threshold = ctx.params.get("score-threshold")
    if request is None or not _number(threshold):
        return
    limit = threshold / request.get("scale", 1)
    for parts, score, spec in _values(ctx, "score"):
        scale = spec.get("scale", 1)
        if _number(score) and score / scale < limit - EPSILON:
            yield Finding(parts, f"a score >= {limit * scale:g} (the request's threshold {threshold:g} of {request.get('scale', 1)})", repr(score),
                          f"The score {score!r} is below the threshold {threshold:g} (on a scale of {request.get('scale', 1)}) that the request set.")


def role_image_size_echo(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """The width and height the answer echoes equal the request image's."""
    echoed = [(role, found) for role in ("image-width", "image-height") if (found := _top(ctx, role)) is not None]
    if not echoed:
        return
    if ctx.image is None:
        yield Skip("role-image-size-echo", ctx.image_note)
        return
    for role, (parts, value, _) in echoed:
        want = ctx.image.width if role == "image-width" else ctx.image.height
        if value != want:
            what = role.split("-")[1]
            yield Finding(parts, f"{want} (the request image's {what})", brief(value),
                          f"The answer's {what} {brief(value)} differs from the request image's {what} {want}.")


def role_max_results(ctx: CheckContext) -> Iterator[Finding]:
    """The answer has at most the number of items the request's ``max-results`` allows."""
    limit = ctx.params.get("max-results")
    pointer = _response_roles(ctx).get("items")
    if not _number(limit) or pointer is None:
        return
    items = resolve(ctx.body, pointer)
    if isinstance(items, list) and len(items) > limit:
        parts = tuple(p for p in pointer.strip("/").split("/") if p)
        yield Finding(parts, f"at most {limit:g} items (the request's max-results)", f"{len(items)} items",
                      f"The answer has {len(items)} items, more than the {limit:g} the request allowed.")


ROLE_CHECKS: Mapping[str, Check] = MappingProxyType({
    "role-box-order": role_box_order,
    "role-box-inside-image": role_box_inside_image,
    "role-polygon-inside-image": role_polygon_inside_image,
    "role-rle-counts": role_rle_counts,
    "role-mask-size": role_mask_size,
    "role-class-map-size": role_class_map_size,
    "role-class-map-values": role_class_map_values,
    "role-score-range": role_score_range,
    "role-score-threshold": role_score_threshold,
    "role-image-size-echo": role_image_size_echo,
    "role-max-results": role_max_results,
})

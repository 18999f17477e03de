"""Checks JSON Schema cannot express, as plain functions in one explicit, read-only registry.

Every check has the same signature, ``check(ctx: CheckContext) -> Iterator[Finding | Skip]``: it reads what it
needs through the context (values at the operation's named locations, the request image's facts, the request's
parameters, decoded masks shared between checks) and yields what it found. The dispatcher, ``run_checks``, turns
findings into :class:`Violation` objects carrying the check's name and severity. Checks import nothing of the
server or of pytest and can be called directly in tests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard, cast

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ._images import DEFAULT_MAX_PIXELS, ImageError, ImageInfo, b64decode, decode_image_string, open_image
from ._model import Severity, Skip, Violation, brief
from ._paths import find, json_path, resolve

__all__ = ["CHECKS", "REQUEST_CHECKS", "CheckContext", "Finding", "apply_tolerance", "run_checks", "severity_of"]

SINGLE_CHANNEL_MODES = frozenset({"1", "L", "I", "I;16", "I;16B", "I;16L"})
EARLIEST_CREATED = 1420070400  # 2015-01-01T00:00:00Z: before any of these services existed
CREATED_LEEWAY = 86400  # a day of clock skew into the future


@dataclass(frozen=True)
class Finding:
    """What a check found wrong at one place; the dispatcher adds the check's name and severity."""

    parts: tuple[str | int, ...]
    expected: str
    received: str
    message: str


@dataclass
class CheckContext:
    """Everything a check may read. ``image`` is the request image's facts, or None with ``image_note`` saying why."""

    body: Any
    locations: Mapping[str, str]
    image: ImageInfo | None = None
    image_note: str = "no request image was given"
    params: Mapping[str, Any] = field(default_factory=dict)
    threshold_parameter: str | None = None
    request: Mapping[str, Any] | None = None
    image_pointer: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_pixels: bool = True
    image_data: bytes | None = field(default=None, repr=False)  # the request image's bytes, once request_image decoded them
    roles: Mapping[str, Any] = field(default_factory=dict)  # a pack operation's roles ({"request": ..., "response": ...})
    _masks: dict[tuple[str | int, ...], Image.Image | ImageError] = field(default_factory=dict, repr=False)

    def find(self, location: str) -> list[tuple[tuple[str | int, ...], Any]]:
        pointer = self.locations.get(location)
        if pointer is None:
            return []
        return [(tuple(parts), value) for parts, value in find(self.body, pointer)]

    def mask(self, parts: tuple[str | int, ...], value: str) -> Image.Image | ImageError:
        """The decoded mask at ``parts`` (decoded once, shared by every check), or the error decoding it."""
        if parts not in self._masks:
            im: Image.Image | ImageError
            try:
                im = open_image(b64decode(value), max_pixels=self.max_pixels, load=True)
            except ImageError as exc:
                im = exc
            self._masks[parts] = im
        return self._masks[parts]

    def masks(self) -> Iterator[tuple[tuple[str | int, ...], Image.Image]]:
        """Decodable masks only; the mask-image check reports the others."""
        for parts, value in self.find("masks"):
            if isinstance(value, str):
                im = self.mask(parts, value)
                if not isinstance(im, ImageError):
                    yield parts, im


Check = Callable[[CheckContext], Iterator["Finding | Skip"]]


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- masks -------------------------------------------------------------------------------------------------

def mask_image(ctx: CheckContext) -> Iterator[Finding]:
    """Each mask is base64 of a decodable PNG with a single channel."""
    for parts, value in ctx.find("masks"):
        if not isinstance(value, str):
            continue
        im = ctx.mask(parts, value)
        if isinstance(im, ImageError):
            yield Finding(parts, "base64 of a decodable PNG image", brief(value), f"The mask is not a decodable image: {im}.")
            continue
        if im.format != "PNG":
            yield Finding(parts, "a PNG image", f"a {im.format} image", f"The mask must be a PNG image, but it is {im.format}.")
        if im.mode not in SINGLE_CHANNEL_MODES:
            yield Finding(
                parts, "a single-channel image (mode L, 1 or I)", f"mode {im.mode} with bands {im.getbands()}",
                f"The mask must have a single channel, but its mode is {im.mode} ({len(im.getbands())} bands).",
            )


def _pixels(im: Image.Image) -> NDArray[Any]:
    return np.asarray(im.convert("L") if im.mode == "1" else im)


def _present_values(im: Image.Image) -> list[int]:
    """Every pixel value present in a single-channel mask (the slow, exact path, for reporting)."""
    return [int(v) for v in np.flatnonzero(np.bincount(_pixels(im).ravel().astype(np.int64)))]


_BYTE_LOW_BITS = 0x7F7F7F7F7F7F7F7F


def _only_black_and_white(im: Image.Image) -> bool:
    """True when every pixel is 0 or 255, tested eight pixels at a time: a byte is 0x00 or 0xFF exactly when its
    eight bits are equal, i.e. when (w ^ (w >> 1)) has no bit set in the low seven bits of any byte."""
    if im.mode not in ("1", "L"):
        return False
    flat = _pixels(im).reshape(-1)
    cut = flat.size - flat.size % 8
    words = flat[:cut].view(np.uint64)
    if np.any((words ^ (words >> np.uint64(1))) & np.uint64(_BYTE_LOW_BITS)):
        return False
    tail = flat[cut:]
    return bool(np.all((tail == 0) | (tail == 255)))


def mask_binary(ctx: CheckContext) -> Iterator[Finding]:
    """Hugging Face masks are black-and-white: every pixel is 0 or 255."""
    for parts, im in ctx.masks():
        if im.mode not in SINGLE_CHANNEL_MODES or _only_black_and_white(im):
            continue
        others = [v for v in _present_values(im) if v not in (0, 255)]
        yield Finding(
            parts, "pixel values 0 and 255 only", f"also {brief(others)}",
            f"The mask must be black-and-white (0/255), but it holds the values {brief(others)}.",
        )


def mask_size(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Each mask has the request image's width and height."""
    if ctx.image is None:
        if ctx.find("masks"):
            yield Skip("mask-size", ctx.image_note)
        return
    for parts, im in ctx.masks():
        if im.size != ctx.image.size:
            yield Finding(
                parts, f"{_size(ctx.image.size)} (the request image)", _size(im.size),
                f"The mask must have the request image's size {_size(ctx.image.size)}, but it is {_size(im.size)}.",
            )


def mask_classes_in_map(ctx: CheckContext) -> Iterator[Finding]:
    """Roboflow: every pixel value of the mask is a key of class_map."""
    class_map = resolve(ctx.body, ctx.locations.get("class_map", "/class_map"))
    if not isinstance(class_map, dict):
        return
    known = {int(k) for k in class_map if isinstance(k, str) and k.isdigit()}
    for parts, im in ctx.masks():
        if im.mode not in SINGLE_CHANNEL_MODES:
            continue
        low, high = cast("tuple[float, float]", im.getextrema()) if im.mode != "1" else (0, 1)  # one band: (min, max)
        if known.issuperset(range(int(low), int(high) + 1)):
            continue  # every value between the extrema is a known class: no need to count pixels
        unknown = [v for v in _present_values(im) if v not in known]
        if not unknown:
            continue
        if unknown:
            yield Finding(
                parts, f"class ids among the class_map keys {sorted(known)}", f"also {brief(unknown)}",
                f"Every mask pixel must be a class id in class_map, but the mask holds {brief(unknown)}, which class_map lacks.",
            )


def roboflow_image_size(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Roboflow: ``image.width`` and ``image.height`` equal the request image's."""
    for parts, dims in ctx.find("image_size"):
        if not isinstance(dims, dict):
            continue
        if ctx.image is None:
            yield Skip("roboflow-image-size", ctx.image_note)
            return
        got = (dims.get("width"), dims.get("height"))
        if got != ctx.image.size:
            yield Finding(
                parts, f"width {ctx.image.width}, height {ctx.image.height} (the request image)",
                f"width {got[0]}, height {got[1]}",
                f"image must give the request image's dimensions {_size(ctx.image.size)}, but it says {got[0]}x{got[1]}.",
            )


NESTED_ANSWER_KEY = "predictions"  # where Roboflow's inference server nests its answer


def _top_level_keys(locations: Mapping[str, str]) -> list[str]:
    """The answer's documented top-level keys, read from the index's single-token locations (``/class_map``)."""
    keys = []
    for pointer in locations.values():
        key = pointer.strip("/")
        if key and "/" not in key and key != "*" and key not in keys:
            keys.append(key)
    return keys


def _missing(keys: list[str]) -> str:
    return f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'} missing"


def roboflow_nested_predictions(ctx: CheckContext) -> Iterator[Finding]:
    """Roboflow: the answer sits at the top level, as the documentation and the roboflow SDK read it, not nested under
    ``predictions`` as Roboflow's inference server (v0 API) answers; one finding names the shape instead of a
    missing-key error per key."""
    body = ctx.body
    nested = body.get(NESTED_ANSWER_KEY) if isinstance(body, dict) else None
    if not isinstance(nested, dict):
        return
    documented = _top_level_keys(ctx.locations)
    absent = [k for k in documented if k not in body]
    moved = [k for k in absent if k in nested]
    if not moved:
        return
    lost = [k for k in absent if k not in moved]
    received = f"{', '.join(moved)} nested under {NESTED_ANSWER_KEY}" + (f"; {', '.join(lost)} absent" if lost else "")
    yield Finding(
        (), f"{', '.join(documented)} at the top level (the documented shape, which the roboflow SDK reads)", received,
        f"expected {', '.join(documented)} at the top level of the answer, as Roboflow's documentation shows and the "
        f"roboflow SDK reads them, but {', '.join(moved)} arrived nested under '{NESTED_ANSWER_KEY}' (the shape of "
        f"Roboflow's inference server)" + (f", and {_missing(lost)} altogether" if lost else "") + ".",
    )


def roboflow_mask_matches_image(ctx: CheckContext) -> Iterator[Finding]:
    """Roboflow: the mask's size equals the response's own ``image`` dimensions, as seed 003 promises."""
    dims = resolve(ctx.body, ctx.locations.get("image_size", "/image"))
    if not isinstance(dims, dict):
        return
    want = (dims.get("width"), dims.get("height"))
    for parts, im in ctx.masks():
        if im.size != want:
            yield Finding(
                parts, f"{want[0]}x{want[1]} (the response's image field)", _size(im.size),
                f"The mask must have the dimensions the response's image field gives, {want[0]}x{want[1]}, but it is {_size(im.size)}.",
            )


# --- boxes -------------------------------------------------------------------------------------------------

def _corners(box: Any) -> tuple[int, int, int, int] | None:
    if not isinstance(box, dict):
        return None
    values = tuple(box.get(k) for k in ("xmin", "ymin", "xmax", "ymax"))
    return values if all(_number(v) for v in values) else None  # type: ignore[return-value]


def box_order(ctx: CheckContext) -> Iterator[Finding]:
    """Detection boxes have ``xmin <= xmax`` and ``ymin <= ymax``."""
    for parts, box in ctx.find("boxes"):
        c = _corners(box)
        if c is None:
            continue
        xmin, ymin, xmax, ymax = c
        if xmin > xmax:
            yield Finding(parts + ("xmin",), f"xmin <= xmax ({xmax})", str(xmin), f"The box is inverted: xmin {xmin} is greater than xmax {xmax}.")
        if ymin > ymax:
            yield Finding(parts + ("ymin",), f"ymin <= ymax ({ymax})", str(ymin), f"The box is inverted: ymin {ymin} is greater than ymax {ymax}.")


def box_inside_image(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Detection boxes lie inside the request image: 0 <= x <= width, 0 <= y <= height (corners are edges)."""
    boxes = ctx.find("boxes")
    if ctx.image is None:
        if boxes:
            yield Skip("box-inside-image", ctx.image_note)
        return
    w, h = ctx.image.size
    for parts, box in boxes:
        c = _corners(box)
        if c is None:
            continue
        for key, value, limit in zip(("xmin", "ymin", "xmax", "ymax"), c, (w, h, w, h), strict=True):
            if not 0 <= value <= limit:
                yield Finding(
                    parts + (key,), f"0 <= {key} <= {limit} (the request image is {w}x{h})", str(value),
                    f"The box leaves the {w}x{h} request image: {key} is {value}.",
                )


# --- scores ------------------------------------------------------------------------------------------------

def score_finite(ctx: CheckContext) -> Iterator[Finding]:
    """Scores are finite numbers (JSON Schema's bounds let NaN through, and Python's json parses it)."""
    for parts, score in ctx.find("scores"):
        if isinstance(score, float) and not math.isfinite(score):
            yield Finding(parts, "a finite number in [0, 1]", repr(score), f"The score must be a finite number, but it is {score!r}.")


def score_threshold(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """Scores are not below the threshold the request set."""
    name = ctx.threshold_parameter
    threshold = ctx.params.get(name) if name else None
    if not _number(threshold):
        return
    for parts, score in ctx.find("scores"):
        if _number(score) and score < threshold:
            yield Finding(
                parts, f"a score >= {threshold} (the request's {name})", repr(score),
                f"The score {score!r} is below the threshold {threshold} that the request set.",
            )


# --- AI Refinery -------------------------------------------------------------------------------------------

def created_plausible(ctx: CheckContext) -> Iterator[Finding]:
    """``created`` is a Unix time in seconds between 2015 and a day from now."""
    latest = int(time.time()) + CREATED_LEEWAY
    for parts, created in ctx.find("created"):
        if _number(created) and not EARLIEST_CREATED <= created <= latest:
            yield Finding(
                parts, f"a Unix time in seconds between {EARLIEST_CREATED} (2015) and {latest} (now plus a day)",
                str(created), f"created {created} is not a plausible Unix time in seconds.",
            )


def usage_consistent(ctx: CheckContext) -> Iterator[Finding]:
    """``usage.total_tokens == input_tokens + output_tokens`` and the input details add up to no more than the input."""
    for parts, usage in ctx.find("usage"):
        if not isinstance(usage, dict):
            continue
        i, o, t = usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
        if _number(i) and _number(o) and _number(t) and t != i + o:
            yield Finding(
                parts + ("total_tokens",), f"input_tokens + output_tokens = {i + o}", str(t),
                f"total_tokens {t} does not equal input_tokens {i} plus output_tokens {o}.",
            )
        details = usage.get("input_tokens_details")
        if isinstance(details, dict) and _number(i):
            spent = sum(v for v in details.values() if _number(v))
            if spent > i:
                yield Finding(
                    parts + ("input_tokens_details",), f"details adding up to at most input_tokens ({i})", str(spent),
                    f"input_tokens_details add up to {spent}, more than input_tokens {i}.",
                )


# --- request checks ----------------------------------------------------------------------------------------

def request_image(ctx: CheckContext) -> Iterator[Finding]:
    """The request's image decodes (base64 or data URI, then Pillow) within the pixel limit."""
    if ctx.image_pointer is None:
        return
    for parts, value in find(ctx.body, ctx.image_pointer):
        if not isinstance(value, str) or (parts and parts[0] == "query"):
            continue
        try:
            data = decode_image_string(value)
            info = open_image(data, max_pixels=ctx.max_pixels, load=ctx.decode_pixels)
        except ImageError as exc:
            yield Finding(tuple(parts), "a base64-encoded image Pillow can decode", brief(value), f"The request image is unusable: {exc}.")
        else:
            ctx.image = ImageInfo(info.size[0], info.size[1], info.mode, info.format)
            ctx.image_data = data


def prompt_points_inside_image(ctx: CheckContext) -> Iterator[Finding | Skip]:
    """AI Refinery: every prompt point lies inside the request image."""
    points = find(ctx.body, "/body/segment_prompt/*/*")
    if ctx.image is None:
        yield Skip("prompt-points-inside-image", ctx.image_note)
        return
    w, h = ctx.image.size
    for parts, point in points:
        if isinstance(point, list) and len(point) == 2 and all(_number(v) for v in point):
            x, y = point
            if not (0 <= x < w and 0 <= y < h):
                yield Finding(
                    tuple(parts), f"a point with 0 <= x < {w} and 0 <= y < {h}", repr(point),
                    f"The prompt point {point!r} lies outside the {w}x{h} request image.",
                )


CHECKS: Mapping[str, Check] = MappingProxyType({
    "mask-image": mask_image,
    "mask-binary": mask_binary,
    "mask-size": mask_size,
    "mask-classes-in-map": mask_classes_in_map,
    "roboflow-image-size": roboflow_image_size,
    "roboflow-mask-matches-image": roboflow_mask_matches_image,
    "roboflow-nested-predictions": roboflow_nested_predictions,
    "box-order": box_order,
    "box-inside-image": box_inside_image,
    "score-finite": score_finite,
    "score-threshold": score_threshold,
    "created-plausible": created_plausible,
    "usage-consistent": usage_consistent,
})

REQUEST_CHECKS: Mapping[str, Check] = MappingProxyType({
    "request-image": request_image,
    "prompt-points-inside-image": prompt_points_inside_image,
})


def severity_of(check: str, tolerate: frozenset[str]) -> Severity:
    """The one rule of leniency: a tolerated check's findings are warnings, every other finding is an error."""
    return Severity.WARNING if check in tolerate else Severity.ERROR


def apply_tolerance(violations: Iterable[Violation], tolerate: frozenset[str]) -> list[Violation]:
    """Violations found outside ``run_checks`` (named schema findings) under the same rule."""
    return [v.downgraded() if severity_of(v.check, tolerate) is Severity.WARNING else v for v in violations]


def run_checks(
    names: Iterable[str], registry: Mapping[str, Check], ctx: CheckContext, tolerate: frozenset[str] = frozenset()
) -> tuple[list[Violation], list[Skip]]:
    """Run the named checks in order; findings become violations (warnings for tolerated checks)."""
    violations: list[Violation] = []
    skipped: list[Skip] = []
    for name in names:
        severity = severity_of(name, tolerate)
        for item in registry[name](ctx):
            if isinstance(item, Skip):
                skipped.append(item)
            else:
                path = json_path(item.parts)
                violations.append(Violation(path, name, item.expected, item.received, f"{path}: {item.message}", severity))
    return violations, skipped

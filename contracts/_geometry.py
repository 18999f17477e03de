"""Pure geometry codecs for the conventions computer-vision APIs answer in: boxes, polygons and masks.

Everything here converts between one API's spelling and a common one: boxes as ``(x0, y0, x1, y1)`` in pixels,
polygons as lists of ``(x, y)`` pixels, masks as boolean ``(height, width)`` numpy arrays. COCO run-length encoding
follows pycocotools' algorithm: counts of alternating runs over the mask read column by column (column-major),
starting with a run of zeros (possibly empty); the compressed form writes each count (from the fourth on, as the
difference to the count two places before) in 5-bit groups, little end first, each group plus 48 as one ASCII
character, bit 0x20 meaning "more groups follow" and bit 0x10 of the last group the sign.
Nothing here knows about HTTP, schemas or pytest.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from ._images import DEFAULT_MAX_PIXELS, ImageError, decode_image_string, open_image

__all__ = [
    "BOX_FORMATS",
    "BOX_UNITS",
    "MASK_ENCODINGS",
    "POINT_STYLES",
    "GeometryError",
    "box_from_json",
    "box_iou",
    "box_to_json",
    "box_to_xyxy",
    "mask_from_json",
    "mask_from_png_base64",
    "mask_iou",
    "mask_to_json",
    "mask_to_png_base64",
    "points_from_json",
    "points_to_json",
    "polygon_to_mask",
    "rle_counts_from_string",
    "rle_counts_to_string",
    "rle_decode",
    "rle_encode",
    "xyxy_to_box",
]

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
Units = Literal["pixels", "normalized"]
BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")
BOX_UNITS: tuple[str, ...] = ("pixels", "normalized")
POINT_STYLES: tuple[str, ...] = ("pair", "object")
MASK_ENCODINGS: tuple[str, ...] = ("png-base64", "rle", "rle-compressed")
Box = tuple[float, float, float, float]
Mask = NDArray[np.bool_]


class GeometryError(ValueError):
    """A value that does not fit the geometry convention it was read with; the message says what was expected."""


# --- boxes -------------------------------------------------------------------------------------------------

def _scale(units: str, width: float, height: float) -> tuple[float, float]:
    if units == "pixels":
        return 1.0, 1.0
    if units == "normalized":
        return float(width), float(height)
    raise GeometryError(f"expected units 'pixels' or 'normalized', got {units!r}")


def box_to_xyxy(values: Sequence[float], fmt: str = "xyxy", units: str = "pixels", width: float = 1, height: float = 1) -> Box:
    """A box in ``fmt`` (``xyxy``, ``xywh``, ``cxcywh``) and ``units`` as ``(x0, y0, x1, y1)`` in pixels of a
    ``width`` x ``height`` image (the size matters only for normalised units)."""
    if len(values) != 4:
        raise GeometryError(f"expected a box of 4 numbers, got {len(values)}")
    a, b, c, d = (float(v) for v in values)
    if fmt == "xyxy":
        x0, y0, x1, y1 = a, b, c, d
    elif fmt == "xywh":
        x0, y0, x1, y1 = a, b, a + c, b + d
    elif fmt == "cxcywh":
        x0, y0, x1, y1 = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    else:
        raise GeometryError(f"expected a box format among {', '.join(BOX_FORMATS)}, got {fmt!r}")
    sx, sy = _scale(units, width, height)
    return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)


def xyxy_to_box(box: Sequence[float], fmt: str = "xyxy", units: str = "pixels", width: float = 1, height: float = 1) -> Box:
    """The inverse of :func:`box_to_xyxy`: pixel corners written in ``fmt`` and ``units``."""
    sx, sy = _scale(units, width, height)
    x0, y0, x1, y1 = (float(box[0]) / sx, float(box[1]) / sy, float(box[2]) / sx, float(box[3]) / sy)
    if fmt == "xyxy":
        return (x0, y0, x1, y1)
    if fmt == "xywh":
        return (x0, y0, x1 - x0, y1 - y0)
    if fmt == "cxcywh":
        return ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    raise GeometryError(f"expected a box format among {', '.join(BOX_FORMATS)}, got {fmt!r}")


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``xyxy`` boxes (1.0 for two empty boxes at the same place)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    if union <= 0:
        return 1.0 if tuple(a) == tuple(b) else 0.0
    return inter / union


# --- polygons ----------------------------------------------------------------------------------------------

def points_from_json(points: Iterable[Any], style: str = "pair", units: str = "pixels", width: float = 1, height: float = 1) -> list[tuple[float, float]]:
    """Polygon points as an API writes them (``[x, y]`` pairs or ``{"x", "y"}`` objects) as ``(x, y)`` pixels."""
    sx, sy = _scale(units, width, height)
    out = []
    for i, point in enumerate(points):
        if style == "pair" and isinstance(point, (list, tuple)) and len(point) == 2:
            x, y = point
        elif style == "object" and isinstance(point, Mapping) and "x" in point and "y" in point:
            x, y = point["x"], point["y"]
        else:
            want = "an [x, y] pair" if style == "pair" else "an object with x and y"
            raise GeometryError(f"expected point {i} to be {want}, got {point!r:.80}")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (x, y)):
            raise GeometryError(f"expected point {i} to hold two numbers, got {point!r:.80}")
        out.append((float(x) * sx, float(y) * sy))
    return out


def points_to_json(points: Iterable[tuple[float, float]], style: str = "pair", units: str = "pixels", width: float = 1, height: float = 1) -> list[Any]:
    """The inverse of :func:`points_from_json`."""
    sx, sy = _scale(units, width, height)
    scaled = [(x / sx, y / sy) for x, y in points]
    if style == "object":
        return [{"x": x, "y": y} for x, y in scaled]
    return [[x, y] for x, y in scaled]


def polygon_to_mask(points: Sequence[tuple[float, float]], width: int, height: int) -> Mask:
    """The polygon (pixel coordinates) filled, as a boolean ``(height, width)`` mask."""
    canvas = Image.new("1", (width, height), 0)
    if len(points) >= 3:
        ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=1, outline=1)
    return np.asarray(canvas, dtype=bool)


# --- masks: COCO run-length encoding -----------------------------------------------------------------------

def rle_encode(mask: NDArray[Any]) -> list[int]:
    """COCO uncompressed counts of a ``(height, width)`` mask (nonzero = inside), column-major, zeros first."""
    flat = np.asarray(mask).astype(bool).ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    return [0, *counts] if flat[0] else counts


def rle_decode(counts: Sequence[int], height: int, width: int) -> Mask:
    """The boolean ``(height, width)`` mask of COCO uncompressed counts; they must add up to height * width."""
    if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
        raise GeometryError("expected run-length counts that are non-negative integers")
    total = sum(counts)
    if total != height * width:
        raise GeometryError(f"expected run-length counts adding up to {height}x{width} = {height * width}, got {total}")
    values = np.zeros(len(counts), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, np.asarray(counts, dtype=np.int64))
    return flat.reshape((width, height)).T.copy()


def rle_counts_to_string(counts: Sequence[int]) -> str:
    """COCO's compressed string for uncompressed counts (pycocotools' ``rleToString``)."""
    out = []
    for i, count in enumerate(counts):
        x = int(count) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5  # arithmetic shift: a negative difference ends in -1
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_counts_from_string(text: str) -> list[int]:
    """Uncompressed counts from COCO's compressed string (pycocotools' ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            if p >= len(text):
                raise GeometryError(f"expected more characters after offset {p - 1} of the compressed counts (a group with the continuation bit ends the string)")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise GeometryError(f"expected characters between '0' and '{chr(48 + 63)}' in the compressed counts, got {text[p]!r} at offset {p}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


# --- masks: PNG --------------------------------------------------------------------------------------------

def mask_to_png_base64(mask: NDArray[Any]) -> str:
    """A boolean mask as base64 of a single-channel PNG holding 0 and 255."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(np.asarray(mask).astype(bool), 255, 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def mask_from_png_base64(image: Image.Image) -> Mask:
    """A decoded single-channel mask image (decode it with the contracts' bounded image decoding first) as a
    boolean array: nonzero pixels are inside."""
    return np.asarray(image.convert("L")) > 0


def mask_iou(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Intersection over union of two masks of the same shape (1.0 for two empty masks)."""
    if a.shape != b.shape:
        raise GeometryError(f"expected masks of the same size, got {a.shape[1]}x{a.shape[0]} and {b.shape[1]}x{b.shape[0]}")
    union = int(np.count_nonzero(np.logical_or(a, b)))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(np.logical_and(a, b))) / union


# --- one role's value, as a pack's options describe it ----------------------------------------------------------

def box_from_json(value: Any, options: Mapping[str, Any], width: float = 1, height: float = 1) -> Box:
    """A ``box`` role's value (``options``: ``format``, ``units``, ``keys``: the role's options) as ``xyxy`` pixels."""
    keys = options.get("keys")
    if keys:
        if not isinstance(value, Mapping) or any(k not in value for k in keys):
            raise GeometryError(f"expected a box object with the keys {', '.join(keys)}, got {value!r:.80}")
        numbers = [value[k] for k in keys]
    else:
        numbers = value
    if not isinstance(numbers, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise GeometryError(f"expected a box of 4 numbers, got {numbers!r:.80}")
    return box_to_xyxy(numbers, options.get("format", "xyxy"), options.get("units", "pixels"), width, height)


def box_to_json(box: Sequence[float], options: Mapping[str, Any], width: float = 1, height: float = 1) -> Any:
    """``xyxy`` pixels written as a ``box`` role's value: an object with the role's ``keys``, else 4 numbers."""
    numbers = list(xyxy_to_box(box, options.get("format", "xyxy"), options.get("units", "pixels"), width, height))
    keys = options.get("keys")
    return dict(zip(keys, numbers, strict=True)) if keys else numbers


def mask_to_json(mask: NDArray[Any], encoding: str = "png-base64") -> Any:
    """A boolean ``(height, width)`` mask written in a ``mask`` role's encoding: base64 PNG (0/255), or COCO RLE
    ``{"size": [h, w], "counts": ...}`` with plain or compressed counts."""
    if encoding == "png-base64":
        return mask_to_png_base64(mask)
    counts = rle_encode(mask)
    size = [int(mask.shape[0]), int(mask.shape[1])]
    if encoding == "rle":
        return {"size": size, "counts": counts}
    if encoding == "rle-compressed":
        return {"size": size, "counts": rle_counts_to_string(counts)}
    raise GeometryError(f"expected a mask encoding among {', '.join(MASK_ENCODINGS)}, got {encoding!r}")


def mask_from_json(value: Any, encoding: str = "png-base64", max_pixels: int = DEFAULT_MAX_PIXELS) -> Mask:
    """A ``mask`` role's value as a boolean ``(height, width)`` array (PNG decoding bounded by ``max_pixels``; RLE
    counts may be plain or compressed whatever the encoding says)."""
    if encoding == "png-base64":
        if not isinstance(value, str):
            raise GeometryError(f"expected a base64 PNG string, got {type(value).__name__}")
        try:
            with open_image(decode_image_string(value), max_pixels=max_pixels, load=True) as im:
                return mask_from_png_base64(im)
        except ImageError as exc:
            raise GeometryError(f"the mask does not decode: {exc}") from None
    if encoding not in ("rle", "rle-compressed"):
        raise GeometryError(f"expected a mask encoding among {', '.join(MASK_ENCODINGS)}, got {encoding!r}")
    size = value.get("size") if isinstance(value, Mapping) else None
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        raise GeometryError(f"expected a COCO RLE object with size [height, width], got {value!r:.80}")
    counts = value.get("counts")
    if isinstance(counts, str):
        counts = rle_counts_from_string(counts)
    if not isinstance(counts, list) or size[0] * size[1] > max_pixels:
        raise GeometryError(f"expected RLE counts (a list or COCO's string) for at most {max_pixels} pixels, got {value!r:.80}")
    return rle_decode(counts, size[0], size[1])

"""Pure, deterministic, content-aware response generation (numpy and Pillow only; nothing of HTTP here).

Every generator takes the request image's bytes and the request's parameters and returns the response body as a
Python value. The same inputs and ``seed`` always give the same body, byte for byte once serialised.

How an image becomes regions (``analyze``):

1. decode it (bounded by ``max_pixels``; JPEGs are decoded at a reduced scale with Pillow's ``draft``), flatten any
   alpha onto grey and downsample to at most ``work`` pixels a side;
2. quantize the colours with Pillow's fast octree (no dithering) and merge palette entries that are nearly the
   same colour: each remaining colour is a *class* (speckle is dropped later by each operation's area filter);
3. label 4-connected *components* of each class with a run-based union-find;
4. the *background* is the class covering most of the image border.

Labels come from the vocabulary the caller passes (the model family's things and stuff, see ``_families``;
COCO things and ADE20K-like stuff by default), picked by hashing the seed with the
region's colour, so a colour keeps its label across images. Scores are hashed too, and grow with region area.
Masks are mode-L PNGs of the input's exact size, pixel for pixel Pillow's NEAREST upsampling of the work-grid mask,
written straight from the mask's runs by ``_png`` (all masks of a response in one vectorised pass).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from vision_contracts.contracts import DEFAULT_MAX_PIXELS, ImageError, open_image

from ._png import encode_many, encode_upsampled

__all__ = [
    "Regions",
    "airefinery_image_segmentation",
    "analyze",
    "hf_image_segmentation",
    "hf_object_detection",
    "roboflow_semantic_segmentation",
]

THINGS = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
STUFF = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "grass", "sidewalk", "earth", "mountain",
    "water", "sea", "field", "sand", "river", "fence", "rock", "snow", "hill", "door", "window", "curtain",
    "carpet", "ground", "pavement", "platform", "shelf", "house", "stairs",
)

_GREY = (128, 128, 128)


def _hash(*parts: Any) -> int:
    """A stable 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _unit(*parts: Any) -> float:
    """A stable number in [0, 1)."""
    return _hash(*parts) / 2.0**64


@dataclass(frozen=True)
class Regions:
    """An image's colour classes and their connected components, on a small work grid."""

    size: tuple[int, int]  # the input image's (width, height)
    classes: np.ndarray  # (h, w) uint8: class index per work pixel, classes ordered by area, largest first
    colours: np.ndarray  # (k, 3) uint8: mean colour of each class
    counts: np.ndarray  # (k,) int: work pixels per class
    background: int  # the class covering most of the image border
    components: np.ndarray  # (h, w) int32: component index per work pixel
    component_class: np.ndarray  # (n,) int: class of each component
    component_counts: np.ndarray  # (n,) int: work pixels per component
    component_boxes: np.ndarray  # (n, 4) int: x0, y0, x1, y1 (inclusive) of each component on the work grid

    @property
    def work_size(self) -> tuple[int, int]:
        return (self.classes.shape[1], self.classes.shape[0])

    @property
    def pixels(self) -> int:
        return int(self.classes.size)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info) or im.mode == "La":
        rgba = im.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, _GREY + (255,))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        scaled = np.zeros(arr.shape, np.uint8) if hi <= lo else ((arr - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        return Image.fromarray(scaled, "L").convert("RGB")
    return im.convert("RGB")


def _work_image(data: bytes, work: int, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    im = open_image(data, max_pixels=max_pixels)
    size = im.size
    if im.format == "JPEG":
        im.draft("RGB", (work, work))  # decode at 1/2, 1/4 or 1/8 scale: much faster, still >= work
    try:
        im.load()
        rgb = _to_rgb(im)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"expected a complete image, but its pixel data is broken ({exc})") from None
    w, h = rgb.size
    scale = min(1.0, work / max(w, h))
    target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))) if scale < 1 else (w, h)
    if target != (w, h):
        rgb = rgb.resize(target, Image.Resampling.BOX)
    return rgb, size


def _quantize(rgb: Image.Image, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """Class index per pixel and the palette: Pillow's fast octree, then palette entries closer than 24 in RGB
    merged (JPEG noise otherwise splits one flat region in two). Speckle is left to the area filters."""
    q = rgb.quantize(colors=colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    idx = np.asarray(q, dtype=np.uint8)
    flat_pal = q.getpalette()[: 3 * 256]
    flat_pal += [0] * (3 * 256 - len(flat_pal))
    pal = np.array(flat_pal, dtype=np.int32).reshape(-1, 3)
    used = np.flatnonzero(np.bincount(idx.ravel(), minlength=256)).tolist()
    lut = list(range(256))
    for i, a in enumerate(used):  # plain Python: a handful of colours, cheaper than numpy calls on 3-vectors
        ca = flat_pal[3 * a: 3 * a + 3]
        for b in used[:i]:
            if lut[b] == b and sum(abs(x - y) for x, y in zip(ca, flat_pal[3 * b: 3 * b + 3])) < 24:
                lut[a] = b
                break
    if lut == list(range(256)):
        return idx, pal
    return np.array(lut, dtype=np.uint8)[idx], pal


def _components(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """4-connected components of equal class values, all in numpy.

    Pixels are grouped into horizontal runs; runs touching vertically with the same class are linked, and each
    run's label converges to the smallest run index of its component by hooking roots onto smaller roots and
    pointer jumping.
    """
    h, w = classes.shape
    change = np.ones((h, w), dtype=bool)
    change[:, 1:] = classes[:, 1:] != classes[:, :-1]
    flat_change = change.ravel()
    run_of = np.cumsum(flat_change).reshape(h, w) - 1  # run index of every pixel
    n = int(run_of[-1, -1]) + 1
    # runs linked to the run below: each overlapping pair once, at its first shared column (where one of the
    # two runs starts), so no de-duplication is needed
    link = (classes[1:] == classes[:-1]) & (change[:-1] | change[1:])
    a = run_of[:-1][link]
    b = run_of[1:][link]
    label = np.arange(n, dtype=np.int64)  # every label is a root (label[r] == r) between iterations
    while a.size:
        la, lb = label[a], label[b]
        apart = la != lb
        if not apart.any():
            break
        a, b, la, lb = a[apart], b[apart], la[apart], lb[apart]  # only links still joining two trees
        # hook: each root points at the smallest root linked to it from below (parents are always smaller, so
        # there are no cycles and each tree's root is its smallest run index)
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))
        while True:  # pointer jumping: label[i] <- label[label[i]] until stable (every label a root again)
            nxt = label[label]
            if np.array_equal(nxt, label):
                break
            label = nxt
    _, run_comp = np.unique(label, return_inverse=True)  # components numbered by their first run (raster order)
    labels = run_comp.astype(np.int32)[run_of]
    run_cls = classes.ravel()[flat_change]
    m = int(run_comp.max()) + 1
    comp_class = np.zeros(m, dtype=np.int64)
    comp_class[run_comp] = run_cls
    # pixel counts and boxes from the runs (far fewer than pixels)
    starts = np.flatnonzero(flat_change)
    run_len = np.diff(np.append(starts, h * w))
    run_y, run_x0 = np.divmod(starts, w)
    counts = np.bincount(run_comp, weights=run_len, minlength=m).astype(np.int64)
    boxes = np.empty((m, 4), dtype=np.int64)
    boxes[:, 0] = w
    boxes[:, 1] = h
    boxes[:, 2] = -1
    boxes[:, 3] = -1
    np.minimum.at(boxes[:, 0], run_comp, run_x0)
    np.minimum.at(boxes[:, 1], run_comp, run_y)
    np.maximum.at(boxes[:, 2], run_comp, run_x0 + run_len - 1)
    np.maximum.at(boxes[:, 3], run_comp, run_y)
    return labels, comp_class, counts, boxes


def analyze(data: bytes, *, work: int = 128, colours: int = 6, max_pixels: int = DEFAULT_MAX_PIXELS) -> Regions:
    """Decode an image and split it into colour classes and connected components (see the module docstring)."""
    rgb, size = _work_image(data, work, max_pixels)
    idx, pal = _quantize(rgb, colours)
    counts256 = np.bincount(idx.ravel(), minlength=256)
    present = np.flatnonzero(counts256)
    # order classes by area (largest first), ties by palette colour: deterministic
    order = sorted(present.tolist(), key=lambda p: (-int(counts256[p]), tuple(pal[p])))
    remap = np.zeros(256, dtype=np.uint8)
    for new, old in enumerate(order):
        remap[old] = new
    classes = remap[idx]
    k = len(order)
    arr = np.asarray(rgb).reshape(-1, 3)
    flat = classes.ravel()
    counts = np.bincount(flat, minlength=k)
    if k * flat.size <= 1 << 21:  # one-hot product: integer sums, exact in float64; small grids only (memory)
        sums = (flat[None, :] == np.arange(k, dtype=np.uint8)[:, None]).astype(np.float64) @ arr
    else:
        sums = np.stack([np.bincount(flat, weights=arr[:, c], minlength=k) for c in range(3)], axis=1)
    mean = np.round(sums / np.maximum(counts, 1)[:, None]).astype(np.uint8)
    border = np.concatenate([classes[0], classes[-1], classes[:, 0], classes[:, -1]])
    border_counts = np.bincount(border, minlength=k)
    background = int(max(range(k), key=lambda c: (int(border_counts[c]), int(counts[c]), -c)))
    comps, comp_class, comp_counts, boxes = _components(classes)
    return Regions(size, classes, mean, counts, background, comps, comp_class, comp_counts, boxes)


# --- masks -------------------------------------------------------------------------------------------------

def _png(mask: np.ndarray, size: tuple[int, int]) -> str:
    """A uint8 work-grid mask upsampled (NEAREST) to ``size``, as base64 of a mode-L PNG (see ``_png``)."""
    return base64.b64encode(encode_upsampled(mask, size)).decode("ascii")


def _pngs(masks: Sequence[np.ndarray], size: tuple[int, int]) -> list[str]:
    """``_png`` of several work-grid masks at once (one vectorised encoding pass)."""
    return [base64.b64encode(png).decode("ascii") for png in encode_many(masks, size)]


def _membership(binary: np.ndarray) -> np.ndarray:
    """A membership probability per work pixel: ``0.5 * (binary + its 3x3 box blur)``.

    Inside a region it is above 0.5 (1 in the interior, lower near the edge), outside below 0.5 (0 away from the
    region), so thresholding at 0.5 gives the region exactly; higher thresholds erode it, lower ones dilate it.
    """
    im = Image.fromarray((binary * 255).astype(np.uint8), "L")
    if binary.shape[0] >= 3 and binary.shape[1] >= 3:
        im = im.filter(ImageFilter.BoxBlur(1))
    return 0.5 * binary + np.asarray(im, dtype=np.float32) / 510.0


def _binarize(binary: np.ndarray, mask_threshold: float) -> np.ndarray:
    """Apply ``mask_threshold`` to the membership: 0.5 is the region itself, above erodes, below dilates."""
    if mask_threshold == 0.5:
        return binary  # exactly the region: the membership is > 0.5 inside it and <= 0.5 outside (see _membership)
    m = _membership(binary)
    return m >= 1.0 if mask_threshold >= 1 else m > mask_threshold


def _label(seed: int, vocabulary: Sequence[str], colour: np.ndarray, taken: set[str]) -> str:
    key = tuple(int(c) // 32 for c in colour)
    start = _hash(seed, "label", len(vocabulary), key) % len(vocabulary)
    for step in range(len(vocabulary)):
        name = vocabulary[(start + step) % len(vocabulary)]
        if name not in taken:
            taken.add(name)
            return name
    return vocabulary[start]


def _score(seed: int, key: Any, frac: float, low: float, high: float) -> float:
    """A score in [low, high): bigger regions score higher, the rest is a stable hash."""
    u = _unit(seed, "score", key)
    s = low + (high - low) * (0.55 * min(1.0, math.sqrt(max(frac, 0.0)) * 1.6) + 0.45 * u)
    return round(min(s, high - 1e-6), 6)


# --- Hugging Face ------------------------------------------------------------------------------------------

MAX_SEGMENTS = 32
MAX_BOXES = 50


def hf_image_segmentation(
    data: bytes, params: Mapping[str, Any], *, seed: int = 0, work: int = 128, colours: int = 6,
    default_subtask: str = "panoptic", max_pixels: int = DEFAULT_MAX_PIXELS,
    thing_labels: Sequence[str] = THINGS, stuff_labels: Sequence[str] = STUFF,
) -> list[dict[str, Any]]:
    """``[{label, mask, score}]`` from the image's colour regions, labelled from ``thing_labels`` and ``stuff_labels``.

    ``subtask`` semantic: one segment per colour class, ``score`` null (as the transformers pipeline answers);
    instance: one per connected component of each non-background class; panoptic (default): background-like
    classes (the background, or a class covering over 20% of the image) as one "stuff" segment each, other
    components as "thing" segments. ``threshold`` drops segments scoring below it (default 0.9, as the pipeline);
    ``overlap_mask_area_threshold`` (default 0.8) drops components smaller than ``0.02 * value`` of the image;
    ``mask_threshold`` (default 0.5) binarizes each mask's smoothed membership.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    subtask = params.get("subtask") or default_subtask
    threshold = float(params.get("threshold", 0.9))
    mask_threshold = float(params.get("mask_threshold", 0.5))
    overlap = float(params.get("overlap_mask_area_threshold", 0.8))
    min_pixels = max(1, math.ceil(0.02 * overlap * r.pixels))
    taken: set[str] = set()
    segments: list[tuple[str, np.ndarray, float | None]] = []
    if subtask == "semantic":
        for c in range(len(r.counts)):
            segments.append((_label(seed, (*stuff_labels, *thing_labels), r.colours[c], taken), r.classes == c, None))
    else:
        stuff = {r.background} | {c for c in range(len(r.counts)) if r.counts[c] > 0.2 * r.pixels}
        if subtask == "panoptic":
            for c in sorted(stuff):
                frac = r.counts[c] / r.pixels
                segments.append((_label(seed, stuff_labels, r.colours[c], taken), r.classes == c, _score(seed, ("stuff", c), frac, 0.8, 1.0)))
        order = np.argsort(-r.component_counts, kind="stable")
        for comp in order.tolist():
            c = int(r.component_class[comp])
            if subtask == "panoptic" and c in stuff:
                continue
            if subtask == "instance" and c == r.background:
                continue
            if r.component_counts[comp] < min_pixels:
                continue
            frac = r.component_counts[comp] / r.pixels
            name = _label(seed, thing_labels, r.colours[c], set())
            segments.append((name, r.components == comp, _score(seed, ("thing", comp, c), frac, 0.8, 1.0)))
    kept = [s for s in segments if s[2] is None or s[2] >= threshold][:MAX_SEGMENTS]
    masks = _pngs([_binarize(binary, mask_threshold) * np.uint8(255) for _, binary, _ in kept], r.size)
    return [{"score": score, "label": name, "mask": mask} for (name, _, score), mask in zip(kept, masks)]


def _box(r: Regions, comp: int) -> dict[str, int]:
    """A component's work-grid box scaled to the input image: integer pixel edges, inside the image."""
    (w, h), (ww, wh) = r.size, r.work_size
    x0, y0, x1, y1 = (int(v) for v in r.component_boxes[comp])
    return {
        "xmin": min(w - 1, x0 * w // ww), "ymin": min(h - 1, y0 * h // wh),
        "xmax": min(w - 1, max(x0 * w // ww, -(-(x1 + 1) * w // ww) - 1)),
        "ymax": min(h - 1, max(y0 * h // wh, -(-(y1 + 1) * h // wh) - 1)),
    }


def hf_object_detection(
    data: bytes, params: Mapping[str, Any], *, seed: int = 0, work: int = 128, colours: int = 6,
    max_pixels: int = DEFAULT_MAX_PIXELS, thing_labels: Sequence[str] = THINGS,
) -> list[dict[str, Any]]:
    """``[{score, label, box}]``: one box around each sizeable connected region that is not background, labelled
    from ``thing_labels``.

    Components under 0.5% of the image are ignored; scores lie in [0.3, 1) and ``threshold`` (default 0.5, as the
    pipeline) drops the lower ones. Boxes are integer pixel coordinates with ``xmin <= xmax < width``.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    threshold = float(params.get("threshold", 0.5))
    min_pixels = max(1, math.ceil(0.005 * r.pixels))
    out = []
    for comp in np.argsort(-r.component_counts, kind="stable").tolist():
        c = int(r.component_class[comp])
        if c == r.background or r.component_counts[comp] < min_pixels:
            continue
        frac = r.component_counts[comp] / r.pixels
        score = _score(seed, ("box", comp, c), frac, 0.3, 1.0)
        if score < threshold:
            continue
        out.append({"score": score, "label": _label(seed, thing_labels, r.colours[c], set()), "box": _box(r, comp)})
        if len(out) >= MAX_BOXES:
            break
    return out


# --- Roboflow ----------------------------------------------------------------------------------------------

def roboflow_semantic_segmentation(
    data: bytes, params: Mapping[str, Any], *, seed: int = 0, work: int = 128, colours: int = 6,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """``{segmentation_mask, class_map, image}``: class id 0 is the background, 1.. the other colour classes.

    A pixel keeps its class only where the class's membership (see ``_membership``), as a percentage, reaches
    ``confidence`` (0-100, default 50): up to 50 the whole region, above that its edges fall back to 0. ``class_map`` lists every class of the image.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    confidence = float(params.get("confidence", 50)) / 100.0
    others = [c for c in range(len(r.counts)) if c != r.background]
    class_map = {"0": "background"}
    mask = np.zeros(r.classes.shape, dtype=np.uint8)
    taken = {"background"}
    for class_id, c in enumerate(others, start=1):
        class_map[str(class_id)] = _label(seed, THINGS + STUFF, r.colours[c], taken)
        binary = r.classes == c
        keep = binary & (_membership(binary) >= confidence) if confidence > 0.5 else binary
        mask[keep] = class_id
    return {"segmentation_mask": _png(mask, r.size), "class_map": class_map, "image": {"width": r.size[0], "height": r.size[1]}}


# --- AI Refinery -------------------------------------------------------------------------------------------

def airefinery_image_segmentation(
    data: bytes, segment_prompt: Sequence[Sequence[Sequence[float]]], *, seed: int = 0, created: int,
    work: int = 128, colours: int = 6, max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """``{created, data: [{b64_json, label, score}], usage}``: one categorical mask per prompt group.

    Each point selects the connected region of its colour class; a group's mask holds ``group index + 1`` on the
    union of its points' regions and 0 elsewhere. Points outside the image select nothing. ``usage`` counts
    image tokens (one per 32x32 tile of the input), point tokens and one output token per mask.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    (w, h), (ww, wh) = r.size, r.work_size
    items = []
    masks: list[np.ndarray] = []
    points = 0
    for g, group in enumerate(segment_prompt):
        union = np.zeros(r.classes.shape, dtype=bool)
        for point in group:
            points += 1
            x, y = float(point[0]), float(point[1])
            if not (0 <= x < w and 0 <= y < h):
                continue
            comp = int(r.components[min(wh - 1, int(y * wh / h)), min(ww - 1, int(x * ww / w))])
            union |= r.components == comp
        frac = float(union.mean())
        cls = np.bincount(r.classes[union], minlength=len(r.counts)) if union.any() else None
        colour = r.colours[int(np.argmax(cls))] if cls is not None else np.zeros(3, np.uint8)
        masks.append(union.astype(np.uint8) * np.uint8(min(g + 1, 255)))
        items.append({
            "b64_json": "",
            "label": _label(seed, THINGS + STUFF, colour, set()),
            "score": _score(seed, ("air", g, frac), frac, 0.5, 1.0) if union.any() else 0.0,
        })
    for item, mask in zip(items, _pngs(masks, r.size)):
        item["b64_json"] = mask
    image_tokens = math.ceil(w / 32) * math.ceil(h / 32)
    usage = {
        "input_tokens": image_tokens + points,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": points},
        "output_tokens": len(items),
        "total_tokens": image_tokens + points + len(items),
    }
    return {"created": int(created), "data": items, "usage": usage}


def digest(*parts: bytes | str) -> str:
    """A hex digest of several byte strings, length-prefixed so boundaries count."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        b = part.encode() if isinstance(part, str) else part
        h.update(struct.pack(">Q", len(b)))
        h.update(b)
    return h.hexdigest()

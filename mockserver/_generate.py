"""Pure, deterministic, content-aware response generation (numpy and Pillow only; nothing of HTTP here).

Every generator takes the request image's bytes and the request's parameters and returns the response body as a
Python value. The same inputs and ``seed`` always give the same body, byte for byte once serialised.

How an image becomes regions (``analyze``):

1. decode it (bounded by ``max_pixels``; JPEGs are decoded at a reduced scale with Pillow's ``draft``), flatten any
   alpha onto grey and downsample to at most ``work`` pixels a side;
2. quantize the colours with Pillow's fast octree (no dithering, a few dozen entries) and group the entries into
   at most ``colours`` *classes*: entries nearer than ``_NEAR`` always share a class (noise, shading, gradients),
   then the cheapest merges (Ward) until few enough remain;
3. clean the class map: classes that are nowhere thick (blur rims between two regions, noise split off a region)
   dissolve, each pixel into the neighbouring class nearest its colour; a 3x3 majority filter; then components
   that are specks or thin rims join their neighbours the same way (no holes inside a noisy object);
4. label 4-connected *components* of each class with a run-based union-find;
5. the *background* is the class covering most of the image border.

Labels come from the vocabulary the caller passes (the model family's things and stuff, see ``_families``;
COCO things and ADE20K-like stuff by default), picked by hashing the seed with the
region's colour, so a colour keeps its label across images. Scores grow with how salient a region is (its area,
its contrast with the regions around it, its compactness: ``_salience``), so the largest, clearest objects clear the
pipelines' default thresholds and small ragged ones go first; a small stable hash adds variety, never enough to
decide whether a salient region is kept.
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
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from vision_contracts.contracts import DEFAULT_MAX_PIXELS, ImageError, open_image

from ._limits import scale_to_8bit
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
_ENTRIES = 24  # octree palette entries at least, before they are grouped into colour classes
_NEAR = 40.0  # palette groups nearer than this (Euclidean RGB) are one colour class (noise, shading, gradients)
_SPECK = 0.001  # components under this share of the work grid are speckle: they join the class around them
_THIN = 1.0  # a class or component with fewer pixels than border edges is a blur rim or noise, not a region
_CONTRAST = 120.0  # colour distance (Euclidean RGB) across a border at which a region counts as fully contrasted


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
    classes: NDArray[Any]  # (h, w) uint8: class index per work pixel, classes ordered by area, largest first
    colours: NDArray[Any]  # (k, 3) uint8: mean colour of each class
    counts: NDArray[Any]  # (k,) int: work pixels per class
    background: int  # the class covering most of the image border
    components: NDArray[Any]  # (h, w) int32: component index per work pixel
    component_class: NDArray[Any]  # (n,) int: class of each component
    component_counts: NDArray[Any]  # (n,) int: work pixels per component
    component_boxes: NDArray[Any]  # (n, 4) int: x0, y0, x1, y1 (inclusive) of each component on the work grid

    @property
    def work_size(self) -> tuple[int, int]:
        return (self.classes.shape[1], self.classes.shape[0])

    @property
    def pixels(self) -> int:
        return int(self.classes.size)

    def component_salience(self) -> NDArray[Any]:
        """``_salience`` of each component: area, contrast and compactness."""
        return _salience(self.components, self.component_class, self.component_counts, self.colours, shape=True)

    def class_salience(self) -> NDArray[Any]:
        """``_salience`` of each colour class as one region (stuff): area and contrast."""
        return _salience(self.classes, np.arange(self.counts.size), self.counts, self.colours, shape=False)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info) or im.mode == "La":
        rgba = im.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, _GREY + (255,))
        return Image.alpha_composite(ground, rgba).convert("RGB")
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return scale_to_8bit(im).convert("RGB")  # the same values, in row blocks: no whole-image float64 copy
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
    scale = min(1.0, work / max(size))  # of the input's size: a drafted JPEG is already smaller
    target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale))) if scale < 1 else (w, h)
    if target != (w, h):
        rgb = rgb.resize(target, Image.Resampling.BOX)
    return rgb, size


def _palette(rgb: Image.Image, entries: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Pillow's fast octree with at most ``entries`` colours (no dithering): the entry index per pixel, and the
    entries in use as rows ``(r, g, b, pixel count)``, indexed as the returned map is (0..n-1)."""
    q = rgb.quantize(colors=entries, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    idx = np.asarray(q, dtype=np.uint8)
    counts = np.bincount(idx.ravel(), minlength=256)
    flat = (q.getpalette() or [])[: 3 * 256]
    pal = np.array(flat + [0] * (3 * 256 - len(flat)), dtype=np.float64).reshape(-1, 3)
    used = np.flatnonzero(counts)
    compact = np.zeros(256, dtype=np.uint8)
    compact[used] = np.arange(used.size, dtype=np.uint8)
    return compact[idx], np.column_stack([pal[used], counts[used]])


def _merge_colours(entries: NDArray[Any], limit: int) -> tuple[NDArray[Any], NDArray[Any]]:
    """Group palette entries into at most ``limit`` colour classes: the two closest groups (count-weighted mean
    colours) merge while they are nearer than ``_NEAR``, then, while more than ``limit`` remain, the pair whose
    merge moves the fewest pixels' colours (Ward's cost: small groups join their nearest big one first).

    Returns each entry's group (0..) and the groups' mean colours. A few dozen entries: the squared distances
    are kept in a small matrix, updated for the merged group only."""
    centres, weights = entries[:, :3].copy(), entries[:, 3].copy()
    group = np.arange(len(entries))
    dead = np.zeros(len(entries), dtype=bool)
    d2 = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d2, np.inf)
    for alive in range(len(entries), 1, -1):
        i, j = np.unravel_index(int(np.argmin(d2)), d2.shape)
        if d2[i, j] >= _NEAR**2:
            if alive <= limit:
                break
            i, j = np.unravel_index(int(np.argmin(d2 * (np.outer(weights, weights) / np.add.outer(weights, weights)))), d2.shape)
        a, b = (int(i), int(j)) if i < j else (int(j), int(i))
        centres[a] = (centres[a] * weights[a] + centres[b] * weights[b]) / (weights[a] + weights[b])
        weights[a] += weights[b]
        group[group == b] = a
        dead[b] = True
        row = ((centres - centres[a]) ** 2).sum(axis=1)
        row[dead] = np.inf
        row[a] = np.inf
        d2[a, :] = row
        d2[:, a] = row
        d2[b, :] = np.inf
        d2[:, b] = np.inf
    kept, index = np.unique(group, return_inverse=True)
    return index, centres[kept]


def _quantize(rgb: Image.Image, colours: int) -> NDArray[Any]:
    """Colour class per pixel, at most ``colours`` classes: the octree's palette entries (a few times more than
    ``colours``) grouped by ``_merge_colours``, so that noise, shading and a smooth gradient stay one class while
    distinct colours stay apart. Each pixel keeps the octree's choice of entry (the nearest entry's group for all
    but a few pixels per thousand on the border between two regions)."""
    idx, entries = _palette(rgb, min(256, max(_ENTRIES, 3 * colours)))
    group, _ = _merge_colours(entries, colours)
    classes: NDArray[Any] = group.astype(np.uint8)[idx]
    return classes


def _components(classes: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
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
    label: NDArray[Any] = np.arange(n, dtype=np.int64)  # every label is a root (label[r] == r) between iterations
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


def _dissolve_thin(classes: NDArray[Any], pixels: NDArray[Any]) -> NDArray[Any]:
    """Dissolve the colour classes that are nowhere thick: the rim of mixed colours that blur leaves between two
    regions, and noise split off a flat region as scattered pixels. A class is thin when it has fewer than
    ``_THIN`` pixels per border edge (a solid region of any size has far more, a one-pixel rim about 0.5). The
    thinnest class goes first (``_join_neighbours``), repeated until no class is thin (a noise split in two
    halves: once one half has joined the other, that is solid). ``pixels`` are the colours, (n, 3)."""
    classes = classes.copy()
    flat = classes.reshape(-1)
    k = int(flat.max()) + 1
    while True:
        counts = np.bincount(flat, minlength=k)
        a, b = _border_pairs(classes)
        edges = np.bincount(np.concatenate([a, b]), minlength=k)
        thickness = np.where(counts > 0, counts / np.maximum(edges, 1), np.inf)
        thin = int(np.argmin(thickness))
        if thickness[thin] >= _THIN or np.count_nonzero(counts) <= 1:
            return classes
        _join_neighbours(classes, flat == thin, pixels, _class_means(classes, pixels, k).astype(np.int32))


_AROUND = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _join_neighbours(classes: NDArray[Any], moving: NDArray[Any], pixels: NDArray[Any], centres: NDArray[Any]) -> None:
    """In place: each pixel where ``moving`` (flat, bool) joins, of the classes of its 8 neighbours that are not
    moving, the one whose mean colour (``centres``) is nearest its own colour: a blurred edge is split halfway
    between the colours of the two regions it separates, never given to a third class of similar colour elsewhere,
    and a speck takes the region around it. Pixels with no such neighbour wait for their neighbours to settle
    (rounds, inward); if none can settle (nothing else around at all), the nearest colour of the other classes."""
    h, w = classes.shape
    flat = classes.reshape(-1)
    members = np.flatnonzero(moving)
    if members.size == flat.size:
        return
    settled = ~moving
    ys, xs = np.divmod(members, w)
    far = np.iinfo(np.int64).max
    while members.size:
        around = np.stack([np.clip(ys + dy, 0, h - 1) * w + np.clip(xs + dx, 0, w - 1) for dy, dx in _AROUND], axis=1)
        cells = flat[around]
        distance = ((pixels[members].astype(np.int64)[:, None, :] - centres[cells]) ** 2).sum(axis=2)
        distance[~settled[around]] = far
        pick = np.argmin(distance, axis=1)
        rows = np.arange(members.size)
        done = distance[rows, pick] < far
        if not done.any():
            others = np.unique(flat[settled])
            gaps = ((pixels[members].astype(np.int64)[:, None, :] - centres[others]) ** 2).sum(axis=2)
            flat[members] = others[np.argmin(gaps, axis=1)]
            return
        flat[members[done]] = cells[rows[done], pick[done]]
        settled[members[done]] = True
        members, ys, xs = members[~done], ys[~done], xs[~done]


def _majority(classes: NDArray[Any]) -> NDArray[Any]:
    """A 3x3 majority filter: a pixel takes the most frequent class of its 3x3 window (edges replicated) when
    that class occurs there more often than its own (ties: the smaller class index). Only pixels whose own class
    fills at most 4 of the 9 cells can change: the window is counted for those alone."""
    h, w = classes.shape
    padded = np.pad(classes, 1, mode="edge")
    windows = [padded[dy: dy + h, dx: dx + w] for dy in range(3) for dx in range(3)]
    same = np.zeros((h, w), dtype=np.uint8)
    for window in windows:
        same += window == classes
    unsure = np.flatnonzero(same.reshape(-1) <= 4)
    if not unsure.size:
        return classes
    cells = np.stack([window.reshape(-1)[unsure] for window in windows], axis=1)  # (n, 9)
    counts = (cells[:, :, None] == np.arange(int(classes.max()) + 1, dtype=np.uint8)).sum(axis=1)  # (n, k)
    best = counts.argmax(axis=1)
    own = classes.reshape(-1)[unsure]
    rows = np.arange(unsure.size)
    wins = counts[rows, best] > counts[rows, own]
    out = classes.copy()
    out.reshape(-1)[unsure[wins]] = best[wins]
    return out


def _despeckle(classes: NDArray[Any], pixels: NDArray[Any]) -> tuple[NDArray[Any], tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]]:
    """Salt-and-pepper and rims out of the class map: a 3x3 majority filter, then the components that are specks
    (under ``_SPECK`` of the grid) or thin (under ``_THIN`` pixels per border edge: a rim of blurred edge that
    joined a class of similar colour elsewhere) join their neighbours (``_join_neighbours``): holes close, specks
    and rims vanish. Returns the classes and their components (``_components``)."""
    if min(classes.shape) >= 3:
        classes = _majority(classes)
    comps = _components(classes)
    labels, _, counts, _ = comps
    a, b = _border_pairs(labels)
    edges = np.bincount(np.concatenate([a, b]), minlength=counts.size)
    moving = (counts < _SPECK * classes.size) | (counts < _THIN * edges)
    if not moving.any() or moving.all():
        return classes, comps
    classes = classes.copy()
    _join_neighbours(classes, moving[labels].reshape(-1), pixels, _class_means(classes, pixels, int(classes.max()) + 1).astype(np.int32))
    return classes, _components(classes)


def _class_means(classes: NDArray[Any], rgb: NDArray[Any], k: int) -> NDArray[Any]:
    """Mean colour (rounded, uint8) of each of ``k`` classes; ``rgb`` is (pixels, 3)."""
    flat = classes.ravel()
    counts = np.bincount(flat, minlength=k)
    if k * flat.size <= 1 << 21:  # one-hot product: integer sums, exact in float64; small grids only (memory)
        sums = (flat[None, :] == np.arange(k, dtype=np.uint8)[:, None]).astype(np.float64) @ rgb
    else:
        sums = np.stack([np.bincount(flat, weights=rgb[:, c], minlength=k) for c in range(3)], axis=1)
    means: NDArray[Any] = np.round(sums / np.maximum(counts, 1)[:, None]).astype(np.uint8)
    return means


def analyze(data: bytes, *, work: int = 128, colours: int = 6, max_pixels: int = DEFAULT_MAX_PIXELS) -> Regions:
    """Decode an image and split it into colour classes and connected components (see the module docstring)."""
    rgb, size = _work_image(data, work, max_pixels)
    pixels = np.asarray(rgb).reshape(-1, 3)
    raw, (comps, comp_class, comp_counts, boxes) = _despeckle(_dissolve_thin(_quantize(rgb, colours), pixels), pixels)
    k_raw = int(raw.max()) + 1
    raw_counts = np.bincount(raw.ravel(), minlength=k_raw)
    raw_means = _class_means(raw, pixels, k_raw)
    # order classes by area (largest first), ties by mean colour: deterministic
    order = sorted(np.flatnonzero(raw_counts).tolist(), key=lambda p: (-int(raw_counts[p]), tuple(raw_means[p].tolist())))
    remap = np.zeros(k_raw, dtype=np.uint8)
    remap[order] = np.arange(len(order), dtype=np.uint8)
    classes, comp_class = remap[raw], remap[comp_class].astype(np.int64)
    k = len(order)
    counts, mean = raw_counts[order], raw_means[order]
    border = np.concatenate([classes[0], classes[-1], classes[:, 0], classes[:, -1]])
    border_counts = np.bincount(border, minlength=k)
    background = int(max(range(k), key=lambda c: (int(border_counts[c]), int(counts[c]), -c)))
    return Regions(size, classes, mean, counts, background, comps, comp_class, comp_counts, boxes)


# --- masks -------------------------------------------------------------------------------------------------

def _png(mask: NDArray[Any], size: tuple[int, int]) -> str:
    """A uint8 work-grid mask upsampled (NEAREST) to ``size``, as base64 of a mode-L PNG (see ``_png``)."""
    return base64.b64encode(encode_upsampled(mask, size)).decode("ascii")


def _pngs(masks: Sequence[NDArray[Any]], size: tuple[int, int]) -> list[str]:
    """``_png`` of several work-grid masks at once (one vectorised encoding pass)."""
    return [base64.b64encode(png).decode("ascii") for png in encode_many(masks, size)]


def _membership(binary: NDArray[Any]) -> NDArray[Any]:
    """A membership probability per work pixel: ``0.5 * (binary + its 3x3 box blur)``.

    Inside a region it is above 0.5 (1 in the interior, lower near the edge), outside below 0.5 (0 away from the
    region), so thresholding at 0.5 gives the region exactly; higher thresholds erode it, lower ones dilate it.
    """
    im = Image.fromarray((binary * 255).astype(np.uint8), "L")
    if binary.shape[0] >= 3 and binary.shape[1] >= 3:
        im = im.filter(ImageFilter.BoxBlur(1))
    return 0.5 * binary + np.asarray(im, dtype=np.float32) / 510.0


def _binarize(binary: NDArray[Any], mask_threshold: float) -> NDArray[Any]:
    """Apply ``mask_threshold`` to the membership: 0.5 is the region itself, above erodes, below dilates."""
    if mask_threshold == 0.5:
        return binary  # exactly the region: the membership is > 0.5 inside it and <= 0.5 outside (see _membership)
    m = _membership(binary)
    return m >= 1.0 if mask_threshold >= 1 else m > mask_threshold


def _label(seed: int, vocabulary: Sequence[str], colour: NDArray[Any], taken: set[str]) -> str:
    key = tuple(int(c) // 32 for c in colour)
    start = _hash(seed, "label", len(vocabulary), key) % len(vocabulary)
    for step in range(len(vocabulary)):
        name = vocabulary[(start + step) % len(vocabulary)]
        if name not in taken:
            taken.add(name)
            return name
    return vocabulary[start]


def _border_pairs(labels: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """The 4-neighbour pixel pairs whose labels differ, each pair once, as (label, neighbour's label)."""
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:].ravel()])
    differ = a != b
    return a[differ], b[differ]


def _salience(labels: NDArray[Any], label_class: NDArray[Any], counts: NDArray[Any], colours: NDArray[Any], *, shape: bool) -> NDArray[Any]:
    """How salient each region of ``labels`` (components, or classes with ``label_class`` the identity) is, in
    [0, 1]: the product of

    - area: ``1 - exp(-share / 0.04)`` of the image (1% -> 0.22, 5% -> 0.71, 20% -> 0.99), to the power 0.5;
    - contrast: the mean colour distance (Euclidean RGB) to the regions across its border, over ``_CONTRAST``
      (capped at 1; a region with no border counts as fully contrasted), to the power 0.3;
    - compactness (``shape``): ``16 * area / perimeter**2`` on the 4-neighbour grid (1 for a square, 0.79 for a
      disc, near 0 for ragged specks and thin rings), to the power 0.2. Stuff (amorphous by nature) skips it.
    """
    n = counts.size
    a, b = _border_pairs(labels)
    distance = np.linalg.norm(colours[label_class[a]].astype(np.float64) - colours[label_class[b]], axis=1)
    ends = np.concatenate([a, b])
    perimeter = np.bincount(ends, minlength=n).astype(np.float64)
    summed = np.bincount(ends, weights=np.concatenate([distance, distance]), minlength=n)
    contrast = np.where(perimeter > 0, summed / np.maximum(perimeter, 1) / _CONTRAST, 1.0)
    out: NDArray[Any] = np.sqrt(1.0 - np.exp(-counts / labels.size / 0.04)) * np.minimum(contrast, 1.0) ** 0.3
    if shape:
        out *= np.where(perimeter > 0, np.minimum(1.0, 16.0 * counts / np.maximum(perimeter, 1) ** 2), 1.0) ** 0.2
    return out


def _score(seed: int, key: Any, salience: float, low: float, high: float) -> float:
    """A score in [low, high): 90% the region's salience (``_salience``), 10% a stable hash of ``key`` for variety,
    so a salient region (salience >= 0.56) clears the upper half of the range whatever the hash."""
    u = _unit(seed, "score", key)
    s = low + (high - low) * (0.9 * min(1.0, max(salience, 0.0)) + 0.1 * u)
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
    components as "thing" segments. Scores lie in [0.8, 1), from each segment's salience (``_score``): an object of
    5% of the image or more with clear contrast scores over 0.9. ``threshold`` drops segments scoring below it
    (default 0.9, as the pipeline); ``overlap_mask_area_threshold`` (default 0.8) drops components smaller than
    ``0.02 * value`` of the image;
    ``mask_threshold`` (default 0.5) binarizes each mask's smoothed membership.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    subtask = params.get("subtask") or default_subtask
    threshold = float(params.get("threshold", 0.9))
    mask_threshold = float(params.get("mask_threshold", 0.5))
    overlap = float(params.get("overlap_mask_area_threshold", 0.8))
    min_pixels = max(1, math.ceil(0.02 * overlap * r.pixels))
    taken: set[str] = set()
    segments: list[tuple[str, NDArray[Any], float | None]] = []
    if subtask == "semantic":
        for c in range(len(r.counts)):
            segments.append((_label(seed, (*stuff_labels, *thing_labels), r.colours[c], taken), r.classes == c, None))
    else:
        stuff = {r.background} | {c for c in range(len(r.counts)) if r.counts[c] > 0.2 * r.pixels}
        if subtask == "panoptic":
            class_salience = r.class_salience()
            for c in sorted(stuff):
                score = _score(seed, ("stuff", c), float(class_salience[c]), 0.8, 1.0)
                segments.append((_label(seed, stuff_labels, r.colours[c], taken), r.classes == c, score))
        salience = r.component_salience()
        order = np.argsort(-r.component_counts, kind="stable")
        for comp in order.tolist():
            c = int(r.component_class[comp])
            if subtask == "panoptic" and c in stuff:
                continue
            if subtask == "instance" and c == r.background:
                continue
            if r.component_counts[comp] < min_pixels:
                continue
            name = _label(seed, thing_labels, r.colours[c], set())
            segments.append((name, r.components == comp, _score(seed, ("thing", comp, c), float(salience[comp]), 0.8, 1.0)))
    kept = [s for s in segments if s[2] is None or s[2] >= threshold][:MAX_SEGMENTS]
    masks = _pngs([_binarize(binary, mask_threshold) * np.uint8(255) for _, binary, _ in kept], r.size)
    return [{"score": score, "label": name, "mask": mask} for (name, _, score), mask in zip(kept, masks, strict=True)]


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

    Components under 0.5% of the image are ignored; scores lie in [0.3, 1), from each region's salience (``_score``),
    and ``threshold`` (default 0.5, as the pipeline) drops the lower ones. Boxes are integer pixel coordinates with
    ``xmin <= xmax < width``.
    """
    r = analyze(data, work=work, colours=colours, max_pixels=max_pixels)
    threshold = float(params.get("threshold", 0.5))
    min_pixels = max(1, math.ceil(0.005 * r.pixels))
    salience = r.component_salience()
    out = []
    for comp in np.argsort(-r.component_counts, kind="stable").tolist():
        c = int(r.component_class[comp])
        if c == r.background or r.component_counts[comp] < min_pixels:
            continue
        score = _score(seed, ("box", comp, c), float(salience[comp]), 0.3, 1.0)
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
    ``confidence`` (0-100, default 50): up to 50 the whole region, above that its edges fall back to 0. ``class_map``
    lists every class of the image.
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
    masks: list[NDArray[Any]] = []
    salience = r.component_salience()
    points = 0
    for g, group in enumerate(segment_prompt):
        union = np.zeros(r.classes.shape, dtype=bool)
        chosen = 0.0  # the salience of the most salient region chosen
        for point in group:
            points += 1
            x, y = float(point[0]), float(point[1])
            if not (0 <= x < w and 0 <= y < h):
                continue
            comp = int(r.components[min(wh - 1, int(y * wh / h)), min(ww - 1, int(x * ww / w))])
            union |= r.components == comp
            chosen = max(chosen, float(salience[comp]))
        frac = float(union.mean())
        cls = np.bincount(r.classes[union], minlength=len(r.counts)) if union.any() else None
        colour = r.colours[int(np.argmax(cls))] if cls is not None else np.zeros(3, np.uint8)
        masks.append(union.astype(np.uint8) * np.uint8(min(g + 1, 255)))
        items.append({
            "b64_json": "",
            "label": _label(seed, THINGS + STUFF, colour, set()),
            "score": _score(seed, ("air", g, frac), chosen, 0.5, 1.0) if union.any() else 0.0,
        })
    for item, mask in zip(items, _pngs(masks, r.size), strict=True):
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

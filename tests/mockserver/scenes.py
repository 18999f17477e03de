"""Seeded photo-like test scenes with known ground truth: ``scene(seed)`` -> image bytes plus each object's true
mask, box and an inside point.

A scene is a textured gradient background with 1-5 clearly separated objects (ellipses, rectangles, star-shaped
polygons) of distinct flat, slightly shaded colours, each covering 5-40% of the image and kept apart from the others
and from the image border by a gap; then Gaussian blur, Gaussian sensor noise and JPEG compression (quality 75-90).
Sizes range from 200x150 to 1024x768. The same seed always gives the same bytes and the same truth.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["Scene", "SceneObject", "box_iou", "mask_iou", "render", "scene"]

SHAPES = ("ellipse", "rectangle", "polygon")
MIN_FRACTION = 0.05
MAX_FRACTION = 0.40
MAX_TOTAL = 0.5  # total object cover: room left to place them apart


@dataclass(frozen=True)
class SceneObject:
    shape: str
    colour: tuple[int, int, int]
    mask: np.ndarray  # (h, w) bool: the object's true pixels
    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: inclusive pixel edges, as Hugging Face boxes
    point: tuple[int, int]  # (x, y) well inside the object: a prompt point

    @property
    def fraction(self) -> float:
        return float(self.mask.mean())


@dataclass(frozen=True)
class Scene:
    seed: int
    image: bytes  # JPEG
    size: tuple[int, int]  # (width, height)
    objects: tuple[SceneObject, ...]


# --- geometry ---------------------------------------------------------------------------------------------------

def _outline(shape: str, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A shape's outline as a polygon around (0, 0), unit-ish size (scaled to its area later)."""
    rotation = float(rng.uniform(0, math.pi))
    aspect = float(rng.uniform(0.45, 1.0))
    if shape == "rectangle" and rng.random() < 0.5:
        rotation = 0.0  # half of the rectangles axis-aligned
    if shape == "polygon":
        n = int(rng.integers(5, 9))
        step = 2 * math.pi / n  # jittered angles stay in order and less than pi apart: the centre is inside
        angles = np.arange(n) * step + rng.uniform(-0.3, 0.3, n) * step + rng.uniform(0, step)
        radii = rng.uniform(0.7, 1.0, n)
        pts = [(float(r * math.cos(a)), float(r * aspect * math.sin(a))) for r, a in zip(radii, angles, strict=True)]
    elif shape == "rectangle":
        pts = [(-1.0, -aspect), (1.0, -aspect), (1.0, aspect), (-1.0, aspect)]
    else:
        t = np.linspace(0, 2 * math.pi, 96, endpoint=False)
        pts = [(float(math.cos(a)), float(aspect * math.sin(a))) for a in t]
    c, s = math.cos(rotation), math.sin(rotation)
    return [(x * c - y * s, x * s + y * c) for x, y in pts]


def _rasterize(outline: list[tuple[float, float]], scale: float, centre: tuple[float, float]) -> tuple[np.ndarray, int, int]:
    """The shape's pixels in a small mask around it, and that mask's top-left corner in the image."""
    pts = [(centre[0] + x * scale, centre[1] + y * scale) for x, y in outline]
    x0, y0 = math.floor(min(p[0] for p in pts)) - 1, math.floor(min(p[1] for p in pts)) - 1
    x1, y1 = math.ceil(max(p[0] for p in pts)) + 2, math.ceil(max(p[1] for p in pts)) + 2
    im = Image.new("1", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(im).polygon([(x - x0, y - y0) for x, y in pts], fill=1)
    return np.asarray(im, dtype=bool), x0, y0


def _polygon_area(outline: list[tuple[float, float]]) -> float:
    xs = np.array([p[0] for p in outline])
    ys = np.array([p[1] for p in outline])
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by a (2 radius + 1) square: window sums from an integral image."""
    h, w = mask.shape
    integral = np.zeros((h + 1, w + 1), np.int64)
    integral[1:, 1:] = mask.cumsum(0).cumsum(1)
    y0 = np.clip(np.arange(h) - radius, 0, h)[:, None]
    y1 = np.clip(np.arange(h) + radius + 1, 0, h)[:, None]
    x0 = np.clip(np.arange(w) - radius, 0, w)[None, :]
    x1 = np.clip(np.arange(w) + radius + 1, 0, w)[None, :]
    return (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) > 0


def _fractions(rng: np.random.Generator) -> list[float]:
    """1-5 object cover fractions in [5%, 40%], together at most MAX_TOTAL."""
    n = int(rng.integers(1, 6))
    out: list[float] = []
    for i in range(n):
        room = MAX_TOTAL - sum(out) - MIN_FRACTION * (n - i - 1)
        out.append(float(rng.uniform(MIN_FRACTION, max(MIN_FRACTION, min(MAX_FRACTION, room)))))
    return out


def _place(rng: np.random.Generator, fraction: float, size: tuple[int, int], taken: np.ndarray, gap: int) -> tuple[str, np.ndarray, tuple[int, int]] | None:
    """An object of about ``fraction`` of the image, inside it and ``gap`` pixels away from ``taken``; None if
    it does not fit after many tries (also shrinking it, never under MIN_FRACTION)."""
    w, h = size
    shape = SHAPES[int(rng.integers(0, len(SHAPES)))]
    outline = _outline(shape, rng)
    for attempt in range(400):
        f = max(MIN_FRACTION * 1.04, fraction * 0.85 ** (attempt // 40))
        scale = math.sqrt(f * w * h / _polygon_area(outline))
        xs = [x * scale for x, _ in outline]
        ys = [y * scale for _, y in outline]
        lo_x, hi_x = gap - min(xs), w - 1 - gap - max(xs)
        lo_y, hi_y = gap - min(ys), h - 1 - gap - max(ys)
        if lo_x > hi_x or lo_y > hi_y:
            continue
        u, v = (1 - np.cos(math.pi * rng.uniform(0, 1, 2))) / 2  # arcsine: mostly near the sides, room is left
        centre = (float(lo_x + u * (hi_x - lo_x)), float(lo_y + v * (hi_y - lo_y)))
        local, x0, y0 = _rasterize(outline, scale, centre)
        lh, lw = local.shape
        window = taken[max(0, y0): y0 + lh, max(0, x0): x0 + lw]
        inside = local[max(0, -y0): max(0, -y0) + window.shape[0], max(0, -x0): max(0, -x0) + window.shape[1]]
        if inside.sum() == local.sum() and not (inside & window).any():
            mask = np.zeros((h, w), dtype=bool)
            mask[max(0, y0): y0 + lh, max(0, x0): x0 + lw] = inside
            return shape, mask, (round(centre[0]), round(centre[1]))
    return None


# --- colours and pixels -----------------------------------------------------------------------------------------

def _far(rng: np.random.Generator, others: list[np.ndarray], distance: float) -> np.ndarray:
    """A random colour at least ``distance`` (Euclidean RGB) from every colour in ``others``."""
    best, best_d = None, -1.0
    for _ in range(400):
        c = rng.integers(15, 241, 3).astype(np.float64)
        d = min((float(np.linalg.norm(c - o)) for o in others), default=math.inf)
        if d >= distance:
            return c
        if d > best_d:
            best, best_d = c, d
    assert best is not None
    return best


def _background(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """A two-colour linear gradient at a random angle plus low-frequency texture; returns it and its colours."""
    w, h = size
    c0 = rng.integers(30, 226, 3).astype(np.float64)
    c1 = np.clip(c0 + rng.uniform(-35, 35, 3), 0, 255)
    angle = float(rng.uniform(0, 2 * math.pi))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle)
    t = (t - t.min()) / max(1e-9, float(np.ptp(t)))
    image = c0 + (c1 - c0) * t[..., None]
    coarse = rng.uniform(-1, 1, (6, 8)).astype(np.float32)
    texture = np.asarray(Image.fromarray(coarse, "F").resize((w, h), Image.Resampling.BICUBIC), dtype=np.float64)
    image += float(rng.uniform(3, 10)) * texture[..., None]
    return image, [c0, c1, (c0 + c1) / 2]


def _shade(rng: np.random.Generator, colour: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The object's colour with a gentle linear shading (up to +-10 per channel across the image)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    gx, gy = rng.uniform(-10, 10, 2)
    return colour + (gx * (xx / w - 0.5) + gy * (yy / h - 0.5))[..., None]


def render(pixels: np.ndarray, rng: np.random.Generator, *, blur: float, noise: float, quality: int) -> bytes:
    """Blur, sensor noise, JPEG: the camera pipeline of every scene."""
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    if blur > 0:
        im = im.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(im, dtype=np.float64) + rng.normal(0, noise, (im.height, im.width, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def scene(seed: int) -> Scene:
    """The scene of ``seed`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    w = int(rng.integers(200, 1025))
    h = int(np.clip(round(w * rng.uniform(0.55, 1.3)), 150, 768))
    size = (w, h)
    pixels, ground = _background(rng, size)
    gap = max(3, round(0.02 * min(w, h)))
    taken = np.zeros((h, w), dtype=bool)
    colours: list[np.ndarray] = []
    objects: list[SceneObject] = []
    for fraction in sorted(_fractions(rng), reverse=True):  # the largest first: the others fit around it
        placed = _place(rng, fraction, size, _dilate(taken, gap), gap)
        if placed is None:
            continue
        shape, mask, point = placed
        colour = _far(rng, ground + colours, 110.0)
        colours.append(colour)
        pixels[mask] = _shade(rng, colour, size)[mask]
        taken |= mask
        objects.append(SceneObject(
            shape=shape, colour=(int(colour[0]), int(colour[1]), int(colour[2])), mask=mask, box=_box(mask), point=point,
        ))
    image = render(pixels, rng, blur=float(rng.uniform(0.6, 1.6)), noise=float(rng.uniform(3, 10)), quality=int(rng.integers(75, 91)))
    return Scene(seed, image, size, tuple(objects))


# --- scoring ----------------------------------------------------------------------------------------------------

def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """IoU of two boxes with inclusive integer pixel edges (xmin, ymin, xmax, ymax)."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(0, iw) * max(0, ih)
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / area

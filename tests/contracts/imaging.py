"""Small image factories for the contracts tests."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(max(1, height // 8), max(1, width // 8), 3), dtype=np.uint8)
    im = Image.fromarray(pixels, "RGB").resize((width, height), Image.NEAREST)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80)
    return out.getvalue()


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def mask(width: int, height: int, values: tuple[int, ...] = (0, 255)) -> str:
    """A single-channel PNG mask (base64) of the size, using the given pixel values in stripes."""
    arr = np.zeros((height, width), dtype=np.uint8)
    for i, v in enumerate(values):
        arr[:, i * width // len(values):] = v
    return b64(png(arr))

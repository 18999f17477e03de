"""Hypothesis strategies for real encoded images, and a few deliberately broken ones.

Images are drawn as a size, a background colour and up to three filled rectangles, then encoded by Pillow. Drawing a
handful of colours instead of every pixel keeps generation fast (a 64x64 PNG takes well under a millisecond) and makes
shrinking meaningful: Hypothesis shrinks towards a ``min_size`` x ``min_size`` image of one black colour.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, overload

from hypothesis import strategies as st
from PIL import Image, ImageDraw

__all__ = ["MEDIA_TYPES", "ImageSample", "image_infos", "images", "junk_bytes", "oversized_png"]

#: The modes each format can hold without conversion when Pillow encodes it.
ENCODABLE = MappingProxyType({
    "PNG": ("L", "RGB", "RGBA", "P", "I;16"),
    "JPEG": ("L", "RGB"),
    "WEBP": ("RGB", "RGBA"),
})

MEDIA_TYPES = MappingProxyType({"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"})
EXTENSIONS = MappingProxyType({"PNG": "png", "JPEG": "jpg", "WEBP": "webp"})

_CHANNEL_MAX = MappingProxyType({"L": 255, "P": 255, "I;16": 65535})


@dataclass(frozen=True)
class ImageSample:
    """One encoded image with the facts a test needs about it."""

    data: bytes
    width: int
    height: int
    format: str
    mode: str

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]

    def __repr__(self) -> str:
        return f"ImageSample({self.format} {self.mode} {self.width}x{self.height}, {len(self.data)} bytes)"


def encodable_pairs(formats: Iterable[str], modes: Iterable[str]) -> list[tuple[str, str]]:
    """The (format, mode) pairs Pillow can encode as they are; pairs a format cannot hold are left out."""
    formats, modes = [f.upper() for f in formats], list(modes)
    unknown = [f for f in formats if f not in ENCODABLE]
    if unknown:
        raise ValueError(f"Unknown image formats {unknown}; the strategies encode {sorted(ENCODABLE)}.")
    pairs = [(f, m) for f in formats for m in modes if m in ENCODABLE[f]]
    if not pairs:
        held = "; ".join(f"{f} holds {', '.join(ENCODABLE[f])}" for f in formats)
        raise ValueError(f"None of the modes {modes} can be encoded in the formats {formats} ({held}).")
    return pairs


def _colour(mode: str) -> st.SearchStrategy[int]:
    """A colour as one integer (one Hypothesis choice, shrinking to black): a grey level, a palette index or packed
    channels."""
    if mode in _CHANNEL_MAX:
        return st.integers(0, _CHANNEL_MAX[mode])
    return st.integers(0, 2 ** (8 * len(mode)) - 1)


@overload
def _unpack(mode: Literal["RGB"], value: int) -> tuple[int, ...]: ...
@overload
def _unpack(mode: str, value: int) -> int | tuple[int, ...]: ...
def _unpack(mode: str, value: int) -> int | tuple[int, ...]:
    if mode in _CHANNEL_MAX:
        return value
    return tuple((value >> (8 * i)) & 0xFF for i in range(len(mode)))


def _render(mode: str, size: tuple[int, int], background: int, rectangles: Sequence[tuple[int, int, int]] | None,
            palette: Sequence[int] | None) -> Image.Image:
    im = Image.new(mode, size, _unpack(mode, background))
    if palette:
        im.putpalette([c for rgb in palette for c in _unpack("RGB", rgb)])
    if rectangles:
        draw = ImageDraw.Draw(im)
        width = size[0]
        for a, b, colour in rectangles:
            (y0, x0), (y1, x1) = divmod(a, width), divmod(b, width)
            draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=_unpack(mode, colour))
    return im


def encode(im: Image.Image, fmt: str, quality: int = 90) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        im.save(out, "PNG", compress_level=1)
    elif fmt == "JPEG":
        im.save(out, "JPEG", quality=quality)
    else:
        im.save(out, "WEBP", quality=quality, method=0)
    return out.getvalue()


_PACKED = st.integers(0, 2**62)  # one choice per rectangle: two corners and a colour, unpacked by modulo
_RECTANGLE_COUNT = st.integers(0, 3)
_PALETTE_SIZE = st.integers(1, 4)
_RGB = st.integers(0, 2**24 - 1)


def _rectangle(packed: int, area: int, colours: int) -> tuple[int, int, int]:
    rest, a = divmod(packed, area)
    rest, b = divmod(rest, area)
    return a, b, rest % colours


@st.composite
def _samples(draw: st.DrawFn, pairs: list[tuple[str, str]], pair_index: st.SearchStrategy, side: st.SearchStrategy,
             colours: dict[str, st.SearchStrategy]) -> ImageSample:
    """Few Hypothesis choices per image (about six), since each choice costs more than encoding a small image. The
    strategies are built once, outside the draw: building one per draw makes Hypothesis validate it every time."""
    fmt, mode = pairs[draw(pair_index)]
    width, height = draw(side), draw(side)
    background = draw(colours[mode])
    area, count = width * height, _CHANNEL_MAX.get(mode, 2 ** (8 * len(mode)) - 1) + 1
    rectangles = [_rectangle(draw(_PACKED), area, count) for _ in range(draw(_RECTANGLE_COUNT))]
    palette = None
    if mode == "P":
        palette = [draw(_RGB) for _ in range(draw(_PALETTE_SIZE))]
        background %= len(palette)
        rectangles = [(a, b, c % len(palette)) for a, b, c in rectangles]
    im = _render(mode, (width, height), background, rectangles, palette)
    return ImageSample(encode(im, fmt), width, height, fmt, mode)


def image_infos(
    formats: Iterable[str] = ("PNG", "JPEG", "WEBP"),
    modes: Iterable[str] = ("L", "RGB", "RGBA", "P", "I;16"),
    min_size: int = 1,
    max_size: int = 64,
) -> st.SearchStrategy[ImageSample]:
    """Encoded images with their facts (:class:`ImageSample`: data, width, height, format, mode).

    Only the (format, mode) pairs Pillow can encode are drawn: JPEG holds L and RGB, WebP holds RGB and RGBA, and
    16-bit (``I;16``) and palette (``P``) images are PNG only. Asking for pairs none of which is encodable raises
    ValueError. Width and height lie in ``[min_size, max_size]`` and shrink towards ``min_size``.
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"Expected 1 <= min_size <= max_size, got min_size={min_size} and max_size={max_size}.")
    pairs = encodable_pairs(formats, modes)
    pair_index = st.integers(0, len(pairs) - 1) if len(pairs) > 1 else st.just(0)
    colours = {mode: _colour(mode) for _, mode in pairs}
    return _samples(pairs, pair_index, st.integers(min_size, max_size), colours)


def images(
    formats: Iterable[str] = ("PNG", "JPEG", "WEBP"),
    modes: Iterable[str] = ("L", "RGB", "RGBA", "P", "I;16"),
    min_size: int = 1,
    max_size: int = 64,
) -> st.SearchStrategy[bytes]:
    """Real encoded images as bytes (PNG, JPEG, WebP), shrinking towards small, single-colour ones.

    See :func:`image_infos` for the parameters and for which format holds which mode.
    """
    return image_infos(formats, modes, min_size, max_size).map(lambda sample: sample.data)


def junk_bytes() -> st.SearchStrategy[bytes]:
    """Bytes no image decoder accepts: a text prefix no image format starts with, then anything."""
    return st.binary(max_size=32).map(lambda tail: b"This is not an image. " + tail)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def oversized_png(width: int = 8000, height: int = 8000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (64 megapixels by default) and holds no pixels.

    The contracts refuse images above 50 megapixels from the header alone, so this is rejected without decoding.
    The default stays under Pillow's own decompression-bomb warning (89 megapixels).
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")

"""Pure helpers to turn the strings and bytes found in requests and responses into image facts.

Nothing here knows about HTTP or pytest. Decoding is bounded: the header is read first, and an image whose
pixel count exceeds the caller's limit is refused before any pixel data is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import sys
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

__all__ = ["ImageError", "ImageInfo", "b64decode", "decode_image_string", "open_image", "sniff_image"]

DEFAULT_MAX_PIXELS = 50_000_000
_DATA_URI = re.compile(r"^data:(image/[A-Za-z0-9.+-]+)((?:;[A-Za-z0-9=._+-]+)*);base64,", re.ASCII)
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


class ImageError(ValueError):
    """An image that cannot be decoded, with a sentence saying why."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    mode: str
    format: str | None

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


def sniff_image(data: bytes) -> bool:
    """True when the bytes start like an image file Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP)."""
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def b64decode(text: str | bytes) -> bytes:
    """Strict standard base64 with optional padding; whitespace (line breaks from `base64`) is ignored."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise ImageError(f"expected base64 text, got a non-ASCII character at offset {exc.start}") from None
    if sys.version_info >= (3, 11):  # strict_mode is 3.11+; on 3.10 every string takes the slow path
        try:
            return binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            pass  # the slow path below forgives line breaks and missing padding, and explains failures
    text = b"".join(text.split())
    text += b"=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"expected valid base64, but decoding failed: {exc}") from None


def decode_image_string(text: str) -> bytes:
    """Bytes of an image carried as bare base64 or as a base64 data URI."""
    match = _DATA_URI.match(text)
    if match:
        return b64decode(text[match.end():])
    if text.startswith("data:"):
        raise ImageError("expected a data URI of the form 'data:image/<type>;base64,<data>', got another data URI")
    return b64decode(text)


def open_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, load: bool = False) -> Image.Image:
    """Open encoded image bytes with Pillow, refusing empty input, undecodable data and oversized images."""
    if not data:
        raise ImageError("expected image bytes, got an empty body")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"expected an image of at most {max_pixels} pixels: {exc}") from None
    except UnidentifiedImageError:
        raise ImageError(f"expected a decodable image, but its {len(data)} bytes are in no image format Pillow reads (they start {data[:8]!r})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"expected a decodable image, but Pillow could not read it ({exc})") from None
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError(f"expected an image at least 1x1, got {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            f"expected an image of at most {max_pixels} pixels, got {width}x{height} = {width * height} pixels"
        )
    if load:
        try:
            im.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageError(f"expected a complete image, but its pixel data is broken ({exc})") from None
    return im


def image_info(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    im = open_image(data, max_pixels=max_pixels)
    return ImageInfo(im.size[0], im.size[1], im.mode, im.format)

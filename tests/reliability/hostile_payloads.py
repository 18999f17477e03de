"""Hostile payloads for the reliability tests: decompression bombs crafted byte by byte, broken images, deep JSON."""

from __future__ import annotations

import base64
import struct
import zlib


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_claiming(width: int, height: int, *, idat: bytes | None = None, colour_type: int = 2) -> bytes:
    """A well-formed PNG whose IHDR claims ``width`` x ``height`` with a tiny IDAT (a header-only bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    data = idat if idat is not None else zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png_zlib_bomb(side: int) -> bytes:
    """A complete, valid greyscale PNG of side x side zero pixels: tiny on the wire, side*side bytes decoded."""
    row = b"\x00" * (side + 1)  # filter byte + pixels
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return png_claiming(side, side, idat=data, colour_type=0)


def gif_claiming(width: int, height: int) -> bytes:
    """GIF89a whose logical screen and image descriptor claim width x height, with a one-byte LZW image."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b"\x3b"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A JPEG SOI + baseline SOF0 claiming width x height (one component) + an empty scan, then EOI."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + b"\x00" * 8 + b"\xff\xd9"


def bmp_claiming(width: int, height: int) -> bytes:
    """A BMP (BITMAPINFOHEADER, 24 bit) claiming width x height with 16 bytes of pixels."""
    pixels = b"\x00" * 16
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info)) + info + pixels


def nested_json(depth: int, *, key: str | None = None, inner: str = "0") -> bytes:
    """``depth`` levels of arrays (``[[[...0...]]]``), optionally as the value of ``key`` in an object."""
    core = "[" * depth + inner + "]" * depth
    return (f'{{"{key}": {core}}}' if key else core).encode()

"""The mask PNG encoder: pixel-identical to Pillow's NEAREST upsampling, mode L, exact size, deterministic."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vision_contracts.mockserver._png import encode_many, encode_upsampled, nearest_indices


def _reference(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(small, "L").resize(size, Image.Resampling.NEAREST))


def _decode(data: bytes) -> Image.Image:
    """Pillow's decoding, after checking the zlib stream by itself (zlib verifies the Adler-32 at its end)."""
    assert data[12:16] == b"IHDR" and data[37:41] == b"IDAT"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    length = int.from_bytes(data[33:37], "big")
    assert len(zlib.decompress(data[41:41 + length])) == height * (width + 1)
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


@st.composite
def masks(draw) -> np.ndarray:
    h, w = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["binary", "blocks", "classes", "noise", "flat"]))
    if kind == "flat":
        return np.full((h, w), draw(st.sampled_from([0, 255, 7])), np.uint8)
    if kind == "noise":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    values = [0, 255] if kind != "classes" else list(range(int(rng.integers(2, 9))))
    small = np.full((h, w), values[0], np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        y0, y1 = sorted(rng.integers(0, h + 1, 2))
        x0, x1 = sorted(rng.integers(0, w + 1, 2))
        small[y0:y1, x0:x1] = values[int(rng.integers(0, len(values)))]
    if kind == "binary":
        small[rng.random((h, w)) < 0.03] = 255
    return small


sizes = st.tuples(st.integers(1, 700), st.integers(1, 400))


@settings(max_examples=300, deadline=None)
@given(small=masks(), size=sizes)
def test_decodes_to_pillows_nearest_upsampling(small, size):
    data = encode_upsampled(small, size)
    im = _decode(data)
    assert im.mode == "L" and im.format == "PNG" and im.size == size
    assert np.array_equal(np.asarray(im), _reference(small, size))
    assert encode_upsampled(small.copy(), size) == data  # a pure function of the mask: byte-identical


@settings(max_examples=100, deadline=None)
@given(small=masks())
def test_same_size_and_downsampling(small):
    h, w = small.shape
    for size in ((w, h), (max(1, w // 3), max(1, h // 2))):
        assert np.array_equal(np.asarray(_decode(encode_upsampled(small, size))), _reference(small, size))


@pytest.mark.parametrize("size", [(1, 1), (2, 300), (3, 3), (32767, 3), (32768, 2), (40000, 5), (4000, 3000)])
def test_edge_widths_and_large_images(size):
    small = np.zeros((9, 13), np.uint8)
    small[2:7, 3:10] = 255
    small[4, 5] = 0
    data = encode_upsampled(small, size)
    assert np.array_equal(np.asarray(_decode(data)), _reference(small, size))


def test_zlib_stream_is_valid_with_checksum():
    small = np.zeros((128, 128), np.uint8)
    small[40:100, 20:60] = 255
    data = encode_upsampled(small, (512, 512))
    # the IDAT payload inflates (zlib checks the Adler-32) to filtered scanlines of 513 bytes each
    length = int.from_bytes(data[33:37], "big")
    assert data[37:41] == b"IDAT"
    raw = zlib.decompress(data[41:41 + length])
    assert len(raw) == 512 * 513
    assert set(raw[::513]) <= {0, 2}


def test_nearest_indices_match_pillow():
    for src, dst in ((128, 512), (128, 500), (96, 1001), (7, 3), (5, 5)):
        ramp = np.arange(src, dtype=np.uint8).reshape(1, src)
        assert np.array_equal(nearest_indices(src, dst), _reference(ramp, (dst, 1))[0])


def test_rejects_empty_masks_and_sizes():
    with pytest.raises(ValueError, match="non-empty 2-D masks"):
        encode_upsampled(np.zeros((0, 3), np.uint8), (3, 3))
    with pytest.raises(ValueError, match="positive size"):
        encode_upsampled(np.zeros((3, 3), np.uint8), (0, 3))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), size=sizes, count=st.integers(1, 6))
def test_many_at_once_equals_one_by_one(data, size, count):
    shape = (data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    smalls = []
    for _ in range(count):
        small = np.zeros(shape, np.uint8)
        y0, y1 = sorted(rng.integers(0, shape[0] + 1, 2))
        x0, x1 = sorted(rng.integers(0, shape[1] + 1, 2))
        small[y0:y1, x0:x1] = rng.integers(1, 256)
        smalls.append(small)
    many = encode_many(smalls, size)
    assert many == [encode_upsampled(s, size) for s in smalls]
    for small, data_ in zip(smalls, many, strict=True):
        assert np.array_equal(np.asarray(_decode(data_)), _reference(small, size))

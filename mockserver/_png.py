"""Fast PNG encoding of masks that are a small label map upsampled with NEAREST (numpy and zlib only).

``encode_upsampled(small, size)`` gives a PNG (8-bit greyscale, mode "L") whose pixels are exactly those of
``Image.fromarray(small, "L").resize(size, NEAREST)`` (the index maps are Pillow's own, read from resizing an index
ramp), without building the full image or running a general-purpose compressor over it:

- an upsampled mask repeats rows, so the scanlines are runs of equal rows: the first row of a run is written
  with PNG filter 0 ("None"), the rest with filter 2 ("Up"), which makes them all zeros;
- a row is a few runs of equal bytes. The zlib stream is one fixed-Huffman deflate block written directly from
  those runs: each run is a literal and then length/distance-1 copies; each group of zero rows is ``2 0`` and
  copies of the previous bytes (distance 1 within the row, distance ``W + 1`` for the following rows). All of it
  is built with numpy, and the Adler-32 is computed in closed form from the same runs.

Everything is a pure function of the mask: nothing is cached across calls except size-only tables (Pillow's
index maps per (source, target) length), so the same mask always gives the same bytes. Widths below 3 or above
32767 (beyond deflate's 32 KiB window) take a plain ``zlib.compress`` path instead.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

__all__ = ["encode_many", "encode_upsampled", "nearest_indices"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
_ZLIB_HEADER = b"\x78\x01"  # deflate, 32 KiB window, "fastest" level hint (0x7801 % 31 == 0)
_ADLER = 65521
_MAX_MATCH = 258
_MAX_DISTANCE = 32768


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


@lru_cache(maxsize=256)
def nearest_indices(src: int, dst: int) -> NDArray[Any]:
    """For each of ``dst`` output positions, the source index Pillow's NEAREST resize reads (one axis).

    Pillow's nearest-neighbour scaling is separable (an affine map sampled at pixel centres), so resizing a
    1-pixel-high ramp ``0..src-1`` gives exactly the columns (or rows) it picks.
    """
    ramp = Image.fromarray(np.arange(src, dtype=np.int32).reshape(1, src), "I")
    out = np.asarray(ramp.resize((dst, 1), Image.Resampling.NEAREST), dtype=np.int64).reshape(dst)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=256)
def _column_starts(src: int, dst: int) -> NDArray[Any]:
    """For upsampling (dst >= src): the first output column reading each source column, and dst at the end."""
    xs = nearest_indices(src, dst) if src != dst else np.arange(dst)
    out = np.searchsorted(xs, np.arange(src + 1))
    out.flags.writeable = False
    return out


# --- fixed-Huffman tables (RFC 1951, 3.2.6), as (bits already reversed for LSB-first packing, bit count) ---------

def _reverse(code: int, n: int) -> int:
    return int(format(code, f"0{n}b")[::-1], 2)


def _literal_table() -> tuple[NDArray[Any], NDArray[Any]]:
    bits = np.zeros(256, np.uint64)
    n = np.zeros(256, np.int64)
    for v in range(256):
        code, k = (0x30 + v, 8) if v < 144 else (0x190 + v - 144, 9)
        bits[v], n[v] = _reverse(code, k), k
    return bits, n


_LEN_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258)
_LEN_EXTRA = (0,) * 8 + (1,) * 4 + (2,) * 4 + (3,) * 4 + (4,) * 4 + (5,) * 4 + (0,)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
              4097, 6145, 8193, 12289, 16385, 24577)
_DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13)


def _length_table() -> tuple[NDArray[Any], NDArray[Any]]:
    """Index = match length (3..258): the length symbol's code followed by its extra bits."""
    bits = np.zeros(_MAX_MATCH + 1, np.uint64)
    n = np.zeros(_MAX_MATCH + 1, np.int64)
    for length in range(3, _MAX_MATCH + 1):
        i = max(j for j, base in enumerate(_LEN_BASE) if base <= length) if length < 258 else 28
        sym = 257 + i
        code, k = (sym - 256, 7) if sym < 280 else (0xC0 + sym - 280, 8)
        bits[length] = _reverse(code, k) | ((length - _LEN_BASE[i]) << k)
        n[length] = k + _LEN_EXTRA[i]
    return bits, n


def _distance(d: int) -> tuple[int, int]:
    """A distance's 5-bit code followed by its extra bits."""
    i = max(j for j, base in enumerate(_DIST_BASE) if base <= d)
    return _reverse(i, 5) | ((d - _DIST_BASE[i]) << 5), 5 + _DIST_EXTRA[i]


_LIT_BITS, _LIT_N = _literal_table()
_LEN_BITS, _LEN_N = _length_table()


def _copies(length: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Split copy lengths (each >= 3) into deflate match lengths (3..258), in order; returns the flat lengths
    and, per input, how many matches it became."""
    q, r = np.divmod(length, _MAX_MATCH)
    count = q + (r > 0)
    flat = np.full(int(count.sum()), _MAX_MATCH, np.int64)
    last = np.cumsum(count) - 1
    # remainder 0: q full matches; remainder >= 3: then one of r; remainder 1 or 2 (q >= 1): ..., 255 + r, 3
    big = r >= 3
    flat[last[big]] = r[big]
    small = (r > 0) & (r < 3)
    flat[last[small] - 1] = _MAX_MATCH - 3 + r[small]
    flat[last[small]] = 3
    return flat, count


def _runs(lines: NDArray[Any], colstart: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Horizontal runs of equal bytes in each line, as (line, output start, output length, value); ``colstart[c]``
    is the first output column reading source column ``c`` (``colstart[w]`` is the output width)."""
    _, w = lines.shape
    flat = lines.ravel()
    edge = np.ones(flat.size, bool)
    edge[1:] = flat[1:] != flat[:-1]
    edge[::w] = True
    run_start = np.flatnonzero(edge)
    run_line = run_start // w
    x0 = run_start - run_line * w
    x1 = np.append(x0[1:], w)
    x1[np.append(run_line[1:] != run_line[:-1], True)] = w  # a line's last run reaches its end
    start = colstart[x0]
    return run_line, start, colstart[x1] - start, flat[run_start].astype(np.int64)


def _deflate_lines(runs: tuple[NDArray[Any], ...], n: int, width: int, repeats: NDArray[Any], first: NDArray[Any]) -> list[bytes]:
    """zlib streams of PNG scanlines, one per image: for each of ``n`` content lines (given by its ``runs``,
    width W), filter 0 and its bytes, then ``repeats[i]`` scanlines of filter 2 and zeros. Image ``j`` is lines
    ``first[j]`` up to ``first[j + 1]`` (several masks of a response are encoded in one vectorised pass)."""
    m = first.size
    last = np.append(first[1:], n) - 1
    run_line, run_x, run_len, run_val = runs

    # Tokens, each with a sort key (line, position in line): literals and copies (length, distance).
    # kind 0: literal value; kind 1: copy of `value` bytes at distance 1; kind 2: copy at distance W + 1;
    # kind 3: a block header (BFINAL = 1, BTYPE = 01: fixed Huffman); kind 4: end of block (symbol 256).
    keys, kinds, values = [], [], []

    def add(key: NDArray[Any], kind: int, value: NDArray[Any]) -> None:
        keys.append(key)
        kinds.append(np.full(key.size, kind, np.int64))
        values.append(value)

    span = 2 * width + 10
    add(first * span, 3, np.zeros(m, np.int64))  # each image's one block opens at its first line
    line_key = np.arange(n, dtype=np.int64) * span + 1
    add(line_key, 0, np.zeros(n, np.int64))  # filter byte 0
    add(run_line * span + 2 + 2 * run_x, 0, run_val)  # each run's first byte
    more = run_len > 1
    add(run_line[more] * span + 3 + 2 * run_x[more], 1, run_len[more] - 1)  # the rest of the run
    rep = np.flatnonzero(repeats > 0)
    base = rep * span + 2 * width + 3
    add(base, 0, np.full(rep.size, 2, np.int64))  # the first zero row: filter byte 2, a 0, then W - 1 copies of it
    add(base + 1, 0, np.zeros(rep.size, np.int64))
    add(base + 2, 1, np.full(rep.size, width - 1, np.int64))
    rest = rep[repeats[rep] > 1]
    add(rest * span + 2 * width + 6, 2, (repeats[rest] - 1) * (width + 1))  # further zero rows: copies of the first
    add(last * span + span - 1, 4, np.zeros(m, np.int64))  # and closes after its last
    key = np.concatenate(keys)
    order = np.argsort(key, kind="stable")
    kind = np.concatenate(kinds)[order]
    value = np.concatenate(values)[order]
    # a distance-1 copy shorter than 3 is written as literals of the byte before it (the token just before)
    prev_value = np.empty_like(value)
    prev_value[1:] = value[:-1]
    short = (kind == 1) & (value < 3)
    # symbols: expand each token into its symbol count
    is_copy = ((kind == 1) | (kind == 2)) & ~short
    counts = np.ones(kind.size, np.int64)
    counts[short] = value[short]
    match_len, match_count = _copies(value[is_copy])
    counts[is_copy] = match_count
    sym_kind = np.repeat(np.where(short, 0, kind), counts)
    sym_value = np.repeat(np.where(short, prev_value, value), counts)
    sym_is_copy = (sym_kind == 1) | (sym_kind == 2)
    sym_value[sym_is_copy] = match_len
    bits = np.zeros(sym_kind.size, np.uint64)
    nbits = np.empty(sym_kind.size, np.int64)
    lit = sym_kind == 0
    bits[lit] = _LIT_BITS[sym_value[lit]]
    nbits[lit] = _LIT_N[sym_value[lit]]
    for k, d in ((1, 1), (2, width + 1)):
        sel = sym_kind == k
        if sel.any():
            dbits, dn = _distance(d)
            lb, ln = _LEN_BITS[sym_value[sel]], _LEN_N[sym_value[sel]]
            bits[sel] = lb | (np.uint64(dbits) << ln.astype(np.uint64))
            nbits[sel] = ln + dn
    header = sym_kind == 3
    bits[header], nbits[header] = 3, 3
    nbits[sym_kind == 4] = 7  # seven 0 bits
    # pack LSB first into 32-bit words: a symbol (<= 31 bits) shifted into place spans at most two words; the
    # fields never overlap, so summing them (exact in float64 below 2**53) is OR-ing them
    # fields never overlap, so summing them (exact in float64 below 2**53) is OR-ing them. Each image's stream
    # starts at bit 0 of its own words.
    ends = np.cumsum(nbits)
    starts = ends - nbits
    head = np.flatnonzero(header)
    image_bits = np.diff(np.append(starts[head], ends[-1]))
    image_words = (image_bits >> 5) + 2
    word_base = np.cumsum(image_words) - image_words
    sym_image = np.repeat(np.arange(m), np.diff(np.append(head, sym_kind.size)))
    local = starts - starts[head][sym_image]
    word = word_base[sym_image] + (local >> 5)
    placed = bits << (local & 31).astype(np.uint64)
    nwords = int(image_words.sum())
    words = np.bincount(word, weights=(placed & np.uint64(0xFFFFFFFF)).astype(np.float64), minlength=nwords)
    words += np.bincount(word + 1, weights=(placed >> np.uint64(32)).astype(np.float64), minlength=nwords)
    packed = words.astype("<u4").tobytes()
    adlers = _adler(runs, n, width, repeats, first)
    out = []
    for j in range(m):
        at = 4 * int(word_base[j])
        deflated = packed[at: at + ((int(image_bits[j]) + 7) >> 3)]
        out.append(_ZLIB_HEADER + deflated + struct.pack(">I", adlers[j]))
    return out


def _adler(runs: tuple[NDArray[Any], ...], n: int, width: int, repeats: NDArray[Any], first: NDArray[Any]) -> list[int]:
    """Adler-32 of each image's scanlines in closed form, from the runs: with T bytes d_0..d_{T-1},
    A = 1 + sum(d_i) and B = T + sum(d_i * (T - i)) = T + T * sum(d_i) - sum(i * d_i), both mod 65521."""
    run_line, run_x, run_len, run_val = runs
    r = repeats.astype(np.int64)
    line_len = (1 + r) * (width + 1)
    ends = np.cumsum(line_len)
    image_start = (ends - line_len)[first]
    image_of_line = np.repeat(np.arange(first.size), np.diff(np.append(first, n)))
    offset = ends - line_len - image_start[image_of_line]  # each content line's filter byte (0), in its image
    totals = np.add.reduceat(line_len, first)
    # a run of value v over output columns [x, x + len) of line k: bytes at offset_k + 1 + x ...
    run_sum = run_val * run_len
    run_moment = run_val * ((run_x * run_len + run_len * (run_len - 1) // 2) % _ADLER)
    line_sum = np.bincount(run_line, weights=run_sum, minlength=n).astype(np.int64)  # < 2**53: exact
    line_moment = np.bincount(run_line, weights=run_moment % _ADLER, minlength=n).astype(np.int64)
    # ... and each repeated scanline's filter byte 2, at offset_k + j * (width + 1) for j = 1..repeats_k
    zero_moment = 2 * ((r * offset) % _ADLER + ((width + 1) * (r * (r + 1) // 2)) % _ADLER)
    moment = (((offset + 1) % _ADLER) * (line_sum % _ADLER) + line_moment + zero_moment) % _ADLER
    sums = np.add.reduceat(line_sum + 2 * r, first).tolist()
    moments = np.add.reduceat(moment, first).tolist()
    out = []
    for total, s_, mom in zip(totals.tolist(), sums, moments, strict=True):
        a = (1 + s_) % _ADLER
        b = (total + total % _ADLER * s_ - mom) % _ADLER
        out.append((b << 16) | a)
    return out


def encode_upsampled(small: NDArray[Any], size: tuple[int, int]) -> bytes:
    """PNG (8-bit greyscale, mode "L") of the uint8 map ``small`` (h, w) resized with NEAREST to ``size`` (W, H)."""
    return encode_many([small], size)[0]


def encode_many(smalls: Sequence[NDArray[Any]], size: tuple[int, int]) -> list[bytes]:
    """``encode_upsampled`` for several maps of one shape and one output size, in one vectorised pass."""
    if not smalls:
        return []
    stack = np.stack([np.asarray(m, dtype=np.uint8) for m in smalls])
    if stack.ndim != 3 or stack.shape[1] < 1 or stack.shape[2] < 1:
        raise ValueError(f"expected non-empty 2-D masks, got shape {stack.shape[1:]}")
    width, height = size
    if width < 1 or height < 1:
        raise ValueError(f"expected a positive size, got {size}")
    count, h, w = stack.shape
    ys = nearest_indices(h, height) if h != height else np.arange(height)
    # output rows that differ from the row above: compare the source rows they read, once per distinct pair
    new = np.ones((count, height), bool)
    step = np.flatnonzero(ys[1:] != ys[:-1])
    new[:, 1:] = False
    new[:, step + 1] = np.any(stack[:, ys[step]] != stack[:, ys[step + 1]], axis=2)
    image, line = np.nonzero(new)
    lines = stack[image, ys[line]]
    if width >= w:  # upsampling reads every source column: runs are found on the source grid, then stretched
        colstart = _column_starts(w, width)
    else:
        lines = lines[:, nearest_indices(w, width)]
        colstart = np.arange(width + 1)
    nxt = np.append(line[1:], height)
    nxt[np.append(image[1:] != image[:-1], True)] = height  # an image's last content line runs to its bottom
    repeats = nxt - line - 1
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    if 3 <= width < _MAX_DISTANCE:
        first = np.flatnonzero(np.append(True, image[1:] != image[:-1]))
        idats = _deflate_lines(_runs(np.ascontiguousarray(lines), colstart), lines.shape[0], width, repeats, first)
    else:
        idats = []
        for j in range(count):
            raw = np.zeros((height, width + 1), np.uint8)
            raw[~new[j], 0] = 2
            raw[new[j], 1:] = lines[image == j] if width < w else lines[image == j][:, nearest_indices(w, width)]
            idats.append(zlib.compress(raw.tobytes(), 1))
    return [_SIGNATURE + ihdr + _chunk(b"IDAT", idat) + _IEND for idat in idats]

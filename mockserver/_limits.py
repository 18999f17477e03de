"""Bounds on what requests may cost the server: decodes at once, injected delay, 16-bit pixels, server timeouts.

- ``DecodeGate``: at most ``slots`` images (default: the number of cores) decode and generate at once, and the
  pixels decoding at once stay within a budget (one image alone always passes: ``max_pixels`` bounds it). Requests
  beyond wait in order, up to ``decode_wait_seconds``; then ``Busy`` (the app answers 503 with ``Retry-After``).
  Loop-agnostic: one app may serve from several event loops (the plugin's in-process app), so waiters are futures
  woken with ``call_soon_threadsafe`` under a thread lock.
- ``DelayBudget``: one request's injected delays (``delay`` scenarios, ``loading`` waits) add up to at most
  ``max_delay_seconds``.
- ``scale_to_8bit``: 16-bit and 32-bit greyscale pixels to 8 bits in row blocks, never a float64 copy of the whole
  image (49 megapixels are 392 MB as float64).
- ``uvicorn_options``: keep-alive, graceful shutdown, header size and concurrency limits for uvicorn.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ._http import MAX_HEADER_BYTES, http_protocol

if TYPE_CHECKING:
    from PIL import Image

    from ._config import Config

__all__ = ["MAX_HEADER_BYTES", "Busy", "DecodeGate", "DelayBudget", "scale_to_8bit", "uvicorn_options"]

_ROWS_PER_BLOCK_PIXELS = 1 << 20  # scale_to_8bit works on about a megapixel at a time


def uvicorn_options(config: Config) -> dict[str, Any]:
    """Server timeouts and limits for ``uvicorn.run``/``uvicorn.Config``: idle keep-alive connections closed after
    ``keep_alive_seconds``; on SIGTERM in-flight requests get ``shutdown_seconds`` before they are cancelled;
    unfinished request heads cut off past ``MAX_HEADER_BYTES``; ``limit_concurrency`` connections at most (503
    beyond). The HTTP parser is httptools (uvicorn[standard]) with the head bound added (``_http``), h11 with
    uvicorn's own bound where httptools is not installed."""
    return {
        "http": http_protocol(),
        "timeout_keep_alive": config.keep_alive_seconds,
        "timeout_graceful_shutdown": config.shutdown_seconds,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "limit_concurrency": config.limit_concurrency,
    }


# --- delays ------------------------------------------------------------------------------------------------------

class DelayBudget:
    """What remains of one request's allowance of injected delay, in seconds."""

    def __init__(self, seconds: float):
        self.left = max(0.0, seconds)

    def take(self, wanted: float) -> float:
        """The part of ``wanted`` seconds still allowed (0 once the budget is spent), counted against the budget."""
        granted = min(max(0.0, wanted), self.left)
        self.left -= granted
        return granted


# --- decodes -----------------------------------------------------------------------------------------------------

class Busy(Exception):
    """No decode slot came free in time; ``retry_after`` is the advice for the client, in whole seconds."""

    def __init__(self, retry_after: int, waited: float):
        super().__init__(
            f"The mock server is decoding as many images as it allows at once and none finished within {waited:g} "
            f"seconds; retry after {retry_after} seconds."
        )
        self.retry_after = retry_after


@dataclass(eq=False)
class _Waiter:
    pixels: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    granted: bool = field(default=False)


class DecodeGate:
    """Decode/generate admission: ``slots`` at once, ``pixel_budget`` pixels at once, FIFO, bounded wait."""

    def __init__(self, slots: int = 0, pixel_budget: int = 100_000_000, wait_seconds: float = 30.0):
        self.slots = slots if slots > 0 else (os.cpu_count() or 1)
        self.pixel_budget = pixel_budget
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._busy = 0
        self._pixels = 0
        self._waiters: deque[_Waiter] = deque()

    @classmethod
    def from_config(cls, config: Config) -> DecodeGate:
        return cls(config.decode_slots, config.decode_pixel_budget, config.decode_wait_seconds)

    def in_use(self) -> tuple[int, int, int]:
        """(slots taken, pixels admitted, requests waiting)."""
        with self._lock:
            return self._busy, self._pixels, len(self._waiters)

    @asynccontextmanager
    async def slot(self, pixels: int) -> AsyncIterator[None]:
        """Hold a decode slot for an image of ``pixels`` pixels; raises Busy after the wait."""
        pixels = max(1, pixels)
        await self._acquire(pixels)
        try:
            yield
        finally:
            self._release(pixels)

    def _fits(self, pixels: int) -> bool:
        return self._busy < self.slots and (self._busy == 0 or self._pixels + pixels <= self.pixel_budget)

    def _take(self, pixels: int) -> None:
        self._busy += 1
        self._pixels += pixels

    async def _acquire(self, pixels: int) -> None:
        with self._lock:
            if not self._waiters and self._fits(pixels):
                self._take(pixels)
                return
            loop = asyncio.get_running_loop()
            waiter = _Waiter(pixels, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout=self.wait_seconds)
        except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
            if not self._abandon(waiter):
                return  # granted just as the wait ran out: the slot is ours
            raise Busy(max(1, math.ceil(self.wait_seconds)), self.wait_seconds) from None
        except asyncio.CancelledError:
            if not self._abandon(waiter):
                self._release(pixels)
            raise

    def _abandon(self, waiter: _Waiter) -> bool:
        """Leave the queue; False when the slot was granted meanwhile (the caller then owns it)."""
        with self._lock:
            if waiter.granted:
                return False
            self._waiters.remove(waiter)
            self._wake()
            return True

    def _release(self, pixels: int) -> None:
        with self._lock:
            self._busy -= 1
            self._pixels -= pixels
            self._wake()

    def _wake(self) -> None:
        """Grant slots to the waiters at the head of the queue that now fit (call with the lock held)."""
        while self._waiters and self._fits(self._waiters[0].pixels):
            waiter = self._waiters.popleft()
            self._take(waiter.pixels)
            waiter.granted = True
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- pixels ------------------------------------------------------------------------------------------------------

def scale_to_8bit(im: Image.Image) -> Image.Image:
    """A greyscale image of a high bit depth (``I;16*``, ``I``, ``F``) stretched to 8-bit ``L`` between its minimum
    and maximum, as ``(v - lo) * 255 / (hi - lo)`` truncated: the values a float64 pass over the whole image gives,
    computed on blocks of rows (cropped, so no full-size copy of the pixels either) instead of a 392 MB float64 array
    for 49 megapixels."""
    from PIL import Image

    width, height = im.size
    if width * height == 0:
        return Image.new("L", im.size)
    lo, hi = _extrema(im)
    out = np.zeros((height, width), np.uint8)
    if hi > lo:
        factor = 255.0 / (hi - lo)
        for top, block in _row_blocks(im):
            values = block.astype(np.float64)
            values -= lo
            values *= factor
            out[top: top + values.shape[0]] = values.astype(np.uint8)
    return Image.fromarray(out, "L")


def _row_blocks(im: Image.Image) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
    width, height = im.size
    rows = max(1, _ROWS_PER_BLOCK_PIXELS // width)
    for top in range(0, height, rows):
        yield top, np.asarray(im.crop((0, top, width, min(height, top + rows))))


def _extrema(im: Image.Image) -> tuple[float, float]:
    lo, hi = math.inf, -math.inf
    for _, block in _row_blocks(im):
        lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
    return lo, hi

"""Generation in a process pool: the answers to large images computed in other processes, so one worker uses more
than one core (generation holds the GIL most of its time; the event loop, parsing and validation stay here).

``GenerationPool(processes, min_pixels)``: :meth:`run` calls a picklable function (a partial of a pure ``_generate``
function and its JSON, see ``_app._generate_json``) in the pool when the image has at least ``min_pixels`` pixels,
else in a thread of this process. The pool is made on first use, with the ``spawn`` start method (a forked copy of a
process running threads and SQLite connections is unsafe); answers are the same wherever they are computed
(generation is a pure function of the image, parameters, seed and configuration).
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["GenerationPool"]

P = ParamSpec("P")
R = TypeVar("R")


class GenerationPool:
    """``processes`` processes for images of at least ``min_pixels`` pixels (0 processes: none, every call in a
    thread)."""

    def __init__(self, processes: int, min_pixels: int):
        self.processes = processes
        self.min_pixels = min_pixels
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def uses_pool(self, pixels: int) -> bool:
        return self.processes > 0 and pixels >= self.min_pixels

    async def run(self, pixels: int, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``call(*args, **kwargs)``: in the pool for an image of ``pixels`` pixels at or past the threshold, else in a
        thread; awaited either way."""
        if not self.uses_pool(pixels):
            return await run_in_threadpool(call, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(call, *args, **kwargs))

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


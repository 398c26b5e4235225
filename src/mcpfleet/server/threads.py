"""The threads that run sync handlers (``def`` tools, resources and prompts).

Blocking tools mostly wait (boto3, a database driver, ``requests``), so the pool is
sized for waiting, not for CPUs: ``TOOL_THREADS`` (64 by default) calls at once per
process, where asyncio's default executor gives a 2-vCPU task 6. Calls beyond that
wait for a thread; how many wait and for how long is counted, so a saturated pool
shows in the metrics and in each ``tool_call`` log line.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_THREADS = 64
MAX_SAMPLES = 100  # waits kept per metrics interval


class ToolThreads:
    """A thread pool of mcpfleet's own, entered through a semaphore of its size: a call
    that gets a slot starts at once on a thread, the others wait on the event loop, where
    they are counted (and a cancelled wait leaves the count right)."""

    def __init__(self, size: int = DEFAULT_THREADS) -> None:
        self.size = size
        self._pool: ThreadPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self.waiting = 0  # calls waiting for a thread now
        self.waited = 0  # calls that had to wait, in all
        self.wait_seconds = 0.0  # time calls waited for a thread, in all
        self.waits: list[float] = []  # this interval's waits in ms (bounded), for EMF

    def resize(self, size: int) -> None:
        """Set the pool's size (takes effect for the next pool; call it before serving)."""
        if size != self.size:
            self.size = size
            pool, self._pool, self._slots = self._pool, None, None
            if pool is not None:
                pool.shutdown(wait=False)

    async def run(self, func: Callable[..., T], kwargs: dict[str, Any]) -> tuple[T, float]:
        """Run ``func(**kwargs)`` in a thread, in the caller's context; its result and how
        long it waited for a thread, in seconds."""
        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(self.size)
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="mcpfleet-tool")
        wait = 0.0
        if slots.locked():
            queued = time.perf_counter()
            self.waiting += 1
            try:
                await slots.acquire()
            finally:
                self.waiting -= 1
            wait = time.perf_counter() - queued
            self.waited += 1
            self.wait_seconds += wait
            if len(self.waits) < MAX_SAMPLES:
                self.waits.append(round(wait * 1000, 3))
        else:
            await slots.acquire()  # free: returns at once
        try:
            context = contextvars.copy_context()
            call = partial(context.run, partial(func, **kwargs))
            result = await asyncio.get_running_loop().run_in_executor(self._pool, call)
        finally:
            slots.release()
        return result, wait

    def take_waits(self) -> list[float]:
        """This interval's waits (ms); the next interval starts empty."""
        waits, self.waits = self.waits, []
        return waits


# One pool per process, as there is one event loop.
TOOL_THREADS = ToolThreads()

"""A circuit in front of Redis: once it is known to be unreachable, calls fail at once.

    closed ──(a call finds Redis unreachable: trip)──► open
    open ────(the probe gets an answer)──────────────► closed

While open, ``check`` raises ``StateUnavailable`` without touching the network, with
a Retry-After of the seconds until the next probe; one background task probes Redis
(PING with a short timeout), waiting ``first_delay`` and doubling up to ``max_delay``
between probes. Requests already waiting on Redis when it went away still wait out
their own timeout; every later one is answered at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from mcpfleet.errors import StateUnavailable

log = logging.getLogger("mcpfleet.state")


class Circuit:
    """Whether Redis is worth asking; ``probe`` answers whether Redis answers now."""

    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        *,
        where: str,
        first_delay: float = 0.1,
        max_delay: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.where = where  # host:port, for the log
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._probe = probe
        self._clock = clock
        self.opened_at: float | None = None
        self.next_probe = 0.0
        self.probes = 0  # how many probes the current (or last) outage took
        self._task: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def check(self) -> None:
        """Raise ``StateUnavailable`` at once if Redis is known to be unreachable."""
        if self.opened_at is not None:
            raise StateUnavailable("redis unreachable (circuit open)", self.retry_after())

    def retry_after(self) -> int:
        """Whole seconds until the next probe may have closed the circuit (at least 1)."""
        return max(1, math.ceil(self.next_probe - self._clock()))

    def trip(self, cause: str) -> None:
        """Redis did not answer: open the circuit (once) and start probing."""
        if self.opened_at is not None:
            return
        now = self._clock()
        self.opened_at = now
        self.next_probe = now + self.first_delay
        self.probes = 0
        log.warning(
            "redis at %s unreachable (%s); answering 503 until it answers again",
            self.where,
            cause,
        )
        self._task = asyncio.get_running_loop().create_task(self._probing())

    async def _probing(self) -> None:
        delay = self.first_delay
        while True:
            await asyncio.sleep(max(0.0, self.next_probe - self._clock()))
            self.probes += 1
            if await self._answers():
                break
            delay = min(delay * 2, self.max_delay)
            self.next_probe = self._clock() + delay
        opened = self.opened_at if self.opened_at is not None else self._clock()
        log.info(
            "redis at %s answers again after %.1f s; circuit closed",
            self.where,
            self._clock() - opened,
        )
        self.opened_at = None
        self._task = None

    async def _answers(self) -> bool:
        try:
            return await self._probe()
        except Exception:  # a bug in the probe must not leave the circuit open for good
            log.exception("the redis probe failed")
            return False

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and not await cancel_until_done(task):
            log.error("the redis probe of %s did not stop", self.where)


async def cancel_until_done(
    task: asyncio.Task[None], attempts: int = 20, wait: float = 0.25
) -> bool:
    """Cancel ``task`` and wait for its end, cancelling again while it runs on: a redis-py
    read that times out just as it is cancelled can swallow one cancellation (seen on TLS
    connections). Whether it ended; a failure it ended with is logged."""
    for _ in range(attempts):
        task.cancel()
        await asyncio.wait({task}, timeout=wait)
        if task.done():
            if not task.cancelled() and task.exception() is not None:
                log.error("a redis task failed", exc_info=task.exception())
            return True
    return False

"""This task's metrics, read where they live: EMF lines once an interval, Prometheus per scrape.

The counters are the process's (``mcpfleet.observe.metrics``); this adds what only
the app knows at the time of reading: the fleet's session count, this task's open
streams, and whether this task found its fleet state unreachable since the last
reading (``Health.state_unreachable_since``: the state is pinged then, bounded, and
every readiness check in between counts too).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

from mcpfleet.errors import StateUnavailable
from mcpfleet.observe.metrics import METRICS
from mcpfleet.state.base import FleetState
from mcpfleet.transport.health import Health


class TaskMetrics:
    """The figures of one app, for the EMF emitter and the Prometheus scrape."""

    def __init__(self, state: FleetState, health: Health, open_streams: Callable[[], int]) -> None:
        self.state = state
        self.health = health
        self.open_streams = open_streams
        self._emitted = self._scraped = time.monotonic()

    async def active_sessions(self) -> int | None:
        try:
            return await self.state.session_count()
        except StateUnavailable:
            return None

    async def emit_every(self, seconds: float) -> None:
        """CloudWatch EMF lines on stdout, once every ``seconds``."""
        while True:
            await asyncio.sleep(seconds)
            since, self._emitted = self._emitted, time.monotonic()
            unreachable = await self.health.state_unreachable_since(since)
            lines = METRICS.emf_lines(
                await self.active_sessions(), self.open_streams(), state_unreachable=unreachable
            )
            sys.stdout.buffer.write(b"".join(lines))
            sys.stdout.flush()

    async def prometheus(self) -> bytes:
        since, self._scraped = self._scraped, time.monotonic()
        unreachable = await self.health.state_unreachable_since(since)
        text = METRICS.prometheus(
            await self.active_sessions(), self.open_streams(), state_unreachable=unreachable
        )
        return text.encode()

"""Liveness and readiness, as the container and the load balancer ask for them.

``/healthz`` (liveness, for the container's HEALTHCHECK) answers 200 while the
process runs: a dependency being down is no reason to restart the task.

``/readyz`` (readiness, for the load balancer's target health check) answers 200
while the task can serve, and 503 only while it drains. It does **not** fail while
the fleet state (Redis) is unreachable: every task shares that state, so an outage
would fail every task's check at once, and ECS replaces the tasks that fail their
load-balancer check: the whole fleet would be stopped and started again, for an
outage no new task can cure. Meanwhile each request that needs the state answers
503 with Retry-After by itself (and 2026-07-28 calls, which need no state, go on
working). The body still says ``"state": "unreachable"``, and the outage shows in
the ``StateUnreachable`` metric (``mcpfleet.observe.metrics``), which is what to
alarm on.

An overloaded task needs no check of its own: at a full connection bound with every
connection busy (``MAX_CONNECTIONS``), a new connection, the health check's included,
is refused with 503 before it reaches the app (``uvicorn_protocol``).

The state is never waited on long: a check is bounded by ``STATE_CHECK_TIMEOUT`` (a
state that cannot answer a ping that fast counts as unreachable), and while the state
is down it is asked again at most every ``STATE_RECHECK_SECONDS`` (the Redis state's
open circuit answers those at once). ``state_unreachable_since`` tells the metrics
whether any check found the state unreachable within their interval.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from mcpfleet.errors import StateUnavailable
from mcpfleet.state.base import FleetState

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
STATE_CHECK_SECONDS = 1.0  # a reachable state is asked at most this often
STATE_RECHECK_SECONDS = 0.1  # ... and an unreachable one at most this often
STATE_CHECK_TIMEOUT = 1.0  # a ping that takes longer counts as unreachable


class Health:
    """The task's health: draining or not, and whether its fleet state answers."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self.started = time.monotonic()
        self.draining = False
        self._state_ok = True
        self._checked = -math.inf
        self._unreachable_at = -math.inf  # when a check last found the state unreachable

    async def state_reachable(self) -> bool:
        now = time.monotonic()
        every = STATE_CHECK_SECONDS if self._state_ok else STATE_RECHECK_SECONDS
        if now - self._checked >= every:
            self._checked = now
            try:
                await asyncio.wait_for(self.state.ping(), STATE_CHECK_TIMEOUT)
                self._state_ok = True
            except (StateUnavailable, TimeoutError):
                self._state_ok = False
                self._unreachable_at = time.monotonic()
        return self._state_ok

    async def state_unreachable_since(self, since: float) -> bool:
        """Whether the state is unreachable now, or a check found it so after ``since``
        (``time.monotonic``)."""
        return not await self.state_reachable() or self._unreachable_at >= since

    def liveness(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "draining": self.draining,
            "uptimeSeconds": round(time.monotonic() - self.started, 1),
        }

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        state = "ok" if await self.state_reachable() else "unreachable"
        if self.draining:
            return 503, {"status": "draining", "state": state}
        return 200, {"status": "ready", "state": state}

"""Liveness and readiness, as the container and the load balancer ask for them.

``/healthz`` (liveness, for the container's HEALTHCHECK) answers 200 while the
process runs: a dependency being down is no reason to restart the task.
``/readyz`` (readiness, for the load balancer's target health check) answers
503 while the task drains or while the fleet state cannot be reached, so that
traffic goes elsewhere; it comes back by itself when the state returns.

Readiness never waits long on the state: a check is bounded by
``STATE_CHECK_TIMEOUT`` (a state that cannot answer a ping that fast counts as
unreachable), and while the state is down it is asked again at most every
``STATE_RECHECK_SECONDS`` (the Redis state's open circuit answers those at once), so
readiness returns as soon as the state does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from mcpfleet.errors import StateUnavailable
from mcpfleet.state.base import FleetState

LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
STATE_CHECK_SECONDS = 1.0  # readiness asks a reachable state at most this often
STATE_RECHECK_SECONDS = 0.1  # ... and an unreachable one at most this often
STATE_CHECK_TIMEOUT = 1.0  # a ping that takes longer counts as unreachable


class Health:
    """The task's health: draining or not, and whether its fleet state answers."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self.started = time.monotonic()
        self.draining = False
        self._state_ok = True
        self._checked = 0.0

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
        return self._state_ok

    def liveness(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "draining": self.draining,
            "uptimeSeconds": round(time.monotonic() - self.started, 1),
        }

    async def readiness(self) -> tuple[int, dict[str, Any]]:
        state_ok = await self.state_reachable()
        if self.draining:
            return 503, {"status": "draining", "state": "ok" if state_ok else "unreachable"}
        if not state_ok:
            return 503, {"status": "unavailable", "state": "unreachable"}
        return 200, {"status": "ready", "state": "ok"}

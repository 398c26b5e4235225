"""Leases on running 2025-era calls, so that a call whose task died ends for its client.

A call whose response turned into a resumable SSE stream holds a lease in the fleet
state while it runs, renewed by its task. A client that resumes the stream on another
task waits for events; when none come and the lease has lapsed (the task that ran
the call was killed), the resuming task writes the call's error result to the log
and ends the stream: the client gets an answer within the lease time, never an
endless stream of keep-alives.

Because a leased call survives its connection, its stream is the one POST stream the
server may let go by itself (its lifetime is up, the task drains): ``lifetimes``, when
the app sets it, times the streams of leased calls whose clients can resume them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import orjson

from mcpfleet.errors import StateUnavailable
from mcpfleet.protocol.jsonrpc import RequestId
from mcpfleet.state.base import FleetState
from mcpfleet.transport.lifetimes import StreamLifetimes

log = logging.getLogger("mcpfleet.transport")


def lease_key(session_id: str, stream_id: str) -> str:
    return f"lease:{session_id}:{stream_id}"


# A lease record outlives its lease, so that a resuming task can still read the call's
# request id after the lease lapsed; this is how long.
RECORD_SECONDS = 3600.0


class CallLeases:
    """The leases this process holds, renewed together by one background task.

    A lease is a record ``[request id, lapses at (epoch seconds)]``: tasks compare the
    time with their own clocks, which a fleet keeps in step (NTP) well within a lease.
    """

    def __init__(
        self, state: FleetState, ttl_seconds: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.state = state
        self.ttl = ttl_seconds
        self.clock = clock
        self.held: dict[str, RequestId | None] = {}
        self._renewer: asyncio.Task[None] | None = None
        # The app's stream lifetimes (``None``: calls' streams are never let go).
        self.lifetimes: StreamLifetimes | None = None

    def _record(self, request_id: RequestId | None) -> bytes:
        return orjson.dumps([request_id, self.clock() + self.ttl])

    async def hold(self, session_id: str, stream_id: str, request_id: RequestId | None) -> None:
        """Take the lease of a call's stream."""
        key = lease_key(session_id, stream_id)
        await self.state.put_handle(key, self._record(request_id), RECORD_SECONDS, create=True)
        self.held[key] = request_id
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    async def release(self, session_id: str, stream_id: str) -> None:
        key = lease_key(session_id, stream_id)
        if key in self.held:
            del self.held[key]
            with contextlib.suppress(StateUnavailable):  # the record expires by itself
                await self.state.delete_handle(key)

    async def forget(self, session_id: str, stream_id: str) -> None:
        """Remove a lapsed lease's record once its call has been answered."""
        with contextlib.suppress(StateUnavailable):
            await self.state.delete_handle(lease_key(session_id, stream_id))

    async def lapsed(self, session_id: str, stream_id: str) -> tuple[bool, RequestId | None]:
        """Whether the call of a stream has lost its lease (its task stopped renewing it),
        and the call's request id."""
        record = await self.state.get_handle(lease_key(session_id, stream_id))
        if record is None:
            return False, None  # no lease: a finished call, or one from before leases
        request_id, lapses_at = orjson.loads(record)
        return float(lapses_at) < self.clock(), request_id

    async def _renew(self) -> None:
        try:
            while self.held:
                await asyncio.sleep(self.ttl / 3)
                for key, request_id in list(self.held.items()):
                    try:
                        await self.state.put_handle(
                            key, self._record(request_id), RECORD_SECONDS, create=False
                        )
                    except StateUnavailable:
                        log.warning("calls' leases were not renewed: the state is unreachable")
                        break
        finally:
            self._renewer = None

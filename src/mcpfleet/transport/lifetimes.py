"""How long a long-lived stream stays connected, and the one way the server ends it early.

Behind a load balancer a stream must not outlive the time the balancer gives a
deregistered task (ECS's deregistration delay): when that runs out, the balancer
cuts every connection still open, and a cut stream looks like a failure to its
client. So every long-lived stream ends itself, *with a retry hint*, after
``STREAM_MAX_SECONDS``: its client reconnects through the balancer, which sends it
to a registered task. A drain ends every stream the same way, at once: it is the
same call on each stream (``end_with_retry``), from the stream's timer or from
``StreamLifetimes.end_all``.

Which streams (``track``):

- the GET stream of a 2025-era session: it ends with ``retry:``, and its client
  resumes it with ``Last-Event-ID`` on any task; nothing published meanwhile is lost
  (``mcpfleet.transport.handover``);
- a ``subscriptions/listen`` stream (2026-07-28): it ends with the listen result, in
  an event that carries ``retry:``, and its client listens again;
- the SSE response of a running 2025-era call whose client can resume it (2025-11-25
  and later, SEP-1699): the connection is let go with ``retry:``, the call goes on
  under its lease (``mcpfleet.transport.leases``), and the client resumes with GET
  and ``Last-Event-ID``, on any task, and gets the rest from the event log.

Not tracked: the response stream of a 2026-07-28 call (closing it cancels the call,
and there is nothing to resume), and the POST streams of older 2025-era clients
(they cannot resume one); those end when their call does, as any in-flight request.

A stream's lifetime counts from its request's arrival, and is drawn once, uniformly
between ``1 - JITTER`` and 1 times the maximum (never above it: the maximum is what
the deployment compares with the deregistration delay), so that streams opened
together, as after a deploy, do not all reconnect together again.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Protocol

JITTER = 0.15  # a lifetime is drawn from [(1 - JITTER) * max, max]
RETRY_MS = 1000  # the retry hint a stream ends with: reconnect after this


class Endable(Protocol):
    """A long-lived stream that the server can end, telling its client to come back."""

    def end_with_retry(self, retry_ms: int) -> None:
        """End the stream (from outside its task, without waiting) with ``retry_ms``."""


class StreamLifetimes:
    """The long-lived streams of one app, each with its timer (when there is a maximum).

    ``max_seconds`` 0 means no maximum: streams are still tracked, so that a drain can
    end them all. ``loop_time`` is the event loop's clock (``since`` is on it).
    """

    def __init__(
        self,
        max_seconds: float,
        *,
        retry_ms: int = RETRY_MS,
        jitter: float = JITTER,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.max_seconds = max_seconds
        self.retry_ms = retry_ms
        self.jitter = jitter
        self._draw = draw
        self._open: dict[Endable, asyncio.TimerHandle | None] = {}

    def __len__(self) -> int:
        return len(self._open)

    def lifetime(self) -> float:
        """One stream's lifetime, in seconds: the maximum, less up to ``jitter`` of it."""
        return self.max_seconds * (1.0 - self.jitter * self._draw())

    def track(self, stream: Endable, since: float | None = None) -> None:
        """Time ``stream``, which arrived at ``since`` (the loop's clock; default: now)."""
        timer = None
        if self.max_seconds > 0:
            loop = asyncio.get_running_loop()
            start = loop.time() if since is None else since
            timer = loop.call_at(start + self.lifetime(), self._expire, stream)
        self._open[stream] = timer

    def forget(self, stream: Endable) -> None:
        """``stream`` ended (by itself, its client, or the server)."""
        timer = self._open.pop(stream, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, stream: Endable) -> None:
        if self._open.pop(stream, False) is not False:
            stream.end_with_retry(self.retry_ms)

    def end_all(self, retry_ms: int | None = None) -> None:
        """End every tracked stream now, each with the retry hint (the task drains)."""
        retry = self.retry_ms if retry_ms is None else retry_ms
        streams, self._open = self._open, {}
        for stream, timer in streams.items():
            if timer is not None:
                timer.cancel()
            stream.end_with_retry(retry)

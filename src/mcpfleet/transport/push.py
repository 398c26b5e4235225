"""Long-lived streams that cost nothing while idle.

A GET stream or a listen stream spends most of its life waiting. Instead of a
task per stream that polls a queue, the request's own task waits for the
connection to close, notifications are pushed into an ``Outbox`` by callbacks
(a writer task exists only while there is something to write), and one
``KeepAlive`` task per process writes the comments that keep quiet streams
open through proxies. An open stream is then a few small objects.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

from mcpfleet.transport.http import Receive

# Writes one item of a stream: a message, or ``None`` for a keep-alive comment.
Write = Callable[[dict[str, Any] | None], Awaitable[None]]

OUTBOX_LIMIT = 1000  # items waiting for a slow client at most; the oldest are dropped


class Outbox:
    """Items for one stream, written in order by a writer that exists only when needed.

    A slow client blocks only its own writer; pushes never wait.
    """

    __slots__ = ("_pending", "_write", "_writer")

    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: collections.deque[dict[str, Any] | None] | None = None  # made on use
        self._writer: asyncio.Task[None] | None = None

    def push(self, item: dict[str, Any] | None) -> None:
        if self._pending is None:
            self._pending = collections.deque(maxlen=OUTBOX_LIMIT)
        self._pending.append(item)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    @property
    def busy(self) -> bool:
        return self._writer is not None

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self._write(self._pending.popleft())
        finally:
            self._writer = None
            self._pending = None

    def close(self) -> None:
        self._pending = None
        if self._writer is not None:
            self._writer.cancel()


class KeepAlive:
    """One task that pushes a keep-alive comment into every idle stream's outbox."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._outboxes: set[Outbox] = set()
        self._task: asyncio.Task[None] | None = None

    def add(self, outbox: Outbox) -> None:
        self._outboxes.add(outbox)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, outbox: Outbox) -> None:
        self._outboxes.discard(outbox)

    async def _run(self) -> None:
        try:
            while self._outboxes:
                await asyncio.sleep(self.interval)
                for outbox in list(self._outboxes):
                    if not outbox.busy:
                        outbox.push(None)
        finally:
            self._task = None


async def until_disconnect(receive: Receive) -> None:
    """Wait, in the request's own task, until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass

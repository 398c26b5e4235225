"""Long-lived streams that cost nothing while idle.

A GET stream or a listen stream spends most of its life waiting. Instead of a
task per stream that polls a queue, the request's own task waits for the
connection to close, notifications are pushed into the stream by callbacks (a
``Pusher``: a writer task exists only while there is something to write), and
one ``KeepAlive`` task per endpoint writes the comments that keep quiet streams
open through proxies. An open stream is then a few small objects.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from mcpfleet.transport.http import Receive

# An item of a stream: a message, or ``None`` for a keep-alive comment.
Item = dict[str, Any] | None
# Writes one item of a stream.
Write = Callable[[Item], Awaitable[None]]

OUTBOX_LIMIT = 1000  # items waiting for a slow client at most; the oldest are dropped


class Pusher:
    """Items for one stream, written in order by a writer that exists only when needed.

    A slow client blocks only its own writer; pushes never wait. A mixin without
    slots of its own: a subclass declares ``_pending`` and ``_writer`` in its
    ``__slots__``, sets both to ``None`` and implements ``deliver``.
    """

    if not TYPE_CHECKING:  # (mypy would take the empty slots as the only attributes)
        __slots__ = ()

    _pending: collections.deque[Item] | None  # made on use: most streams stay quiet
    _writer: asyncio.Task[None] | None

    async def deliver(self, item: Item) -> None:
        """Write one item (in the writer task)."""
        raise NotImplementedError

    def push(self, item: Item) -> None:
        self.queue(item)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    def queue(self, item: Item) -> None:
        """Hold ``item`` back: ``flush`` writes what is held."""
        if self._pending is None:
            self._pending = collections.deque(maxlen=OUTBOX_LIMIT)
        self._pending.append(item)

    @property
    def held(self) -> int:
        """How many items wait."""
        return 0 if self._pending is None else len(self._pending)

    def flush(self, drop: int = 0) -> None:
        """Drop the ``drop`` oldest items held, and write the others."""
        pending = self._pending
        if pending is not None:
            for _ in range(min(drop, len(pending))):
                pending.popleft()
            if pending and self._writer is None:
                self._writer = asyncio.get_running_loop().create_task(self._drain())

    @property
    def busy(self) -> bool:
        """Whether a keep-alive comment would be superfluous now (something is being written)."""
        return self._writer is not None

    async def _drain(self) -> None:
        try:
            while self._pending:
                await self.deliver(self._pending.popleft())
        finally:
            self._writer = None
            self._pending = None

    def discard(self) -> None:
        """Drop what waits and stop the writer: the stream is closing."""
        self._pending = None
        writer = self._writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()


class Outbox(Pusher):
    """A ``Pusher`` whose items go to a callback."""

    __slots__ = ("_pending", "_write", "_writer")

    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending = None
        self._writer = None

    async def deliver(self, item: Item) -> None:
        await self._write(item)


class KeepAlive:
    """The open streams of one endpoint, and one task that pushes a keep-alive comment
    into each of them that is not busy, once an interval, while there are any."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._members: dict[Pusher, None] = {}  # in the order they were added
        self._task: asyncio.Task[None] | None = None

    def add(self, pusher: Pusher) -> None:
        self._members[pusher] = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, pusher: Pusher) -> None:
        self._members.pop(pusher, None)

    def __iter__(self) -> Iterator[Pusher]:
        """The members, oldest first (iterate a copy if pushing may change them)."""
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    async def _run(self) -> None:
        try:
            while self._members:
                await asyncio.sleep(self.interval)
                for pusher in list(self._members):
                    if not pusher.busy:
                        pusher.push(None)
        finally:
            self._task = None


async def until_disconnect(receive: Receive) -> None:
    """Wait, in the request's own task, until the client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass

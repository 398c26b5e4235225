"""Response streams: JSON when a request needs no streaming, SSE when it does.

A ``ResponseStream`` starts as a plain JSON response. The first notification a
handler sends turns it into an SSE stream; the final result then ends it. A
request whose handler sends nothing costs one JSON body and no SSE framing.

``DisconnectWatcher`` is the disconnect race: a request whose client goes away
is told (and, in the 2026-07-28 era, cancelled), at the cost of a dict entry for
the many requests that end before anyone needs to listen.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from mcpfleet.errors import ProtocolError
from mcpfleet.observe.metrics import METRICS
from mcpfleet.protocol.jsonrpc import (
    RequestId,
    dumps,
    encode_final,
    error_message,
    notification_message,
)
from mcpfleet.protocol.sse import encode_event
from mcpfleet.transport.http import JSON_HEADERS, NO_EXTRA, SSE_HEADERS, Receive, Send, send_bytes


class ResponseStream:
    """The response to one JSON-RPC request, streamed only if it must be.

    A disconnect of its client cancels the task that serves it (see
    ``DisconnectWatcher``); ``gone`` tells that cancellation from others.
    """

    __slots__ = (
        "_extra",
        "_send",
        "closed",
        "gone",
        "listener",
        "receive",
        "request_id",
        "streaming",
        "task",
        "tick",
    )

    receive: Receive  # set by DisconnectWatcher.watch
    tick: int

    def __init__(
        self, send: Send, request_id: RequestId, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self._send = send
        self._extra = extra or NO_EXTRA
        self.request_id = request_id
        self.streaming = False
        self.closed = False
        self.gone = False
        self.listener: asyncio.Task[None] | None = None
        self.task: asyncio.Task[Any] | None = None

    def disconnected(self) -> None:
        self.gone = True
        if self.task is not None:
            self.task.cancel()

    async def start_stream(self) -> None:
        if self.streaming:
            return
        self.streaming = True
        METRICS.response(200)
        await self._send(
            {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + self._extra}
        )

    async def event(self, message: Any) -> None:
        """Send one message as an SSE event, opening the stream if needed."""
        if self.closed:
            return
        await self.start_stream()
        await self._send(
            {"type": "http.response.body", "body": encode_event(dumps(message)), "more_body": True}
        )

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self.event(notification_message(method, params))

    async def comment(self, text: bytes) -> None:
        if not self.closed and self.streaming:
            await self._send({"type": "http.response.body", "body": text, "more_body": True})

    async def finish(
        self,
        message: Any,
        status: int = 200,
        extra: list[tuple[bytes, bytes]] | None = None,
        *,
        retry_ms: int | None = None,
    ) -> None:
        """Send the final message: an SSE event that ends the stream (with a retry hint,
        if given), or a JSON body."""
        if self.closed:
            return
        self.closed = True
        try:
            body = dumps(message)
        except TypeError:  # a value JSON cannot hold: see encode_final
            body = encode_final(message)
        if self.streaming:
            event = encode_event(body, retry_ms=retry_ms)
            await self._send({"type": "http.response.body", "body": event, "more_body": False})
        else:
            headers = JSON_HEADERS + self._extra if self._extra else JSON_HEADERS
            if extra:
                headers = headers + extra
            await send_bytes(self._send, status, body, headers)

    async def fail(self, error: ProtocolError) -> None:
        extra = [(k.encode(), v.encode()) for k, v in error.headers.items()]
        await self.finish(error_message(self.request_id, error), error.http_status, extra)

    async def end(self) -> None:
        """Close an open stream without a final message."""
        if not self.closed:
            self.closed = True
            if self.streaming:
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})


# Calls shorter than this never pay for a disconnect listener: most calls end sooner.
WATCH_AFTER_SECONDS = 0.02
IDLE_TICKS = 250  # the sweeper stops after this many ticks without a request


class Watched(Protocol):
    """A response a ``DisconnectWatcher`` can watch; the watcher sets these fields."""

    receive: Receive
    tick: int
    listener: asyncio.Task[None] | None

    def disconnected(self) -> None:
        """The client went away."""


class DisconnectWatcher:
    """Tells responses that their client disconnected, without a task per short request.

    A response registers itself (a set insert) and deregisters when done. One
    sweeper task ticks every ``WATCH_AFTER_SECONDS`` and starts a connection
    listener only for responses that have been there for a whole tick.
    """

    def __init__(self) -> None:
        self._watched: set[Watched] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._tick = 0

    def watch(self, response: Watched, receive: Receive) -> None:
        response.receive = receive
        response.tick = self._tick
        self._watched.add(response)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def done(self, response: Watched) -> None:
        self._watched.discard(response)
        if response.listener is not None:
            response.listener.cancel()

    def close(self) -> None:
        """Stop the sweeper and every listener (the app is closing)."""
        for response in list(self._watched):
            self.done(response)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        idle = 0
        try:
            while idle < IDLE_TICKS:  # stays up while busy, so requests need not start it
                await asyncio.sleep(WATCH_AFTER_SECONDS)
                self._tick += 1
                idle = 0 if self._watched else idle + 1
                for response in list(self._watched):
                    if response.listener is None and response.tick < self._tick - 1:
                        response.listener = loop.create_task(_listen(response))
        finally:
            if self._sweeper is asyncio.current_task():  # not a newer one after a close
                self._sweeper = None


async def _listen(response: Watched) -> None:
    while (await response.receive())["type"] != "http.disconnect":
        pass
    response.disconnected()

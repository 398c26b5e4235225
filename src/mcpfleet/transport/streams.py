"""Response streams: JSON when a request needs no streaming, SSE when it does.

A ``ResponseStream`` starts as a plain JSON response. The first notification a
handler sends turns it into an SSE stream; the final result then ends it. A
request whose handler sends nothing costs one JSON body and no SSE framing.

``cancel_on_disconnect`` is the disconnect race: the handler and a listener on
the connection run together, and whichever ends first stops the other.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfleet.errors import ProtocolError
from mcpfleet.protocol.jsonrpc import RequestId, dumps, error_message, notification_message
from mcpfleet.protocol.sse import encode_event
from mcpfleet.transport.http import JSON_HEADERS, SSE_HEADERS, Receive, Send, send_bytes


class ResponseStream:
    """The response to one JSON-RPC request, streamed only if it must be."""

    __slots__ = ("_extra", "_send", "closed", "request_id", "streaming")

    def __init__(
        self, send: Send, request_id: RequestId, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self._send = send
        self._extra = extra or []
        self.request_id = request_id
        self.streaming = False
        self.closed = False

    async def start_stream(self) -> None:
        if self.streaming:
            return
        self.streaming = True
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

    async def finish(self, message: Any, status: int = 200) -> None:
        """Send the final message: an SSE event that ends the stream, or a JSON body."""
        if self.closed:
            return
        self.closed = True
        body = dumps(message)
        if self.streaming:
            await self._send(
                {"type": "http.response.body", "body": encode_event(body), "more_body": False}
            )
        else:
            await send_bytes(self._send, status, body, JSON_HEADERS + self._extra)

    async def fail(self, error: ProtocolError) -> None:
        await self.finish(error_message(self.request_id, error), error.http_status)

    async def end(self) -> None:
        """Close an open stream without a final message."""
        if not self.closed:
            self.closed = True
            if self.streaming:
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})


class cancel_on_disconnect:  # noqa: N801 (used like a function, as contextlib's are)
    """Cancel the enclosed work when the client disconnects.

    ``async with cancel_on_disconnect(receive) as gone:`` runs a listener on the
    connection beside the block; ``gone`` is set when the client went away, so
    the caller can tell a cancellation by the client from one of its own.
    """

    __slots__ = ("_receive", "_watcher", "gone")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self.gone = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def __aenter__(self) -> asyncio.Event:
        task = asyncio.current_task()
        assert task is not None
        self._watcher = asyncio.get_running_loop().create_task(self._listen(task))
        return self.gone

    async def __aexit__(self, *exc: object) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    async def _listen(self, task: asyncio.Task[object]) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                task.cancel()
                return

"""The tracing ASGI wrapper: a span per MCP POST, around an app that is not changed.

A POST to the MCP path is read in full first (at most ``max_body_bytes``; a larger body
is passed on as it came, untraced, for the app to refuse), decoded, and replayed to the
app message by message. A body that is a JSON-RPC request or notification gets an
``Operation``; a client's reply, a batch or an undecodable body passes untraced. The
response goes to the client unchanged and at once; ``ResponseWatch`` reads a copy on the
way: the status, the session id, and the JSON-RPC error (from a JSON body, or from the
last event of an SSE stream). GET and DELETE (session streams and their end) are passed
through untraced. On shutdown, pending spans and measurements are sent before the app
reports itself stopped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from mcpfleet.observe.otel_spans import Operation, Telemetry, response_error

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# How much of a response is kept to find its error: a larger body counts as a success.
RESPONSE_KEEP_BYTES = 1024 * 1024


class TracingApp:
    """``app``, with a span and a duration per MCP request."""

    def __init__(self, app: Asgi, telemetry: Telemetry, path: str, max_body_bytes: int) -> None:
        self.app = app
        self.telemetry = telemetry
        self.paths = frozenset((path, path + "/"))
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flushing(send))
            return
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        received, body = await buffer_body(receive, self.max_body_bytes)
        replay = replaying(received, receive)
        message = decode_request(body)
        if message is None:
            await self.app(scope, replay, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        operation = self.telemetry.begin(message, headers)
        await self._traced(operation, message.get("id"), scope, replay, send)

    async def _traced(
        self,
        operation: Operation,
        request_id: Any,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
    ) -> None:
        watch = ResponseWatch(request_id)

        async def watched(message: Message) -> None:
            await send(message)
            watch.feed(message)

        token = operation.activate()
        error: str | None = None
        try:
            await self.app(scope, receive, watched)
        except BaseException as raised:
            error = type(raised).__qualname__
            raise
        finally:
            operation.deactivate(token)
            found, code = watch.outcome()
            if watch.status:
                operation.span.set_attribute("http.response.status_code", watch.status)
            operation.end(error or found, rpc_code=code, session_id=watch.session_id)

    def _flushing(self, send: Send) -> Send:
        """``send`` for the lifespan: the exporters flush before shutdown completes."""

        async def flushing_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await asyncio.to_thread(self.telemetry.shutdown)
            await send(message)

        return flushing_send


async def buffer_body(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its body (None past ``limit`` bytes, or when
    the client left first)."""
    received: list[Message] = []
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return received, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return received, None
        parts.append(chunk)
        if not message.get("more_body", False):
            return received, b"".join(parts)


def replaying(received: list[Message], receive: Receive) -> Receive:
    """``receive`` that returns ``received`` first, then what the client sends next."""
    pending = deque(received)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def decode_request(body: bytes | None) -> dict[str, Any] | None:
    """The body as a JSON-RPC request or notification, or None."""
    if not body:
        return None
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(message, dict) and isinstance(message.get("method"), str):
        return message
    return None


class ResponseWatch:
    """What a response says about its request, read from a copy of the ASGI messages."""

    __slots__ = (
        "_json",
        "_kept",
        "_last_data",
        "_sse",
        "_tail",
        "request_id",
        "session_id",
        "status",
    )

    def __init__(self, request_id: Any) -> None:
        self.request_id = request_id
        self.status = 0
        self.session_id: str | None = None
        self._json = self._sse = False
        self._kept = bytearray()  # a JSON body, or an SSE stream's unfinished event
        self._tail = False  # the kept bytes were dropped: too many
        self._last_data: bytes | None = None

    def feed(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            for name, value in message.get("headers", ()):
                name = name.lower()
                if name == b"content-type":
                    media = value.split(b";", 1)[0].strip().lower()
                    self._json = media == b"application/json"
                    self._sse = media == b"text/event-stream"
                elif name == b"mcp-session-id":
                    self.session_id = value.decode("latin-1")
        elif kind == "http.response.body" and (self._json or self._sse):
            self._keep(message.get("body", b""))

    def _keep(self, chunk: bytes) -> None:
        if self._tail:
            return
        self._kept += chunk
        if self._sse:
            self._read_events()
        if len(self._kept) > RESPONSE_KEEP_BYTES:
            self._kept.clear()
            self._tail = self._json  # a huge JSON body is not read; SSE reads on
            self._last_data = None

    def _read_events(self) -> None:
        kept = self._kept.replace(b"\r\n", b"\n")
        *events, rest = kept.split(b"\n\n")
        for event in events:
            data = [
                line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")
            ]
            if data:
                self._last_data = b"\n".join(data)
        self._kept = bytearray(rest)

    def outcome(self) -> tuple[str | None, int | None]:
        """``error.type`` and the JSON-RPC error code: from the response's JSON-RPC message,
        else from an HTTP error status."""
        body = bytes(self._kept) if self._json and not self._tail else self._last_data
        response: Any = None
        if body:
            try:
                response = orjson.loads(body)
            except orjson.JSONDecodeError:
                response = None
        error_type, code = response_error(response)
        if error_type is None and self.status >= 400:
            return str(self.status), None
        return error_type, code

"""Small ASGI building blocks: reading a bounded body, sending whole responses.

The ASGI types are kept loose (``dict[str, Any]``) as the ASGI specification
itself does; every helper here is a thin, allocation-light wrapper.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcpfleet.errors import HttpRejection, McpfleetError, ProtocolError
from mcpfleet.observe.metrics import METRICS
from mcpfleet.protocol.jsonrpc import RequestId, dumps, error_message

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
NO_EXTRA: list[tuple[bytes, bytes]] = []  # no extra headers: shared, never changed
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


class ClientDisconnected(McpfleetError):
    """The client went away before the request body arrived in full."""


# The running loop of each thread that served a request. ``asyncio.current_task()``
# without a loop finds the running one, and CPython 3.11 checks its process id with a
# ``getpid`` system call each time; with the loop given it is a dict lookup.
_LOOPS: dict[int, asyncio.AbstractEventLoop] = {}


def current_task() -> asyncio.Task[Any] | None:
    """``asyncio.current_task()``, without a system call once a thread's loop is known."""
    thread = threading.get_ident()
    loop = _LOOPS.get(thread)
    if loop is not None:
        task = asyncio.current_task(loop)
        if task is not None:
            return task
    loop = asyncio.get_running_loop()  # a new loop on this thread (or none running)
    if len(_LOOPS) >= 64:  # threads come and go (tests, embedders): keep it small
        _LOOPS.clear()
    _LOOPS[thread] = loop
    return asyncio.current_task(loop)


# Decoded headers: clients repeat most of theirs on every request (Host, Accept,
# Content-Type, the protocol version, Mcp-Method). Bounded: a stream of distinct values
# (lengths, tokens) fills it once, and is then decoded as it comes.
_DECODED: dict[tuple[bytes, bytes], tuple[str, str]] = {}
_DECODED_AT_MOST = 512
_LONGEST_KEPT = 256  # bytes of a value worth keeping


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (the last wins for repeated names)."""
    headers = {}
    known = _DECODED
    for pair in scope["headers"]:
        try:
            decoded = known.get(pair)
        except TypeError:  # not a pair of bytes (a list, a bytearray): decoded each time
            decoded = None
            keep = False
        else:
            keep = True
        if decoded is None:
            name, value = pair
            decoded = (name.decode("latin-1"), value.decode("latin-1"))
            if keep and len(known) < _DECODED_AT_MOST and len(value) <= _LONGEST_KEPT:
                known[pair] = decoded
        headers[decoded[0]] = decoded[1]
    return headers


def too_large() -> HttpRejection:
    """413; the connection then closes gently (``GuardedHttpToolsProtocol``): the rest of
    the body is not read beyond what lets the answer reach the client."""
    return HttpRejection(413, "Request body too large")


async def read_body(
    receive: Receive, limit: int, declared: str | None, first: Message | None = None
) -> bytes:
    """The whole request body, refused with 413 once it passes ``limit`` bytes.

    ``first`` is the first ``http.request`` message when the caller already has it.
    """
    if declared is not None:
        try:
            if int(declared) > limit:
                raise too_large()
        except ValueError:
            raise HttpRejection(400, "Invalid Content-Length") from None
    message = first if first is not None else await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise too_large()
        return bytes(body)
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]],
) -> None:
    METRICS.response(status)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    message: Any,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_bytes(send, status, dumps(message), JSON_HEADERS + extra if extra else JSON_HEADERS)


async def send_error(
    send: Send,
    error: ProtocolError,
    request_id: RequestId | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A JSON-RPC error response with the error's HTTP status."""
    headers = list(extra or [])
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    await send_json(send, error.http_status, error_message(request_id, error), headers)


async def send_empty(
    send: Send, status: int, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send_bytes(send, status, b"", extra or [])


_ACCEPTS_BOTH: dict[str, bool] = {}


def accepts_json_and_sse(accept: str | None) -> bool:
    """Whether ``Accept`` admits both JSON and SSE (memoised: clients repeat one value)."""
    if not accept:
        return False
    known = _ACCEPTS_BOTH.get(accept)
    if known is None:
        known = accepts(accept, "application/json", "text/event-stream")
        if len(_ACCEPTS_BOTH) < 256:
            _ACCEPTS_BOTH[accept] = known
    return known


def accepts(accept: str | None, *types: str) -> bool:
    """Whether an ``Accept`` header admits every one of ``types``."""
    if not accept:
        return False
    offered = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    if "*/*" in offered:
        return True
    for wanted in types:
        major = wanted.split("/", 1)[0] + "/*"
        if wanted not in offered and major not in offered:
            return False
    return True

"""SSE streams of 2025-era sessions: every event has an id and is kept in the log.

A POST's stream starts as a JSON response and turns into SSE when the handler
first sends something. From then on each message is appended to the stream's
event log in the fleet state and, while the connection lasts, written to it. A
connection that ends (the client's network, or the server letting go to make
the client poll) does not end the work: the client resumes with GET and
``Last-Event-ID``, on any task, and gets what it missed from the log.

The server lets go of a call's stream by itself when its lifetime is up or the
task drains (``end_with_retry``, see ``mcpfleet.transport.lifetimes``), but only
when its client can resume it: a 2025-11-25 (or later) session, whose call holds a
lease. Older clients keep their stream until the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from mcpfleet.errors import ProtocolError
from mcpfleet.observe.metrics import METRICS
from mcpfleet.protocol.jsonrpc import RequestId, dumps, encode_final, error_message
from mcpfleet.protocol.sse import KEEPALIVE, encode_event
from mcpfleet.state.base import FleetState
from mcpfleet.transport.http import JSON_HEADERS, NO_EXTRA, SSE_HEADERS, Receive, Send, send_bytes
from mcpfleet.transport.leases import CallLeases
from mcpfleet.transport.streams import DisconnectWatcher

log = logging.getLogger("mcpfleet.transport")

PRIMING_VERSION = "2025-11-25"  # the first version whose clients expect a priming event


def new_stream_id(kind: str) -> str:
    """``p…`` for a POST's stream, ``g…`` for a GET stream."""
    return kind + secrets.token_urlsafe(6).replace("_", "-")


class SessionStream:
    """The response of one legacy request (or a GET stream), resumable through the log."""

    __slots__ = (
        "_disconnects",
        "_extra",
        "_send",
        "born",
        "connected",
        "finished",
        "leases",
        "listener",
        "priming",
        "receive",
        "request_id",
        "session_id",
        "started",
        "state",
        "stream_id",
        "tick",
        "unsent_from",
    )

    receive: Receive  # set by DisconnectWatcher.watch
    tick: int

    def __init__(
        self,
        send: Send,
        state: FleetState,
        session_id: str,
        *,
        request_id: RequestId | None,
        priming: bool,
        stream_id: str | None = None,
        extra: list[tuple[bytes, bytes]] | None = None,
        leases: CallLeases | None = None,
    ) -> None:
        self._send = send
        self.leases = leases  # a call's stream holds a lease while the call runs
        self.state = state
        self.session_id = session_id
        self.request_id = request_id
        self.priming = priming
        # A POST's stream gets its id when it turns into SSE: most requests stay JSON.
        self.stream_id = stream_id or ""
        self._extra = extra or NO_EXTRA
        self.started = False
        self.connected = True
        self.finished = False
        self._disconnects: DisconnectWatcher | None = None
        self.listener: asyncio.Task[None] | None = None
        # The first event logged but not written (the connection was gone by then).
        self.unsent_from: str | None = None
        # When the request arrived (the loop's clock), for the stream's lifetime.
        limited = leases is not None and leases.lifetimes is not None
        self.born = asyncio.get_running_loop().time() if limited else 0.0

    def watch(self, disconnects: DisconnectWatcher, receive: Receive) -> None:
        """Notice the client going away (which, in this era, is not a cancellation)."""
        self._disconnects = disconnects
        disconnects.watch(self, receive)

    def disconnected(self) -> None:
        self.connected = False

    def stop_watching(self) -> None:
        if self._disconnects is not None:
            self._disconnects.done(self)

    async def _write(self, chunk: bytes, more: bool = True) -> bool:
        """Write while connected; whether it was written."""
        if not self.connected:
            return False
        try:
            await self._send({"type": "http.response.body", "body": chunk, "more_body": more})
        except OSError:
            self.connected = False
            return False
        if not more:
            self.connected = False
        return True

    async def write_logged(self, event_id: str, data: bytes) -> None:
        """Write an event that is in the log already (a replay)."""
        self._written(event_id, await self._write(encode_event(data, event_id=event_id)))

    def _written(self, event_id: str, written: bool) -> None:
        if not written and self.unsent_from is None:
            self.unsent_from = event_id

    async def start(self) -> None:
        """Open the SSE response, with a priming event when the client expects one."""
        if self.started:
            return
        self.started = True
        METRICS.response(200)
        if not self.stream_id:
            self.stream_id = new_stream_id("p" if self.request_id is not None else "g")
        await self._send(
            {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + self._extra}
        )
        if self.leases is not None:
            await self.leases.hold(self.session_id, self.stream_id, self.request_id)
        if self.priming:
            event_id = await self.state.append_event(self.session_id, self.stream_id, None)
            self._written(event_id, await self._write(encode_event(None, event_id=event_id)))
            lifetimes = None if self.leases is None else self.leases.lifetimes
            if lifetimes is not None and self.request_id is not None:
                # A call's stream its client can resume (it has an event id now): timed.
                lifetimes.track(self, self.born)

    async def send(self, message: dict[str, Any], body: bytes | None = None) -> None:
        """Log one message of the stream (``body``: already encoded) and write it while
        connected."""
        await self.start()
        if body is None:
            body = dumps(message)
        event_id = await self.state.append_event(self.session_id, self.stream_id, body)
        self._written(event_id, await self._write(encode_event(body, event_id=event_id)))

    async def comment(self) -> None:
        """A keep-alive comment."""
        await self._write(KEEPALIVE)

    async def release(self, retry_ms: int) -> None:
        """Close the connection, not the stream: the client comes back after ``retry_ms``."""
        await self.start()
        await self._write(encode_event(None, retry_ms=retry_ms), more=False)

    def end_with_retry(self, retry_ms: int) -> None:
        """``release`` from outside the call's task (its lifetime is up, or the task
        drains): nothing more is written to the connection from now on."""
        if self.finished or not self.started or not self.connected:
            return
        self.connected = False
        task = asyncio.get_running_loop().create_task(self._let_go(retry_ms))
        _LETTING_GO.add(task)
        task.add_done_callback(_LETTING_GO.discard)

    async def _let_go(self, retry_ms: int) -> None:
        log.debug("request %r: its stream let go, the call goes on", self.request_id)
        body = encode_event(None, retry_ms=retry_ms)
        with contextlib.suppress(OSError):
            await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def finish(self, message: dict[str, Any]) -> None:
        """The final message: one JSON body, or the last event of the stream."""
        if self.finished:
            return
        self.finished = True
        try:
            body = dumps(message)
        except TypeError:  # a value JSON cannot hold: see encode_final
            body = encode_final(message)
        if not self.started:
            await send_bytes(self._send, 200, body, JSON_HEADERS + self._extra)
            self.connected = False
            return
        await self.send(message, body)
        await self.state.end_stream(self.session_id, self.stream_id)
        await self._release()
        await self._write(b"", more=False)

    async def _release(self) -> None:
        leases = self.leases
        if leases is not None:
            if leases.lifetimes is not None:
                leases.lifetimes.forget(self)
            await leases.release(self.session_id, self.stream_id)

    async def fail(self, error: ProtocolError) -> None:
        await self.finish(error_message(self.request_id, error))

    async def abandon(self) -> None:
        """End without a response (the request was cancelled)."""
        if self.finished:
            return
        self.finished = True
        await self.start()
        await self.state.end_stream(self.session_id, self.stream_id)
        await self._release()
        await self._write(b"", more=False)


# The let-go writes under way (a task must be referenced until it is done).
_LETTING_GO: set[asyncio.Task[None]] = set()

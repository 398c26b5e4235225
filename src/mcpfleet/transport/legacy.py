"""The 2025-era half of the endpoint: sessions, the GET stream, resumption, DELETE.

Every piece of session state goes through the fleet state, so that any task can
take any request of any session: the record, the event logs, the replies to
server-to-client requests, and cancellations (published to the fleet; the task
running the request stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson

from mcpfleet.auth.principal import Principal, principal_id
from mcpfleet.errors import (
    HttpRejection,
    InternalError,
    InvalidRequest,
    ProtocolError,
    RateLimited,
    StateUnavailable,
)
from mcpfleet.protocol.jsonrpc import (
    Notification,
    Request,
    Response,
    dumps,
    error_message,
    result_message,
)
from mcpfleet.protocol.sse import KEEPALIVE, encode_event
from mcpfleet.server.legacy import LegacyDispatcher
from mcpfleet.state.base import (
    FleetState,
    SessionLimitReached,
    SessionRecord,
    StoredEvent,
    split_event_id,
)
from mcpfleet.transport.errors import client_error
from mcpfleet.transport.get_streams import GetStream, GetStreams
from mcpfleet.transport.http import (
    SSE_HEADERS,
    Receive,
    Send,
    send_empty,
    send_error,
    send_json,
)
from mcpfleet.transport.leases import CallLeases
from mcpfleet.transport.push import until_disconnect
from mcpfleet.transport.session_streams import PRIMING_VERSION, SessionStream, new_stream_id
from mcpfleet.transport.streams import DisconnectWatcher

_T = TypeVar("_T")

log = logging.getLogger("mcpfleet.transport")

CANCELS = "cancels"
ENDED = "sessions-ended"
MAX_SESSION_ID = 256


def session_header(session_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"mcp-session-id", session_id.encode())]


def _request_key(session_id: str, request_id: Any) -> tuple[str, bytes]:
    return session_id, orjson.dumps(request_id)  # 1 and "1" stay different


class LegacyEndpoint:
    """Serves POST, GET and DELETE for 2025-era sessions."""

    def __init__(
        self,
        dispatcher: LegacyDispatcher,
        state: FleetState,
        *,
        keepalive: float,
        disconnects: DisconnectWatcher,
        lease_seconds: float = 10.0,
    ) -> None:
        self.dispatcher = dispatcher
        self.disconnects = disconnects
        self.server = dispatcher.server
        self.state = state
        self.keepalive = keepalive
        self.leases = CallLeases(state, lease_seconds)
        self.running: dict[tuple[str, bytes], asyncio.Task[Any]] = {}
        self.streams = GetStreams(state, self.server.notifications, keepalive)
        self._unsubscribe: Any = None

    @property
    def get_streams(self) -> int:
        """How many GET streams are open here."""
        return len(self.streams)

    async def start(self) -> None:
        """Listen for cancellations and ended sessions published by any task of the fleet."""
        if self._unsubscribe is None:
            self._unsubscribe = self.state.subscribe(CANCELS, self._on_cancel)
            self.state.subscribe(ENDED, self._on_ended)

    def _on_ended(self, message: dict[str, Any]) -> None:
        self.streams.end_session(message.get("session", ""))  # ended, not dropped: graceful

    def _on_cancel(self, message: dict[str, Any]) -> None:
        key = _request_key(message.get("session", ""), message.get("requestId"))
        task = self.running.get(key)
        if task is not None:
            task.cancel()

    # -- sessions --------------------------------------------------------------

    async def session(self, headers: dict[str, str], principal: Principal | None) -> SessionRecord:
        """The session a request names: 400 without one, 404 for an unknown one."""
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            raise HttpRejection(400, "Bad Request: Mcp-Session-Id header is required")
        # Visible ASCII only (0x21-0x7E): ASCII, printable (0x20-0x7E), and no space.
        if (
            not session_id
            or len(session_id) > MAX_SESSION_ID
            or not (session_id.isascii() and session_id.isprintable())
            or " " in session_id
        ):
            raise HttpRejection(400, "Bad Request: invalid Mcp-Session-Id")
        record = await self.state.get_session(session_id)
        if record is None or record.principal != principal_id(principal):
            raise HttpRejection(404, "Session not found")
        return record

    # -- POST ------------------------------------------------------------------

    async def post(
        self,
        headers: dict[str, str],
        message: Request | Notification | Response,
        receive: Receive,
        send: Send,
        principal: Principal | None,
    ) -> None:
        if isinstance(message, Request) and message.method == "initialize":
            await self.initialize(message, send, principal)
            return
        record = await self.session(headers, principal)
        if isinstance(message, Notification):
            await self.notification(record, message)
            await send_empty(send, 202)
        elif isinstance(message, Response):
            await self.reply(record, message)
            await send_empty(send, 202)
        else:
            await self.request(record, message, receive, send, principal)

    async def initialize(self, request: Request, send: Send, principal: Principal | None) -> None:
        try:
            result, record = await self.dispatcher.initialize(request, principal)
        except SessionLimitReached as full:
            if not full.per_principal:
                raise
            limit = f"{self.dispatcher.max_sessions_per_principal} open sessions per caller"
            await send_error(send, RateLimited(limit, 30), request.id)
            return
        except ProtocolError as error:  # with its status, as every request's error
            await send_error(send, error, request.id)
            return
        log.info(
            "session opened",
            extra={
                "event": "session_opened",
                "sessionId": record.id,
                "protocolVersion": record.protocol_version,
            },
        )
        await send_json(send, 200, result_message(request.id, result), session_header(record.id))

    async def notification(self, record: SessionRecord, message: Notification) -> None:
        if message.method == "notifications/initialized" and not record.initialized:
            await self.state.mark_initialized(record.id)
        elif message.method == "notifications/cancelled":
            request_id = message.params.get("requestId")
            if isinstance(request_id, int | str) and not isinstance(request_id, bool):
                await self.state.publish(CANCELS, {"session": record.id, "requestId": request_id})

    async def reply(self, record: SessionRecord, message: Response) -> None:
        """A client's answer to a server-to-client request; it may wake another task."""
        if not isinstance(message.id, str):
            raise InvalidRequest("Invalid request: no server request has this id")
        raw = orjson.dumps(
            {"jsonrpc": "2.0", "id": message.id, "result": message.result}
            if message.error is None
            else {"jsonrpc": "2.0", "id": message.id, "error": message.error}
        )
        if not await self.state.deliver_reply(record.id, message.id, raw):
            raise InvalidRequest("Invalid request: no server request of this session has this id")

    async def request(
        self,
        record: SessionRecord,
        request: Request,
        receive: Receive,
        send: Send,
        principal: Principal | None,
    ) -> None:
        stream = SessionStream(
            send,
            self.state,
            record.id,
            request_id=request.id,
            priming=record.protocol_version >= PRIMING_VERSION,
            leases=self.leases,
        )
        key = _request_key(record.id, request.id)
        task = asyncio.current_task()
        assert task is not None
        self.running[key] = task
        stream.watch(self.disconnects, receive)
        try:
            result = await self.dispatcher.dispatch(request, record, stream, principal)
            await stream.finish(result_message(request.id, result))
        except asyncio.CancelledError:
            if self.running.get(key) is not task:
                raise
            log.info("request %r cancelled by the client", request.id)
            await stream.abandon()
        except Exception as error:
            await self.fail(
                stream, send, request.id, client_error(error, f"request {request.id!r}")
            )
        finally:
            self.running.pop(key, None)
            stream.stop_watching()

    @staticmethod
    async def fail(
        stream: SessionStream, send: Send, request_id: Any, error: ProtocolError
    ) -> None:
        """An error before the stream started answers with its own status (503 with
        Retry-After, never 404 or 500, when the state is unreachable); once the stream has
        started, it is the stream's last event."""
        if stream.started:
            try:
                await stream.fail(error)
            except StateUnavailable:  # the event log is unreachable too: end the connection
                log.warning(
                    "request %r: its stream ended early, the state is unreachable", request_id
                )
        else:
            stream.finished = True
            await send_error(send, error, request_id)

    # -- GET -------------------------------------------------------------------

    async def get(
        self, headers: dict[str, str], receive: Receive, send: Send, principal: Principal | None
    ) -> GetStream | None:
        """A GET: the session's stream, set up and returned for the caller to ``hold``; or
        ``None`` once a resumed request's stream has been replayed to its end."""
        record = await self.session(headers, principal)
        last_event_id = headers.get("last-event-id")
        if last_event_id:
            return await self.resume(record, last_event_id, receive, send)
        return await self.listen(record, new_stream_id("g"), [], send)

    async def resume(
        self, record: SessionRecord, last_event_id: str, receive: Receive, send: Send
    ) -> GetStream | None:
        """Replay what a stream's client missed, then go on with the stream."""
        parts = split_event_id(last_event_id)
        found = await self.state.read_events(record.id, last_event_id, wait=0)
        if parts is None or found is None:
            raise HttpRejection(400, "Bad Request: unknown or expired Last-Event-ID")
        stream_id = parts[0]
        if stream_id.startswith("g"):
            replayed = [(e.id, e.data) for e in found[0]]
            return await self.listen(record, stream_id, replayed, send)
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        # A resumed call stream is long-lived too: it ends after its lifetime, or when the
        # task drains, with a retry hint, and its client resumes it again elsewhere.
        ending = _ResumedStream()
        lifetimes = self.leases.lifetimes
        if lifetimes is not None:
            lifetimes.track(ending)
        gone = _Disconnect(receive)
        try:
            await self._replay(record.id, stream_id, last_event_id, found, send, gone, ending)
        finally:
            gone.stop()
            if lifetimes is not None:
                lifetimes.forget(ending)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        return None

    async def _replay(
        self,
        session_id: str,
        stream_id: str,
        cursor: str,
        found: tuple[list[StoredEvent], bool],
        send: Send,
        gone: _Disconnect,
        ending: _ResumedStream,
    ) -> None:
        """Send a call stream's events from the log as they come, until it is complete,
        its client leaves, or the server ends it (with a retry hint)."""
        events, complete = found
        while True:
            for event in events:
                if event.data is not None:
                    body = encode_event(event.data, event_id=event.id)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                cursor = event.id
            if complete or gone.happened:
                return
            wait = min(self.keepalive, self.leases.ttl)
            read = await ending.or_ended(self.state.read_events(session_id, cursor, wait=wait))
            if ending.retry_ms is not None:
                body = encode_event(None, event_id=cursor, retry_ms=ending.retry_ms)
                await send({"type": "http.response.body", "body": body, "more_body": True})
                return
            if read is None:
                return
            events, complete = read
            if not events and not complete:
                if await self._orphaned(session_id, stream_id):
                    continue  # its error result is in the log now: the next read gets it
                await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})

    async def _orphaned(self, session_id: str, stream_id: str) -> bool:
        """Whether a call's stream lost its task (its lease lapsed); if so, end the stream
        with the call's error result, so that its client gets an answer."""
        lapsed, request_id = await self.leases.lapsed(session_id, stream_id)
        if not lapsed:
            return False
        log.warning(
            "request %r: the task running it stopped; ending its stream with an error",
            request_id,
            extra={"event": "call_orphaned", "sessionId": session_id},
        )
        error = InternalError("Internal error: the server task running this request stopped")
        body = dumps(error_message(request_id, error))
        await self.state.append_event(session_id, stream_id, body)
        await self.state.end_stream(session_id, stream_id)
        await self.leases.forget(session_id, stream_id)
        return True

    async def listen(
        self,
        record: SessionRecord,
        stream_id: str,
        replay: list[tuple[str, bytes | None]],
        send: Send,
    ) -> GetStream:
        """The session's standalone SSE stream: change notifications, one per session.

        Returned open: the caller's task holds it (``GetStream.hold``) until the client
        goes away or DELETE (or a drain) ends it by cancelling that task.
        """
        return await self.streams.open_stream(
            record.id,
            stream_id,
            replay,
            send,
            priming=not replay and record.protocol_version >= PRIMING_VERSION,
        )

    # -- DELETE ----------------------------------------------------------------

    async def delete(
        self, headers: dict[str, str], send: Send, principal: Principal | None
    ) -> None:
        record = await self.session(headers, principal)
        await self.state.delete_session(record.id, record.principal)
        await self.state.publish(ENDED, {"session": record.id})
        log.info("session closed", extra={"event": "session_closed", "sessionId": record.id})
        await send_empty(send, 204)


class _Disconnect:
    """Watches a connection for the client going away."""

    def __init__(self, receive: Receive) -> None:
        self.happened = False

        async def listen() -> None:
            await until_disconnect(receive)
            self.happened = True

        self._task = asyncio.get_running_loop().create_task(listen())

    def stop(self) -> None:
        self._task.cancel()


class _ResumedStream:
    """A resumed call stream, as its lifetime and the drain see it: ``end_with_retry``
    interrupts its wait for the next event."""

    def __init__(self) -> None:
        self.retry_ms: int | None = None
        self._ended = asyncio.Event()

    def end_with_retry(self, retry_ms: int) -> None:
        self.retry_ms = retry_ms
        self._ended.set()

    async def or_ended(self, read: Coroutine[Any, Any, _T]) -> _T | None:
        """``read``'s result, or None as soon as the stream is ended (``read`` cancelled)."""
        if self.retry_ms is not None:
            read.close()
            return None
        reading = asyncio.ensure_future(read)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({reading, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if reading.done():
            return reading.result()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        return None

"""The GET streams of 2025-era sessions: change notifications, one stream per session.

An open GET stream is one ``GetStream`` object (an entry in two dicts) and the
suspended task of its own request: no task, closure or queue of its own while
idle, no hub listener of its own. The
request's task sets the stream up, returns it to the top of the ASGI call (so
the frames and the header map of the request's handling are gone), and waits
there in ``GetStream.hold`` for the client to go away. ``GetStreams`` (one per
endpoint) holds the open streams: it fans the hub's change notifications out to
them (one hub listener for all), keeps the quiet ones alive, and ends them when
their session ends, their lifetime is up or the task drains (``lifetimes``).

A stream the server ends with a retry hint is not forgotten at once: it stays
*detached*, logging what is published, until its client resumes it here or on
another task (``mcpfleet.transport.handover``), so that nothing published in between
is lost. A resumed stream holds its notifications back until its replay is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mcpfleet.errors import HttpRejection, StateUnavailable
from mcpfleet.protocol.sse import encode_event
from mcpfleet.protocol.tasks import TASK_STATUS
from mcpfleet.server.notify import RESOURCE_UPDATED, NotificationHub
from mcpfleet.state.base import FleetState
from mcpfleet.transport.handover import HANDOVER, Handovers
from mcpfleet.transport.http import Receive, Send
from mcpfleet.transport.lifetimes import StreamLifetimes
from mcpfleet.transport.push import Item, KeepAlive, Pusher
from mcpfleet.transport.session_streams import SessionStream

log = logging.getLogger("mcpfleet.transport")


class GetStream(SessionStream, Pusher):
    """One open GET stream: its response, its pending notifications, its request's task."""

    __slots__ = ("_pending", "_writer", "drop", "ended", "live", "retry", "streams", "task")

    def __init__(
        self,
        streams: GetStreams,
        send: Send,
        session_id: str,
        stream_id: str,
        *,
        priming: bool,
    ) -> None:
        super().__init__(
            send, streams.state, session_id, request_id=None, priming=priming, stream_id=stream_id
        )
        self._pending = None
        self._writer = None
        self.streams = streams
        self.task = asyncio.current_task()
        self.ended = False  # ended by the server (DELETE, lifetime, drain): close gracefully
        self.retry: int | None = None  # ended with this retry hint: the client comes back
        self.live = False  # set up: notifications and keep-alive comments may flow
        self.drop = 0  # held-back notifications another task logged (a handover)

    @property
    def busy(self) -> bool:
        return not self.live or self._writer is not None

    def push(self, item: Item) -> None:
        if self.live:
            Pusher.push(self, item)
        elif item is not None:  # until the replay is written (a keep-alive can wait)
            self.queue(item)

    def go_live(self) -> None:
        """The replay is written: write what was held back (less what was logged elsewhere)."""
        self.live = True
        self.flush(self.drop)

    async def deliver(self, item: Item) -> None:
        try:
            if item is None:
                await self.comment()
            elif item is HANDOVER:
                await self.streams.handovers.hand_over(self)
            elif await self.streams.wanted(self.session_id, item):
                await self.send(item)
        except StateUnavailable:
            log.warning("a notification was not logged on a GET stream: the state is unreachable")

    def end(self) -> None:
        """End the stream from outside: its request's task closes it gracefully."""
        if not self.ended:
            self.ended = True
            if self.task is not None:
                self.task.cancel()

    def end_with_retry(self, retry_ms: int) -> None:
        """End the stream with a retry hint (lifetime, drain): its client resumes it."""
        if not self.ended:
            self.retry = retry_ms
            self.end()

    async def hold(self, receive: Receive) -> None:
        """Wait, in the request's own task, until the client goes away or the stream is
        ended; then close it. (``until_disconnect``, inline: a frame less per stream.)"""
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        except asyncio.CancelledError:
            if not self.ended:
                raise
        finally:
            await self.close()

    async def close(self) -> None:
        """Unregister, give up the session's claim, and end the response (with the retry
        hint, keeping the stream detached until its client resumes it, if it has one)."""
        streams = self.streams
        streams.remove(self)
        detached = self.retry is not None and await streams.handovers.detach(self)
        if not detached:
            self.discard()
        with contextlib.suppress(StateUnavailable):  # the claim expires by itself
            await self.state.release_listener(self.session_id, self.stream_id)
        tail = b"" if self.retry is None else encode_event(None, retry_ms=self.retry)
        self.connected = False  # from now on, notifications are only logged
        with contextlib.suppress(OSError):
            await self._send({"type": "http.response.body", "body": tail, "more_body": False})


def claim_ttl(state: FleetState) -> float:
    """How long the state keeps a GET-stream claim without renewal, in seconds."""
    seconds = getattr(state, "listener_ttl_seconds", None)
    if seconds is None:
        seconds = getattr(state, "listener_ttl_ms", 45_000) / 1000
    return float(seconds)


class GetStreams:
    """The open GET streams of one endpoint."""

    def __init__(
        self,
        state: FleetState,
        hub: NotificationHub,
        keepalive: float,
        lifetimes: StreamLifetimes | None = None,
    ) -> None:
        self.state = state
        self.hub = hub
        self.open = KeepAlive(keepalive)  # every open stream, oldest first
        self.by_session: dict[str, GetStream] = {}  # the latest stream of each session
        # Their lifetimes (the app shares its own: a drain ends every stream at once).
        self.lifetimes = StreamLifetimes(0) if lifetimes is None else lifetimes
        self.handovers = Handovers(state)
        self._subscribed = False
        # A session's claim on its GET stream expires unless renewed: renew a third of the
        # way through, so an open stream stays the only one while it is open.
        ttl = claim_ttl(state)
        self.renew_every = ttl / 3
        self._renewer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self.open)

    async def open_stream(
        self,
        session_id: str,
        stream_id: str,
        replay: list[tuple[str, bytes | None]],
        send: Send,
        *,
        priming: bool,
    ) -> GetStream:
        """Claim the session's GET stream, start the response, replay what the client
        missed (taking the stream over from a task that ended it); the open stream, for
        the caller's task to ``hold``."""
        if not await self.state.claim_listener(session_id, stream_id):
            raise HttpRejection(409, "Conflict: this session already has a GET stream")
        stream = GetStream(self, send, session_id, stream_id, priming=priming)
        if not self._subscribed:  # one hub listener for every GET stream of this endpoint
            self._subscribed = True
            self.hub.subscribe(self._on_change)
            self.handovers.listen()
        self.open.add(stream)  # from here on, notifications are held back until live
        self.by_session[session_id] = stream
        try:
            await stream.start()
            for identifier, data in await self.handovers.take_over(stream, replay):
                if data is not None:
                    await stream.write_logged(identifier, data)
        except BaseException:
            await stream.close()
            raise
        stream.go_live()
        self.lifetimes.track(stream)
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew_claims())
        return stream

    async def _renew_claims(self) -> None:
        """Renew the claim of every open stream while any is open. A stream whose claim
        was taken meanwhile (it lapsed during a state outage) yields: it ends, and its
        client resumes on the stream that holds the claim."""
        try:
            while self.by_session:
                await asyncio.sleep(self.renew_every)
                for stream in list(self.by_session.values()):
                    try:
                        held = await self.state.claim_listener(stream.session_id, stream.stream_id)
                    except StateUnavailable:
                        continue
                    if not held:
                        stream.end()
        finally:
            self._renewer = None

    def remove(self, stream: GetStream) -> None:
        self.open.remove(stream)
        self.lifetimes.forget(stream)
        if self.by_session.get(stream.session_id) is stream:
            del self.by_session[stream.session_id]

    def _on_change(self, method: str, params: dict[str, Any]) -> None:
        if method == TASK_STATUS:
            return  # tasks are of the 2026-07-28 era: for its listen streams only
        if self.open or self.handovers.detached:
            message = {"jsonrpc": "2.0", "method": method, "params": params}
            for stream in list(self.open):
                stream.push(message)
            for detached, _ in list(self.handovers.detached.values()):
                detached.push(message)

    async def wanted(self, session_id: str, message: dict[str, Any]) -> bool:
        """Resource updates go only to sessions subscribed to that resource."""
        if message["method"] != RESOURCE_UPDATED:
            return True
        current = await self.state.get_session(session_id)
        return current is not None and message["params"].get("uri") in current.subscriptions

    def end_session(self, session_id: str) -> None:
        """The session ended (anywhere in the fleet): its stream here closes gracefully."""
        stream = self.by_session.get(session_id)
        if stream is not None:
            stream.end()
        self.handovers.end_session(session_id)

    def end_all(self, retry_ms: int) -> None:
        """End every stream with a retry hint (the task is draining)."""
        for stream in list(self.by_session.values()):
            stream.end_with_retry(retry_ms)

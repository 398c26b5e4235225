"""A session's GET stream handed from the task that ended it to the task its client resumes on.

When the server ends a GET stream with a retry hint (its lifetime is up, or the task
drains), its client comes back a moment later with ``Last-Event-ID``, through the load
balancer, on any task. Change notifications published in that moment reach no open
stream of the session; this module makes sure each one still reaches the client, once.

The task that ended the stream keeps it *detached* for up to ``DETACHED_SECONDS``: it
writes nothing, but goes on logging each notification into the stream's event log, and
a handover record (``handover:<session>:<stream>``) says so. The task the client resumes
on finds the record and takes the stream over; the messages go on the fleet state's
channels, which every task receives in one order:

    resuming task                                   task holding the detached stream
    opens the stream, holds back its notifications
    publishes TAKE ───────────────────────────────► on TAKE, after logging every
    on its own TAKE: what it held back so far was   notification that came before it,
      logged by the other task: it drops those      publishes HANDED with the id of the
    on HANDED: reads the log from that event, ◄──── first event it logged but could not
      replays what the client lacks, then writes    write (the connection was gone), and
      what it held back since TAKE, and goes live   forgets the stream

So a notification is logged by the old task if it came before TAKE, and written by the
new one if it came after: neither lost nor written twice. When no HANDED comes within
``HANDED_WAIT_SECONDS`` (the old task died meanwhile) the stream goes live with what it
has, which may repeat a notification. A client that never received an event id cannot
resume; it opens a new stream (2025-11-25 clients always hold one: the priming event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from mcpfleet.errors import StateUnavailable
from mcpfleet.state.base import FleetState, event_id, split_event_id

if TYPE_CHECKING:
    from mcpfleet.transport.get_streams import GetStream

log = logging.getLogger("mcpfleet.transport")

TAKE = "get-stream-take"
HANDED = "get-stream-handed"
DETACHED_SECONDS = 10.0  # an ended stream waits this long for its client to resume it
HANDED_WAIT_SECONDS = 2.0  # a resuming stream waits this long for the detached one
SETTLE_SECONDS = 2.5  # a stopping task waits this long, at most, for its streams' clients

# The item a detached stream's writer meets once everything before TAKE is logged.
HANDOVER: dict[str, Any] = {"method": "handover"}

Replay = list[tuple[str, bytes | None]]


def handover_key(session_id: str, stream_id: str) -> str:
    return f"handover:{session_id}:{stream_id}"


def event_before(identifier: str) -> str | None:
    """The id of the event logged just before ``identifier`` on its stream."""
    parts = split_event_id(identifier)
    if parts is None or not parts[1].isdigit() or int(parts[1]) < 1:
        return None
    return event_id(parts[0], str(int(parts[1]) - 1))


class _Taking:
    """A stream being taken over here: its own TAKE seen, and the other task's answer."""

    __slots__ = ("handed", "marked", "stream")

    def __init__(self, stream: GetStream) -> None:
        self.stream = stream
        self.marked = False
        self.handed: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()


class Handovers:
    """The detached GET streams of one endpoint, and the streams it is taking over."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        self.detached: dict[tuple[str, str], tuple[GetStream, asyncio.TimerHandle]] = {}
        self._taking: dict[tuple[str, str], _Taking] = {}
        self._none_detached = asyncio.Event()
        self._subscribed = False

    def listen(self) -> None:
        """Follow the handover channels (from the first GET stream on: before any ends)."""
        if not self._subscribed:
            self._subscribed = True
            self.state.subscribe(TAKE, self._on_take)
            self.state.subscribe(HANDED, self._on_handed)

    # -- the task that ended the stream --------------------------------------------

    async def detach(self, stream: GetStream) -> bool:
        """Keep logging ``stream``'s notifications until its client resumes it (or for
        ``DETACHED_SECONDS``); whether it is detached (the state may be unreachable)."""
        key = (stream.session_id, stream.stream_id)
        self._forget(key)  # an earlier detachment of the same stream, never taken over
        loop = asyncio.get_running_loop()
        self.detached[key] = (stream, loop.call_later(DETACHED_SECONDS, self._expire, key))
        self._none_detached.clear()
        try:
            await self.state.put_handle(handover_key(*key), b"1", DETACHED_SECONDS, create=True)
        except StateUnavailable:
            self._forget(key)
            return False
        return True

    def _on_take(self, message: dict[str, Any]) -> None:
        key = (str(message.get("session")), str(message.get("stream")))
        held = self.detached.get(key)
        if held is not None:
            held[0].push(HANDOVER)  # behind every notification that came before TAKE
        taking = self._taking.get(key)
        if taking is not None and not taking.marked:
            taking.marked = True
            taking.stream.drop = taking.stream.held

    async def hand_over(self, stream: GetStream) -> None:
        """Everything before TAKE is logged (the stream's writer got here): say from which
        event on the client was sent nothing, and let go."""
        key = (stream.session_id, stream.stream_id)
        if self.detached.get(key, (None,))[0] is not stream:
            return
        self._forget(key)
        with contextlib.suppress(StateUnavailable):
            await self.state.publish(
                HANDED, {"session": key[0], "stream": key[1], "first": stream.unsent_from}
            )

    def end_session(self, session_id: str) -> None:
        """The session ended: its detached streams stop logging."""
        for key in [key for key in self.detached if key[0] == session_id]:
            self._expire(key)

    async def settled(self, seconds: float) -> None:
        """Wait (at most ``seconds``) until every detached stream was taken over or let go:
        a task that stops keeps answering for its ended streams until their clients are back."""
        if self.detached:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._none_detached.wait(), seconds)

    def _expire(self, key: tuple[str, str]) -> None:
        stream = self._forget(key)
        if stream is not None:
            task = asyncio.get_running_loop().create_task(self._delete_record(key))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    def _forget(self, key: tuple[str, str]) -> GetStream | None:
        held = self.detached.pop(key, None)
        if not self.detached:
            self._none_detached.set()
        if held is None:
            return None
        stream, timer = held
        timer.cancel()
        stream.discard()
        return stream

    async def _delete_record(self, key: tuple[str, str]) -> None:
        with contextlib.suppress(StateUnavailable):
            await self.state.delete_handle(handover_key(*key))

    # -- the task the client resumed on ----------------------------------------------

    async def take_over(self, stream: GetStream, replay: Replay) -> Replay:
        """What a resuming ``stream`` must replay: ``replay`` (read from the log before it
        opened) and what a detached stream logged since. Sets ``stream.drop``, the number
        of held-back notifications the detached stream logged."""
        key = (stream.session_id, stream.stream_id)
        try:
            if await self.state.get_handle(handover_key(*key)) is None:
                return replay  # nobody holds it: nothing to wait for
            taking = self._taking[key] = _Taking(stream)
            await self.state.publish(TAKE, {"session": key[0], "stream": key[1]})
            first = await asyncio.wait_for(taking.handed, HANDED_WAIT_SECONDS)
            before = None if first is None else event_before(first)
            found = None if before is None else await self.state.read_events(key[0], before, wait=0)
        except (StateUnavailable, TimeoutError):
            log.info("GET stream %s resumed without a handover", key[1])
            stream.drop = 0
            return replay
        finally:
            self._taking.pop(key, None)
        with contextlib.suppress(StateUnavailable):
            await self.state.delete_handle(handover_key(*key))
        if found is None:
            return replay
        seen = {identifier for identifier, _ in replay}
        return replay + [(e.id, e.data) for e in found[0] if e.id not in seen]

    def _on_handed(self, message: dict[str, Any]) -> None:
        key = (str(message.get("session")), str(message.get("stream")))
        taking = self._taking.get(key)
        if taking is not None and not taking.handed.done():
            first = message.get("first")
            taking.handed.set_result(first if isinstance(first, str) else None)


_BACKGROUND: set[asyncio.Task[None]] = set()

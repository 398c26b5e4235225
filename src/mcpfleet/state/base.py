"""The fleet-state interface: everything that outlives one HTTP request.

Two implementations satisfy it: ``MemoryFleetState`` (one process, the default)
and a Redis one (a fleet of tasks, any task answers any request). The contract
tests in ``tests/state`` run against both.

What lives here, by protocol era:

- 2025 sessions: the session record (idle expiry, refreshed on use), the SSE
  event log of each stream (so ``Last-Event-ID`` resumes on any task), the
  replies to server-to-client requests (the reply POST may land anywhere), and
  messages addressed to one session (cancellation, notifications for its GET
  stream).
- Both eras: change notifications published once and delivered by whichever
  task holds the listening stream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

import orjson

from mcpfleet.errors import McpfleetError

log = logging.getLogger("mcpfleet.state")

# The channel every task listens on for fleet-wide change notifications.
BROADCAST = "broadcast"

Subscriber = Callable[[dict[str, Any]], None]

# A token bucket: its key, capacity, refill per second, and the limit's name for errors.
Bucket = tuple[str, int, float, str]

# The most resources one session may subscribe to, unless the server says otherwise.
MAX_SUBSCRIPTIONS = 1000

# How long a task of a shared state reuses a session record it read, by default
# (SESSION_CACHE_SECONDS; changes anywhere evict it at once).
SESSION_CACHE_SECONDS = 30.0


class SessionLimitReached(McpfleetError):
    """No new session can be opened: the configured maximum is reached."""

    def __init__(self, message: str, *, per_principal: bool = False) -> None:
        super().__init__(message)
        self.per_principal = per_principal


@dataclass(slots=True)
class SessionRecord:
    """What a 2025-era session remembers between requests."""

    id: str
    protocol_version: str
    client_capabilities: dict[str, Any] = field(default_factory=dict)
    client_info: dict[str, Any] | None = None
    principal: str | None = None
    log_level: str | None = None
    subscriptions: list[str] = field(default_factory=list)
    initialized: bool = False

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    def copy(self) -> SessionRecord:
        """A copy whose changeable fields a request may change without touching the
        stored record (what a state hands out; the two dicts are never changed)."""
        return replace(self, subscriptions=list(self.subscriptions))

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionRecord:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of an SSE stream's log: its id, and the JSON-RPC message (or none)."""

    id: str
    data: bytes | None


def event_id(stream_id: str, cursor: str) -> str:
    """An event id names its stream, so ``Last-Event-ID`` finds the stream to resume."""
    return f"{stream_id}_{cursor}"


def split_event_id(value: str) -> tuple[str, str] | None:
    """An event id's stream and cursor; ``None`` for anything this server did not issue
    (the cursor is 1 to 15 ASCII digits, so it is a sequence number of any store)."""
    stream_id, sep, cursor = value.partition("_")
    if (
        not sep
        or not stream_id
        or len(stream_id) > 64
        or not 0 < len(cursor) <= 15
        or not cursor.isascii()
        or not cursor.isdigit()
    ):
        return None
    return stream_id, cursor


class FleetState(Protocol):
    """Shared state for the tasks of a fleet; every method may raise ``StateUnavailable``."""

    # Whether other processes share this state: then change notifications are published
    # through it, so that every task delivers them to its own streams.
    shared: bool

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, record: SessionRecord, *, max_sessions: int, max_per_principal: int | None = None
    ) -> None:
        """Store a new session; ``SessionLimitReached`` when ``max_sessions`` exist, or
        ``max_per_principal`` of the record's principal (checked and counted in one step)."""

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, with its idle expiry refreshed; ``None`` if ended or expired.
        The record is the caller's own copy: changing it changes nothing stored (the
        methods below do, each one field, so changes made at once all survive)."""

    async def set_log_level(self, session_id: str, level: str) -> None:
        """Set a live session's log level (``logging/setLevel``)."""

    async def mark_initialized(self, session_id: str) -> None:
        """Note that a live session's client sent ``notifications/initialized``."""

    async def subscribe_resource(
        self, session_id: str, uri: str, *, max_subscriptions: int = MAX_SUBSCRIPTIONS
    ) -> bool:
        """Subscribe a live session to a resource's updates; ``False`` (and nothing
        changed) when it already holds ``max_subscriptions`` others."""

    async def unsubscribe_resource(self, session_id: str, uri: str) -> None:
        """Unsubscribe a live session from a resource's updates."""

    async def delete_session(self, session_id: str, principal: str | None = None) -> bool:
        """End a session everywhere, its stream logs included (``principal``: its owner, to
        uncount it); whether it existed."""

    async def session_count(self) -> int:
        """How many sessions are open."""

    # -- SSE event logs ------------------------------------------------------

    async def append_event(self, session_id: str, stream_id: str, data: bytes | None) -> str:
        """Log an event of a stream; returns its event id (which names the stream)."""

    async def end_stream(self, session_id: str, stream_id: str) -> None:
        """Mark a stream complete: a resumed reader stops after its last event."""

    async def read_events(
        self, session_id: str, last_event_id: str, *, wait: float
    ) -> tuple[list[StoredEvent], bool] | None:
        """Events after ``last_event_id`` on its stream, waiting up to ``wait`` seconds
        for the first one; and whether the stream is complete. ``None`` if the id is
        unknown to this session (never issued, or expired from the log)."""

    # -- server-to-client requests -------------------------------------------

    async def expect_reply(self, session_id: str, request_id: str) -> None:
        """Register a server-to-client request whose reply may arrive on any task."""

    async def deliver_reply(self, session_id: str, request_id: str, message: bytes) -> bool:
        """Hand a client's reply to whoever waits; ``False`` if nothing waits for it."""

    async def wait_reply(self, session_id: str, request_id: str, wait: float) -> bytes | None:
        """The reply to an expected request, or ``None`` after ``wait`` seconds."""

    # -- messages ------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Send a message to every subscriber of ``channel`` in the fleet."""

    def subscribe(self, channel: str, subscriber: Subscriber) -> Callable[[], Awaitable[None]]:
        """Receive the messages of ``channel`` in this process; returns an async unsubscriber."""

    # -- the GET stream of a session -----------------------------------------

    async def claim_listener(self, session_id: str, owner: str) -> bool:
        """Claim the session's one GET stream for ``owner``; ``False`` if held elsewhere."""

    async def release_listener(self, session_id: str, owner: str) -> None:
        """Give up the GET stream claimed by ``owner``."""

    # -- handles ---------------------------------------------------------------

    async def put_handle(self, handle: str, record: bytes, ttl: float, *, create: bool) -> bool:
        """Store a handle's record for ``ttl`` seconds; with ``create``, only if new, else
        only if it exists. Whether it was stored."""

    async def swap_handle(self, handle: str, expected: bytes, record: bytes, ttl: float) -> bool:
        """Replace a handle's record with ``record`` for ``ttl`` seconds, only if it is still
        ``expected`` (a compare-and-set: of two writers that read the same record, one
        wins). Whether it was replaced."""

    async def get_handle(self, handle: str) -> bytes | None:
        """A handle's record, or ``None`` if unknown or expired."""

    async def delete_handle(self, handle: str) -> None:
        """Forget a handle."""

    # -- per-caller limits -----------------------------------------------------

    async def take_tokens(self, buckets: list[Bucket]) -> tuple[float, int]:
        """Take one token from every bucket, or from none: ``(0.0, 0)`` when taken, else
        the seconds until all could be and the index of the bucket that is short."""

    # -- slots: things a caller holds at most N of at once (running tasks) ---------------

    async def take_slot(self, name: str, member: str, cap: int, hold: float) -> bool:
        """Hold one of ``cap`` slots of ``name`` for ``member`` for ``hold`` seconds (or
        renew its own), in one step; ``False`` when ``cap`` are held. A hold that lapses
        frees its slot: a holder that dies gives it back by itself."""

    async def renew_slots(self, name: str, members: list[str], hold: float) -> None:
        """Hold the slots of ``members`` (those still held) ``hold`` seconds more."""

    async def release_slot(self, name: str, member: str) -> None:
        """Give back the slot of ``member``."""

    # -- life cycle ----------------------------------------------------------

    async def ping(self) -> None:
        """Raise ``StateUnavailable`` if the store cannot be reached."""

    async def aclose(self) -> None:
        """Release connections and background tasks."""


class LocalSubscribers:
    """The subscribers of this process, by channel: what both states deliver messages to."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[int, Subscriber]] = {}
        self._next_token = 0

    def add(self, channel: str, subscriber: Subscriber) -> Callable[[], Awaitable[None]]:
        token = self._next_token
        self._next_token += 1
        self._channels.setdefault(channel, {})[token] = subscriber

        async def unsubscribe() -> None:
            subscribers = self._channels.get(channel)
            if subscribers is not None:
                subscribers.pop(token, None)
                if not subscribers:
                    del self._channels[channel]

        return unsubscribe

    def wanted(self, channel: str) -> bool:
        return channel in self._channels

    def deliver(self, channel: str, message: dict[str, Any]) -> None:
        """Hand a message to each subscriber of the channel; one that raises is logged and
        the others still get the message."""
        for subscriber in list(self._channels.get(channel, {}).values()):
            try:
                subscriber(message)
            except Exception:
                log.exception("a subscriber of channel %s failed", channel)


def session_channel(session_id: str) -> str:
    return f"session:{session_id}"

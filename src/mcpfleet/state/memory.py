"""``MemoryFleetState``: the fleet-state interface inside one process.

The embedded default: nothing to run beside the server. Everything expires or
is capped as it would be in Redis, so the two behave alike under the contract
tests; only the reach differs (one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcpfleet.state.base import (
    MAX_SUBSCRIPTIONS,
    Bucket,
    LocalSubscribers,
    SessionLimitReached,
    SessionRecord,
    StoredEvent,
    Subscriber,
    event_id,
    split_event_id,
)


class TokenBuckets:
    """Token buckets in this process: each key holds its tokens, when they were counted,
    and when the bucket will be full again; full buckets are swept, so idle callers
    cost nothing."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._levels: dict[str, tuple[float, float, float]] = {}
        self._sweep_at = 10_000  # sweep when this many buckets are held, then double it

    def take(self, buckets: list[Bucket]) -> tuple[float, int]:
        now = self.clock()
        levels = []
        wait, short = 0.0, 0
        for index, (key, capacity, rate, _) in enumerate(buckets):
            tokens, updated, _ = self._levels.get(key, (float(capacity), now, now))
            tokens = min(float(capacity), tokens + (now - updated) * rate)
            levels.append(tokens)
            if tokens < 1 and (1 - tokens) / rate > wait:
                wait, short = (1 - tokens) / rate, index
        taken = 1.0 if wait == 0 else 0.0
        for (key, capacity, rate, _), tokens in zip(buckets, levels, strict=True):
            left = tokens - taken
            self._levels[key] = (left, now, now + (capacity - left) / rate)
        if len(self._levels) > self._sweep_at:
            for key, (_, _, full_at) in list(self._levels.items()):
                if full_at <= now:
                    del self._levels[key]
            self._sweep_at = max(10_000, 2 * len(self._levels))
        return wait, short


@dataclass(slots=True)
class _Stream:
    # The data of the events kept, oldest first: ``events[i]`` is event ``first_seq + i``
    # (ids are made again when read: most events are never read back).
    events: list[bytes | None] = field(default_factory=list)
    first_seq: int = 1
    next_seq: int = 1
    complete: bool = False
    changed: asyncio.Event | None = None  # made when a reader waits: most streams never wait
    expires: float = 0.0  # the log is forgotten this long after its last event, as in Redis


class MemoryFleetState:
    """Fleet state held in this process's memory."""

    shared = False  # one process: its own hub delivers every notification

    def __init__(
        self,
        *,
        session_ttl_seconds: float = 3600.0,
        max_events_per_stream: int = 1000,
        reply_ttl_seconds: float = 600.0,
        listener_ttl_seconds: float = 45.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_ttl = session_ttl_seconds
        self.max_events = max_events_per_stream
        self.reply_ttl = reply_ttl_seconds
        self.listener_ttl_seconds = listener_ttl_seconds
        self.clock = clock
        self._sessions: dict[str, tuple[SessionRecord, float]] = {}
        self._streams: dict[str, dict[str, _Stream]] = {}
        self._replies: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self._reply_expiry: dict[tuple[str, str], float] = {}
        self._subscribers = LocalSubscribers()
        self._listeners: dict[str, tuple[str, float]] = {}  # session -> (owner, expiry)
        self._handles: dict[str, tuple[bytes, float]] = {}
        self._owned: dict[str, set[str]] = {}  # principal -> its session ids
        self._buckets = TokenBuckets(clock)
        self._slots: dict[str, dict[str, float]] = {}  # name -> member -> hold lapses at

    # -- sessions ------------------------------------------------------------

    def _sweep(self) -> None:
        now = self.clock()
        for session_id, (_, expires) in list(self._sessions.items()):
            if expires <= now:
                self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is not None and entry[0].principal is not None:
            owned = self._owned.get(entry[0].principal)
            if owned is not None:
                owned.discard(session_id)
                if not owned:
                    del self._owned[entry[0].principal]
        self._streams.pop(session_id, None)
        self._listeners.pop(session_id, None)
        for key in [key for key in self._replies if key[0] == session_id]:
            future = self._replies.pop(key)
            self._reply_expiry.pop(key, None)
            if not future.done():
                future.set_result(b"")  # the session ended: waiters get no reply

    async def create_session(
        self, record: SessionRecord, *, max_sessions: int, max_per_principal: int | None = None
    ) -> None:
        owner = record.principal
        owned = self._owned.get(owner, set()) if owner is not None else set()
        full = max_per_principal is not None and len(owned) >= max_per_principal
        if len(self._sessions) >= max_sessions or full:
            self._sweep()
            if len(self._sessions) >= max_sessions:
                raise SessionLimitReached(f"{max_sessions} sessions are open")
            if full and len(self._owned.get(owner or "", ())) >= (max_per_principal or 0):
                raise SessionLimitReached(
                    f"{max_per_principal} sessions of this caller are open", per_principal=True
                )
        self._sessions[record.id] = (record.copy(), self.clock() + self.session_ttl)
        if owner is not None:
            self._owned.setdefault(owner, set()).add(record.id)

    def _live(self, session_id: str) -> SessionRecord | None:
        """The stored record of a live session, its idle expiry refreshed."""
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        record, expires = entry
        now = self.clock()
        if expires <= now:
            self._forget(session_id)
            return None
        self._sessions[session_id] = (record, now + self.session_ttl)
        return record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        record = self._live(session_id)
        return None if record is None else record.copy()

    async def set_log_level(self, session_id: str, level: str) -> None:
        record = self._live(session_id)
        if record is not None:
            record.log_level = level

    async def mark_initialized(self, session_id: str) -> None:
        record = self._live(session_id)
        if record is not None:
            record.initialized = True

    async def subscribe_resource(
        self, session_id: str, uri: str, *, max_subscriptions: int = MAX_SUBSCRIPTIONS
    ) -> bool:
        record = self._live(session_id)
        if record is None or uri in record.subscriptions:
            return True
        if len(record.subscriptions) >= max_subscriptions:
            return False
        record.subscriptions.append(uri)
        return True

    async def unsubscribe_resource(self, session_id: str, uri: str) -> None:
        record = self._live(session_id)
        if record is not None and uri in record.subscriptions:
            record.subscriptions.remove(uri)

    async def delete_session(self, session_id: str, principal: str | None = None) -> bool:
        existed = session_id in self._sessions
        self._forget(session_id)
        return existed

    async def session_count(self) -> int:
        self._sweep()
        return len(self._sessions)

    # -- per-caller limits -----------------------------------------------------

    async def take_tokens(self, buckets: list[Bucket]) -> tuple[float, int]:
        return self._buckets.take(buckets)

    async def take_slot(self, name: str, member: str, cap: int, hold: float) -> bool:
        now = self.clock()
        held = {m: until for m, until in self._slots.get(name, {}).items() if until > now}
        if member not in held and len(held) >= cap:
            self._slots[name] = held
            return False
        held[member] = now + hold
        self._slots[name] = held
        return True

    async def renew_slots(self, name: str, members: list[str], hold: float) -> None:
        held = self._slots.get(name, {})
        until = self.clock() + hold
        for member in members:
            if member in held:
                held[member] = until

    async def release_slot(self, name: str, member: str) -> None:
        held = self._slots.get(name)
        if held is not None:
            held.pop(member, None)
            if not held:
                del self._slots[name]

    # -- SSE event logs ------------------------------------------------------

    def _stream(self, session_id: str, stream_id: str) -> _Stream:
        streams = self._streams.setdefault(session_id, {})
        stream = streams.get(stream_id)
        if stream is None:
            now = self.clock()
            for old_id, old in list(streams.items()):  # a new stream: forget expired logs
                if old.expires <= now:
                    del streams[old_id]
            stream = streams[stream_id] = _Stream()
        stream.expires = self.clock() + self.session_ttl
        return stream

    async def append_event(self, session_id: str, stream_id: str, data: bytes | None) -> str:
        stream = self._stream(session_id, stream_id)
        identifier = event_id(stream_id, str(stream.next_seq))
        stream.next_seq += 1
        stream.events.append(data)
        if len(stream.events) > self.max_events:
            del stream.events[0]
            stream.first_seq += 1
        if stream.changed is not None:
            stream.changed.set()
            stream.changed = None
        return identifier

    async def end_stream(self, session_id: str, stream_id: str) -> None:
        stream = self._stream(session_id, stream_id)
        stream.complete = True
        if stream.changed is not None:
            stream.changed.set()
            stream.changed = None

    async def read_events(
        self, session_id: str, last_event_id: str, *, wait: float
    ) -> tuple[list[StoredEvent], bool] | None:
        parts = split_event_id(last_event_id)
        stream = self._streams.get(session_id, {}).get(parts[0]) if parts else None
        if parts is None or stream is None or stream.expires <= self.clock():
            return None
        seq = int(parts[1])
        if seq >= stream.next_seq or seq < stream.first_seq - 1:
            return None
        if seq == stream.next_seq - 1 and not stream.complete and wait > 0:
            if stream.changed is None:
                stream.changed = asyncio.Event()
            changed = stream.changed
            # A timeout reads on too: the wait may end in the very step that appended the
            # stream's last event and completed it, and that event must not be skipped.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)
        start = max(seq - stream.first_seq + 1, 0)  # (0: those after seq were dropped)
        stream_id = parts[0]
        events = [
            StoredEvent(event_id(stream_id, str(number)), data)
            for number, data in enumerate(stream.events[start:], stream.first_seq + start)
        ]
        return events, stream.complete

    # -- server-to-client requests -------------------------------------------

    async def expect_reply(self, session_id: str, request_id: str) -> None:
        now = self.clock()
        if len(self._reply_expiry) > 1000:  # requests nobody waits for any more expire
            for key, expires in list(self._reply_expiry.items()):
                if expires <= now:
                    self._reply_expiry.pop(key, None)
                    future = self._replies.pop(key, None)
                    if future is not None and not future.done():
                        future.set_result(b"")
        key = (session_id, request_id)
        self._replies[key] = asyncio.get_running_loop().create_future()
        self._reply_expiry[key] = now + self.reply_ttl

    async def deliver_reply(self, session_id: str, request_id: str, message: bytes) -> bool:
        future = self._replies.get((session_id, request_id))
        if future is None or future.done():
            return False
        future.set_result(message)
        return True

    async def wait_reply(self, session_id: str, request_id: str, wait: float) -> bytes | None:
        future = self._replies.get((session_id, request_id))
        if future is None:
            return None
        try:
            return await asyncio.wait_for(future, wait) or None
        except TimeoutError:
            return None
        finally:
            self._replies.pop((session_id, request_id), None)
            self._reply_expiry.pop((session_id, request_id), None)

    # -- messages ------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._subscribers.deliver(channel, message)

    def subscribe(self, channel: str, subscriber: Subscriber) -> Callable[[], Awaitable[None]]:
        return self._subscribers.add(channel, subscriber)

    # -- the GET stream of a session -----------------------------------------

    async def claim_listener(self, session_id: str, owner: str) -> bool:
        now = self.clock()
        held = self._listeners.get(session_id)
        if held is not None and held[0] != owner and held[1] > now:
            return False
        self._listeners[session_id] = (owner, now + self.listener_ttl_seconds)
        return True

    async def release_listener(self, session_id: str, owner: str) -> None:
        held = self._listeners.get(session_id)
        if held is not None and held[0] == owner:
            del self._listeners[session_id]

    # -- handles ---------------------------------------------------------------

    async def put_handle(self, handle: str, record: bytes, ttl: float, *, create: bool) -> bool:
        now = self.clock()
        if len(self._handles) > 10_000:  # forget expired handles now and then
            self._handles = {k: v for k, v in self._handles.items() if v[1] > now}
        current = self._handles.get(handle)
        exists = current is not None and current[1] > now
        if exists == create:
            return False
        self._handles[handle] = (record, now + ttl)
        return True

    async def swap_handle(self, handle: str, expected: bytes, record: bytes, ttl: float) -> bool:
        if await self.get_handle(handle) != expected:
            return False
        self._handles[handle] = (record, self.clock() + ttl)
        return True

    async def get_handle(self, handle: str) -> bytes | None:
        entry = self._handles.get(handle)
        if entry is None or entry[1] <= self.clock():
            self._handles.pop(handle, None)
            return None
        return entry[0]

    async def delete_handle(self, handle: str) -> None:
        self._handles.pop(handle, None)

    # -- life cycle ----------------------------------------------------------

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        for future in self._replies.values():
            if not future.done():
                future.cancel()
        self._replies.clear()

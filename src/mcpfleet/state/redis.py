"""``RedisFleetState``: the fleet-state interface on Redis, so any task answers any request.

Keys (every one expires; the keys of one session share the hash tag ``{id}``,
so that Redis Cluster keeps them in one slot and the scripts may touch them
together):

    mcpf:{sid}:s             the session record (JSON), idle TTL refreshed on use
    mcpf:{sid}:m:<stream>    an SSE stream's counters: n (last sequence), first, done
    mcpf:{sid}:x:<stream>    the stream's events (a Redis Stream, entry ids 0-<seq>)
    mcpf:{sid}:pend          server-to-client requests awaiting a reply
    mcpf:{sid}:r:<request>   the reply to one of them (a list: the waiter BLPOPs it)
    mcpf:{sid}:g             who holds the session's GET stream
    mcpf:{sessions}[:p:<h>]  open sessions by last use, of the fleet and of each caller
    mcpf:rl:{<h>}:<name>     per-caller token buckets (see ``redis_limits``)
    mcpf:h:<handle>          a handle's owner and value (see ``mcpfleet.server.handles``)

Messages go out with PUBLISH on ``mcpf:ch:<channel>``; every process listens to
the whole pattern once, so subscribing in a process is a local, synchronous
step (``redis_listener``: it restarts itself after any failure).

Every call goes through ``RedisFaults.translated`` (``redis_faults``): Redis being
unreachable or refusing to serve is raised as ``StateUnavailable``, which the
transport answers with 503 and Retry-After, so a client is never told its session
is gone because the store was unreachable; once Redis is known to be unreachable
the circuit (``redis_circuit``) answers at once until a probe finds it again. Any
other Redis failure is our own bug: ``InternalError``, logged, with no detail sent.
Blocking reads (BLPOP, XREAD BLOCK) are bounded by their block time plus
``socket_timeout``, so a half-open connection cannot hold one forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from mcpfleet.state import redis_limits
from mcpfleet.state.base import (
    Bucket,
    LocalSubscribers,
    SessionLimitReached,
    SessionRecord,
    StoredEvent,
    Subscriber,
    event_id,
    split_event_id,
)
from mcpfleet.state.redis_circuit import Circuit
from mcpfleet.state.redis_faults import CAUGHT, Fault, RedisFaults, classify
from mcpfleet.state.redis_listener import FleetListener, isolated

log = logging.getLogger("mcpfleet.state")

PREFIX = "mcpf"
CHANNELS = f"{PREFIX}:ch:"
EVICT = "_sessions-changed"  # the state's own channel: a session was saved or deleted

# KEYS[1] stream counters, KEYS[2] stream events; ARGV data, has-data flag, cap, ttl ms.
# Appends one event with the next sequence number and trims the log to the cap.
APPEND = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '0-' .. n, 'd', ARGV[1], 'h', ARGV[2])
local first = n - tonumber(ARGV[3]) + 1
if first > 1 then redis.call('HSET', KEYS[1], 'first', first) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return n
"""

# KEYS[1] stream counters, KEYS[2] stream events; ARGV ttl ms.
# Marks the stream complete and wakes blocked readers with an end entry.
END = """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'done', 1)
redis.call('XADD', KEYS[2], '0-' .. n, 'end', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return n
"""

# KEYS[1] pending set, KEYS[2] reply list; ARGV request id, message, ttl ms.
# Hands over a reply only if that request of that session is still awaited.
DELIVER = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""

# KEYS[1] session, KEYS[2] pending set, KEYS[3] GET claim; ARGV reply-key prefix, ttl ms.
# Ends a session: its record, its claim, and an empty reply for every waiter.
DELETE = """
local existed = redis.call('DEL', KEYS[1])
for _, request in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('RPUSH', ARGV[1] .. request, '')
  redis.call('PEXPIRE', ARGV[1] .. request, ARGV[2])
end
redis.call('DEL', KEYS[2], KEYS[3])
return existed
"""

# KEYS[1] claim; ARGV owner, ttl ms. Claims, or renews one's own claim.
CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1] claim; ARGV owner. Releases only one's own claim.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

T = TypeVar("T")


def _key(session_id: str, part: str) -> str:
    return f"{PREFIX}:{{{session_id}}}:{part}"


class RedisFleetState:
    """Fleet state in Redis, shared by every task of a fleet."""

    def __init__(
        self,
        url: str,
        *,
        session_ttl_seconds: float = 3600.0,
        max_events_per_stream: int = 1000,
        reply_ttl_seconds: float = 600.0,
        listener_ttl_seconds: float = 45.0,
        socket_timeout: float = 2.0,
        cache_seconds: float = 1.0,
        probe_timeout: float = 0.5,
        listener_idle_seconds: float = 5.0,
    ) -> None:
        self.url = url
        self.session_ttl_ms = int(session_ttl_seconds * 1000)
        self.max_events = max_events_per_stream
        self.reply_ttl_ms = int(reply_ttl_seconds * 1000)
        self.listener_ttl_ms = int(listener_ttl_seconds * 1000)
        options: dict[str, Any] = {
            "socket_connect_timeout": socket_timeout,
            "health_check_interval": 10,
        }
        self.redis = aioredis.from_url(url, socket_timeout=socket_timeout, **options)
        # Blocking reads (BLPOP, XREAD BLOCK) wait longer than any socket timeout: each is
        # bounded by its block time plus this margin instead (see ``_bounded``).
        self.blocking = aioredis.from_url(url, socket_timeout=None, **options)
        self.block_margin = socket_timeout
        # PING with a short timeout, for readiness and the circuit's probe.
        self.prober = aioredis.from_url(
            url, socket_timeout=probe_timeout, socket_connect_timeout=probe_timeout
        )
        where = _address(self.redis)
        self.circuit = Circuit(self._answers, where=where)
        self.faults = RedisFaults(self.circuit)
        self._append = self.redis.register_script(APPEND)
        self._end = self.redis.register_script(END)
        self._deliver = self.redis.register_script(DELIVER)
        self._delete = self.redis.register_script(DELETE)
        self._claim = self.redis.register_script(CLAIM)
        self._release = self.redis.register_script(RELEASE)
        self._create = self.redis.register_script(redis_limits.CREATE)
        self._take = self.redis.register_script(redis_limits.TAKE)
        self._indexed: dict[str, float] = {}  # session -> when this process last indexed it
        # Session records read recently, evicted fleet-wide on every save and delete.
        self.cache_seconds = min(cache_seconds, session_ttl_seconds / 10)
        self._cache: dict[str, tuple[SessionRecord, float]] = {}
        self._subscribers = LocalSubscribers()
        self._subscribers.add(EVICT, isolated(EVICT, self._evict))
        self.listener = FleetListener(
            self.blocking,
            CHANNELS + "*",
            self._dispatch,
            where=where,
            answer_seconds=socket_timeout,
            idle_seconds=listener_idle_seconds,
            on_resubscribed=self._cache.clear,  # evictions may have been missed meanwhile
        )

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, record: SessionRecord, *, max_sessions: int, max_per_principal: int | None = None
    ) -> None:
        index = redis_limits.SESSIONS
        owner = redis_limits.principal_index(record.principal)
        args: list[str | float] = [
            record.id,
            time.time(),
            self.session_ttl_ms / 1000,
            max_sessions,
            max_per_principal or 0,
        ]
        with self.faults.translated():
            verdict = await self._create(keys=[index, owner], args=args)
            if verdict == 1:
                raise SessionLimitReached(f"{max_sessions} sessions are open")
            if verdict == 2:
                raise SessionLimitReached(
                    f"{max_per_principal} sessions of this caller are open", per_principal=True
                )
            await self.redis.set(
                _key(record.id, "s"), record.to_json(), px=self.session_ttl_ms, nx=True
            )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, from this process's short-lived cache or with one round trip.

        A record read from Redis (with its idle expiry refreshed in the same command)
        is reused for up to ``cache_seconds``; every save or delete on any task
        evicts it fleet-wide, so a busy session costs one round trip a second, not
        one a request. The session index (for the limit) is refreshed at most every
        tenth of the idle TTL.
        """
        now = time.monotonic()
        cached = self._cache.get(session_id)
        if cached is not None and now - cached[1] < self.cache_seconds:
            return cached[0]
        self._ensure_listening()
        key = _key(session_id, "s")
        with self.faults.translated():
            raw = await self.redis.getex(key, px=self.session_ttl_ms)
            if raw is None:
                self._cache.pop(session_id, None)
                return None
            record = SessionRecord.from_json(raw)
            now = time.monotonic()
            if now - self._indexed.get(session_id, 0.0) > self.session_ttl_ms / 10_000:
                if len(self._indexed) > 100_000:
                    self._indexed.clear()
                self._indexed[session_id] = now
                await self._reindex(record)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[session_id] = (record, now)
        return record

    async def _reindex(self, record: SessionRecord) -> None:
        """Mark a session as used in the fleet's and its caller's session counts."""
        used = {record.id: time.time()}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(redis_limits.SESSIONS, used, xx=True)
            pipe.pexpire(redis_limits.SESSIONS, self.session_ttl_ms)
            if record.principal is not None:
                owner = redis_limits.principal_index(record.principal)
                pipe.zadd(owner, used, xx=True)
                pipe.pexpire(owner, self.session_ttl_ms)
            await pipe.execute()

    def _evict(self, message: dict[str, Any]) -> None:
        self._cache.pop(str(message.get("session")), None)

    async def save_session(self, record: SessionRecord) -> None:
        with self.faults.translated():
            await self.redis.set(
                _key(record.id, "s"), record.to_json(), px=self.session_ttl_ms, xx=True
            )
            await self.redis.publish(CHANNELS + EVICT, orjson.dumps({"session": record.id}))

    async def delete_session(self, session_id: str, principal: str | None = None) -> bool:
        keys = [_key(session_id, "s"), _key(session_id, "pend"), _key(session_id, "g")]
        with self.faults.translated():
            existed = await self._delete(
                keys=keys, args=[_key(session_id, "r:"), self.reply_ttl_ms]
            )
            await self.redis.zrem(redis_limits.SESSIONS, session_id)
            if principal is not None:
                await self.redis.zrem(redis_limits.principal_index(principal), session_id)
            await self.redis.publish(CHANNELS + EVICT, orjson.dumps({"session": session_id}))
        self._cache.pop(session_id, None)
        return bool(existed)

    async def session_count(self) -> int:
        now = time.time()
        with self.faults.translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(
                    redis_limits.SESSIONS, "-inf", now - self.session_ttl_ms / 1000
                )
                pipe.zcard(redis_limits.SESSIONS)
                _, count = await pipe.execute()
        return int(count)

    # -- per-caller limits -----------------------------------------------------

    async def take_tokens(self, buckets: list[Bucket]) -> tuple[float, int]:
        keys = [redis_limits.bucket_key(key) for key, _, _, _ in buckets]
        args: list[float] = []
        for _, capacity, rate, _ in buckets:
            args += [capacity, rate / 1000]
        with self.faults.translated():
            wait_ms, short = await self._take(keys=keys, args=args)
        wait = float(wait_ms) / 1000
        return (wait, int(short) - 1) if wait > 0 else (0.0, 0)

    # -- SSE event logs ------------------------------------------------------

    def _stream_keys(self, session_id: str, stream_id: str) -> list[str]:
        return [_key(session_id, f"m:{stream_id}"), _key(session_id, f"x:{stream_id}")]

    async def append_event(self, session_id: str, stream_id: str, data: bytes | None) -> str:
        args = [data or b"", 0 if data is None else 1, self.max_events, self.session_ttl_ms]
        with self.faults.translated():
            seq = await self._append(keys=self._stream_keys(session_id, stream_id), args=args)
        return event_id(stream_id, str(seq))

    async def end_stream(self, session_id: str, stream_id: str) -> None:
        with self.faults.translated():
            await self._end(
                keys=self._stream_keys(session_id, stream_id), args=[self.session_ttl_ms]
            )

    async def read_events(
        self, session_id: str, last_event_id: str, *, wait: float
    ) -> tuple[list[StoredEvent], bool] | None:
        parts = split_event_id(last_event_id)
        if parts is None or not parts[1].isdigit():
            return None
        stream_id, cursor = parts[0], int(parts[1])
        meta_key, events_key = self._stream_keys(session_id, stream_id)
        with self.faults.translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hmget(meta_key, "n", "first", "done")
                pipe.xrange(events_key, f"(0-{cursor}", "+")
                (last, first, done), entries = await pipe.execute()
            if last is None or cursor > int(last) or cursor < int(first or 1) - 1:
                return None
            if not entries and not done and wait > 0:
                block = max(1, int(wait * 1000))
                found: Any = await self._bounded(
                    self.blocking.xread({events_key: f"0-{cursor}"}, block=block), block / 1000
                )
                entries = found[0][1] if found else []  # [[key, entries]] (RESP2)
        return _events(stream_id, entries, bool(done))

    # -- server-to-client requests -------------------------------------------

    async def expect_reply(self, session_id: str, request_id: str) -> None:
        with self.faults.translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.sadd(_key(session_id, "pend"), request_id)
                pipe.pexpire(_key(session_id, "pend"), self.reply_ttl_ms)
                await pipe.execute()

    async def deliver_reply(self, session_id: str, request_id: str, message: bytes) -> bool:
        keys = [_key(session_id, "pend"), _key(session_id, f"r:{request_id}")]
        with self.faults.translated():
            return bool(
                await self._deliver(keys=keys, args=[request_id, message, self.reply_ttl_ms])
            )

    async def wait_reply(self, session_id: str, request_id: str, wait: float) -> bytes | None:
        reply_key = _key(session_id, f"r:{request_id}")
        wait = max(wait, 0.01)
        try:
            with self.faults.translated():
                found = await self._bounded(self.blocking.blpop([reply_key], timeout=wait), wait)
        finally:
            if not self.circuit.is_open:  # else the entry expires by itself
                with contextlib.suppress(*CAUGHT):
                    await self.redis.srem(_key(session_id, "pend"), request_id)
        if found is None:
            return None
        value = found[1]
        if isinstance(value, str):
            value = value.encode()
        return value or None

    # -- messages ------------------------------------------------------------

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self._ensure_listening()
        with self.faults.translated():
            await self.redis.publish(CHANNELS + channel, orjson.dumps(message))

    def subscribe(self, channel: str, subscriber: Subscriber) -> Callable[[], Awaitable[None]]:
        self._ensure_listening()
        return self._subscribers.add(channel, isolated(channel, subscriber))

    def _ensure_listening(self) -> None:
        self.listener.start()

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        name = (channel.decode() if isinstance(channel, bytes) else channel)[len(CHANNELS) :]
        if not self._subscribers.wanted(name):
            return
        try:
            payload = orjson.loads(message["data"])
        except orjson.JSONDecodeError:
            return
        self._subscribers.deliver(name, payload)

    async def _bounded(self, call: Awaitable[T], block: float) -> T:
        """A blocking read, given up (as ``TimeoutError``: unreachable) ``block_margin``
        seconds after Redis should have answered it."""
        return await asyncio.wait_for(call, block + self.block_margin)

    # -- the GET stream of a session -----------------------------------------

    async def claim_listener(self, session_id: str, owner: str) -> bool:
        with self.faults.translated():
            return bool(
                await self._claim(keys=[_key(session_id, "g")], args=[owner, self.listener_ttl_ms])
            )

    async def release_listener(self, session_id: str, owner: str) -> None:
        with self.faults.translated():
            await self._release(keys=[_key(session_id, "g")], args=[owner])

    # -- handles ---------------------------------------------------------------

    async def put_handle(self, handle: str, record: bytes, ttl: float, *, create: bool) -> bool:
        with self.faults.translated():
            stored = await self.redis.set(
                f"{PREFIX}:h:{handle}",
                record,
                px=max(1, int(ttl * 1000)),
                nx=create,
                xx=not create,
            )
        return bool(stored)

    async def get_handle(self, handle: str) -> bytes | None:
        with self.faults.translated():
            value: Any = await self.redis.get(f"{PREFIX}:h:{handle}")
        return value if value is None or isinstance(value, bytes) else str(value).encode()

    async def delete_handle(self, handle: str) -> None:
        with self.faults.translated():
            await self.redis.delete(f"{PREFIX}:h:{handle}")

    # -- life cycle ----------------------------------------------------------

    async def ping(self) -> None:
        """At once while the circuit is open; else a PING within ``probe_timeout``."""
        with self.faults.translated():
            await self.prober.ping()

    async def _answers(self) -> bool:
        """The circuit's probe: whether Redis answers at all (an error reply counts)."""
        try:
            await self.prober.ping()
        except CAUGHT as error:
            return classify(error) is not Fault.UNREACHABLE
        return True

    async def aclose(self) -> None:
        await self.listener.aclose()
        await self.circuit.aclose()
        for client in (self.redis, self.blocking, self.prober):
            with contextlib.suppress(*CAUGHT):
                await client.aclose()


def _address(client: aioredis.Redis) -> str:
    """Where a client connects, for the log: host and port (or socket path), no password."""
    options = client.connection_pool.connection_kwargs
    if "path" in options:
        return str(options["path"])
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"


def _events(
    stream_id: str, entries: list[tuple[bytes, dict[bytes, bytes]]], done: bool
) -> tuple[list[StoredEvent], bool]:
    events = []
    for entry_id, fields in entries:
        if b"end" in fields:
            done = True
            continue
        seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-", 1)[1]
        data = fields.get(b"d") if fields.get(b"h") == b"1" else None
        events.append(StoredEvent(event_id(stream_id, seq), data))
    return events, done

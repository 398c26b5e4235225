"""``RedisFleetState``: the fleet-state interface on Redis, so any task answers any request.

Keys (every one expires; the keys of one session share the hash tag ``{id}``,
so that Redis Cluster keeps them in one slot and the scripts may touch them
together):

    mcpf:{sid}:s             the session record as created (JSON), idle TTL refreshed on use
    mcpf:{sid}:f             its changeable fields: log level, initialized (see
    mcpf:{sid}:sub           its subscriptions                           ``redis_sessions``)
    mcpf:{sid}:st            its streams by last event, so that DELETE removes their logs
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

The clients come from ``redis_connect`` (``connection``: TLS verified against a CA,
AUTH token or ACL user, ElastiCache IAM tokens, Redis Cluster). On a cluster every
script and pipeline names keys of one hash tag, so one slot; the probe PINGs every
primary; pub/sub listens on one node at a time (a PUBLISH reaches them all), moving
on to the next when that node fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from mcpfleet.state import redis_limits
from mcpfleet.state.base import (
    MAX_SUBSCRIPTIONS,
    SESSION_CACHE_SECONDS,
    Bucket,
    LocalSubscribers,
    SessionRecord,
    StoredEvent,
    Subscriber,
    event_id,
    split_event_id,
)
from mcpfleet.state.redis_circuit import Circuit
from mcpfleet.state.redis_connect import ClusterListening, RedisConnector, ping_serving
from mcpfleet.state.redis_faults import (
    CAUGHT,
    Fault,
    RedisFaults,
    classify,
    lost_connection,
)
from mcpfleet.state.redis_keys import CHANNELS, EVICT, PREFIX
from mcpfleet.state.redis_keys import session_key as _key
from mcpfleet.state.redis_listener import FleetListener, isolated, one_server
from mcpfleet.state.redis_sessions import RedisSessions
from mcpfleet.state.redis_settings import RedisSettings

log = logging.getLogger("mcpfleet.state")

# The end of APPEND and END (KEYS[3] the session's streams, ARGV[1] ttl ms, ARGV[2]
# stream id): refreshes the expiry of the stream's keys (written above, so they exist),
# notes the stream among the session's by the time of its last event, forgetting those
# whose logs have expired, and returns ``n``, the sequence number the script took.
_TOUCH = """
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[3], now, ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
return n
"""

# KEYS[1] stream counters, KEYS[2] stream events, KEYS[3] the session's streams; ARGV ttl
# ms, stream id, data, has-data flag, cap.
# Appends one event with the next sequence number and trims the log to the cap.
APPEND = (
    """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '0-' .. n, 'd', ARGV[3], 'h', ARGV[4])
local first = n - tonumber(ARGV[5]) + 1
if first > 1 then redis.call('HSET', KEYS[1], 'first', first) end
"""
    + _TOUCH
)

# KEYS[1] stream counters, KEYS[2] stream events, KEYS[3] the session's streams; ARGV ttl
# ms, stream id.
# Marks the stream complete and wakes blocked readers with an end entry.
END = (
    """
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('HSET', KEYS[1], 'done', 1)
redis.call('XADD', KEYS[2], '0-' .. n, 'end', 1)
"""
    + _TOUCH
)

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

# KEYS[1] handle; ARGV expected record, new record, ttl ms. Replaces only that record.
SWAP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

T = TypeVar("T")


class RedisFleetState:
    """Fleet state in Redis, shared by every task of a fleet."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        session_ttl_seconds: float = 3600.0,
        max_events_per_stream: int = 1000,
        reply_ttl_seconds: float = 600.0,
        listener_ttl_seconds: float = 45.0,
        socket_timeout: float = 2.0,
        cache_seconds: float = SESSION_CACHE_SECONDS,
        probe_timeout: float = 0.5,
        listener_idle_seconds: float = 5.0,
        connection: RedisSettings | None = None,
    ) -> None:
        self.url = url
        self.session_ttl_ms = int(session_ttl_seconds * 1000)
        self.max_events = max_events_per_stream
        self.reply_ttl_ms = int(reply_ttl_seconds * 1000)
        self.listener_ttl_ms = int(listener_ttl_seconds * 1000)
        self.connector = RedisConnector(url, connection)  # TLS, credentials, cluster
        connect = self.connector.client
        self.redis = connect(
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=10,
        )
        # Blocking reads (BLPOP, XREAD BLOCK) wait longer than any socket timeout: each is
        # bounded by its block time plus this margin instead (see ``_bounded``).
        self.blocking = connect(
            socket_timeout=None, socket_connect_timeout=socket_timeout, health_check_interval=10
        )
        self.block_margin = socket_timeout
        # PING with a short timeout, for readiness and the circuit's probe.
        self.prober = connect(socket_timeout=probe_timeout, socket_connect_timeout=probe_timeout)
        where = (
            _address(self.redis)
            if isinstance(self.redis, aioredis.Redis)
            else (self.connector.where)
        )
        self.circuit = Circuit(self._answers, where=where)
        # An outage (a failover on a cluster among them) may swallow evictions.
        self.faults = RedisFaults(self.circuit, on_outage=lambda: self.sessions.forget_cached())
        self._append = self.redis.register_script(APPEND)
        self._end = self.redis.register_script(END)
        self._deliver = self.redis.register_script(DELIVER)
        self._claim = self.redis.register_script(CLAIM)
        self._release = self.redis.register_script(RELEASE)
        self._swap = self.redis.register_script(SWAP)
        self._take = self.redis.register_script(redis_limits.TAKE)
        self._take_slot = self.redis.register_script(redis_limits.TAKE_SLOT)
        self._renew_slots = self.redis.register_script(redis_limits.RENEW_SLOTS)
        self.sessions = RedisSessions(
            self.redis,
            self.faults,
            session_ttl_ms=self.session_ttl_ms,
            reply_ttl_ms=self.reply_ttl_ms,
            cache_seconds=cache_seconds,
            listen=self._ensure_listening,
            listening=lambda: self.listener.subscribed,
        )
        self.cache_seconds = self.sessions.cache_seconds
        self.nodes: ClusterListening | None = None
        self._subscribers = LocalSubscribers()
        self._subscribers.add(EVICT, isolated(EVICT, self.sessions.evict))
        if isinstance(self.blocking, aioredis.Redis):
            listen_on = one_server(self.blocking, where)
        else:  # Redis Cluster: one node at a time, with a client of its own
            assert isinstance(self.prober, RedisCluster)
            self.nodes = ClusterListening(self.connector, self.prober, socket_timeout)
            listen_on = self.nodes.connect
        self.listener = FleetListener(
            listen_on,
            CHANNELS + "*",
            self._dispatch,
            where=where,
            answer_seconds=socket_timeout,
            idle_seconds=listener_idle_seconds,
            on_resubscribed=self.sessions.forget_cached,  # evictions may have been missed
        )

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, record: SessionRecord, *, max_sessions: int, max_per_principal: int | None = None
    ) -> None:
        await self.sessions.create(
            record, max_sessions=max_sessions, max_per_principal=max_per_principal
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return await self.sessions.get(session_id)

    async def set_log_level(self, session_id: str, level: str) -> None:
        await self.sessions.set_field(session_id, "level", level)

    async def mark_initialized(self, session_id: str) -> None:
        await self.sessions.set_field(session_id, "init", "1")

    async def subscribe_resource(
        self, session_id: str, uri: str, *, max_subscriptions: int = MAX_SUBSCRIPTIONS
    ) -> bool:
        return await self.sessions.subscribe(session_id, uri, max_subscriptions)

    async def unsubscribe_resource(self, session_id: str, uri: str) -> None:
        await self.sessions.unsubscribe(session_id, uri)

    async def delete_session(self, session_id: str, principal: str | None = None) -> bool:
        return await self.sessions.delete(session_id, principal)

    async def session_count(self) -> int:
        return await self.sessions.count()

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

    async def take_slot(self, name: str, member: str, cap: int, hold: float) -> bool:
        with self.faults.translated():
            held = await self._take_slot(
                keys=[redis_limits.slots_key(name)], args=[member, cap, max(1, int(hold * 1000))]
            )
        return bool(held)

    async def renew_slots(self, name: str, members: list[str], hold: float) -> None:
        with self.faults.translated():
            await self._renew_slots(
                keys=[redis_limits.slots_key(name)], args=[max(1, int(hold * 1000)), *members]
            )

    async def release_slot(self, name: str, member: str) -> None:
        with self.faults.translated():
            await self.redis.zrem(redis_limits.slots_key(name), member)

    # -- SSE event logs ------------------------------------------------------

    def _stream_keys(self, session_id: str, stream_id: str) -> list[str]:
        return [
            _key(session_id, f"m:{stream_id}"),
            _key(session_id, f"x:{stream_id}"),
            _key(session_id, "st"),
        ]

    async def append_event(self, session_id: str, stream_id: str, data: bytes | None) -> str:
        flag = 0 if data is None else 1
        args: list[bytes | str | int] = [self.session_ttl_ms, stream_id, data or b"", flag]
        args.append(self.max_events)
        with self.faults.translated():
            seq = await self._append(keys=self._stream_keys(session_id, stream_id), args=args)
        return event_id(stream_id, str(seq))

    async def end_stream(self, session_id: str, stream_id: str) -> None:
        keys = self._stream_keys(session_id, stream_id)
        with self.faults.translated():
            await self._end(keys=keys, args=[self.session_ttl_ms, stream_id])

    async def read_events(
        self, session_id: str, last_event_id: str, *, wait: float
    ) -> tuple[list[StoredEvent], bool] | None:
        parts = split_event_id(last_event_id)
        if parts is None or not parts[1].isdigit():
            return None
        stream_id, cursor = parts[0], int(parts[1])
        meta_key, events_key, _ = self._stream_keys(session_id, stream_id)
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
                with contextlib.suppress(*CAUGHT, RuntimeError):  # (uvloop's lost connection)
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

    async def swap_handle(self, handle: str, expected: bytes, record: bytes, ttl: float) -> bool:
        with self.faults.translated():
            swapped = await self._swap(
                keys=[f"{PREFIX}:h:{handle}"], args=[expected, record, max(1, int(ttl * 1000))]
            )
        return bool(swapped)

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
            await ping_serving(self.prober)

    async def _answers(self) -> bool:
        """The circuit's probe: whether Redis answers at all (an error reply counts)."""
        try:
            await ping_serving(self.prober)
        except (*CAUGHT, RuntimeError) as error:
            if isinstance(error, RuntimeError) and not lost_connection(error):
                raise
            return classify(error) is not Fault.UNREACHABLE
        return True

    async def aclose(self) -> None:
        await self.listener.aclose()
        await self.circuit.aclose()
        await self.sessions.aclose()
        for client in (self.redis, self.blocking, self.prober):
            with contextlib.suppress(*CAUGHT):
                await client.aclose()
        if self.nodes is not None:
            await self.nodes.aclose()


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

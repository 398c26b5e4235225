"""The sessions of ``RedisFleetState``: records, their changeable fields, the cache.

Keys of a session (all under its hash tag, all expiring together, a session TTL
after its last use):

    mcpf:{sid}:s      the record as created (JSON): what never changes
    mcpf:{sid}:f      the fields that do (a hash): level (the log level), init ("1")
    mcpf:{sid}:sub    the URIs it subscribed to (a set)
    mcpf:{sid}:st     its streams by last event (a sorted set), so DELETE finds their logs

Each change is one script that touches only its own field or member, so changes made
at once on different tasks all survive; each publishes an eviction, so no task's cache
serves the old record for long. ``get_session`` reads everything back in one script:
one round trip. The task that creates a session, or changes it, keeps its own copy up
to date instead of reading it back (its own evictions are not for it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from mcpfleet.state import redis_limits
from mcpfleet.state.base import SessionLimitReached, SessionRecord
from mcpfleet.state.redis_connect import Client
from mcpfleet.state.redis_faults import RedisFaults
from mcpfleet.state.redis_keys import CHANNELS, EVICT, session_key

Arg = bytes | str | int
log = logging.getLogger("mcpfleet.state")

# KEYS[1] record, KEYS[2] fields, KEYS[3] subscriptions; ARGV idle TTL ms (plus the
# time a task may then serve it from its cache without refreshing it).
# The session, its idle expiry refreshed: {record JSON, log level or nil, initialized
# ("1") or nil, {subscribed URIs}}; nil if it ended or expired.
READ = """
local record = redis.call('GET', KEYS[1])
if not record then return false end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
local fields = redis.call('HMGET', KEYS[2], 'level', 'init')
return {record, fields[1], fields[2], redis.call('SMEMBERS', KEYS[3])}
"""

# The scripts that change a session make the write that needs memory first: over
# maxmemory, Redis refuses only a script's first write (OOM), never one after another.

# KEYS[1] record, KEYS[2] fields, KEYS[3] subscriptions; ARGV field, value, idle TTL ms,
# eviction channel, eviction message.
# Sets one field of a live session (evicting cached copies if it changed); a change is a
# use, so the expiry is refreshed. Returns 1, or 0 if the session is gone.
SET_FIELD = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return 1
"""

# KEYS[1] record, KEYS[2] fields, KEYS[3] subscriptions; ARGV URI, the most subscriptions
# a session may hold, idle TTL ms, eviction channel, eviction message.
# Adds a subscription to a live session unless that makes too many. Returns 1 (subscribed
# now or before), 0 (the cap is reached: nothing changed) or 2 (no such session).
SUBSCRIBE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then
  if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[2]) then return 0 end
  redis.call('SADD', KEYS[3], ARGV[1])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return 1
"""

# KEYS[1] record, KEYS[2] fields, KEYS[3] subscriptions; ARGV URI, idle TTL ms, eviction
# channel, eviction message. Removes a subscription of a live session. Returns 1, or 2
# if there is no such session.
UNSUBSCRIBE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS[1] record, KEYS[2] fields, KEYS[3] subscriptions, KEYS[4] pending requests,
# KEYS[5] GET claim, KEYS[6] streams; ARGV reply-key prefix, reply TTL ms, stream-counters
# prefix, stream-events prefix, eviction channel, eviction message.
# Ends a session: its record, fields, subscriptions, claim and stream logs go, and every
# waiter for a reply gets an empty one. Returns 1 if the session existed, else 0.
DELETE = """
local existed = redis.call('DEL', KEYS[1])
for _, request in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  redis.call('RPUSH', ARGV[1] .. request, '')
  redis.call('PEXPIRE', ARGV[1] .. request, ARGV[2])
end
for _, stream in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  redis.call('DEL', ARGV[3] .. stream, ARGV[4] .. stream)
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return existed
"""


def _record_keys(session_id: str) -> list[str]:
    return [
        session_key(session_id, "s"),
        session_key(session_id, "f"),
        session_key(session_id, "sub"),
    ]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisSessions:
    """Session records in Redis, with this process's short-lived cache of them."""

    def __init__(
        self,
        redis: Client,
        faults: RedisFaults,
        *,
        session_ttl_ms: int,
        reply_ttl_ms: int,
        cache_seconds: float,
        listen: Callable[[], None],
        listening: Callable[[], bool],
    ) -> None:
        self.redis = redis
        self.faults = faults
        self.session_ttl_ms = session_ttl_ms
        self.reply_ttl_ms = reply_ttl_ms
        self.listen = listen  # evictions arrive only while this process listens,
        self.listening = listening  # so the cache is used only while it does
        self._create = redis.register_script(redis_limits.CREATE)
        self._read = redis.register_script(READ)
        self._set_field = redis.register_script(SET_FIELD)
        self._subscribe = redis.register_script(SUBSCRIBE)
        self._unsubscribe = redis.register_script(UNSUBSCRIBE)
        self._delete = redis.register_script(DELETE)
        self._indexed: dict[str, float] = {}  # session -> when this process last indexed it
        # Records read recently, evicted fleet-wide on every change and delete.
        self.cache_seconds = min(cache_seconds, session_ttl_ms / 10_000)
        # A read's idle expiry: a copy may then be used from the cache for cache_seconds
        # without coming back, so the expiry counts from the end of that.
        self._read_expiry_ms = session_ttl_ms + int(self.cache_seconds * 1000)
        self._cache: dict[str, tuple[SessionRecord, float]] = {}
        # When each session was last changed, as this process learnt it: a read that was
        # under way then may predate the change, so it is not cached.
        self._changed_at: dict[str, float] = {}
        self._all_changed_at = 0.0
        # This process's own changes by the token their eviction carries: "sent" (under
        # way), "heard" (its eviction came back first) or "kept" (in the copy; its
        # eviction, when it comes, is not for this process). Random per change, so
        # processes forked from one another never take each other's for their own.
        self._own: dict[str, str] = {}
        self._cleaning: set[asyncio.Task[None]] = set()

    async def create(
        self, record: SessionRecord, *, max_sessions: int, max_per_principal: int | None
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
        self.listen()
        with self.faults.translated():
            try:
                verdict = await self._write_and_count(record, [index, owner], args)
            except BaseException:  # failed or cancelled: nothing of it is to stay
                self._clean_up_later(record.id, [index, owner])
                raise
            if verdict != 0:  # over a limit: the record written with it goes again
                await self._clean_up(record.id, [])
            if verdict == 1:
                raise SessionLimitReached(f"{max_sessions} sessions are open")
            if verdict == 2:
                raise SessionLimitReached(
                    f"{max_per_principal} sessions of this caller are open", per_principal=True
                )
        now = time.monotonic()
        self._mark_indexed(record.id, now)  # CREATE just indexed it
        kept = record.copy()  # nobody else knows the session yet
        kept.subscriptions = sorted(kept.subscriptions)  # as a read gives them
        self._keep(record.id, kept, now)

    async def aclose(self) -> None:
        """Let the clean-ups under way finish (each is one short round trip)."""
        if self._cleaning:
            await asyncio.wait(set(self._cleaning), timeout=2.0)

    async def _clean_up(self, session_id: str, indexes: list[str]) -> None:
        """Remove, at best effort, what a session that did not open may have left: its
        record and its entries in ``indexes`` (failing, it stays until its idle expiry)."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.delete(*_record_keys(session_id))
                for index in indexes:
                    pipe.zrem(index, session_id)
                await pipe.execute()
        except Exception as error:
            log.info("a session that did not open stays until it expires: %s", error)

    def _clean_up_later(self, session_id: str, indexes: list[str]) -> None:
        """``_clean_up`` in the background: the answer waits for none of it (Redis may be
        the reason the session did not open)."""
        task = asyncio.get_running_loop().create_task(self._clean_up(session_id, indexes))
        self._cleaning.add(task)
        task.add_done_callback(self._cleaning.discard)

    async def _write_and_count(
        self, record: SessionRecord, index_keys: list[str], args: list[str | float]
    ) -> int:
        """Write a new session's record and count it against the limits (``CREATE``'s
        verdict), in one round trip."""
        # The idle expiry of a read: this task may use its copy without coming back.
        expiry = self._read_expiry_ms

        def write(pipe: Any) -> None:
            pipe.set(session_key(record.id, "s"), record.to_json(), px=expiry, nx=True)
            if record.subscriptions:  # (read back from the set, never from the JSON)
                pipe.sadd(session_key(record.id, "sub"), *record.subscriptions)
                pipe.pexpire(session_key(record.id, "sub"), expiry)

        return int(await self._pipelined(self._create, index_keys, args, before=write))

    async def _pipelined(
        self,
        script: AsyncScript,
        keys: list[str],
        args: Sequence[Any],
        *,
        before: Callable[[Any], None] | None = None,
        after: Callable[[Any], None] | None = None,
    ) -> Any:
        """A script's result, the script run by its digest in one pipeline (one round
        trip) between the commands ``before`` and ``after`` add; their errors are raised.
        A Redis that does not know the script (restarted, flushed) gets it loaded, then
        run: the pipeline's other commands went through already."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if before is not None:
                before(pipe)
            first = len(pipe)
            pipe.evalsha(script.sha, len(keys), *keys, *args)
            if after is not None:
                after(pipe)
            results = await pipe.execute(raise_on_error=False)
        found = results.pop(first)
        for result in results:
            if isinstance(result, Exception):
                raise result
        if isinstance(found, NoScriptError):
            return await script(keys=keys, args=list(args))
        if isinstance(found, Exception):
            raise found
        return found

    async def get(self, session_id: str) -> SessionRecord | None:
        """The session, from this process's cache or with one round trip.

        A record read from Redis (with its idle expiry refreshed by the same script) is
        reused for up to ``cache_seconds``, and only while this process listens for
        evictions: every change or delete on any task evicts it fleet-wide, so a session
        costs one round trip per task and ``cache_seconds``, not one a request, however
        many tasks its requests are spread over. While the listener is down (and until
        it has noticed a silent failure) nothing is cached or served from the cache.
        Each caller gets its own copy. The session index (for the limit) is refreshed at
        most every tenth of the idle TTL.
        """
        now = time.monotonic()
        listening = self.listening()
        cached = self._cache.get(session_id)
        if cached is not None and now - cached[1] < self.cache_seconds and listening:
            return cached[0].copy()
        self.listen()
        started = now
        with self.faults.translated():
            found: Any = await self._read(
                keys=_record_keys(session_id), args=[self._read_expiry_ms]
            )
            if found is None:
                self._cache.pop(session_id, None)
                return None
            raw, level, initialized, subscriptions = found
            record = SessionRecord.from_json(raw)
            if level is not None:
                record.log_level = _text(level)
            record.initialized = record.initialized or initialized is not None
            record.subscriptions = sorted(_text(uri) for uri in subscriptions)
            now = time.monotonic()
            if now - self._indexed.get(session_id, 0.0) > self.session_ttl_ms / 10_000:
                self._mark_indexed(session_id, now)
                await self._reindex(record)
        if listening and self._unchanged_since(session_id, started):
            self._keep(session_id, record, now)
        return record.copy()

    def _unchanged_since(self, session_id: str, started: float) -> bool:
        """Whether no change or outage this task learnt of came after ``started``."""
        return self._changed_at.get(session_id, self._all_changed_at) < started

    def _keep(self, session_id: str, record: SessionRecord, read_at: float) -> None:
        """Cache a copy read (or written) at ``read_at``, while evictions can arrive."""
        if self.cache_seconds > 0 and self.listening():
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[session_id] = (record, read_at)

    def _mark_indexed(self, session_id: str, now: float) -> None:
        if len(self._indexed) > 100_000:
            self._indexed.clear()
        self._indexed[session_id] = now

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

    def evict(self, message: dict[str, Any]) -> None:
        """An eviction from another task: forget this process's copy of that session (a
        change this process made is in its copy already)."""
        token = message.get("by")
        state = self._own.get(token) if isinstance(token, str) else None
        if state is None:
            self._changed(str(message.get("session")))
        elif state == "sent":
            self._own[str(token)] = "heard"
        else:
            del self._own[str(token)]

    def forget_cached(self) -> None:
        """Forget every cached record (evictions may have been missed)."""
        self._cache.clear()
        self._changed_at.clear()
        self._all_changed_at = time.monotonic()

    def _changed(self, session_id: str) -> None:
        self._cache.pop(session_id, None)
        if len(self._changed_at) > 10_000:  # only reads under way need these
            self._changed_at.clear()
            self._all_changed_at = time.monotonic()
        self._changed_at[session_id] = time.monotonic()

    async def _change(
        self,
        script: AsyncScript,
        session_id: str,
        args: list[Arg],
        apply: Callable[[SessionRecord], None] | None = None,
    ) -> int:
        """Run a script that changes a session (its last two ARGV name the eviction to
        publish). This process's copy, if it has one, gets the change (``apply``, which
        is idempotent: the copy may have been read after the script ran) once the script
        says it was made (1) and no other change or outage came meanwhile; otherwise the
        copy is forgotten, whether or not the change got through."""
        token = secrets.token_hex(8)
        if len(self._own) > 10_000:  # evictions that never came back (a listener down)
            self._own.clear()
        self._own[token] = "sent"
        message = orjson.dumps({"session": session_id, "by": token})
        args = [*args, CHANNELS + EVICT, message]
        started = time.monotonic()
        done = 0
        try:
            with self.faults.translated():
                done = int(await script(keys=_record_keys(session_id), args=args))
            return done
        finally:
            cached = self._cache.get(session_id)
            unchanged = self._unchanged_since(session_id, started)
            self._changed(session_id)
            heard = self._own.pop(token, None) == "heard"
            if done == 1 and apply is not None and cached is not None and unchanged:
                record, read_at = cached
                record = record.copy()
                apply(record)
                self._keep(session_id, record, read_at)
                if not heard:
                    self._own[token] = "kept"
            # Otherwise its eviction, if it still comes, acts as anyone's: the script may
            # have run although this call did not see it finish (cancelled, say).

    async def set_field(self, session_id: str, field: str, value: str) -> None:
        def apply(record: SessionRecord) -> None:
            if field == "level":
                record.log_level = value
            elif field == "init":
                record.initialized = True

        args: list[Arg] = [field, value, self._read_expiry_ms]
        await self._change(self._set_field, session_id, args, apply)

    async def subscribe(self, session_id: str, uri: str, max_subscriptions: int) -> bool:
        def apply(record: SessionRecord) -> None:
            record.subscriptions = sorted({*record.subscriptions, uri})

        args: list[Arg] = [uri, max_subscriptions, self._read_expiry_ms]
        return await self._change(self._subscribe, session_id, args, apply) != 0

    async def unsubscribe(self, session_id: str, uri: str) -> None:
        def apply(record: SessionRecord) -> None:
            record.subscriptions = [known for known in record.subscriptions if known != uri]

        await self._change(self._unsubscribe, session_id, [uri, self._read_expiry_ms], apply)

    async def delete(self, session_id: str, principal: str | None) -> bool:
        keys = [
            *_record_keys(session_id),
            session_key(session_id, "pend"),
            session_key(session_id, "g"),
            session_key(session_id, "st"),
        ]
        args: list[Arg] = [
            session_key(session_id, "r:"),
            self.reply_ttl_ms,
            session_key(session_id, "m:"),
            session_key(session_id, "x:"),
            CHANNELS + EVICT,
            orjson.dumps({"session": session_id}),
        ]

        def unindex(pipe: Any) -> None:  # out of the fleet's and its caller's counts
            pipe.zrem(redis_limits.SESSIONS, session_id)
            if principal is not None:
                pipe.zrem(redis_limits.principal_index(principal), session_id)

        try:
            with self.faults.translated():
                existed = await self._pipelined(self._delete, keys, args, after=unindex)
        finally:
            self._changed(session_id)
        return bool(existed)

    async def count(self) -> int:
        now = time.time()
        with self.faults.translated():
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(
                    redis_limits.SESSIONS, "-inf", now - self.session_ttl_ms / 1000
                )
                pipe.zcard(redis_limits.SESSIONS)
                _, count = await pipe.execute()
        return int(count)

"""The Redis state's session cache: fast, and never stale for long across tasks."""

from __future__ import annotations

import asyncio

import pytest

from mcpfleet.config import Config
from mcpfleet.errors import InternalError, StateUnavailable
from mcpfleet.server.app import Server
from mcpfleet.state import redis_limits
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState
from mcpfleet.state.redis_keys import session_key
from mcpfleet.transport.asgi import McpApp
from tests.conftest import STATE_KEYS

pytestmark = pytest.mark.anyio


async def eventually(check: object, seconds: float = 2.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if await check():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def test_changes_on_one_task_reach_another_tasks_cache(redis_url: str) -> None:
    """A change (log level, subscription, initialized) or a delete on task A evicts task
    B's cached copy of the session."""
    task_a, task_b = RedisFleetState(redis_url), RedisFleetState(redis_url)
    try:
        record = SessionRecord(id="cached", protocol_version="2025-11-25")
        await task_a.create_session(record, max_sessions=10)
        cached = await task_b.get_session("cached")
        assert cached is not None
        assert cached.log_level is None
        await asyncio.sleep(0.1)  # both listen for evictions by now
        await task_a.set_log_level("cached", "error")

        async def saved() -> bool:
            seen = await task_b.get_session("cached")
            return seen is not None and seen.log_level == "error"

        assert await eventually(saved, seconds=0.5)
        await task_a.subscribe_resource("cached", "x://a")

        async def subscribed() -> bool:
            seen = await task_b.get_session("cached")
            return seen is not None and seen.subscriptions == ["x://a"]

        assert await eventually(subscribed, seconds=0.5)
        await task_a.mark_initialized("cached")

        async def initialized() -> bool:
            seen = await task_b.get_session("cached")
            return seen is not None and seen.initialized

        assert await eventually(initialized, seconds=0.5)
        await task_a.unsubscribe_resource("cached", "x://a")

        async def unsubscribed() -> bool:
            seen = await task_b.get_session("cached")
            return seen is not None and seen.subscriptions == []

        assert await eventually(unsubscribed, seconds=0.5)
        await task_a.delete_session("cached")

        async def gone() -> bool:
            return await task_b.get_session("cached") is None

        assert await eventually(gone, seconds=0.5)
    finally:
        await task_a.aclose()
        await task_b.aclose()


async def test_a_change_is_seen_at_once_by_the_task_that_made_it(redis_url: str) -> None:
    """The task that changes a session reads the change back at once, even with a long
    cache and a read of the old record under way meanwhile."""
    store = RedisFleetState(redis_url, cache_seconds=60)
    try:
        record = SessionRecord(id="mine", protocol_version="2025-11-25")
        await store.create_session(record, max_sessions=10)
        assert await store.get_session("mine") is not None
        await asyncio.sleep(0.1)  # it listens for evictions by now
        for n in range(20):
            reading = asyncio.create_task(store.get_session("mine"))
            await store.subscribe_resource("mine", f"x://{n}")
            await reading
            seen = await store.get_session("mine")
            assert seen is not None
            assert f"x://{n}" in seen.subscriptions
    finally:
        await store.aclose()


async def test_cache_is_bounded_by_the_idle_ttl(redis_url: str) -> None:
    """A record is reused for at most a tenth of the idle TTL, so it never outlives it."""
    store = RedisFleetState(redis_url, session_ttl_seconds=2.0, cache_seconds=60)
    try:
        assert store.cache_seconds == pytest.approx(0.2)
    finally:
        await store.aclose()


async def test_a_read_is_reused_only_while_evictions_can_arrive(redis_url: str) -> None:
    """A session read once is served from the cache while the task listens for evictions
    (a change written behind the task's back is not seen); once its listener is down, every
    read goes to Redis again, so a change whose eviction it missed is seen at once."""
    store = RedisFleetState(redis_url, cache_seconds=60)
    try:
        record = SessionRecord(id="heard", protocol_version="2025-11-25")
        await store.create_session(record, max_sessions=10)
        assert await store.get_session("heard") is not None  # starts the listener

        async def listening() -> bool:
            return store.listener.subscribed

        assert await eventually(listening)
        assert await store.get_session("heard") is not None  # read while listening: kept
        # A change no eviction announces: only the cache can hide it.
        await store.redis.hset(session_key("heard", "f"), "level", "debug")
        cached = await store.get_session("heard")
        assert cached is not None
        assert cached.log_level is None
        store.listener.first_delay = 30.0  # stays down once cut
        await store.redis.client_kill_filter(_type="pubsub")

        async def deaf() -> bool:
            return not store.listener.subscribed

        assert await eventually(deaf)
        seen = await store.get_session("heard")
        assert seen is not None
        assert seen.log_level == "debug"
        await store.redis.hset(session_key("heard", "f"), "level", "error")
        again = await store.get_session("heard")  # nothing was kept meanwhile either
        assert again is not None
        assert again.log_level == "error"
    finally:
        await store.aclose()


async def test_the_default_cache_outlasts_a_second(redis_url: str) -> None:
    """By default a task reuses a record for 30 s (a session called less often than once a
    second per task still skips most reads), bounded by a tenth of the idle TTL."""
    default, short = RedisFleetState(redis_url), RedisFleetState(redis_url, session_ttl_seconds=60)
    try:
        assert default.cache_seconds == 30.0
        assert short.cache_seconds == pytest.approx(6.0)
    finally:
        await default.aclose()
        await short.aclose()


async def test_session_cache_seconds_reaches_the_state(redis_url: str) -> None:
    """SESSION_CACHE_SECONDS sets how long the app's Redis state reuses a record."""
    env = {"REDIS_URL": redis_url, "REQUEST_STATE_KEYS": STATE_KEYS, "SESSION_CACHE_SECONDS": "5"}
    app = McpApp(Server("cache"), Config.from_env(env))
    try:
        assert isinstance(app.state, RedisFleetState)
        assert app.state.cache_seconds == 5.0
    finally:
        await app.state.aclose()


async def test_a_read_extends_the_idle_expiry_by_the_cache_time(redis_url: str) -> None:
    """A read from Redis sets the session's expiry to the idle TTL plus the time the copy
    may be served from the cache: a session used only from a task's cache for a while
    still lives its whole idle TTL after that last use."""
    store = RedisFleetState(redis_url, session_ttl_seconds=20.0, cache_seconds=60)
    try:
        assert store.cache_seconds == pytest.approx(2.0)
        await store.create_session(
            SessionRecord(id="long", protocol_version="2025-11-25"), max_sessions=10
        )
        assert await store.get_session("long") is not None
        left = await store.redis.pttl(session_key("long", "s"))
        assert 20_000 < left <= 22_000
    finally:
        await store.aclose()


async def test_an_outage_forgets_the_cache(redis_url: str) -> None:
    """When Redis cannot serve a call (here: out of memory), the task forgets its cached
    records, since evictions published meanwhile may not have reached it: the next read
    sees a change its cache would have hidden."""
    store = RedisFleetState(redis_url, cache_seconds=60)
    try:
        await store.create_session(
            SessionRecord(id="out", protocol_version="2025-11-25"), max_sessions=10
        )
        assert await store.get_session("out") is not None

        async def listening() -> bool:
            return store.listener.subscribed

        assert await eventually(listening)
        assert await store.get_session("out") is not None  # kept in the cache now
        await store.redis.hset(session_key("out", "f"), "level", "debug")  # no eviction
        cached = await store.get_session("out")
        assert cached is not None
        assert cached.log_level is None
        await store.redis.config_set("maxmemory-policy", "noeviction")
        await store.redis.config_set("maxmemory", 1)
        try:
            with pytest.raises(StateUnavailable):
                await store.append_event("out", "p1", b"{}")
        finally:
            await store.redis.config_set("maxmemory", 0)
        seen = await store.get_session("out")
        assert seen is not None
        assert seen.log_level == "debug"
    finally:
        await store.aclose()


async def _expiry_counts_the_cache(store: RedisFleetState, key: str) -> bool:
    """Whether ``key`` expires after the idle TTL, by at most the cache time."""
    left = await store.redis.pttl(key)
    return store.session_ttl_ms < left <= store.session_ttl_ms + store.cache_seconds * 1000


async def _listening_store(redis_url: str) -> RedisFleetState:
    """A state with a long cache whose eviction listener is up."""
    store = RedisFleetState(redis_url, cache_seconds=60)
    await store.get_session("nothing-yet")  # starts the listener

    async def listening() -> bool:
        return store.listener.subscribed

    assert await eventually(listening)
    return store


async def test_the_task_that_opens_a_session_keeps_it_without_reading_it_back(
    redis_url: str,
) -> None:
    """A session this task just created is served from its copy (a change written behind
    its back is not seen), and its idle expiry counts the time that copy may be used."""
    store = await _listening_store(redis_url)
    try:
        record = SessionRecord(id="opened", protocol_version="2025-11-25", subscriptions=["x://a"])
        await store.create_session(record, max_sessions=10)
        await store.redis.hset(session_key("opened", "f"), "level", "debug")  # no eviction
        seen = await store.get_session("opened")
        assert seen == record
        assert seen is not record
        for key in ("s", "sub"):
            assert await _expiry_counts_the_cache(store, session_key("opened", key))
    finally:
        await store.aclose()


async def test_the_task_that_changes_a_session_updates_its_copy(redis_url: str) -> None:
    """Each change this task makes (level, initialized, subscribe, unsubscribe) is in its
    copy at once, without a read (a change written behind its back stays unseen), also
    after its own eviction came back; a change it makes to a session that is gone leaves
    nothing cached; the copy's expiry is kept up with."""
    store = await _listening_store(redis_url)
    try:
        await store.create_session(
            SessionRecord(id="kept", protocol_version="2025-11-25"), max_sessions=10
        )
        await store.redis.hset(session_key("kept", "f"), "cursor", "behind")  # never read
        await store.redis.sadd(session_key("kept", "sub"), "x://hidden")  # no eviction
        await store.set_log_level("kept", "error")
        await store.mark_initialized("kept")
        assert await store.subscribe_resource("kept", "x://a")
        assert await store.subscribe_resource("kept", "x://b")
        await store.unsubscribe_resource("kept", "x://a")
        await asyncio.sleep(0.2)  # its own five evictions arrive, and change nothing
        seen = await store.get_session("kept")
        assert seen is not None
        assert (seen.log_level, seen.initialized, seen.subscriptions) == ("error", True, ["x://b"])
        assert await _expiry_counts_the_cache(store, session_key("kept", "f"))
        await store.redis.delete(*(session_key("kept", key) for key in ("s", "f", "sub")))
        await store.set_log_level("kept", "debug")  # gone: the script says so
        assert await store.get_session("kept") is None
    finally:
        await store.aclose()


async def test_another_tasks_change_still_evicts_a_copy_this_task_updated(
    redis_url: str,
) -> None:
    """After this task updated its copy with its own change, a change made on another
    task evicts it as before."""
    task_a, task_b = await _listening_store(redis_url), RedisFleetState(redis_url)
    try:
        await task_a.create_session(
            SessionRecord(id="shared", protocol_version="2025-11-25"), max_sessions=10
        )
        await task_a.set_log_level("shared", "error")
        await task_b.subscribe_resource("shared", "x://b")

        async def evicted() -> bool:
            seen = await task_a.get_session("shared")
            return seen is not None and seen.subscriptions == ["x://b"]

        assert await eventually(evicted, seconds=0.5)
        seen = await task_a.get_session("shared")
        assert seen is not None
        assert seen.log_level == "error"
    finally:
        await task_a.aclose()
        await task_b.aclose()


async def test_a_session_opens_and_ends_on_a_redis_that_forgot_its_scripts(
    redis_url: str,
) -> None:
    """Opening (and ending) a session runs its script by its digest in one pipeline with
    the record (the index); a Redis that lost its scripts (restarted, flushed) has them
    loaded, and the session opens, counts, ends and is counted out."""
    store = RedisFleetState(redis_url)
    try:
        open_before = await store.session_count()  # the server's other tests' sessions
        await store.create_session(
            SessionRecord(id="before", protocol_version="2025-11-25"), max_sessions=100
        )
        await store.redis.script_flush()
        record = SessionRecord(id="after", protocol_version="2025-11-25")
        await store.create_session(record, max_sessions=100)
        assert await store.redis.get(session_key("after", "s")) is not None
        assert await store.session_count() == open_before + 2
        assert await store.get_session("after") == record
        await store.redis.script_flush()
        assert await store.delete_session("after") is True  # and out of the count
        assert await store.session_count() == open_before + 1
        assert await store.get_session("after") is None
    finally:
        await store.aclose()


async def test_a_subscription_refused_at_the_cap_drops_the_copy(redis_url: str) -> None:
    """A change the script refuses (a subscription past the cap) leaves no copy to serve:
    the next read goes to Redis."""
    store = await _listening_store(redis_url)
    try:
        await store.create_session(
            SessionRecord(id="capped", protocol_version="2025-11-25"), max_sessions=100
        )
        assert await store.subscribe_resource("capped", "x://a", max_subscriptions=1)
        await store.redis.hset(session_key("capped", "f"), "level", "debug")  # no eviction
        assert not await store.subscribe_resource("capped", "x://b", max_subscriptions=1)
        seen = await store.get_session("capped")
        assert seen is not None
        assert (seen.log_level, seen.subscriptions) == ("debug", ["x://a"])
    finally:
        await store.aclose()


async def test_a_session_that_fails_to_open_leaves_no_record(redis_url: str) -> None:
    """When counting a new session fails after its record was written (here: the caller's
    index is not a sorted set), the record is removed again, in the background."""
    store = RedisFleetState(redis_url)
    try:
        await store.redis.set(redis_limits.principal_index("mallory"), "not a sorted set")
        record = SessionRecord(id="failed", protocol_version="2025-11-25", principal="mallory")
        with pytest.raises(InternalError):
            await store.create_session(record, max_sessions=100, max_per_principal=5)
        await store.sessions.aclose()  # the clean-up has run
        assert not await store.redis.exists(session_key("failed", "s"))
    finally:
        await store.aclose()

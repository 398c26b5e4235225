"""The Redis state's keys: every one expires, and an ended session leaves none behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState

pytestmark = pytest.mark.anyio


@pytest.fixture
async def state(redis_url: str) -> AsyncIterator[RedisFleetState]:
    store = RedisFleetState(redis_url)
    await store.redis.flushdb()
    yield store
    await store.aclose()


async def ttls(state: RedisFleetState) -> dict[str, int]:
    """Every key in the database with its PTTL (-1: it never expires)."""
    found = {}
    async for key in state.redis.scan_iter(count=1000):
        found[key.decode()] = await state.redis.pttl(key)
    return found


async def write_everything(state: RedisFleetState, session_id: str, principal: str) -> None:
    """Every kind of write the state makes, on one session of ``principal``."""
    record = SessionRecord(
        id=session_id, protocol_version="2025-11-25", principal=principal, subscriptions=["x://0"]
    )
    await state.create_session(record, max_sessions=10, max_per_principal=5)
    assert await state.get_session(session_id) is not None  # its first read reindexes it
    await state.set_log_level(session_id, "debug")
    await state.mark_initialized(session_id)
    await state.subscribe_resource(session_id, "x://1")
    await state.subscribe_resource(session_id, "x://2")
    await state.unsubscribe_resource(session_id, "x://2")
    await state.append_event(session_id, "p1", b"{}")
    await state.append_event(session_id, "p1", None)
    await state.end_stream(session_id, "p1")
    await state.append_event(session_id, "g1", b"{}")
    await state.expect_reply(session_id, "r1")
    await state.expect_reply(session_id, "r2")
    assert await state.deliver_reply(session_id, "r1", b"{}") is True  # nobody takes it
    await state.expect_reply(session_id, "r3")
    assert await state.wait_reply(session_id, "r3", 0.01) is None
    assert await state.claim_listener(session_id, "me") is True
    await state.put_handle(f"h-{session_id}", b"v", 60, create=True)
    await state.take_tokens([(f"caller-{session_id}", 10, 1.0, "limit")])
    await state.session_count()


async def test_every_key_the_state_writes_expires(state: RedisFleetState) -> None:
    """After every kind of write the state can make (sessions and their indexes, fields,
    subscriptions, event logs, replies, claims, handles, token buckets), no key in Redis
    is without a TTL, so nothing outlives its idle time."""
    await write_everything(state, "s1", "alice")
    await write_everything(state, "s2", "bob")
    await state.delete_session("s2", "bob")  # its waiters' empty replies are written
    await state.create_session(
        SessionRecord(id="s3", protocol_version="2025-11-25", principal="alice"),
        max_sessions=10,
    )
    keys = await ttls(state)
    assert any(key.startswith("mcpf:{s1}:") for key in keys)
    assert any(key.startswith("mcpf:{sessions}:p:") for key in keys)
    assert any(key.startswith("mcpf:rl:") for key in keys)
    assert any(key.startswith("mcpf:h:") for key in keys)
    assert [key for key, ttl in keys.items() if ttl < 0] == []


async def test_delete_leaves_no_key_of_the_session(state: RedisFleetState) -> None:
    """DELETE removes every key of the session, its stream logs included; only the empty
    replies that wake its waiters stay, and those expire."""
    await write_everything(state, "s1", "alice")
    waiter = asyncio.create_task(state.wait_reply("s1", "r2", 5))
    await asyncio.sleep(0.05)
    assert await state.delete_session("s1", "alice") is True
    assert await asyncio.wait_for(waiter, 1) is None
    left = {key: ttl for key, ttl in (await ttls(state)).items() if "{s1}" in key}
    assert set(left) == {"mcpf:{s1}:r:r1"}  # delivered, never taken: expires by itself
    assert all(ttl > 0 for ttl in left.values())
    assert await state.redis.zscore("mcpf:{sessions}", "s1") is None
    assert await state.session_count() == 0


async def test_a_long_lived_session_forgets_streams_whose_logs_expired(
    redis_url: str,
) -> None:
    """The set of a session's streams (what DELETE removes) drops the streams whose logs
    expired, so a session that runs many requests does not grow it without bound."""
    store = RedisFleetState(redis_url, session_ttl_seconds=0.3)
    try:
        await store.redis.flushdb()
        await store.append_event("s1", "old", b"{}")
        await asyncio.sleep(0.4)
        await store.append_event("s1", "new", b"{}")
        assert await store.redis.zrange("mcpf:{s1}:st", 0, -1) == [b"new"]
    finally:
        await store.aclose()

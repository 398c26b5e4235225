"""The Redis state on a local Redis Cluster (three primaries, a replica each): every script
and pipeline keeps to one slot, pub/sub reaches every process, and a primary's failure is
a StateUnavailable (503) until its replica takes over, after which the same sessions and
subscriptions work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from mcpfleet.errors import StateUnavailable
from mcpfleet.state import RedisSettings
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState
from mcpfleet.state.redis_keys import session_key
from tests.redis_support import LocalCluster, cluster_running

pytestmark = pytest.mark.anyio

CLUSTER = RedisSettings(cluster=True)


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    with cluster_running() as running:
        yield running


@pytest.fixture
async def state(cluster: LocalCluster) -> AsyncIterator[RedisFleetState]:
    store = RedisFleetState(cluster.url, connection=CLUSTER, cache_seconds=0, socket_timeout=1.0)
    yield store
    await store.aclose()


def record(session_id: str) -> SessionRecord:
    return SessionRecord(id=session_id, protocol_version="2025-11-25")


async def listener_node(state: RedisFleetState, seconds: float = 5.0) -> str:
    """The node (host:port) whose pub/sub the state's listener subscribed on."""
    for _ in range(int(seconds / 0.02)):
        if state.listener.subscribed:
            return state.listener.where
        await asyncio.sleep(0.02)
    raise AssertionError("the listener did not subscribe")


async def test_a_session_spread_over_the_slots_works_end_to_end(state: RedisFleetState) -> None:
    """Sessions whose keys land on different primaries are created, changed, streamed to,
    counted and deleted, each script's keys in one slot."""
    ids = [f"spread-{i}" for i in range(9)]
    for session_id in ids:
        await state.create_session(record(session_id), max_sessions=100)
        await state.set_log_level(session_id, "debug")
        assert await state.subscribe_resource(session_id, "x://a")
        first = await state.append_event(session_id, "st", b"one")
        await state.append_event(session_id, "st", b"two")
        found = await state.read_events(session_id, first, wait=0)
        assert found is not None
        assert [e.data for e in found[0]] == [b"two"]
        await state.expect_reply(session_id, "r1")
        assert await state.deliver_reply(session_id, "r1", b"answer")
        assert await state.wait_reply(session_id, "r1", 1.0) == b"answer"
    assert await state.session_count() == len(ids)
    buckets = [("{caller}:*", 5, 1.0, "5/s"), ("{caller}:t:x", 5, 1.0, "5/s for x")]
    assert await state.take_tokens(buckets) == (0.0, 0)
    for session_id in ids:
        assert await state.delete_session(session_id)
    assert await state.session_count() == 0


async def test_messages_reach_a_process_listening_on_another_node(
    cluster: LocalCluster, state: RedisFleetState
) -> None:
    """A message published by one process reaches another's subscriber, whichever nodes
    the two talk to."""
    other = RedisFleetState(cluster.url, connection=CLUSTER)
    try:
        got: list[dict[str, object]] = []
        other.subscribe("news", got.append)
        await listener_node(other)
        for _ in range(100):
            await state.publish("news", {"n": 1})
            await asyncio.sleep(0.05)
            if got:
                break
        assert got[:1] == [{"n": 1}]
    finally:
        await other.aclose()


async def test_a_primary_failover_is_unavailable_then_the_session_works(
    cluster: LocalCluster, state: RedisFleetState
) -> None:
    """Killing the primary that holds a session (and the listener's subscription) makes
    calls raise StateUnavailable, never anything else, until the replica takes over; then
    the session is read back as it was, and published messages arrive again."""
    got: list[dict[str, object]] = []
    state.subscribe("news", got.append)
    where = await listener_node(state)
    victim = next(n for n in cluster.nodes if where.endswith(f":{n.port}"))
    session_id = next(
        f"s{i}" for i in range(1000) if cluster.primary_of(session_key(f"s{i}", "s")) is victim
    )
    await state.create_session(record(session_id), max_sessions=100)
    await state.set_log_level(session_id, "debug")
    cluster.wait_replicated(victim)
    victim.kill()
    killed_at = time.monotonic()
    refused = 0
    retry_afters: list[int] = []
    deadline = killed_at + 30
    while time.monotonic() < deadline:
        try:
            found = await state.get_session(session_id)
        except StateUnavailable as error:
            refused += 1
            retry_afters.append(error.retry_after)
            await asyncio.sleep(0.05)
            continue
        assert found is not None, "the session was reported gone during the failover"
        break
    else:
        raise AssertionError("the session never came back")
    assert refused > 0
    assert min(retry_afters) >= 1
    assert found.log_level == "debug"
    for _ in range(200):
        await state.publish("news", {"after": True})
        await asyncio.sleep(0.05)
        if got:
            break
    assert got[:1] == [{"after": True}]
    assert state.listener.where != where


async def test_a_session_opens_on_nodes_that_forgot_their_scripts(
    state: RedisFleetState,
) -> None:
    """The record and the counting script go in one pipeline across slots; nodes that lost
    their scripts have it loaded, and the session opens."""
    await state.create_session(record("before"), max_sessions=10)
    for node in state.redis.get_nodes():  # type: ignore[union-attr]
        await node.execute_command("SCRIPT", "FLUSH")
    await state.create_session(record("after"), max_sessions=10)
    assert await state.get_session("after") == record("after")
    assert await state.session_count() == 2

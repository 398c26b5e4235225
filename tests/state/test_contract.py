"""The fleet-state contract: every implementation must pass these, the Redis one included.

Add an implementation by adding a factory to ``IMPLEMENTATIONS``.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mcpfleet.state import RedisSettings
from mcpfleet.state.base import (
    FleetState,
    SessionLimitReached,
    SessionRecord,
    split_event_id,
)
from mcpfleet.state.memory import MemoryFleetState
from mcpfleet.state.redis import RedisFleetState
from tests.redis_support import LocalCluster, RedisServer, cluster_running, make_tls

pytestmark = pytest.mark.anyio

Factory = Callable[..., Awaitable[FleetState]]


async def memory(**options: Any) -> FleetState:
    return MemoryFleetState(**options)


# Servers started once for the module (the first test of each kind starts its own), and
# what stops them after the module.
_servers: dict[str, Any] = {}
_cleanups: list[Callable[[], None]] = []


def _server(kind: str, start: Callable[[], Any]) -> Any:
    if kind not in _servers:
        _servers[kind] = start()
    return _servers[kind]


def _plain() -> RedisServer:
    server = RedisServer().start()
    _cleanups.append(server.cleanup)
    return server


def _tls() -> tuple[RedisServer, RedisSettings]:
    folder = Path(tempfile.mkdtemp(prefix="mcpfleet-tls-"))
    _cleanups.append(lambda: shutil.rmtree(folder, ignore_errors=True))
    files, _ = make_tls(folder)
    server = RedisServer(tls=files, username="app", password="app-token").start()
    _cleanups.append(server.cleanup)
    return server, RedisSettings(ca_file=files.ca, username="app", auth_token="app-token")


def _cluster() -> LocalCluster:
    running = cluster_running()
    cluster = running.__enter__()
    _cleanups.append(lambda: running.__exit__(None, None, None))
    return cluster


async def redis(**options: Any) -> FleetState:
    """A RedisFleetState on the tests' own redis-server, emptied first."""
    store = RedisFleetState(_server("plain", _plain).url, **options)
    await store.redis.flushdb()
    return store


async def redis_tls(**options: Any) -> FleetState:
    """The same on a redis-server that speaks TLS only (verified against the test CA) and
    knows only an ACL user with a token."""
    server, settings = _server("tls", _tls)
    store = RedisFleetState(server.url, connection=settings, **options)
    await store.redis.flushdb()
    return store


async def redis_cluster(**options: Any) -> FleetState:
    """The same on a local Redis Cluster of three primaries (each key where its hash tag
    puts it), every primary emptied first."""
    cluster = _server("cluster", _cluster)
    store = RedisFleetState(cluster.url, connection=RedisSettings(cluster=True), **options)
    await store.redis.flushdb()
    return store


IMPLEMENTATIONS: dict[str, Factory] = {
    "memory": memory,
    "redis": redis,
    "redis-tls": redis_tls,
    "redis-cluster": redis_cluster,
}


@pytest.fixture(scope="module", autouse=True)
def stop_redis() -> Iterator[None]:
    yield
    _servers.clear()
    while _cleanups:
        _cleanups.pop()()


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def make_state(request: pytest.FixtureRequest) -> Factory:
    factory: Factory = IMPLEMENTATIONS[request.param]
    return factory


@pytest.fixture
async def state(make_state: Factory) -> AsyncIterator[FleetState]:
    store = await make_state()
    yield store
    await store.aclose()


def record(session_id: str = "s1", **fields: Any) -> SessionRecord:
    return SessionRecord(id=session_id, protocol_version="2025-11-25", **fields)


# -- sessions ----------------------------------------------------------------------


async def test_session_round_trip(state: FleetState) -> None:
    """A stored session comes back with every field, and each change is stored."""
    await state.create_session(
        record(
            client_capabilities={"elicitation": {}},
            client_info={"name": "c"},
            principal="alice",
            log_level="info",
        ),
        max_sessions=10,
    )
    got = await state.get_session("s1")
    assert got is not None
    assert got.client_capabilities == {"elicitation": {}}
    assert got.principal == "alice"
    assert (got.log_level, got.initialized, got.subscriptions) == ("info", False, [])
    await state.set_log_level("s1", "debug")
    await state.mark_initialized("s1")
    assert await state.subscribe_resource("s1", "x://a") is True
    assert await state.subscribe_resource("s1", "x://b") is True
    await state.unsubscribe_resource("s1", "x://b")
    again = await state.get_session("s1")
    assert again is not None
    assert (again.log_level, again.initialized, again.subscriptions) == ("debug", True, ["x://a"])
    assert again.client_info == {"name": "c"}


async def test_changes_to_an_ended_session_change_nothing(state: FleetState) -> None:
    """Changing a session that does not exist (or no longer) stores nothing and raises
    nothing: the next request of that session is refused anyway."""
    await state.set_log_level("gone", "debug")
    await state.mark_initialized("gone")
    assert await state.subscribe_resource("gone", "x://a") is True
    await state.unsubscribe_resource("gone", "x://a")
    assert await state.get_session("gone") is None


async def other_task(store: FleetState) -> FleetState:
    """The same fleet state as another task sees it: in memory, the same object (only one
    process shares it); in Redis, another client of the same server, with its own cache."""
    if isinstance(store, RedisFleetState):
        return RedisFleetState(store.url, connection=store.connector.settings)
    return store


async def listening(store: FleetState, seconds: float = 5.0) -> None:
    """Until a Redis state's pub/sub listener has subscribed (a TLS handshake and AUTH may
    take a while on a busy machine); memory delivers at once."""
    if isinstance(store, RedisFleetState):
        for _ in range(int(seconds / 0.02)):
            if store.listener.subscribed:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the pub/sub listener did not subscribe in {seconds} s")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 2.0) -> bool:
    """Whether ``check`` turned true within ``seconds`` (another task's cached copy of a
    session is evicted when the eviction message reaches it)."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_changes_made_at_once_on_two_tasks_all_survive(state: FleetState) -> None:
    """Two tasks, each holding the session, change it at the same moment (subscriptions to
    different URIs, the log level, initialized): every change survives, on both tasks."""
    await state.create_session(record(), max_sessions=10)
    peer = await other_task(state)
    try:
        assert await state.get_session("s1") is not None  # both hold (and cache) it
        assert await peer.get_session("s1") is not None
        mine = [f"x://mine/{n}" for n in range(10)]
        theirs = [f"x://theirs/{n}" for n in range(10)]
        await asyncio.gather(
            *(state.subscribe_resource("s1", uri) for uri in mine),
            *(peer.subscribe_resource("s1", uri) for uri in theirs),
            state.set_log_level("s1", "error"),
            peer.mark_initialized("s1"),
        )
        expected = sorted(mine + theirs)

        async def complete(task: FleetState) -> bool:
            seen = await task.get_session("s1")
            assert seen is not None
            got = (sorted(seen.subscriptions), seen.log_level, seen.initialized)
            return got == (expected, "error", True)

        assert await eventually(lambda: complete(state))
        assert await eventually(lambda: complete(peer))
    finally:
        if peer is not state:
            await peer.aclose()


async def test_changing_a_record_one_got_changes_nothing_stored(state: FleetState) -> None:
    """A handler that changes the record ``get_session`` gave it changes neither the
    stored session nor what the next ``get_session`` (cached or not) returns."""
    await state.create_session(record(log_level="info"), max_sessions=10)
    await state.subscribe_resource("s1", "x://a")
    got = await state.get_session("s1")
    assert got is not None
    got.log_level = "debug"
    got.initialized = True
    got.subscriptions.append("x://evil")
    got.subscriptions.remove("x://a")
    again = await state.get_session("s1")
    assert again is not None
    assert (again.log_level, again.initialized, again.subscriptions) == ("info", False, ["x://a"])
    again.subscriptions.clear()
    third = await state.get_session("s1")
    assert third is not None
    assert third.subscriptions == ["x://a"]


async def test_subscriptions_per_session_are_capped(state: FleetState) -> None:
    """A session holds at most ``max_subscriptions`` subscriptions: one more is refused and
    not stored, one it already holds is still fine, and unsubscribing makes room."""
    await state.create_session(record(), max_sessions=10)
    for n in range(3):
        assert await state.subscribe_resource("s1", f"x://{n}", max_subscriptions=3) is True
    assert await state.subscribe_resource("s1", "x://3", max_subscriptions=3) is False
    assert await state.subscribe_resource("s1", "x://0", max_subscriptions=3) is True
    got = await state.get_session("s1")
    assert got is not None
    assert sorted(got.subscriptions) == ["x://0", "x://1", "x://2"]
    await state.unsubscribe_resource("s1", "x://1")
    assert await state.subscribe_resource("s1", "x://3", max_subscriptions=3) is True
    got = await state.get_session("s1")
    assert got is not None
    assert sorted(got.subscriptions) == ["x://0", "x://2", "x://3"]


async def test_unknown_and_deleted_sessions_are_none(state: FleetState) -> None:
    """A session never created, or deleted, is None; deleting reports whether it existed."""
    assert await state.get_session("nope") is None
    await state.create_session(record(), max_sessions=10)
    assert await state.delete_session("s1") is True
    assert await state.delete_session("s1") is False
    assert await state.get_session("s1") is None


async def test_session_limit(state: FleetState) -> None:
    """Creating a session past the maximum raises SessionLimitReached."""
    await state.create_session(record("a"), max_sessions=2)
    await state.create_session(record("b"), max_sessions=2)
    with pytest.raises(SessionLimitReached):
        await state.create_session(record("c"), max_sessions=2)
    assert await state.session_count() == 2
    assert await state.get_session("c") is None  # nothing of the refused one is kept


async def test_session_limit_per_principal(state: FleetState) -> None:
    """A caller at its own maximum is refused (and nothing of that session is kept);
    another caller is not."""
    for name in ("a", "b"):
        await state.create_session(
            replace(record(name), principal="alice"), max_sessions=10, max_per_principal=2
        )
    with pytest.raises(SessionLimitReached) as refused:
        await state.create_session(
            replace(record("c"), principal="alice"), max_sessions=10, max_per_principal=2
        )
    assert refused.value.per_principal
    assert await state.get_session("c") is None
    await state.create_session(
        replace(record("d"), principal="bob"), max_sessions=10, max_per_principal=2
    )
    assert await state.session_count() == 3


async def test_idle_sessions_expire(make_state: Factory) -> None:
    """A session not used within its idle time is gone; using it keeps it alive."""
    # Uses 0.2 s apart against an idle time of 1 s: a loaded machine can stretch a step
    # several times over and the kept session still lives; six steps outlast the idle one.
    store = await make_state(session_ttl_seconds=1.0)
    try:
        await store.create_session(record("kept"), max_sessions=10)
        await store.create_session(record("idle"), max_sessions=10)
        for _ in range(6):
            await asyncio.sleep(0.2)
            assert await store.get_session("kept") is not None
        assert await store.get_session("idle") is None
    finally:
        await store.aclose()


# -- event logs --------------------------------------------------------------------


async def test_events_replay_after_an_id(state: FleetState) -> None:
    """Events after a given id come back in order; ids name their stream."""
    await state.create_session(record(), max_sessions=10)
    ids = [await state.append_event("s1", "pA", f"m{i}".encode()) for i in range(5)]
    assert len(set(ids)) == 5
    assert all(split_event_id(i) is not None and split_event_id(i)[0] == "pA" for i in ids)
    found = await state.read_events("s1", ids[1], wait=0)
    assert found is not None
    events, complete = found
    assert [e.data for e in events] == [b"m2", b"m3", b"m4"]
    assert not complete


async def test_streams_are_separate(state: FleetState) -> None:
    """Resuming one stream never replays another stream's events."""
    await state.create_session(record(), max_sessions=10)
    a0 = await state.append_event("s1", "pA", b"a0")
    await state.append_event("s1", "pB", b"b0")
    await state.append_event("s1", "pA", b"a1")
    found = await state.read_events("s1", a0, wait=0)
    assert found is not None
    assert [e.data for e in found[0]] == [b"a1"]


async def test_unknown_event_ids_are_none(state: FleetState) -> None:
    """An id never issued, malformed, or from another session is None."""
    await state.create_session(record("s1"), max_sessions=10)
    await state.create_session(record("s2"), max_sessions=10)
    issued = await state.append_event("s1", "pA", b"x")
    assert await state.read_events("s1", "garbage", wait=0) is None
    assert await state.read_events("s1", "pZ_1", wait=0) is None
    assert await state.read_events("s2", issued, wait=0) is None


async def test_reader_waits_for_new_events_and_the_end(state: FleetState) -> None:
    """A reader at the tail gets the next event when it comes, and sees the stream end."""
    await state.create_session(record(), max_sessions=10)
    first = await state.append_event("s1", "pA", None)

    async def produce() -> None:
        await asyncio.sleep(0.05)
        await state.append_event("s1", "pA", b"late")
        await state.end_stream("s1", "pA")

    producer = asyncio.create_task(produce())
    found = await state.read_events("s1", first, wait=2)
    assert found is not None
    assert [e.data for e in found[0]] == [b"late"]
    await producer
    last = found[0][-1].id
    tail = await state.read_events("s1", last, wait=0.1)
    assert tail == ([], True)


async def test_event_logs_are_capped(make_state: Factory) -> None:
    """A stream keeps its newest events only; an id that fell off is unknown."""
    store = await make_state(max_events_per_stream=3)
    try:
        await store.create_session(record(), max_sessions=10)
        ids = [await store.append_event("s1", "pA", b"%d" % i) for i in range(6)]
        assert await store.read_events("s1", ids[0], wait=0) is None
        found = await store.read_events("s1", ids[2], wait=0)
        assert found is not None
        assert [e.data for e in found[0]] == [b"3", b"4", b"5"]
    finally:
        await store.aclose()


# -- replies ------------------------------------------------------------------------


async def test_reply_reaches_the_waiter(state: FleetState) -> None:
    """A delivered reply wakes whoever waits for that request of that session."""
    await state.create_session(record(), max_sessions=10)
    await state.expect_reply("s1", "r1")
    waiter = asyncio.create_task(state.wait_reply("s1", "r1", wait=2))
    await asyncio.sleep(0.02)
    assert await state.deliver_reply("s1", "r1", b'{"result":1}') is True
    assert await waiter == b'{"result":1}'


async def test_unexpected_replies_are_refused(state: FleetState) -> None:
    """A reply nobody expects, for another session, or a second time, is refused."""
    await state.create_session(record("s1"), max_sessions=10)
    await state.create_session(record("s2"), max_sessions=10)
    assert await state.deliver_reply("s1", "never", b"{}") is False
    await state.expect_reply("s1", "r1")
    assert await state.deliver_reply("s2", "r1", b"{}") is False
    assert await state.deliver_reply("s1", "r1", b"{}") is True
    assert await state.deliver_reply("s1", "r1", b"{}") is False


async def test_wait_times_out(state: FleetState) -> None:
    """Waiting for a reply that never comes returns None after the wait."""
    await state.create_session(record(), max_sessions=10)
    await state.expect_reply("s1", "r1")
    assert await state.wait_reply("s1", "r1", wait=0.05) is None


async def test_ending_a_session_forgets_its_stream_logs(state: FleetState) -> None:
    """After DELETE no stream of the session can be resumed, complete or not."""
    await state.create_session(record(), max_sessions=10)
    finished = await state.append_event("s1", "p1", b"{}")
    await state.end_stream("s1", "p1")
    running = await state.append_event("s1", "p2", None)
    other = await state.append_event("s2", "p1", b"{}")
    assert await state.read_events("s1", finished, wait=0) is not None
    assert await state.delete_session("s1") is True
    assert await state.read_events("s1", finished, wait=0) is None
    assert await state.read_events("s1", running, wait=0) is None
    assert await state.read_events("s2", other, wait=0) is not None


async def test_ending_a_session_releases_its_waiters(state: FleetState) -> None:
    """Deleting a session wakes anyone waiting for its replies, with no reply."""
    await state.create_session(record(), max_sessions=10)
    await state.expect_reply("s1", "r1")
    waiter = asyncio.create_task(state.wait_reply("s1", "r1", wait=5))
    await asyncio.sleep(0.02)
    await state.delete_session("s1")
    assert await asyncio.wait_for(waiter, 1) is None


# -- messages and the GET stream -----------------------------------------------------


async def test_published_messages_reach_subscribers(state: FleetState) -> None:
    """Subscribers of a channel get its messages until they unsubscribe."""
    got: list[dict[str, Any]] = []
    unsubscribe = state.subscribe("chan", got.append)
    await listening(state)
    await state.publish("chan", {"n": 1})
    await state.publish("other", {"n": 2})
    for _ in range(50):
        if got:
            break
        await asyncio.sleep(0.01)
    await unsubscribe()
    await state.publish("chan", {"n": 3})
    await asyncio.sleep(0.05)
    assert got == [{"n": 1}]


async def test_a_subscriber_that_raises_stops_no_delivery(state: FleetState) -> None:
    """One subscriber raising leaves the channel's other subscribers, and other channels,
    receiving every message."""
    got_a: list[dict[str, Any]] = []
    got_b: list[dict[str, Any]] = []

    def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    state.subscribe("a", broken)
    state.subscribe("a", got_a.append)
    state.subscribe("b", got_b.append)
    await listening(state)
    for n in range(3):
        await state.publish("a", {"n": n})
        await state.publish("b", {"n": n})
    for _ in range(100):
        if len(got_a) == 3 and len(got_b) == 3:
            break
        await asyncio.sleep(0.01)
    assert [m["n"] for m in got_a] == [0, 1, 2]
    assert [m["n"] for m in got_b] == [0, 1, 2]


async def test_one_get_stream_per_session(state: FleetState) -> None:
    """The GET stream can be claimed by one owner at a time."""
    await state.create_session(record(), max_sessions=10)
    assert await state.claim_listener("s1", "a") is True
    assert await state.claim_listener("s1", "b") is False
    await state.release_listener("s1", "b")
    assert await state.claim_listener("s1", "b") is False
    await state.release_listener("s1", "a")
    assert await state.claim_listener("s1", "b") is True


# -- handles ---------------------------------------------------------------------


async def test_handles_create_update_expire(state: FleetState) -> None:
    """A handle is created once, updated only while it exists, and expires."""
    assert await state.put_handle("h1", b"v1", 0.3, create=True) is True
    assert await state.put_handle("h1", b"other", 0.3, create=True) is False
    assert await state.get_handle("h1") == b"v1"
    assert await state.put_handle("h1", b"v2", 0.3, create=False) is True
    assert await state.get_handle("h1") == b"v2"
    assert await state.put_handle("nope", b"v", 0.3, create=False) is False
    await asyncio.sleep(0.45)
    assert await state.get_handle("h1") is None
    await state.put_handle("h2", b"v", 5, create=True)
    await state.delete_handle("h2")
    assert await state.get_handle("h2") is None


async def test_a_handle_is_swapped_only_from_the_record_read(state: FleetState) -> None:
    """Of two writers that read the same record, the first swap wins and the second is
    refused; a swap of a handle that does not exist stores nothing."""
    await state.put_handle("t1", b"working", 5, create=True)
    assert await state.swap_handle("t1", b"working", b"completed", 5) is True
    assert await state.swap_handle("t1", b"working", b"cancelled", 5) is False
    assert await state.get_handle("t1") == b"completed"
    assert await state.swap_handle("absent", b"working", b"x", 5) is False
    assert await state.get_handle("absent") is None
    assert await state.swap_handle("t1", b"completed", b"done", 0.2) is True
    await asyncio.sleep(0.3)
    assert await state.get_handle("t1") is None


# -- expiry ----------------------------------------------------------------------------


async def test_a_get_stream_claim_expires_unless_renewed(make_state: Factory) -> None:
    """A claim lapses after its TTL (so a task that died frees the session's GET stream),
    and renewing it keeps it held."""
    store = await make_state(listener_ttl_seconds=0.3)
    try:
        assert await store.claim_listener("s1", "a") is True
        await asyncio.sleep(0.2)
        assert await store.claim_listener("s1", "a") is True  # renewed
        await asyncio.sleep(0.2)
        assert await store.claim_listener("s1", "b") is False
        await asyncio.sleep(0.3)
        assert await store.claim_listener("s1", "b") is True
    finally:
        await store.aclose()


async def test_an_open_get_stream_keeps_its_claim_past_the_ttl(make_state: Factory) -> None:
    """While a GET stream is open its endpoint renews the claim, so no second stream can
    open for the session however long the first stays; once it closes, one can."""
    from mcpfleet.server.notify import NotificationHub
    from mcpfleet.transport.get_streams import GetStreams

    store = await make_state(listener_ttl_seconds=0.3)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    try:
        streams = GetStreams(store, NotificationHub(), keepalive=10)
        stream = await streams.open_stream("s1", "g1", [], send, priming=False)
        await asyncio.sleep(1.0)  # more than three TTLs
        assert await store.claim_listener("s1", "g2") is False
        await stream.close()
        assert await store.claim_listener("s1", "g2") is True
        assert sent[0]["status"] == 200
    finally:
        await store.aclose()


async def test_a_stream_log_expires_with_the_session_ttl(make_state: Factory) -> None:
    """A stream's event log is forgotten a session TTL after its last event, in both
    states: a resumption after that finds nothing."""
    store = await make_state(session_ttl_seconds=0.5)
    try:
        first = await store.append_event("s1", "p1", b"{}")
        await store.end_stream("s1", "p1")
        assert await store.read_events("s1", first, wait=0) is not None
        await asyncio.sleep(0.8)
        assert await store.read_events("s1", first, wait=0) is None
    finally:
        await store.aclose()


# -- slots ------------------------------------------------------------------------


async def test_slots_are_held_up_to_the_cap_and_lapse(state: FleetState) -> None:
    """At most ``cap`` members hold a slot; a member renews its own without taking a
    second; a released slot or a lapsed hold frees a place; renewing keeps a hold."""
    assert await state.take_slot("caller", "t1", 2, 0.4) is True
    assert await state.take_slot("caller", "t1", 2, 0.4) is True  # its own: renewed
    assert await state.take_slot("caller", "t2", 2, 0.4) is True
    assert await state.take_slot("caller", "t3", 2, 0.4) is False
    assert await state.take_slot("other", "t3", 2, 0.4) is True  # another name, its own cap
    await state.release_slot("caller", "t1")
    assert await state.take_slot("caller", "t3", 2, 0.4) is True
    await asyncio.sleep(0.25)
    await state.renew_slots("caller", ["t3", "never-held"], 0.4)
    await asyncio.sleep(0.25)  # t2 lapsed; t3 was renewed
    assert await state.take_slot("caller", "t4", 2, 0.4) is True
    assert await state.take_slot("caller", "t5", 2, 0.4) is False


async def test_slots_hold_their_cap_under_concurrent_takers(state: FleetState) -> None:
    """Fifty takers at once: exactly ``cap`` of them hold a slot."""
    taken = await asyncio.gather(*(state.take_slot("crowd", f"t{n}", 7, 5) for n in range(50)))
    assert sum(taken) == 7

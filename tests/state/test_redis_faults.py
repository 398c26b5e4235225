"""Redis faults: every outage is ``StateUnavailable`` (503 with Retry-After, never 404 or
500), answered at once once known, and recovered from without a restart.

Each test runs its own redis-server (never the machine's) and breaks it for real:
SIGSTOP (a partition), kill and restart, maxmemory, REPLICAOF, a failed save, ACLs, a
slow load. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import redis
from redis import exceptions as redis_errors

from mcpfleet.errors import InternalError, StateUnavailable
from mcpfleet.state.base import SessionRecord
from mcpfleet.state.redis import RedisFleetState
from mcpfleet.state.redis_circuit import Circuit
from mcpfleet.state.redis_faults import BY_CLASS, Fault, classify
from tests import wire
from tests.conftest import STATE_KEYS, serving
from tests.redis_support import RedisServer

pytestmark = pytest.mark.anyio

FAST = 0.5  # an answer "at once": the circuit, not Redis, answered
SOCKET_TIMEOUT = 1.0  # the states under test wait this long for a stopped Redis


class FaultyRedis(RedisServer):
    """A redis-server that lets the tests break it: protected configs and DEBUG enabled,
    optionally a password and a slow load (so LOADING lasts about a second)."""

    def __init__(
        self, *, password: str | None = None, slow_load: bool = False, persistent: bool = False
    ) -> None:
        super().__init__(persistent=persistent, password=password)
        self.slow_load = slow_load
        self.paused = False

    def command(self) -> list[str]:
        extra = ["--enable-protected-configs", "yes", "--enable-debug-command", "yes"]
        if self.slow_load:
            extra += ["--key-load-delay", "100", "--loading-process-events-interval-bytes", "1024"]
        return super().command() + extra

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def reply(self, *args: str) -> bytes:
        """One raw command (after AUTH, if there is a password): the first reply line."""
        commands: list[tuple[str, ...]] = [args]
        if self.password is not None:
            commands.insert(0, ("AUTH", self.password))
        wire_bytes = b"".join(
            f"*{len(c)}\r\n".encode() + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in c)
            for c in commands
        )
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(wire_bytes)
                received = b""
                for _ in range(20):
                    received += sock.recv(4096)
                    if received.count(b"\r\n") >= len(commands):
                        break
                return received.split(b"\r\n")[len(commands) - 1]
        except OSError:
            return b""

    def ping(self) -> bool:
        return self.reply("PING") == b"+PONG"

    def start(self, timeout: float = 10.0) -> FaultyRedis:
        super().start(timeout)
        return self

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.paused and self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)
        self.paused = False

    def start_loading(self) -> None:
        """Start again without waiting for the load; returns once it answers LOADING."""
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir
        )
        for _ in range(250):
            if self.reply("PING").startswith(b"-LOADING"):
                return
            time.sleep(0.02)
        raise AssertionError("redis-server never answered LOADING")


@pytest.fixture
def server() -> Iterator[FaultyRedis]:
    redis = FaultyRedis().start()
    try:
        yield redis
    finally:
        redis.resume()
        redis.cleanup()


@pytest.fixture
async def state(server: FaultyRedis) -> AsyncIterator[RedisFleetState]:
    store = RedisFleetState(server.url, socket_timeout=SOCKET_TIMEOUT, cache_seconds=0)
    yield store
    server.resume()
    await store.aclose()


def record(session_id: str = "s1") -> SessionRecord:
    return SessionRecord(id=session_id, protocol_version="2025-11-25")


Call = Callable[[], Awaitable[Any]]


def writes(state: RedisFleetState) -> dict[str, Call]:
    """A call of each method that writes (each allocates memory, so OOM refuses it)."""
    return {
        "create_session": lambda: state.create_session(record("new"), max_sessions=100),
        "set_log_level": lambda: state.set_log_level("s1", "debug"),
        "mark_initialized": lambda: state.mark_initialized("s1"),
        "subscribe_resource": lambda: state.subscribe_resource("s1", "x://new"),
        "append_event": lambda: state.append_event("s1", "st", b"{}"),
        "end_stream": lambda: state.end_stream("s1", "st2"),
        "expect_reply": lambda: state.expect_reply("s1", "r9"),
        "take_tokens": lambda: state.take_tokens([("k", 10, 1.0, "limit")]),
        "claim_listener": lambda: state.claim_listener("s2", "me"),
        "put_handle": lambda: state.put_handle("h2", b"x", 60, create=True),
        "swap_handle": lambda: state.swap_handle("h1", b"v", b"w", 60),
        "take_slot": lambda: state.take_slot("caller", "t8", 5, 60),
        "renew_slots": lambda: state.renew_slots("caller", ["t9"], 60),
    }


def every_call(state: RedisFleetState) -> dict[str, Call]:
    """A call of every method of the state that reaches Redis."""
    return {
        **writes(state),
        "get_session": lambda: state.get_session("s1"),
        "delete_session": lambda: state.delete_session("gone"),
        "unsubscribe_resource": lambda: state.unsubscribe_resource("s1", "x://a"),
        "session_count": state.session_count,
        "read_events": lambda: state.read_events("s1", "st_0", wait=0.2),
        "deliver_reply": lambda: state.deliver_reply("s1", "r1", b"{}"),
        "wait_reply": lambda: state.wait_reply("s1", "r1", 0.2),
        "release_listener": lambda: state.release_listener("s1", "me"),
        "get_handle": lambda: state.get_handle("h1"),
        "delete_handle": lambda: state.delete_handle("h1"),
        "release_slot": lambda: state.release_slot("caller", "t9"),
        "publish": lambda: state.publish("news", {"n": 1}),
        "ping": state.ping,
    }


def test_every_call_is_tried() -> None:
    """The fault tests try every async method of ``RedisFleetState`` (the interface)."""
    public = {
        name
        for name, member in inspect.getmembers(RedisFleetState)
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    }
    assert public - {"aclose"} == set(every_call(RedisFleetState.__new__(RedisFleetState)))


async def unavailable(call: Call) -> tuple[float, StateUnavailable]:
    """How long ``call`` took to raise ``StateUnavailable`` (it must raise it)."""
    started = time.monotonic()
    with pytest.raises(StateUnavailable) as raised:
        await call()
    return time.monotonic() - started, raised.value


async def until(check: Call, seconds: float = 5.0) -> bool:
    """Whether ``check`` returned true (without raising) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if await check():
                return True
        except StateUnavailable:
            pass
        await asyncio.sleep(0.05)
    return False


async def seed(state: RedisFleetState) -> None:
    await state.create_session(record(), max_sessions=100)
    await state.put_handle("h1", b"v", 60, create=True)
    await state.take_slot("caller", "t9", 5, 60)


# -- the table ---------------------------------------------------------------------


def test_every_redis_exception_class_is_placed_in_the_table() -> None:
    """Each exception class of redis-py is mapped or deliberately internal, and every row
    names a class that exists (so a redis-py upgrade cannot slip one past)."""
    bases = (redis_errors.RedisError, redis_errors.RedisClusterException)
    classes = {
        name
        for name, kind in vars(redis_errors).items()
        if isinstance(kind, type) and issubclass(kind, bases)
    }
    assert classes - set(BY_CLASS) == set(), "unplaced redis-py exceptions"
    # A row may name a class only a newer redis-py has, where ADDED_IN says which.
    newer = newer_than_installed()
    assert set(BY_CLASS) - classes - newer == set(), "rows for classes redis-py does not have"


# Rows for classes added after redis-py 5.0 (the lowest the project allows), by the
# release that added them.
ADDED_IN = {"MaxClientsReachedError": (8, 2), "RedisClusterUnreachableError": (8, 2)}


def newer_than_installed() -> set[str]:
    installed = tuple(int(part) for part in redis.__version__.split(".")[:2])
    return {name for name, added in ADDED_IN.items() if installed < added}


def test_redis_py_8_2_failures_are_placed() -> None:
    """redis-py 8.2's server at maxclients is a 503 that does not open the circuit; a
    cluster none of whose nodes answered is unreachable, with or without the error it was
    raised from."""
    if newer_than_installed():
        pytest.skip(f"redis-py {redis.__version__} is older than 8.2")
    full = redis_errors.MaxClientsReachedError("max number of clients reached")
    assert classify(full) is Fault.UNAVAILABLE
    lost = redis_errors.RedisClusterUnreachableError("no node of the cluster answered")
    assert classify(lost) is Fault.UNREACHABLE
    refused = redis_errors.ConnectionError("Error 111 connecting")
    lost = redis_errors.RedisClusterUnreachableError("no node of the cluster answered")
    assert classify(_from(lost, refused)) is Fault.UNREACHABLE


def _from(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        (redis_errors.ConnectionError("Error 111 connecting"), Fault.UNREACHABLE),
        (redis_errors.TimeoutError("Timeout reading"), Fault.UNREACHABLE),
        (TimeoutError(), Fault.UNREACHABLE),
        (ConnectionResetError(), Fault.UNREACHABLE),
        (redis_errors.BusyLoadingError("Redis is loading"), Fault.UNAVAILABLE),
        (redis_errors.AuthenticationError("invalid password"), Fault.UNAVAILABLE),
        (redis_errors.ReadOnlyError("You can't write"), Fault.UNAVAILABLE),
        (redis_errors.OutOfMemoryError("command not allowed"), Fault.UNAVAILABLE),
        (redis_errors.NoPermissionError("no permissions"), Fault.UNAVAILABLE),
        (redis_errors.MasterDownError("Link with MASTER is down"), Fault.UNAVAILABLE),
        (redis_errors.ClusterDownError("The cluster is down"), Fault.UNAVAILABLE),
        (redis_errors.MovedError("3999 127.0.0.1:6381"), Fault.UNAVAILABLE),
        (redis_errors.AskError("3999 127.0.0.1:6381"), Fault.UNAVAILABLE),
        (redis_errors.TryAgainError("Multiple keys request"), Fault.UNAVAILABLE),
        (redis_errors.ResponseError("MISCONF Redis is configured to save"), Fault.UNAVAILABLE),
        (redis_errors.ResponseError("OOM command not allowed"), Fault.UNAVAILABLE),
        (redis_errors.ResponseError("NOREPLICAS Not enough good replicas"), Fault.UNAVAILABLE),
        (redis_errors.ResponseError("BUSY Redis is busy running a script"), Fault.UNAVAILABLE),
        (redis_errors.ResponseError("UNBLOCKED force unblock"), Fault.UNAVAILABLE),
        (
            redis_errors.ResponseError(  # Redis 6 wraps a script's errors
                "Error running script (call to f_1): @user_script:3: @user_script: 3: "
                "-READONLY You can't write against a read only replica."
            ),
            Fault.UNAVAILABLE,
        ),
        (
            redis_errors.ResponseError(  # a pipeline quotes its command's error
                'Command # 1 (SADD k r9) of pipeline caused error: ("MISCONF Redis is configured",)'
            ),
            Fault.UNAVAILABLE,
        ),
        (
            redis_errors.ResponseError(
                "The user executing the script can't run this command or subcommand script: 0d, "
                "on @user_script:1."
            ),
            Fault.UNAVAILABLE,
        ),
        (redis_errors.ResponseError("WRONGTYPE Operation against a key"), Fault.INTERNAL),
        (redis_errors.ResponseError("Error compiling script (new function)"), Fault.INTERNAL),
        (redis_errors.ResponseError("ERR wrong number of arguments"), Fault.INTERNAL),
        (redis_errors.DataError("Invalid input of type"), Fault.INTERNAL),
        (redis_errors.ClusterCrossSlotError("Keys in request"), Fault.INTERNAL),
        (redis_errors.NoScriptError("No matching script"), Fault.INTERNAL),
        (redis_errors.SlotNotCoveredError('Slot "12" is not covered'), Fault.UNAVAILABLE),
        (  # redis-py's cluster client when no node answers
            _from(
                redis_errors.RedisClusterException("Redis Cluster cannot be connected."),
                redis_errors.ConnectionError("Error 111 connecting"),
            ),
            Fault.UNREACHABLE,
        ),
        (  # ... and mid-failover, before a replica took the failed primary's slots
            redis_errors.RedisClusterException("All slots are not covered after query all"),
            Fault.UNAVAILABLE,
        ),
        (redis_errors.RedisClusterException("No targets were found"), Fault.INTERNAL),
        (  # uvloop, writing on a connection the server has just closed
            RuntimeError(
                "unable to perform operation on <TCPTransport closed=True>; the handler is closed"
            ),
            Fault.UNREACHABLE,
        ),
        (
            redis_errors.ConnectionError(
                "Error 1 connecting to cache:6379. [SSL: CERTIFICATE_VERIFY_FAILED] "
                "certificate verify failed: unable to get local issuer certificate"
            ),
            Fault.REJECTED,
        ),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), Fault.REJECTED),
        (RuntimeError("a bug of ours"), Fault.INTERNAL),
    ],
)
def test_errors_are_classified_by_class_then_by_code(error: Exception, fault: Fault) -> None:
    """The class decides first; a plain ResponseError is placed by its server error code;
    a cluster client's wrapper by what it wraps or says; a certificate that does not verify
    is a rejection, not an outage."""
    assert classify(error) is fault


# -- a partition ---------------------------------------------------------------------


async def test_partition_is_answered_at_once_and_recovered_from(
    server: FaultyRedis, state: RedisFleetState
) -> None:
    """With Redis stopped (SIGSTOP), the first call waits out its timeout; every call
    after it, of every method, gets StateUnavailable with Retry-After at once; after
    SIGCONT the same session is served again without a restart."""
    await seed(state)
    server.pause()
    first, _ = await unavailable(lambda: state.get_session("s1"))
    assert first < SOCKET_TIMEOUT + 1.0
    for _ in range(2):  # every method, twice: all answered by the circuit
        for name, call in every_call(state).items():
            took, error = await unavailable(call)
            assert took < FAST, (name, took)
            assert error.retry_after >= 1, name
    server.resume()

    async def served() -> bool:
        return await state.get_session("s1") == record()

    assert await until(served)
    assert await state.get_handle("h1") == b"v"
    assert not state.circuit.is_open


def test_readiness_of_a_served_app_is_fast_in_a_partition(server: FaultyRedis) -> None:
    """Through ``mcpfleet serve``: while Redis is stopped, session requests get 503 with
    Retry-After (never 404 or 500), the tenth within half a second, /readyz answers 200 at
    once, saying the state is unreachable (a Redis outage is no reason for the load balancer
    to replace tasks); after SIGCONT the same session works and /readyz says the state is
    ok again."""
    # Every request reads its session from Redis: the task that opened the session keeps
    # a copy it may serve from until it notices the outage (tests/state/test_redis_cache).
    env = {"REQUEST_STATE_KEYS": STATE_KEYS, "REDIS_URL": server.url, "SESSION_CACHE_SECONDS": "0"}
    with serving("tests.apps.behaviours:app", env) as app:
        session_id, _ = wire.initialize(app.url)
        echo = {"name": "echo", "arguments": {"text": "hi"}}
        server.pause()
        answers = []
        for _ in range(10):
            started = time.monotonic()
            response = wire.legacy_call(app.url, session_id, "tools/call", echo)
            answers.append(
                (
                    response.status_code,
                    response.headers.get("retry-after"),
                    time.monotonic() - started,
                )
            )
        assert {status for status, _, _ in answers} == {503}, answers
        assert all(int(after or 0) >= 1 for _, after, _ in answers), answers
        assert answers[-1][2] < FAST, answers
        opening = wire.legacy_post(
            app.url,
            None,
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": wire.LEGACY,
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            },
            version=None,
        )
        assert opening.status_code == 503, opening.text
        for _ in range(10):
            started = time.monotonic()
            ready = httpx.get(f"{app.base}/readyz", timeout=5)
            took = time.monotonic() - started
        assert ready.status_code == 200
        assert ready.json()["state"] == "unreachable"
        assert took < FAST
        server.resume()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if httpx.get(f"{app.base}/readyz", timeout=5).json()["state"] == "ok":
                break
            time.sleep(0.05)
        after = wire.legacy_call(app.url, session_id, "tools/call", echo)
        assert after.status_code == 200, after.text
        assert "hi" in after.text


async def test_blocking_reads_on_a_stopped_redis_end_within_their_bound(
    server: FaultyRedis, state: RedisFleetState
) -> None:
    """A BLPOP and an XREAD BLOCK already waiting when Redis stops end (as
    StateUnavailable) about ``socket_timeout`` after their block time, not never."""
    await state.create_session(record(), max_sessions=100)
    last = await state.append_event("s1", "st", b"{}")
    await state.expect_reply("s1", "r1")
    started = time.monotonic()
    reads = [
        asyncio.ensure_future(state.read_events("s1", last, wait=1.0)),
        asyncio.ensure_future(state.wait_reply("s1", "r1", 1.0)),
    ]
    await asyncio.sleep(0.3)  # both are blocked in Redis now
    server.pause()
    done, pending = await asyncio.wait(reads, timeout=1.0 + SOCKET_TIMEOUT + 2.0)
    for task in pending:
        task.cancel()
    assert not pending, "a blocking read outlived its bound"
    assert time.monotonic() - started < 1.0 + SOCKET_TIMEOUT + 1.5
    for task in done:
        assert isinstance(task.exception(), StateUnavailable)


# -- kill and restart; the listener --------------------------------------------------


async def test_restart_is_recovered_from_and_the_listener_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Killed and restarted (with its data, behind a password): calls fail at once while
    it is down, everything works again after, the pub/sub listener resubscribes by
    itself, and its loss is logged once, with host:port and never the password."""
    server = FaultyRedis(password="s3cret-pass", persistent=True).start()
    state = RedisFleetState(server.url, socket_timeout=SOCKET_TIMEOUT, cache_seconds=0)
    other = RedisFleetState(server.url, socket_timeout=SOCKET_TIMEOUT)
    received: list[dict[str, Any]] = []
    caplog.set_level(logging.INFO, logger="mcpfleet.state")
    try:
        state.subscribe("news", received.append)
        await seed(state)
        assert await until(lambda: _listening(state))
        server.kill()
        await unavailable(lambda: state.get_session("s1"))
        for _ in range(10):
            took, _ = await unavailable(lambda: state.get_session("s1"))
            assert took < FAST
        await asyncio.sleep(1.0)  # several reconnection attempts fail meanwhile
        server.start()
        assert await until(lambda: _same(state.get_session("s1"), record()))
        assert await until(lambda: _listening(state))

        async def delivered() -> bool:
            await other.publish("news", {"n": 1})
            await asyncio.sleep(0.05)
            return bool(received)

        assert await until(delivered)
        lost = [r.getMessage() for r in caplog.records if "connection lost" in r.getMessage()]
        assert len(lost) == 1, lost
        assert f"127.0.0.1:{server.port}" in lost[0]
        assert "s3cret-pass" not in caplog.text
    finally:
        await state.aclose()
        await other.aclose()
        server.cleanup()


async def _listening(state: RedisFleetState) -> bool:
    return state.listener.subscribed


async def _same(got: Awaitable[Any], wanted: Any) -> bool:
    return bool(await got == wanted)


async def test_a_raising_subscriber_leaves_every_other_channel_delivering(
    state: RedisFleetState, caplog: pytest.LogCaptureFixture
) -> None:
    """A subscriber that raises is logged once, with its channel; the other subscribers of
    its channel and of every other channel keep receiving every message."""
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def broken(message: dict[str, Any]) -> None:
        raise RuntimeError("a subscriber bug")

    state.subscribe("a", broken)
    state.subscribe("a", lambda message: seen["a"].append(message["n"]))
    state.subscribe("b", lambda message: seen["b"].append(message["n"]))
    assert await until(lambda: _listening(state))
    for n in range(5):
        await state.publish("a", {"n": n})
        await state.publish("b", {"n": n})

    async def all_seen() -> bool:
        return seen == {"a": list(range(5)), "b": list(range(5))}

    assert await until(all_seen), seen
    failures = [r for r in caplog.records if "subscriber of channel a failed" in r.getMessage()]
    assert len([r for r in failures if r.exc_info]) == 1
    assert state.listener.restarts == 0


async def test_listener_notices_a_silent_connection_and_logs_the_outage_once(
    server: FaultyRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """A pub/sub connection that stops answering (SIGSTOP, like a half-open connection) is
    dropped after its PING goes unanswered, retried with backoff, logged once, and
    delivers again after SIGCONT."""
    state = RedisFleetState(server.url, socket_timeout=0.5, listener_idle_seconds=0.3)
    other = RedisFleetState(server.url)
    received: list[dict[str, Any]] = []
    caplog.set_level(logging.INFO, logger="mcpfleet.state")
    try:
        state.subscribe("news", received.append)
        assert await until(lambda: _listening(state))
        server.pause()
        await asyncio.sleep(3.0)
        assert not state.listener.subscribed
        server.resume()

        async def delivered() -> bool:
            await other.publish("news", {"n": 1})
            await asyncio.sleep(0.05)
            return bool(received)

        assert await until(delivered, seconds=8.0)
        lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
        assert len(lost) == 1, [r.getMessage() for r in lost]
    finally:
        await state.aclose()
        await other.aclose()


# -- Redis answers, but will not serve -------------------------------------------------


async def refused_then_served(
    state: RedisFleetState, break_it: Call, mend_it: Call, calls: Mapping[str, Call]
) -> None:
    """Every call of ``calls`` is StateUnavailable (at once: Redis answers) while broken,
    the circuit stays closed (ping answers), and every call succeeds once mended."""
    await seed(state)
    await break_it()
    for name, call in calls.items():
        took, error = await unavailable(call)
        assert took < FAST, name
        assert error.retry_after >= 1
    assert not state.circuit.is_open
    await mend_it()
    for name, call in calls.items():
        try:
            await call()
        except StateUnavailable as error:  # pragma: no cover - the failure message
            raise AssertionError(f"{name} still fails: {error}") from None


async def test_out_of_memory_is_unavailable_and_logged_once(
    state: RedisFleetState, caplog: pytest.LogCaptureFixture
) -> None:
    """With maxmemory reached under noeviction, every write (commands and scripts) gets
    StateUnavailable, never an internal error; the refusal is logged once."""

    async def fill() -> None:
        await state.redis.config_set("maxmemory-policy", "noeviction")
        await state.redis.config_set("maxmemory", 1)

    async def free() -> None:
        await state.redis.config_set("maxmemory", 0)

    await refused_then_served(state, fill, free, writes(state))
    assert caplog.text.count("cannot serve: OutOfMemoryError OOM") == 1


async def test_read_only_replica_is_unavailable(state: RedisFleetState) -> None:
    """On a replica (REPLICAOF a dead port) every call that writes gets StateUnavailable,
    a BLPOP cut short by the role change too; back to primary, all work again."""
    await state.expect_reply("s1", "r1")
    waiting = asyncio.ensure_future(state.wait_reply("s1", "r1", 3.0))
    await asyncio.sleep(0.2)

    async def demote() -> None:
        await state.redis.execute_command("REPLICAOF", "127.0.0.1", "1")

    async def promote() -> None:
        await state.redis.execute_command("REPLICAOF", "NO", "ONE")

    calls = {
        **writes(state),
        "delete_session": lambda: state.delete_session("x"),
        "deliver_reply": lambda: state.deliver_reply("s1", "r1", b"{}"),
    }
    await refused_then_served(state, demote, promote, calls)
    with pytest.raises(StateUnavailable):  # UNBLOCKED
        await asyncio.wait_for(waiting, 1.0)


async def test_failed_save_misconf_is_unavailable(
    server: FaultyRedis, state: RedisFleetState
) -> None:
    """When an RDB save failed (MISCONF: the folder was removed), writes get
    StateUnavailable; after a good save they work again."""
    gone = server.dir / "gone"

    async def fail_a_save() -> None:
        gone.mkdir()
        await state.redis.config_set("save", "3600 1")
        await state.redis.config_set("dir", str(gone))
        gone.rmdir()
        await state.redis.bgsave()
        for _ in range(100):
            info = await state.redis.info("persistence")
            if not info["rdb_bgsave_in_progress"] and info["rdb_last_bgsave_status"] == "err":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the save did not fail")

    async def save_well() -> None:
        await state.redis.config_set("dir", str(server.dir))
        await state.redis.config_set("save", "")
        await state.redis.config_set("stop-writes-on-bgsave-error", "no")

    await refused_then_served(state, fail_a_save, save_well, writes(state))


async def test_missing_acl_permissions_are_unavailable(server: FaultyRedis) -> None:
    """A user the ACL forbids SET and HINCRBY gets StateUnavailable for commands (NOPERM)
    and for scripts (the script's permission error), and the circuit stays closed."""
    admin = RedisFleetState(server.url)
    await admin.redis.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all")
    user_url = f"redis://app:pw@127.0.0.1:{server.port}/0"
    state = RedisFleetState(user_url, socket_timeout=SOCKET_TIMEOUT)

    async def forbid() -> None:
        await admin.redis.execute_command("ACL", "SETUSER", "app", "-set", "-hincrby")

    async def allow() -> None:
        await admin.redis.execute_command("ACL", "SETUSER", "app", "+set", "+hincrby")

    calls = {
        "create_session": lambda: state.create_session(record("new"), max_sessions=100),
        "put_handle": lambda: state.put_handle("h2", b"x", 60, create=True),
        "append_event": lambda: state.append_event("s1", "st", b"{}"),
    }
    try:
        await refused_then_served(state, forbid, allow, calls)
    finally:
        await state.aclose()
        await admin.aclose()


async def test_loading_after_a_restart_is_unavailable() -> None:
    """While a restarted Redis loads its data (LOADING), calls get StateUnavailable and
    readiness fails; once loaded, the data is served."""
    server = FaultyRedis(slow_load=True).start()
    try:
        admin = RedisFleetState(server.url)
        await admin.create_session(record(), max_sessions=100)
        await admin.redis.execute_command("DEBUG", "POPULATE", "10000")
        await admin.redis.save()
        await admin.aclose()
        server.kill()
        server.start_loading()
        state = RedisFleetState(server.url, socket_timeout=SOCKET_TIMEOUT, cache_seconds=0)
        try:
            took, _ = await unavailable(lambda: state.get_session("s1"))
            assert took < FAST
            await unavailable(state.ping)
            assert await until(lambda: _same(state.get_session("s1"), record()), seconds=15)
        finally:
            await state.aclose()
    finally:
        server.cleanup()


def test_served_app_answers_503_not_500_when_redis_is_full(server: FaultyRedis) -> None:
    """Through ``mcpfleet serve``: with Redis out of memory, opening a session gets 503
    with Retry-After and a JSON-RPC body (no traceback); freed, it opens."""
    env = {"REQUEST_STATE_KEYS": STATE_KEYS, "REDIS_URL": server.url}
    with serving("tests.apps.behaviours:app", env) as app:
        assert server.reply("CONFIG", "SET", "maxmemory-policy", "noeviction") == b"+OK"
        assert server.reply("CONFIG", "SET", "maxmemory", "1") == b"+OK"
        opening = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": wire.LEGACY,
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        refused = wire.legacy_post(app.url, None, opening, version=None)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert "Traceback" not in refused.text
        assert "OOM" not in refused.text
        assert server.reply("CONFIG", "SET", "maxmemory", "0") == b"+OK"
        opened = wire.legacy_post(app.url, None, opening, version=None)
        assert opened.status_code == 200, opened.text


# -- our own mistakes --------------------------------------------------------------------


async def test_a_wrong_type_is_an_internal_error_without_detail(
    state: RedisFleetState, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis error that is our bug (WRONGTYPE) is InternalError with no Redis text, logged
    with its class, and leaves the circuit closed."""
    await state.redis.lpush("mcpf:h:listy", "x")
    with pytest.raises(InternalError) as raised:
        await state.get_handle("listy")
    assert raised.value.message == "Internal error"
    assert "ResponseError WRONGTYPE" in caplog.text
    assert not state.circuit.is_open
    await state.ping()


# -- the circuit on its own ----------------------------------------------------------------


async def test_circuit_probes_with_backoff_and_closes_when_redis_answers() -> None:
    """Tripped once (a second trip changes nothing), the circuit refuses at once with a
    Retry-After of at least a second, probes with doubling waits, and closes on an answer."""
    answers = [False, False, False, True]
    probed_at: list[float] = []

    async def probe() -> bool:
        probed_at.append(time.monotonic())
        return answers[len(probed_at) - 1]

    circuit = Circuit(probe, where="test", first_delay=0.05, max_delay=0.15)
    try:
        circuit.trip("a test")
        circuit.trip("again")
        with pytest.raises(StateUnavailable) as raised:
            circuit.check()
        assert raised.value.retry_after >= 1
        for _ in range(100):
            if not circuit.is_open:
                break
            await asyncio.sleep(0.02)
        assert not circuit.is_open
        circuit.check()
        gaps = [later - earlier for earlier, later in itertools.pairwise(probed_at)]
        assert len(probed_at) == 4
        assert gaps[0] >= 0.09  # 0.1, then 0.15 (capped), then 0.15
        assert all(gap >= 0.14 for gap in gaps[1:])
    finally:
        await circuit.aclose()

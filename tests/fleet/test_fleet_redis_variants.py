"""The fleet on Redis as ElastiCache serves it: ``rediss://`` with a test CA (verification
on) and an AUTH token, and Redis Cluster (three primaries, a replica each), including a
primary's failover mid-run. The representative fleet flows of ``test_fleet`` run on each;
a wrong CA is refused with a clear error; during a failover requests get 503 with
Retry-After, never 404 or 500, and the sessions opened before it work after it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests import wire
from tests.fleet import test_fleet as flows
from tests.fleet.clients import LegacySession, text_of
from tests.fleet.processes import (
    Fleet,
    RedisServer,
    RedisTls,
    fleet_running,
    redis_running,
    tail,
)
from tests.redis_support import ClusterNode, LocalCluster, cluster_running, make_tls

TOKEN = "fleet-auth-token"

# What each variant runs: the flows that cross tasks through the state (a 2025 session on
# every task, a reply POST to another task, a GET stream fed from other tasks, a resumed
# POST stream, notifications to a listen stream, 2026-07-28 calls and handles).
FLOWS: dict[str, Callable[[Fleet], None]] = {
    "session-round-robin": flows.test_round_robin_spreads_one_session_over_every_task,
    "sdk-session-and-reply": flows.test_python_sdk_legacy_session_across_the_fleet,
    "get-stream": flows.test_get_stream_receives_changes_made_on_other_tasks,
    "resumed-post-stream": flows.test_dropped_post_stream_resumes_on_another_task,
    "listen-notifications": flows.test_listen_stream_receives_tool_changes_from_another_task,
    "mrtr-2026": flows.test_mrtr_retry_completes_on_another_task,
    "handle-2026": flows.test_handle_minted_on_one_task_reads_on_another,
}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[RedisTls, str]:
    """The server's certificate from a test CA, and another CA that issued nothing."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_redis(
    tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[RedisTls, str]
) -> Iterator[RedisServer]:
    """A redis-server speaking TLS only and requiring the AUTH token."""
    with redis_running(
        tmp_path_factory.mktemp("redis-tls"), tls=tls_files[0], password=TOKEN
    ) as server:
        yield server


def tls_env(ca_file: str) -> dict[str, str]:
    return {"REDIS_CA_FILE": ca_file, "REDIS_AUTH_TOKEN": TOKEN}


@pytest.fixture(scope="module")
def tls_fleet(
    tmp_path_factory: pytest.TempPathFactory,
    tls_redis: RedisServer,
    tls_files: tuple[RedisTls, str],
) -> Iterator[Fleet]:
    """Three tasks on the TLS redis-server, verifying it against the test CA."""
    with fleet_running(
        tmp_path_factory.mktemp("fleet-tls"),
        tasks=3,
        redis_url=tls_redis.url,
        env=tls_env(tls_files[0].ca),
    ) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def cluster_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three tasks on a local Redis Cluster."""
    with (
        cluster_running(tmp_path_factory.mktemp("cluster")) as cluster,
        fleet_running(
            tmp_path_factory.mktemp("fleet-cluster"),
            tasks=3,
            redis_url=cluster.url,
            env={"REDIS_CLUSTER": "1"},
            ) as fleet,
    ):
        yield fleet


@pytest.fixture(params=["tls-auth", "cluster"])
def variant_fleet(request: pytest.FixtureRequest) -> Fleet:
    fleet: Fleet = request.getfixturevalue(
        "tls_fleet" if request.param == "tls-auth" else "cluster_fleet"
    )
    return fleet


@pytest.mark.parametrize("flow", list(FLOWS))
def test_fleet_flow_on_the_redis_variant(variant_fleet: Fleet, flow: str) -> None:
    """Each representative fleet flow passes with the state on rediss:// (test CA, AUTH
    token) and on Redis Cluster, as it does on plain Redis."""
    FLOWS[flow](variant_fleet)


def test_a_wrong_ca_is_refused_with_a_clear_error(
    tmp_path: Path, tls_redis: RedisServer, tls_files: tuple[RedisTls, str]
) -> None:
    """A task given a REDIS_CA_FILE that did not issue the server's certificate stays up
    (liveness passes, stateless calls work), answers session requests with 503 and
    Retry-After, and its log says the certificate does not verify and names REDIS_CA_FILE."""
    with fleet_running(
        tmp_path / "fleet",
        tasks=1,
        redis_url=tls_redis.url,
        env=tls_env(tls_files[1]),
    ) as fleet:
        task = fleet.tasks[0]
        opening = wire.legacy_post(
            fleet.url,
            None,
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": wire.LEGACY,
                    "capabilities": {},
                    "clientInfo": {"name": "fleet-tests", "version": "1"},
                },
            },
            version=None,
        )
        assert opening.status_code == 503, opening.text
        assert int(opening.headers["retry-after"]) >= 1
        assert httpx.get(f"{task.base}/healthz", timeout=5).status_code == 200
        stateless = wire.call(fleet.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
        assert text_of(stateless) == "x"
        log = tail(task.log, 200)
        assert "TLS certificate does not verify" in log, log
        assert "REDIS_CA_FILE" in log


# -- a primary's failover ----------------------------------------------------------------


def listener_nodes(cluster: LocalCluster) -> set[int]:
    """The ports of the nodes on which some task's pub/sub listener is subscribed."""
    ports = set()
    for node in cluster.alive():
        with node.client() as client:
            if any(entry.get("psub") == 1 for entry in client.client_list()):
                ports.add(node.port)
    return ports


def test_a_primary_failover_mid_run(tmp_path: Path) -> None:
    """Killing a primary that holds sessions (and the tasks' pub/sub) while clients call:
    requests during the failover get 503 with Retry-After from the tasks, never 404 or 500;
    once the replica took over, every session opened before works on every task, and
    notifications cross tasks again. Every call reads its session from Redis
    (SESSION_CACHE_SECONDS=0), so calls during the failover meet it: with the cache, a task
    that listens on another node serves sessions it read recently without Redis (200)."""
    with (
        cluster_running(tmp_path / "cluster") as cluster,
        fleet_running(
            tmp_path / "fleet",
            tasks=2,
            redis_url=cluster.url,
            env={"REDIS_CLUSTER": "1", "SESSION_CACHE_SECONDS": "0"},
            ) as fleet,
    ):
        # The tasks listen from start; the victim is a node they listen on, if a primary.
        deadline = time.monotonic() + 10
        while not (listening := listener_nodes(cluster)) and time.monotonic() < deadline:
            time.sleep(0.1)
        primaries = cluster.primaries()
        victim = next((n for n in primaries if n.port in listening), primaries[0])
        sessions: list[LegacySession] = []
        try:
            for _ in range(40):  # sessions until four have their record on the victim
                session = LegacySession(fleet.url).open()
                sessions.append(session)
                on_victim = [
                    s for s in sessions if cluster.primary_of(f"mcpf:{{{s.id}}}:s") is victim
                ]
                if len(on_victim) >= 4 and len(sessions) >= 6:
                    break
            assert on_victim, "no session landed on the victim"
            run_failover(cluster, fleet, victim, sessions)
        finally:
            for session in sessions:
                session.close()
        assert set(flows.readiness(fleet, 200, 10.0).values()) == {200}
        flows.check_notifications_reach_every_task(fleet, timeout=15.0)


def run_failover(
    cluster: LocalCluster, fleet: Fleet, victim: ClusterNode, sessions: list[LegacySession]
) -> None:
    outcomes: list[list[flows.Outcome]] = [[] for _ in sessions]
    stop = threading.Event()

    def drive(index: int) -> None:
        for call in range(1000):  # about 50 s at most; stopped much sooner
            if stop.is_set():
                return
            outcomes[index].append(flows.echo_outcome(sessions[index], call, f"f{index}-{call}"))
            time.sleep(0.05)

    threads, errors = flows.run_clients(len(sessions), drive)
    try:
        time.sleep(0.5)
        for node in cluster.primaries():
            cluster.wait_replicated(node)
        down_at = time.monotonic()
        victim.kill()
        cluster.wait_promoted(timeout=30)
        up_at = time.monotonic()
        deadline = up_at + 20
        while time.monotonic() < deadline and not all(
            any(o.ok and o.started > up_at for o in history) for history in outcomes
        ):
            time.sleep(0.05)
    finally:
        stop.set()
        flows.join_all(threads, 30)
    assert not errors, errors
    everything = [o for history in outcomes for o in history]
    print(
        f"outcomes: {Counter(o.status for o in everything)}; killed {down_at:.2f}, "
        f"promoted {up_at:.2f}"
    )
    assert not [o for o in everything if o.status == 404], "a session was reported gone"
    assert not [o for o in everything if o.status != 503 and not o.ok], everything
    unavailable = [o for o in everything if o.status == 503]
    assert [o for o in unavailable if o.started >= down_at], "no 503 during the failover"
    for o in unavailable:
        assert o.retry_after is not None, o
        assert int(o.retry_after) >= 1, o
        assert o.task is not None, "503 from HAProxy: no task passed its health check"
    for history in outcomes:  # every session recovered by itself
        assert any(o.ok and o.started > up_at for o in history), history[-5:]
    for index, session in enumerate(sessions):  # ... and is known to every task
        for task in fleet.tasks:
            echo = {"name": "echo", "arguments": {"text": f"after-{index}"}}
            deadline = time.monotonic() + 5
            response = session.request("tools/call", echo, url=task.url)
            while response.status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.1)
                response = session.request("tools/call", echo, url=task.url)
            assert text_of(response) == f"after-{index}", (task.name, response.text)

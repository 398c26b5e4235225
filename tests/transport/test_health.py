"""Health during a fleet-state outage: the load balancer's check stays green, the metric turns.

A task on a redis-server of the test's own; the redis-server is stopped and started
again while the task runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests import wire
from tests.conftest import STATE_KEYS, serving
from tests.redis_support import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


def metric(base: str, name: str) -> float | None:
    """One unlabelled sample of the task's Prometheus text, or None if absent."""
    for line in httpx.get(f"{base}/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def poll(check: object, seconds: float = 10.0) -> bool:
    """Call ``check`` until it is true or ``seconds`` pass; whether it became true."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


def test_a_redis_outage_keeps_readiness_and_liveness_green(redis_server: RedisServer) -> None:
    """With Redis stopped: /readyz and /healthz answer 200 (readiness saying the state is
    unreachable), a 2025-era session request gets 503 with Retry-After, a 2026-07-28 call
    still works, and StateUnreachable is 1 in both the Prometheus text and the EMF lines;
    with Redis back, the state is ok again and the metric 0."""
    env = {
        "REQUEST_STATE_KEYS": STATE_KEYS,
        "REDIS_URL": redis_server.url,
        "METRICS_PROMETHEUS": "1",
        "METRICS_INTERVAL_SECONDS": "0.5",
    }
    with serving("tests.apps.behaviours:app", env) as server:
        ready = httpx.get(f"{server.base}/readyz", timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "state": "ok"}
        assert metric(server.base, "mcpfleet_state_unreachable") == 0
        session_id, _ = wire.initialize(server.url)
        echo = {"name": "echo", "arguments": {"text": "hi"}}

        redis_server.stop()
        assert poll(
            lambda: httpx.get(f"{server.base}/readyz", timeout=5).json()["state"] == "unreachable"
        )
        for path in ("/readyz", "/healthz"):
            assert httpx.get(f"{server.base}{path}", timeout=5).status_code == 200, path
        during = wire.legacy_call(server.url, session_id, "tools/call", echo)
        assert during.status_code == 503, during.text
        assert int(during.headers["retry-after"]) >= 1
        stateless = wire.call(server.url, "tools/call", echo)
        assert stateless.status_code == 200
        assert metric(server.base, "mcpfleet_state_unreachable") == 1
        time.sleep(1.2)  # at least one EMF interval during the outage

        redis_server.start()
        assert poll(lambda: httpx.get(f"{server.base}/readyz", timeout=5).json()["state"] == "ok")
        assert poll(lambda: metric(server.base, "mcpfleet_state_unreachable") == 0)
        output = server.stop()
    lines = [orjson.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    flags = [line["StateUnreachable"] for line in lines if "StateUnreachable" in line]
    assert 1 in flags, flags
    declared = {
        m["Name"]: m["Unit"]
        for line in lines
        for d in line["_aws"]["CloudWatchMetrics"]
        for m in d["Metrics"]
    }
    assert declared["StateUnreachable"] == "Count"

"""Sync tools run on mcpfleet's own thread pool: sized for tools that wait, its queue shown
in the metrics and the call log, and a per-tool limit on calls at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import ServerProcess, serving
from tests.wire import call


def calls_at_once(url: str, name: str, arguments: dict[str, object], count: int) -> list[dict]:
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(call, url, "tools/call", {"name": name, "arguments": arguments})
                   for _ in range(count)]
        return [future.result().json() for future in futures]


def test_64_blocking_calls_all_run_at_once() -> None:
    """64 sync calls started together each get a thread: they meet at a 64-party barrier,
    which would break (a tool error) if any had to wait for another to finish."""
    with serving("tests.apps.blocking:app") as server:
        answers = calls_at_once(server.url, "rendezvous", {}, 64)
    texts = [answer["result"]["content"][0]["text"] for answer in answers]
    assert texts == ["met"] * 64


def test_a_saturated_pool_shows_in_the_metrics_and_the_call_log() -> None:
    """With TOOL_THREADS=2, six calls at once leave four waiting for a thread: the
    Prometheus counters say so, and the tool_call lines carry the wait."""
    env = {"TOOL_THREADS": "2", "METRICS_PROMETHEUS": "1", "LOG_CALLS": "1"}
    server = ServerProcess("tests.apps.blocking:app", env).start()
    try:
        answers = calls_at_once(server.url, "nap", {"seconds": 0.3}, 6)
        assert all(answer["result"]["content"][0]["text"] == "rested" for answer in answers)
        text = httpx.get(server.base + "/metrics", timeout=10).text
    finally:
        output = server.stop()
    figures = dict(line.split() for line in text.splitlines() if line and line[0] != "#"
                   and "{" not in line)
    assert figures["mcpfleet_tool_threads"] == "2"
    assert int(figures["mcpfleet_tool_thread_waits_total"]) == 4
    assert float(figures["mcpfleet_tool_thread_wait_seconds_total"]) > 0.5
    assert figures["mcpfleet_tool_threads_waiting"] == "0"
    waits = [line for line in output.splitlines() if '"threadWaitMs"' in line]
    assert len(waits) == 6
    assert sum('"threadWaitMs":0.0' not in line for line in waits) == 4


def test_max_concurrency_bounds_one_tools_calls() -> None:
    """A tool declared with max_concurrency=2 never runs more than two calls at once,
    however many arrive; all of them are answered."""
    with serving("tests.apps.blocking:app") as server:
        answers = calls_at_once(server.url, "narrow", {"seconds": 0.2}, 6)
    peaks = [answer["result"]["structuredContent"]["result"] for answer in answers]
    assert max(peaks) == 2

"""Metrics: EMF lines with the structure CloudWatch reads, and Prometheus text."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson

from tests.conftest import serving
from tests.wire import call, initialize


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_emf_lines_follow_the_specification() -> None:
    """Every EMF line declares its metrics and dimensions, and carries each as a member."""
    env = {"METRICS_INTERVAL_SECONDS": "0.3", "METRICS_NAMESPACE": "TestSpace",
           "METRICS_PROMETHEUS": "1"}
    with serving("tests.apps.behaviours:app", env) as server:
        initialize(server.url)
        for _ in range(3):
            call(server.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
        call(server.url, "tools/call", {"name": "crash", "arguments": {}})
        time.sleep(0.8)
        scrape = httpx.get(f"{server.base}/metrics")
        output = server.stop()
    lines = emf_lines(output)
    assert lines, "no EMF line was printed"
    for line in lines:
        meta = line["_aws"]
        assert isinstance(meta["Timestamp"], int)
        for directive in meta["CloudWatchMetrics"]:
            assert directive["Namespace"] == "TestSpace"
            for dimension_set in directive["Dimensions"]:
                assert all(isinstance(line[name], str) for name in dimension_set)
            for metric in directive["Metrics"]:
                assert metric["Name"] in line
                assert metric["Unit"] in ("Count", "Milliseconds")
    tools = {line["Tool"]: line for line in lines if "Tool" in line}
    assert sum(line["ToolCalls"] for line in lines if line.get("Tool") == "echo") == 3
    assert tools["crash"]["ToolErrors"] == 1
    assert all(isinstance(v, float) for v in tools["echo"]["ToolCallDuration"])
    service = [line for line in lines if set(line) >= {"ActiveSessions", "OpenStreams"}]
    assert service[0]["Service"] == "behaviours"
    assert scrape.status_code == 200
    assert 'mcpfleet_tool_calls_total{tool="echo"} 3' in scrape.text
    assert 'mcpfleet_tool_errors_total{tool="crash"} 1' in scrape.text
    assert "mcpfleet_active_sessions 1" in scrape.text


def test_prometheus_is_off_by_default() -> None:
    """Without METRICS_PROMETHEUS, /metrics is not served."""
    with serving("tests.apps.behaviours:app") as server:
        assert httpx.get(f"{server.base}/metrics").status_code == 404

"""Log lines are JSON objects with the documented fields, uvicorn's included."""

from __future__ import annotations

import httpx
import orjson

from tests.conftest import serving
from tests.wire import initialize, legacy_headers


def test_log_lines_are_json_events() -> None:
    """Every line the server prints is a JSON object; session events carry their fields."""
    with serving("tests.apps.behaviours:app") as server:
        session_id, _ = initialize(server.url)
        httpx.delete(server.url, headers=legacy_headers(session_id))
        output = server.stop()
    lines = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    assert lines, "the server printed nothing"
    for line in lines:
        assert {"time", "level", "logger", "event", "message"} <= set(line)
    events = {line["event"]: line for line in lines}
    assert events["session_opened"]["sessionId"] == session_id
    assert events["session_opened"]["protocolVersion"] == "2025-11-25"
    assert events["session_closed"]["sessionId"] == session_id
    assert any(line["logger"].startswith("uvicorn") for line in lines)


def test_tool_calls_are_logged_when_asked() -> None:
    """With LOG_CALLS, each tool call is one tool_call line with its fields, not its arguments."""
    with serving("tests.apps.behaviours:app", {"LOG_CALLS": "1"}) as server:
        session_id, _ = initialize(server.url)
        legacy = {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": "secret-argument"},
                             "_meta": {"traceparent":
                                       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}}
        httpx.post(server.url, content=orjson.dumps(legacy),
                   headers=legacy_headers(session_id)).raise_for_status()
        output = server.stop()
    calls = [orjson.loads(line) for line in output.splitlines()
             if '"event":"tool_call"' in line]
    assert len(calls) == 1
    line = calls[0]
    assert line["tool"] == "echo"
    assert line["success"] is True
    assert line["sessionId"] == session_id
    assert line["requestId"] == 9
    assert line["protocolVersion"] == "2025-11-25"
    assert line["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert isinstance(line["durationMs"], float)
    assert "secret-argument" not in output
    requests = [orjson.loads(x) for x in output.splitlines() if '"event":"request"' in x]
    assert {"POST"} == {r["method"] for r in requests}
    assert 200 in {r["status"] for r in requests}
    assert any(r.get("sessionId") == session_id for r in requests)


def test_tool_calls_are_not_logged_by_default() -> None:
    """Without LOG_CALLS, tool calls print nothing."""
    with serving("tests.apps.behaviours:app") as server:
        session_id, _ = initialize(server.url)
        legacy = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "echo", "arguments": {"text": "x"}}}
        httpx.post(server.url, content=orjson.dumps(legacy), headers=legacy_headers(session_id))
        output = server.stop()
    assert '"event":"tool_call"' not in output

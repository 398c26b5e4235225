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

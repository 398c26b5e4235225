"""The GET stream of a 2025-era session, held open by its request at the top of the ASGI call:
keep-alive comments, its place in the metrics, resumption, and what closing it releases."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet.protocol.sse import Event, EventParser
from tests.conftest import STATE_KEYS, ServerProcess, serving
from tests.wire import initialize, legacy_call, legacy_headers


class RawGetStream(threading.Thread):
    """A GET stream read in a thread: its events, its comment lines; closed by ``close``."""

    def __init__(self, url: str, session_id: str, last_event_id: str | None = None):
        super().__init__(daemon=True)
        self.url = url
        extra = {} if last_event_id is None else {"last_event_id": last_event_id}
        self.headers = legacy_headers(session_id, accept="text/event-stream", **extra)
        self.events: list[Event] = []
        self.comments = 0
        self.status = 0
        self.open = threading.Event()
        self._closing = threading.Event()

    def run(self) -> None:
        parser = EventParser()
        try:
            with httpx.Client(timeout=20) as client, client.stream(
                "GET", self.url, headers=self.headers
            ) as response:
                self.status = response.status_code
                self.open.set()
                for chunk in response.iter_raw():
                    self.comments += chunk.count(b": keep-alive")
                    self.events += parser.feed(chunk)
                    if self._closing.is_set():
                        return
        except httpx.HTTPError:
            pass
        finally:
            self.open.set()

    def close(self) -> None:
        """Drop the connection (at the next chunk: keep-alive comments keep them coming)."""
        self._closing.set()
        self.join(5)
        assert not self.is_alive()

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(event.data) for event in self.events if event.data]


def wait_until(check: Callable[[], bool], what: str, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def gauges(server: ServerProcess) -> dict[str, float]:
    text = httpx.get(f"{server.base}/metrics").text
    values = (line.split() for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in values if "{" not in name}


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    env = {"KEEPALIVE_SECONDS": "0.1", "METRICS_PROMETHEUS": "1"}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["REQUEST_STATE_KEYS"] = STATE_KEYS
    with serving("tests.apps.behaviours:app", env) as running:
        yield running


def test_get_stream_is_held_resumed_and_released(server: ServerProcess) -> None:
    """A GET stream primes, carries keep-alive comments and counts as open and in flight
    while it lasts; closing it releases the session's stream, which resumes from its
    priming event and then carries notifications; DELETE ends the resumed one."""
    session_id, _ = initialize(server.url)
    first = RawGetStream(server.url, session_id)
    first.start()
    assert first.open.wait(5)
    assert first.status == 200
    wait_until(lambda: first.comments >= 2 and bool(first.events), "keep-alive comments")
    priming = first.events[0]
    assert priming.id
    assert not priming.data
    assert gauges(server)["mcpfleet_open_streams"] == 1
    assert gauges(server)["mcpfleet_in_flight_requests"] == 1
    busy = httpx.get(server.url, headers=first.headers)
    assert busy.status_code == 409

    first.close()
    wait_until(lambda: gauges(server)["mcpfleet_open_streams"] == 0, "the stream to close")
    assert gauges(server)["mcpfleet_in_flight_requests"] == 0

    resumed = RawGetStream(server.url, session_id, last_event_id=priming.id)
    resumed.start()
    assert resumed.open.wait(5)
    assert resumed.status == 200
    wait_until(lambda: gauges(server)["mcpfleet_open_streams"] == 1, "the resumed stream")
    name = f"g{time.monotonic_ns()}"
    legacy_call(server.url, session_id, "tools/call", {"name": "add_tool", "arguments": {
        "name": name}})
    wait_until(lambda: any(m.get("method") == "notifications/tools/list_changed"
                           for m in resumed.messages()), "the list change")
    stream_id = priming.id.split("_")[0]
    assert all(e.id and e.id.startswith(stream_id + "_") for e in resumed.events if e.data)
    httpx.delete(server.url, headers=legacy_headers(session_id))
    resumed.join(5)
    assert not resumed.is_alive(), "DELETE must end the session's GET stream"
    wait_until(lambda: gauges(server)["mcpfleet_open_streams"] == 0, "the ended stream")
    assert gauges(server)["mcpfleet_in_flight_requests"] == 0

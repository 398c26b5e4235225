"""A call whose task is killed (SIGKILL) while its client is away ends, for that client,
with an error result once the call's lease lapses: resumed on another task, its stream
does not go on with keep-alives forever."""

from __future__ import annotations

import time

import orjson

from tests.fleet.clients import LegacySession, SseReader
from tests.fleet.conftest import MakeFleet, MakeRedis

LEASE_SECONDS = 2.0


def test_a_killed_calls_resumed_stream_ends_with_an_error(make_redis: MakeRedis,
                                                          make_fleet: MakeFleet) -> None:
    """The task running a long call is killed after its client dropped the stream; the
    client resumes on another task and gets the call's error result within the lease time
    plus one wait, after the events that were logged before the kill."""
    fleet = make_fleet(tasks=2, redis=make_redis(),
                       env={"CALL_LEASE_SECONDS": str(LEASE_SECONDS), "KEEPALIVE_SECONDS": "1"})
    with LegacySession(fleet.url) as session:
        call = {"jsonrpc": "2.0", "id": 77, "method": "tools/call",
                "params": {"name": "ticker", "arguments": {"count": 1000, "delay": 0.1}}}
        with SseReader("POST", fleet.url, session.headers(), orjson.dumps(call),
                       stop_after=3) as first:
            assert first.wait_done(10)
        assert first.status == 200, first.text
        runner = fleet.task(first.task)
        runner.kill()
        fleet.wait_state(runner.name, "DOWN")
        headers = session.headers(accept="text/event-stream", last_event_id=first.event_ids[-1])
        started = time.monotonic()
        with SseReader("GET", fleet.url, headers) as resumed:
            assert resumed.wait_done(4 * LEASE_SECONDS + 10), "the resumed stream never ended"
        elapsed = time.monotonic() - started
        assert resumed.status == 200, resumed.text
        assert resumed.task != runner.name
        final = resumed.messages[-1]
        assert final["id"] == 77
        assert final["error"]["code"] == -32603
        assert "stopped" in final["error"]["message"]
        assert elapsed < 3 * LEASE_SECONDS + 3, elapsed

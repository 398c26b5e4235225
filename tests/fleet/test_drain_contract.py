"""The ECS drain contract in miniature: a task leaves the balancer, its streams move, then it stops.

Two tasks (``mcpfleet serve``) on one redis-server behind HAProxy, which stands in for
the ALB. As ECS stops a task, the test first drains it on the balancer (no new requests
go to it: the target's deregistration), waits out a deregistration delay, and only then
sends SIGTERM. The tasks run as the render configures them on ECS: no wait after SIGTERM
(``DRAIN_DELAY_SECONDS=0``), and a maximum stream lifetime below the deregistration delay.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from mcpfleet.protocol.sse import Event, EventParser
from tests import wire
from tests.fleet.clients import LegacySession, ModernClient, rpc_result, steer_past, task_of
from tests.fleet.conftest import MakeFleet, MakeRedis
from tests.fleet.processes import Fleet

STREAM_MAX = 2.0  # STREAM_MAX_SECONDS of the tasks
DEREGISTRATION_DELAY = 4.0  # between the drain on the balancer and SIGTERM (> STREAM_MAX)
TASK_ENV = {
    "DRAIN_DELAY_SECONDS": "0",
    "DRAIN_DEADLINE_SECONDS": "10",
    "STREAM_MAX_SECONDS": str(STREAM_MAX),
    "KEEPALIVE_SECONDS": "1",
}
DRAINED = "t1"  # the task stopped

# (method, headers, body) of a stream's next connection, given the last event id it got.
Opening = Callable[[str | None], tuple[str, dict[str, str], bytes | None]]


@dataclass
class Connection:
    """One connection of a stream: who answered, what came, and how it ended."""

    task: str | None
    status: int
    events: list[Event] = field(default_factory=list)
    ended_at: float | None = None  # when the server ended it (None: the client did)

    @property
    def ended_with_retry(self) -> bool:
        return self.ended_at is not None and bool(self.events) and self.events[-1].retry is not None

    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(event.data) for event in self.events if event.data]


class StreamClient:
    """A client that keeps one stream open through the balancer: when the server ends the
    stream it waits the retry hint's time and opens it again (resuming it with the last
    event id it got, for a GET stream; anew, for a listen stream)."""

    def __init__(self, url: str, opening: Opening) -> None:
        self.url = url
        self.opening = opening
        self.connections: list[Connection] = []
        self.last_event_id: str | None = None
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StreamClient:
        """Start, and wait until the first connection is answered."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.connections:
            time.sleep(0.02)
        assert self.connections, f"no stream opened: {self.errors}"
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        assert not self._thread.is_alive(), "the stream client did not stop"

    def numbers(self) -> list[int]:
        """The sequence numbers of the announced changes received, in order."""
        return [
            m["params"]["sequence"]
            for c in self.connections
            for m in c.messages()
            if m.get("method") == "notifications/tools/list_changed"
            and "sequence" in m.get("params", {})
        ]

    def _run(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(5.0, read=5.0)) as client:
            while not self._stop.is_set():
                retry = 0.5
                try:
                    connection = self._connect(client)
                    if connection.ended_with_retry:
                        retry = (connection.events[-1].retry or 500) / 1000
                except httpx.HTTPError as error:
                    self.errors.append(f"{type(error).__name__}: {error}")
                self._stop.wait(retry)

    def _connect(self, client: httpx.Client) -> Connection:
        method, headers, body = self.opening(self.last_event_id)
        with client.stream(method, self.url, headers=headers, content=body) as response:
            connection = Connection(task_of(response), response.status_code)
            self.connections.append(connection)
            if response.status_code != 200:
                self.errors.append(f"{response.status_code}: {response.read()[:200]!r}")
                return connection
            parser = EventParser()
            for chunk in response.iter_raw():
                for event in parser.feed(chunk):
                    connection.events.append(event)
                    if event.id:
                        self.last_event_id = event.id
                if self._stop.is_set():
                    return connection
            connection.ended_at = time.monotonic()
        return connection


def get_stream_opening(session: LegacySession) -> Opening:
    def opening(last_event_id: str | None) -> tuple[str, dict[str, str], bytes | None]:
        extra = {} if last_event_id is None else {"last_event_id": last_event_id}
        return "GET", session.headers(accept="text/event-stream", **extra), None

    return opening


def listen_opening(_last_event_id: str | None) -> tuple[str, dict[str, str], bytes | None]:
    message = wire.request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    return "POST", wire.headers_for(message), orjson.dumps(message)


class Traffic:
    """Calls sent without pause through the balancer, in both eras, and numbered changes
    announced fleet-wide; every failure noted."""

    def __init__(self, url: str, sessions: list[LegacySession]) -> None:
        self.url = url
        self.sessions = sessions
        self.failures: list[str] = []
        self.calls = 0
        self.announced: list[int] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._legacy, args=(s,), daemon=True) for s in sessions
        ]
        self._threads += [
            threading.Thread(target=self._modern, daemon=True),
            threading.Thread(target=self._announce, daemon=True),
        ]

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(20)
        assert not any(thread.is_alive() for thread in self._threads)

    def _check(self, response: httpx.Response, expected: str) -> None:
        self.calls += 1
        result = rpc_result(response)
        if (
            response.status_code != 200
            or not isinstance(result, dict)
            or (result.get("content", [{}])[0].get("text") != expected)
        ):
            self.failures.append(
                f"{response.status_code} {task_of(response)} {response.text[:160]}"
            )

    def _legacy(self, session: LegacySession) -> None:
        number = 0
        while not self._stop.is_set():
            number += 1
            self._check(session.call_tool("echo", text=str(number)), str(number))
            self._stop.wait(0.03)

    def _modern(self) -> None:
        client = ModernClient(self.url)
        try:
            number = 0
            while not self._stop.is_set():
                number += 1
                self._check(client.call_tool("echo", text=str(number)), str(number))
                self._stop.wait(0.03)
        finally:
            client.close()

    def _announce(self) -> None:
        client = ModernClient(self.url)
        try:
            number = 0
            while not self._stop.is_set():
                response = client.call_tool("announce", number=number)
                self._check(response, "announced")
                if response.status_code == 200:
                    self.announced.append(number)
                number += 1
                self._stop.wait(0.1)
        finally:
            client.close()


def open_streams_on(
    fleet: Fleet,
    sessions: list[LegacySession],
    listens: int,
) -> tuple[list[StreamClient], list[StreamClient]]:
    """A GET stream per session and ``listens`` listen streams, each first opened on the task
    to be drained (round robin steered to it, before any other traffic; a stream reopened
    meanwhile may steer one elsewhere)."""
    gets, listeners = [], []
    for session in sessions:
        steer_past(fleet.url, "t0", 2)
        gets.append(StreamClient(fleet.url, get_stream_opening(session)).start())
    for _ in range(listens):
        steer_past(fleet.url, "t0", 2)
        listeners.append(StreamClient(fleet.url, listen_opening).start())
    return gets, listeners


def test_a_task_leaving_the_balancer_then_stopped_costs_its_clients_nothing(
    make_redis: MakeRedis, make_fleet: MakeFleet
) -> None:
    """Drained on the balancer, then SIGTERM after the deregistration delay: no call fails,
    every GET and listen stream on the task ends with a retry hint before the SIGTERM and
    goes on on the other task, each GET stream (resumed with Last-Event-ID) having received
    every numbered notification exactly once, each listen stream (listening again, as a
    2026-07-28 client does) an unbroken run of them on each connection; the task exits 0."""
    redis = make_redis()
    fleet = make_fleet(
        tasks=2, redis=redis, app="tests.fleet.drain_app:app", check_path="/readyz", env=TASK_ENV
    )
    sessions = [LegacySession(fleet.url).open() for _ in range(4)]
    gets: list[StreamClient] = []
    streams: list[StreamClient] = []
    traffic: Traffic | None = None
    try:
        gets, listeners = open_streams_on(fleet, sessions[:2], listens=2)
        streams = gets + listeners
        traffic = Traffic(fleet.url, sessions[2:]).start()
        time.sleep(1.0)
        fleet.haproxy.admin(f"set server tasks/{DRAINED} state drain")
        time.sleep(DEREGISTRATION_DELAY)
        task = fleet.task(DRAINED)
        assert task.process is not None
        task.process.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        exit_code = task.process.wait(15)
        time.sleep(1.5)  # streams and calls go on on the other task
    finally:
        if traffic is not None:
            traffic.stop()
            last = traffic.announced[-1] if traffic.announced else None
            deadline = time.monotonic() + 10  # each GET stream gets the last one, in time
            while (
                last is not None
                and time.monotonic() < deadline
                and not all(last in stream.numbers() for stream in gets)
            ):
                time.sleep(0.1)
        for stream in streams:
            with contextlib.suppress(AssertionError):
                stream.stop()
        for session in sessions:
            session.close()

    assert traffic.calls > 100
    assert traffic.failures == []
    assert exit_code == 0
    announced = traffic.announced
    assert len(announced) > 40
    moved = {"get": 0, "listen": 0}
    for kind, stream in [("get", s) for s in gets] + [("listen", s) for s in listeners]:
        assert stream.errors == []
        on_drained = [c for c in stream.connections if c.task == DRAINED]
        for connection in on_drained:
            assert connection.ended_with_retry, (connection, stream.connections)
            assert connection.ended_at is not None
            assert connection.ended_at < sigterm_at
        if on_drained:
            after = stream.connections[stream.connections.index(on_drained[-1]) + 1 :]
            assert after
            assert all(c.task == "t0" and c.status == 200 for c in after)
            moved[kind] += 1
    assert moved["get"] >= 1, moved
    assert moved["listen"] >= 1, moved
    for stream in gets:
        print(
            f"GET stream: {len(stream.connections)} connections, "
            f"{len(stream.numbers())} of {len(announced)} announcements"
        )
        assert sorted(stream.numbers()) == announced, _missing(stream.numbers(), announced)
    for stream in listeners:
        received = 0
        for connection in stream.connections:
            numbers = sorted(
                m["params"]["sequence"]
                for m in connection.messages()
                if m.get("method") == "notifications/tools/list_changed"
            )
            assert (
                numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True
            ), numbers
            received += len(numbers)
        assert received > len(announced) // 2


def _missing(received: list[int], announced: list[int]) -> str:
    missing = sorted(set(announced) - set(received))
    twice = sorted({n for n in received if received.count(n) > 1})
    return f"missing {missing}, received twice {twice}"

"""Long-lived streams end themselves after STREAM_MAX_SECONDS, with a retry hint, and resume.

Each test runs a real server (``mcpfleet serve``) with a short maximum lifetime and reads
its streams as a client would, noting every SSE field, ``retry`` included.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet.protocol.sse import Event, EventParser
from tests.conftest import ServerProcess, serving
from tests.wire import call, headers_for, initialize, legacy_call, legacy_headers, request

STREAM_MAX = 2.0  # seconds: the lifetime drawn is between 85 % of this and all of it
ENDS_WITHIN = 15.0  # seconds a test waits for a stream to end (a busy machine is slow)


class StreamReader:
    """One streaming response read in a thread of its own, every event kept (with its id
    and retry fields) until the server ends the response or ``close`` is called."""

    def __init__(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> None:
        self.method, self.url, self.request_headers, self.body = method, url, headers, body
        self.status = 0
        self.headers = httpx.Headers()
        self.events: list[Event] = []
        self.ended_by_server = False
        self.error: BaseException | None = None
        self.opened = threading.Event()
        self.done = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 10.0) -> StreamReader:
        self._thread.start()
        assert self.opened.wait(timeout), f"no response to {self.method} {self.url}"
        assert self.error is None, repr(self.error)
        return self

    def wait_ended(self, timeout: float = ENDS_WITHIN) -> bool:
        return self.done.wait(timeout)

    def first_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """The stream's first message, waiting for it to arrive (the response's headers
        can come before its first event)."""
        deadline = time.monotonic() + timeout
        while not self.messages and not self.done.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.messages, f"no message on the stream within {timeout} s: {self.error!r}"
        return self.messages[0]

    def close(self) -> None:
        if not self.done.is_set() and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the reader thread did not stop"

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [orjson.loads(event.data) for event in self.events if event.data]

    @property
    def event_ids(self) -> list[str]:
        return [event.id for event in self.events if event.id]

    @property
    def last_retry(self) -> int | None:
        """The retry field of the stream's last event (how a graceful end says "come back")."""
        return self.events[-1].retry if self.events else None

    def _run(self) -> None:
        self._task = self._loop.create_task(self._read())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # kept for the test to assert on
            self.error = exc
        finally:
            self._loop.close()
            self.opened.set()
            self.done.set()

    async def _read(self) -> None:
        timeout = httpx.Timeout(10.0, read=60.0)
        async with (
            httpx.AsyncClient(timeout=timeout) as client,
            client.stream(
                self.method, self.url, headers=self.request_headers, content=self.body
            ) as response,
        ):
            self.status, self.headers = response.status_code, response.headers
            self.opened.set()
            parser = EventParser()
            async for chunk in response.aiter_raw():
                self.events += parser.feed(chunk)
            self.ended_by_server = True


@contextlib.contextmanager
def reading(
    method: str, url: str, headers: dict[str, str], body: bytes | None = None
) -> Iterator[StreamReader]:
    reader = StreamReader(method, url, headers, body).start()
    try:
        yield reader
    finally:
        reader.close()


def get_stream(url: str, session_id: str, last_event_id: str | None = None) -> StreamReader:
    extra = {} if last_event_id is None else {"last_event_id": last_event_id}
    headers = legacy_headers(session_id, accept="text/event-stream", **extra)
    return StreamReader("GET", url, headers).start()


def listen_stream(url: str) -> StreamReader:
    message = request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    return StreamReader("POST", url, headers_for(message), orjson.dumps(message)).start()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"STREAM_MAX_SECONDS": str(STREAM_MAX), "KEEPALIVE_SECONDS": "1"}
    with serving("tests.apps.behaviours:app", env) as running:
        yield running


def test_a_get_stream_ends_with_retry_and_resumes_with_last_event_id(server: ServerProcess) -> None:
    """A GET stream ends by itself after STREAM_MAX_SECONDS with a retry field; resumed with
    its Last-Event-ID it goes on, and a notification published between the end and the
    resumption arrives on the resumed stream."""
    session_id, _ = initialize(server.url)
    first = get_stream(server.url, session_id)
    try:
        opened = time.monotonic()
        assert first.status == 200
        assert first.wait_ended(), "the GET stream did not end by itself"
        lived = time.monotonic() - opened
        assert first.ended_by_server, repr(first.error)
        assert first.last_retry is not None, first.events
        assert lived >= STREAM_MAX * 0.8
        added = legacy_call(
            server.url,
            session_id,
            "tools/call",
            {"name": "add_tool", "arguments": {"name": "between"}},
        )
        assert added.status_code == 200
        second = get_stream(server.url, session_id, last_event_id=first.event_ids[-1])
        try:
            assert second.status == 200
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                m.get("method") == "notifications/tools/list_changed" for m in second.messages
            ):
                time.sleep(0.05)
            assert any(
                m.get("method") == "notifications/tools/list_changed" for m in second.messages
            ), second.events
        finally:
            second.close()
    finally:
        first.close()


def test_a_listen_stream_ends_with_its_result_and_a_retry_hint(server: ServerProcess) -> None:
    """A subscriptions/listen stream ends by itself after STREAM_MAX_SECONDS with the listen
    result in an event that carries a retry field; listening again works at once."""
    first = listen_stream(server.url)
    try:
        assert first.status == 200
        assert first.wait_ended(), "the listen stream did not end by itself"
        assert first.ended_by_server, repr(first.error)
        final = first.messages[-1]
        assert final["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
        assert first.last_retry is not None, first.events
    finally:
        first.close()
    again = listen_stream(server.url)
    try:
        assert again.status == 200
        assert again.first_message()["method"] == "notifications/subscriptions/acknowledged"
    finally:
        again.close()


def test_a_resumable_call_stream_is_let_go_and_the_call_goes_on(server: ServerProcess) -> None:
    """A 2025-11-25 call streaming much longer than STREAM_MAX_SECONDS: its POST stream, and
    then each GET that resumes it, ends with a retry field before the result; the call goes
    on, and resuming with Last-Event-ID each time gets every event once and the result."""
    session_id, _ = initialize(server.url)
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "ticker", "arguments": {"count": 12, "delay": 0.5}},
    }
    with reading("POST", server.url, legacy_headers(session_id), orjson.dumps(message)) as post:
        assert post.wait_ended(), "the POST stream was not let go"
        assert post.ended_by_server, repr(post.error)
        assert post.last_retry is not None, post.events
        assert not any("result" in m for m in post.messages)
        messages, last_id, let_go = list(post.messages), post.event_ids[-1], 0
        for _ in range(10):  # 6 s of ticks, a stream lives 1.7 to 2 s: a few resumptions
            resumed = get_stream(server.url, session_id, last_event_id=last_id)
            try:
                assert resumed.wait_ended(), "the resumed stream neither ended nor was let go"
            finally:
                resumed.close()
            messages += resumed.messages
            last_id = resumed.event_ids[-1] if resumed.event_ids else last_id
            if any(m.get("id") == 7 for m in resumed.messages):
                break
            assert resumed.last_retry is not None, resumed.events
            let_go += 1
        assert let_go >= 1, "no resumed stream was let go: its lifetime is not enforced"
        results = [m for m in messages if m.get("id") == 7]
        assert len(results) == 1
        assert results[0]["result"]["content"][0]["text"] == "ticked 12"
        logged = [m for m in messages if m.get("method") == "notifications/message"]
        assert [m["params"]["data"] for m in logged] == list(range(12))


def test_a_2026_call_stream_is_never_cut(server: ServerProcess) -> None:
    """A 2026-07-28 call streaming longer than STREAM_MAX_SECONDS keeps its stream to its
    result: closing it would cancel the call, and nothing could resume it."""
    response = call(
        server.url,
        "tools/call",
        {
            "name": "ticker",
            "arguments": {"count": 6, "delay": 0.6},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/logLevel": "info",
            },
        },
    )
    assert response.status_code == 200
    events = EventParser().feed(response.content)
    assert all(event.retry is None for event in events)
    final = orjson.loads(events[-1].data)
    assert final["result"]["content"][0]["text"] == "ticked 6"

"""Hand-built clients for fleet tests: 2025 sessions, 2026-07-28 calls, SSE readers in a thread,
and steering HAProxy's round robin so that the next request lands on another task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from typing import Any

import httpx
import orjson

from mcpfleet.protocol.sse import EventParser
from tests import wire
from tests.fleet.processes import TASK_HEADER


def task_of(response: httpx.Response) -> str | None:
    """The task that answered a request sent through HAProxy (t0, t1, ...)."""
    task: str | None = response.headers.get(TASK_HEADER)
    return task


def rpc_result(response: httpx.Response) -> Any:
    """The JSON-RPC result (or error) of a JSON or SSE response; None if there is none."""
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            events = EventParser().feed(response.content)
            messages = [orjson.loads(event.data) for event in events if event.data]
            final = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
            message = final[-1] if final else {}
        else:
            message = response.json()
    except (ValueError, KeyError, IndexError):
        return None
    return message.get("result", message.get("error")) if isinstance(message, dict) else None


def text_of(response: httpx.Response) -> str | None:
    """The first text block of a tools/call result; None for anything else."""
    result = rpc_result(response)
    try:
        return str(result["content"][0]["text"])
    except (TypeError, KeyError, IndexError):
        return None


class LegacySession:
    """A 2025-11-25 session spoken by hand over one keep-alive connection pool."""

    def __init__(self, url: str, capabilities: dict[str, Any] | None = None,
                 timeout: float = 10.0) -> None:
        self.url = url
        self.capabilities = capabilities or {}
        self.client = httpx.Client(timeout=timeout)
        self.id = ""
        self.opened_by: str | None = None  # the task that answered initialize
        self._ids = itertools.count(1)

    def open(self) -> LegacySession:
        """initialize, then notifications/initialized; the client is closed if either fails."""
        try:
            message = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": wire.LEGACY,
                                  "capabilities": self.capabilities,
                                  "clientInfo": {"name": "fleet-tests", "version": "1"}}}
            opened = self.client.post(self.url, content=orjson.dumps(message),
                                      headers=wire.legacy_headers(version=None))
            assert opened.status_code == 200, opened.text
            self.id = opened.headers["mcp-session-id"]
            self.opened_by = task_of(opened)
            initialized = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
            assert initialized.status_code == 202, initialized.text
        except BaseException:
            self.close()
            raise
        return self

    def headers(self, **extra: str) -> dict[str, str]:
        return wire.legacy_headers(self.id, **extra)

    def post(self, message: dict[str, Any], url: str | None = None) -> httpx.Response:
        return self.client.post(url or self.url, content=orjson.dumps(message),
                                headers=self.headers())

    def request(self, method: str, params: dict[str, Any] | None = None,
                url: str | None = None) -> httpx.Response:
        return self.post({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                          "params": params or {}}, url)

    def call_tool(self, name: str, /, **arguments: Any) -> httpx.Response:
        return self.request("tools/call", {"name": name, "arguments": arguments})

    def delete(self) -> httpx.Response:
        return self.client.delete(self.url, headers=self.headers())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> LegacySession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        try:
            with contextlib.suppress(httpx.HTTPError):
                self.delete()
        finally:
            self.close()


class ModernClient:
    """2026-07-28 requests (no session) over one keep-alive connection pool."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout)

    def request(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        message = wire.request(method, params)
        return self.client.post(self.url, content=orjson.dumps(message),
                                headers=wire.headers_for(message))

    def call_tool(self, name: str, /, **arguments: Any) -> httpx.Response:
        return self.request("tools/call", {"name": name, "arguments": arguments})

    def close(self) -> None:
        self.client.close()


def whoami(url: str) -> httpx.Response:
    """A stateless call (no session, no state): which task answers it."""
    return wire.call(url, "tools/call", {"name": "whoami", "arguments": {}})


def steer_past(url: str, name: str | None, tasks: int) -> None:
    """Send stateless calls through HAProxy until task ``name`` answers one: round robin then
    sends the next request to another task (tests send nothing else in between)."""
    for _ in range(2 * tasks + 1):
        if task_of(whoami(url)) == name:
            return
    raise AssertionError(f"task {name} never answered through the balancer")


class SseReader:
    """One streaming request (GET stream, POST stream, listen stream) read in a thread.

    Records the status, the answering task, every event id and every JSON message. Stops
    after ``stop_after`` messages (dropping the connection, as a failing network would),
    when the server ends the stream, or on ``close()``. Never raises in its thread: an
    error is kept in ``error``.
    """

    def __init__(self, method: str, url: str, headers: dict[str, str],
                 body: bytes | None = None, *, stop_after: int | None = None,
                 read_timeout: float = 30.0) -> None:
        self.method, self.url, self.request_headers, self.body = method, url, headers, body
        self.stop_after = stop_after
        self.read_timeout = read_timeout
        self.status = 0
        self.headers: httpx.Headers = httpx.Headers()
        self.text = ""  # the body of a response that is not a stream
        self.event_ids: list[str] = []
        self.messages: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.opened = threading.Event()
        self.done = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def task(self) -> str | None:
        task: str | None = self.headers.get(TASK_HEADER)
        return task

    def start(self, timeout: float = 10.0) -> SseReader:
        self._thread.start()
        assert self.opened.wait(timeout), f"no response to {self.method} {self.url}"
        assert self.error is None, repr(self.error)
        return self

    def __enter__(self) -> SseReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self.done.is_set() and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)
        assert not self._thread.is_alive(), "the reader thread did not stop"

    def wait_done(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def wait_for(self, method: str, timeout: float = 5.0, *, after: int = 0) -> dict[str, Any]:
        """The first message with ``method`` at index ``after`` or later, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages[after:]:
                if message.get("method") == method:
                    return message
            if time.monotonic() > deadline or self.done.is_set():
                break
            time.sleep(0.02)
        raise AssertionError(f"no {method} (error {self.error!r}): {self.messages}")

    def count(self, method: str) -> int:
        return sum(1 for message in self.messages if message.get("method") == method)

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
        timeout = httpx.Timeout(10.0, read=self.read_timeout)
        async with httpx.AsyncClient(timeout=timeout) as client, client.stream(
            self.method, self.url, headers=self.request_headers, content=self.body
        ) as response:
            self.status = response.status_code
            self.headers = response.headers
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                self.text = (await response.aread()).decode(errors="replace")
                self.opened.set()
                return
            self.opened.set()
            parser = EventParser()
            async for chunk in response.aiter_raw():
                for event in parser.feed(chunk):
                    if event.id:
                        self.event_ids.append(event.id)
                    if event.data:
                        self.messages.append(orjson.loads(event.data))
                if self.stop_after is not None and len(self.messages) >= self.stop_after:
                    return

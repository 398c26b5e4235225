"""The load generator: N keep-alive HTTP/1.1 connections sending one scenario back to back.

Runs as its own process so that its CPU never counts against the server's:

    python -m bench.loadgen --port 3000 --scenario echo --connections 32 --duration 5

Each connection sends a request, reads and checks the whole response, and sends
the next one at once. After ``--warmup`` seconds it prints ``# measure start``,
after ``--duration`` more ``# measure end`` (a runner samples the server's CPU at
these two lines), then, once the connections are closed, one JSON line of results.
Only calls that complete inside the measured window count.

For a session scenario (2025-11-25, ``Scenario.session``) each connection
first opens a session: ``initialize`` (no ``MCP-Protocol-Version`` header), then
``notifications/initialized`` (202) with the session's headers; its requests
then carry ``Mcp-Session-Id``. A connection the server closes reopens and keeps
its session (sessions are not tied to connections). ``open_session`` and
``open_get_stream`` are also what ``python -m bench.memory`` opens sessions with.

The client is written on raw asyncio streams (uvloop when installed): an HTTP
client library would cost more CPU per call than a fast server does.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from bench.scenarios import SCENARIOS, SESSION_PROTOCOL_VERSION, Scenario, get

MEASURE_START = "# measure start"
MEASURE_END = "# measure end"
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
ERROR_SAMPLES = 5


class ResponseError(Exception):
    """A response the scenario does not accept; ``kind`` names the failure for counting."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


# -- the request --------------------------------------------------------------


class RequestTemplate:
    """The wire bytes of one scenario request, with only the JSON-RPC id left to fill in."""

    __slots__ = ("_body_tail", "_head", "_tail_len")

    def __init__(
        self,
        scenario: Scenario,
        host: str,
        port: int,
        path: str,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        rest = orjson.dumps({"method": scenario.method, "params": scenario.full_params()})
        # The body is '{"jsonrpc":"2.0","id":' + id + ',' + rest-without-its-brace.
        self._body_tail = b"," + rest[1:]
        self._tail_len = len(b'{"jsonrpc":"2.0","id":') + len(self._body_tail)
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in (*scenario.headers(), *extra_headers)]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")

    def build(self, request_id: int) -> bytes:
        rid = str(request_id).encode()
        return b"".join(
            (
                self._head,
                str(self._tail_len + len(rid)).encode(),
                b'\r\n\r\n{"jsonrpc":"2.0","id":',
                rid,
                self._body_tail,
            )
        )


# -- the response -------------------------------------------------------------


@dataclass(slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    close: bool
    session_id: str | None = None  # the Mcp-Session-Id response header, as sent


def _header(head_lower: bytes, name: bytes) -> bytes | None:
    """A header's value from a lower-cased response head (the first occurrence)."""
    start = head_lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = head_lower.find(b"\r\n", start)
    return head_lower[start:end].strip()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size_total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, if any
                pass
            return b"".join(chunks)
        size_total += size
        if size_total > MAX_BODY_BYTES:
            raise ResponseError("body_too_large")
        chunk = await reader.readexactly(size + 2)
        chunks.append(chunk[:-2])


async def read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """A response's status line and headers: the status, the head, the head lower-cased."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        raise ResponseError("http", head[:40].decode("latin-1", "replace"))
    return int(head[9:12]), head, head.lower()


def _session_id(head: bytes, lower: bytes) -> str | None:
    """``Mcp-Session-Id`` from the head as sent (the lower-cased copy finds it)."""
    start = lower.find(b"\r\nmcp-session-id:")
    if start < 0:
        return None
    start += len(b"\r\nmcp-session-id:")
    end = lower.find(b"\r\n", start)
    return head[start:end].strip().decode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP/1.1 response: Content-Length, chunked, or delimited by close."""
    status, head, lower = await read_head(reader)
    connection = _header(lower, b"connection")
    close = connection == b"close" or head.startswith(b"HTTP/1.0")
    content_type = (_header(lower, b"content-type") or b"").split(b";", 1)[0].strip()
    length = _header(lower, b"content-length")
    encoding = _header(lower, b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding:
        body = await _read_chunked(reader)
    elif length is not None:
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise ResponseError("body_too_large")
        body = await reader.readexactly(size)
    elif status in (204, 304) or status < 200:
        body = b""
    else:
        body = await reader.read(MAX_BODY_BYTES)
        close = True
    return Response(status, content_type.decode("latin-1"), body, close, _session_id(head, lower))


def sse_messages(body: bytes) -> list[Any]:
    """The JSON ``data`` of every event in an SSE body (comments and other fields skipped)."""
    text = body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    messages = []
    for event in text.split("\n\n"):
        data = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if data:
            messages.append(orjson.loads("\n".join(data)))
    return messages


def final_message(response: Response, request_id: int) -> Any:
    """The JSON-RPC response to ``request_id`` that ``response`` carries."""
    if response.status != 200:
        detail = response.body[:200].decode("utf-8", "replace")
        raise ResponseError(f"http_{response.status}", detail)
    try:
        if response.content_type == "application/json":
            return orjson.loads(response.body)
        if response.content_type == "text/event-stream":
            for message in sse_messages(response.body):
                if isinstance(message, dict) and message.get("id") == request_id:
                    return message
            raise ResponseError("sse_no_response", response.body[:200].decode("utf-8", "replace"))
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResponseError("json", str(exc)) from None
    raise ResponseError("content_type", response.content_type)


def check_response(scenario: Scenario, response: Response, request_id: int) -> None:
    """Raise ``ResponseError`` unless ``response`` is the scenario's right answer."""
    message = final_message(response, request_id)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ResponseError("jsonrpc", repr(message)[:200])
    if message.get("id") != request_id:
        raise ResponseError("id_mismatch", f"sent {request_id}, got {message.get('id')!r}")
    if "error" in message:
        raise ResponseError("jsonrpc_error", repr(message["error"])[:200])
    problem = scenario.check(message.get("result"))
    if problem is not None:
        raise ResponseError("bad_result", f"{problem}: {repr(message.get('result'))[:200]}")


# -- 2025-11-25 sessions ------------------------------------------------------

CLIENT_INFO = {"name": "mcpfleet-bench", "version": "1.0.0"}


def _post(
    host: str, port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_POST_HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
)


def session_headers(session_id: str) -> list[tuple[str, str]]:
    """What every request of an open session carries besides Host and the body's headers."""
    return [("MCP-Protocol-Version", SESSION_PROTOCOL_VERSION), ("Mcp-Session-Id", session_id)]


def initialize_request(host: str, port: int, path: str, request_id: int) -> bytes:
    """``initialize`` for 2025-11-25: no MCP-Protocol-Version header, no session yet."""
    params = {
        "protocolVersion": SESSION_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": CLIENT_INFO,
    }
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
    )
    return _post(host, port, path, _POST_HEADERS, body)


def initialized_request(host: str, port: int, path: str, session_id: str) -> bytes:
    body = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    return _post(host, port, path, [*_POST_HEADERS, *session_headers(session_id)], body)


def get_stream_request(host: str, port: int, path: str, session_id: str | None) -> bytes:
    """The GET that opens a session's server-to-client SSE stream (no session: the floor's)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    if session_id is not None:
        lines += [f"{name}: {value}" for name, value in session_headers(session_id)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def open_session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    host: str,
    port: int,
    path: str,
    request_id: int,
) -> str:
    """Open a 2025-11-25 session on this keep-alive connection; its ``Mcp-Session-Id``.

    ``ResponseError`` (kind ``session_*``) when the server does not answer as
    the spec says: a JSON-RPC result with the protocol version, the session
    header, then 202 for ``notifications/initialized``.
    """
    writer.write(initialize_request(host, port, path, request_id))
    response = await read_response(reader)
    try:
        message = final_message(response, request_id)
    except ResponseError as error:
        raise ResponseError(f"session_{error.kind}", error.detail) from None
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict) or not result.get("protocolVersion"):
        raise ResponseError("session_initialize", repr(message)[:200])
    if response.session_id is None:
        raise ResponseError("session_no_id", "initialize answered without Mcp-Session-Id")
    if response.close:
        raise ResponseError("session_closed", "the server closed the connection")
    writer.write(initialized_request(host, port, path, response.session_id))
    notified = await read_response(reader)
    if notified.status != 202:
        detail = notified.body[:200].decode("utf-8", "replace")
        raise ResponseError(f"session_initialized_http_{notified.status}", detail)
    if notified.close:
        raise ResponseError("session_closed", "the server closed the connection")
    return response.session_id


async def open_get_stream(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    host: str,
    port: int,
    path: str,
    session_id: str | None,
) -> None:
    """Send the session's GET and read only the head: 200 ``text/event-stream``.

    The stream stays open, its body unread (events wait in the socket buffers),
    until the caller closes the connection.
    """
    writer.write(get_stream_request(host, port, path, session_id))
    status, head, lower = await read_head(reader)
    content_type = (_header(lower, b"content-type") or b"").split(b";", 1)[0].strip()
    if status != 200 or content_type != b"text/event-stream":
        raise ResponseError(f"stream_http_{status}", head[:200].decode("latin-1", "replace"))


# -- the load -----------------------------------------------------------------


@dataclass(slots=True)
class Slot:
    """One connection's request in flight, for the timeout watchdog."""

    started: float = 0.0
    writer: asyncio.StreamWriter | None = None
    timed_out: bool = False
    template: RequestTemplate | None = None  # this connection's session's requests


@dataclass
class Load:
    scenario: Scenario
    template: RequestTemplate
    host: str
    port: int
    timeout: float
    path: str = "/mcp"
    sessions: int = 0
    measuring: bool = False
    stopping: bool = False
    calls: int = 0
    errors: int = 0
    warmup_calls: int = 0
    warmup_errors: int = 0
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_samples: list[dict[str, str]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def ok(self, latency: float) -> None:
        if self.measuring:
            self.calls += 1
            self.latencies.append(latency)
        elif not self.stopping:
            self.warmup_calls += 1

    def fail(self, kind: str, detail: str = "") -> None:
        """Count a failure: in the window, or in the warm-up (reported apart)."""
        if self.measuring or self.stopping:
            self.errors += 1
        else:
            self.warmup_errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append({"kind": kind, "detail": detail[:300]})


async def _start_session(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """Open this connection's 2025-11-25 session; its requests' template carries the id."""
    assert slot.writer is not None
    slot.started = time.perf_counter()
    session_id = await open_session(
        reader,
        slot.writer,
        host=load.host,
        port=load.port,
        path=load.path,
        request_id=next(load.ids),
    )
    slot.started = 0.0
    extra = [("Mcp-Session-Id", session_id)]
    slot.template = RequestTemplate(load.scenario, load.host, load.port, load.path, extra)
    load.sessions += 1


async def _session(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """Requests back to back on one open connection until told to stop."""
    writer = slot.writer
    assert writer is not None
    scenario = load.scenario
    if scenario.session and slot.template is None:
        await _start_session(load, slot, reader)
    template = slot.template or load.template
    clock = time.perf_counter
    ids = load.ids
    while not load.stopping:
        request_id = next(ids)
        started = clock()
        slot.started = started
        writer.write(template.build(request_id))
        response = await read_response(reader)
        ended = clock()
        slot.started = 0.0
        try:
            check_response(scenario, response, request_id)
        except ResponseError as error:
            load.fail(error.kind, error.detail)
        else:
            load.ok(ended - started)
        if response.close:
            return


async def connection(load: Load, slot: Slot) -> None:
    """One client connection, reopened (after a pause) when the server closes it."""
    while not load.stopping:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(load.host, load.port, limit=MAX_HEAD_BYTES),
                load.timeout,
            )
        except (OSError, TimeoutError) as exc:
            load.fail("connect", repr(exc))
            await asyncio.sleep(0.1)
            continue
        slot.writer = writer
        try:
            await _session(load, slot, reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            if not slot.timed_out:
                load.fail("connection", repr(exc))
        except ResponseError as error:
            load.fail(error.kind, error.detail)
        except ValueError as exc:  # a malformed status line or chunk size
            load.fail("http", repr(exc))
        finally:
            slot.started = 0.0
            slot.timed_out = False
            slot.writer = None
            writer.close()
        if not load.stopping:
            load.reconnects += 1
            await asyncio.sleep(0.01)


async def watchdog(load: Load, slots: list[Slot]) -> None:
    """Abort a connection whose request has waited more than ``timeout`` seconds."""
    while True:
        await asyncio.sleep(min(0.25, load.timeout / 4))
        now = time.perf_counter()
        for slot in slots:
            if slot.started and now - slot.started > load.timeout and slot.writer is not None:
                slot.timed_out = True
                load.fail("timeout", f"no response in {load.timeout} s")
                slot.writer.transport.abort()


def _percentile(ordered: list[float], fraction: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _marker(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def generate(
    scenario: Scenario,
    *,
    host: str,
    port: int,
    path: str,
    connections: int,
    duration: float,
    warmup: float,
    request_timeout: float,
) -> dict[str, Any]:
    """Run the load and return the results (what ``main`` prints)."""
    template = RequestTemplate(scenario, host, port, path)
    load = Load(scenario, template, host, port, request_timeout, path=path)
    slots = [Slot() for _ in range(connections)]
    tasks = [asyncio.create_task(connection(load, slot)) for slot in slots]
    guard = asyncio.create_task(watchdog(load, slots))
    try:
        await asyncio.sleep(warmup)
        _marker(MEASURE_START)
        cpu_start = _cpu_seconds()
        started = time.perf_counter()
        load.measuring = True
        await asyncio.sleep(duration)
        load.measuring = False
        ended = time.perf_counter()
        cpu_end = _cpu_seconds()
        _marker(MEASURE_END)
        load.stopping = True
        # In-flight requests finish (uncounted); the watchdog bounds the wait.
        _done, pending = await asyncio.wait(tasks, timeout=request_timeout + 1.0)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
    finally:
        guard.cancel()
        for task in tasks:
            task.cancel()
    window = ended - started
    ordered = sorted(load.latencies)
    p50 = _percentile(ordered, 0.50)
    p99 = _percentile(ordered, 0.99)
    return {
        "scenario": scenario.name,
        "connections": connections,
        "warmup_s": warmup,
        "duration_s": round(window, 4),
        "calls": load.calls,
        "errors": load.errors,
        "calls_per_s": round(load.calls / window, 1) if window > 0 else 0.0,
        "p50_ms": None if p50 is None else round(p50 * 1e3, 3),
        "p99_ms": None if p99 is None else round(p99 * 1e3, 3),
        "max_ms": round(ordered[-1] * 1e3, 3) if ordered else None,
        "warmup_calls": load.warmup_calls,
        "warmup_errors": load.warmup_errors,
        "reconnects": load.reconnects,
        "sessions": load.sessions,
        "error_kinds": load.error_kinds,
        "error_samples": load.error_samples,
        "loadgen_cpu_s": round(cpu_end - cpu_start, 4),
        "loadgen_loop": _loop_name(),
    }


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/mcp")
    parser.add_argument("--scenario", default="echo", choices=sorted(SCENARIOS))
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("connections must be >= 1, duration and timeout > 0, warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    scenario = get(args.scenario)
    coroutine = generate(
        scenario,
        host=args.host,
        port=args.port,
        path=args.path,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        request_timeout=args.timeout,
    )
    # A hard bound on the whole run, whatever the server does.
    limit = args.warmup + args.duration + 2 * args.timeout + 10.0
    bounded = asyncio.wait_for(coroutine, limit)
    if args.no_uvloop:
        result = asyncio.run(bounded)
    else:
        try:
            import uvloop
        except ImportError:
            result = asyncio.run(bounded)
        else:
            result = uvloop.run(bounded)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if result["calls"] > 0 and result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

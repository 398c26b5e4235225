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
its session (sessions are not tied to connections). ``--sessions-per-connection K``
opens K sessions on each connection instead and sends each request in the next of
them, in turn: many sessions, each called less often. ``--header`` adds a header
to every request of every scenario (a peer that verifies bearer tokens gets
``Authorization: Bearer ...`` this way). ``open_session`` and
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
from dataclasses import dataclass, field, replace
from typing import Any

from bench.client import (
    MAX_HEAD_BYTES,
    RequestTemplate,
    Response,
    ResponseError,
    delete_request,
    final_message,
    header,
    open_get_stream,
    open_session,
    raise_open_files_limit,
    read_response,
    sse_messages,
)
from bench.scenarios import (
    CALL,
    DISCOVER,
    HANDSHAKE,
    PROGRESS_TOKEN,
    SCENARIOS,
    TASK,
    Scenario,
    get,
)

# what bench.memory and bench.profile import from here
__all__ = ["MAX_HEAD_BYTES", "MEASURE_END", "MEASURE_START", "RequestTemplate", "Response"]
__all__ += ["ResponseError", "check_response", "generate", "open_get_stream", "open_session"]
__all__ += ["read_response"]

MEASURE_START = "# measure start"
MEASURE_END = "# measure end"
ERROR_SAMPLES = 5


def _progress_count(response: Response) -> int:
    """The ``notifications/progress`` for the scenario's token that an SSE body carries."""
    if response.content_type != "text/event-stream":
        return 0
    return sum(
        1
        for message in sse_messages(response.body)
        if isinstance(message, dict)
        and message.get("method") == "notifications/progress"
        and isinstance(message.get("params"), dict)
        and message["params"].get("progressToken") == PROGRESS_TOKEN
    )


def check_message(scenario: Scenario, message: Any, request_id: int) -> None:
    """Raise ``ResponseError`` unless ``message`` is the right JSON-RPC answer."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ResponseError("jsonrpc", repr(message)[:200])
    if message.get("id") != request_id:
        raise ResponseError("id_mismatch", f"sent {request_id}, got {message.get('id')!r}")
    if "error" in message:
        raise ResponseError("jsonrpc_error", repr(message["error"])[:200])
    problem = scenario.check(message.get("result"))
    if problem is not None:
        raise ResponseError("bad_result", f"{problem}: {repr(message.get('result'))[:200]}")


def check_response(scenario: Scenario, response: Response, request_id: int) -> None:
    """Raise ``ResponseError`` unless ``response`` is the scenario's right answer."""
    check_message(scenario, final_message(response, request_id), request_id)
    if scenario.progress:
        count = _progress_count(response)
        if count != scenario.progress:
            raise ResponseError(
                "progress", f"{count} progress notifications, not {scenario.progress}"
            )


# -- the load -----------------------------------------------------------------


@dataclass(slots=True)
class Slot:
    """One connection's request in flight, for the timeout watchdog."""

    started: float = 0.0
    writer: asyncio.StreamWriter | None = None
    timed_out: bool = False
    template: RequestTemplate | None = None  # this connection's session's requests
    templates: list[RequestTemplate] = field(default_factory=list)  # its sessions, in turn


@dataclass
class Load:
    scenario: Scenario
    template: RequestTemplate
    host: str
    port: int
    timeout: float
    path: str = "/mcp"
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (--header)
    sessions: int = 0
    sessions_per_connection: int = 1
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
    counts: dict[str, int] = field(default_factory=dict)  # what a kind of unit counts
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    read_limit: int = MAX_HEAD_BYTES  # the stream's buffer: a 1 MiB body read without pauses

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


async def _start_sessions(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """Open this connection's 2025-11-25 sessions (``load.sessions_per_connection``); each
    one's requests' template carries its id."""
    assert slot.writer is not None
    while len(slot.templates) < load.sessions_per_connection:
        slot.started = time.perf_counter()
        session_id = await open_session(
            reader,
            slot.writer,
            host=load.host,
            port=load.port,
            path=load.path,
            request_id=next(load.ids),
            headers=load.headers,
        )
        slot.started = 0.0
        extra = [*load.headers, ("Mcp-Session-Id", session_id)]
        slot.templates.append(
            RequestTemplate(load.scenario, load.host, load.port, load.path, extra)
        )
        load.sessions += 1
    slot.template = slot.templates[0]


async def _session(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """Units back to back on one open connection until told to stop."""
    if load.scenario.kind == HANDSHAKE:
        await _handshakes(load, slot, reader)
    elif load.scenario.kind == DISCOVER:
        await _discovers(load, slot, reader)
    elif load.scenario.kind == TASK:
        from bench.task_cycle import task_cycles  # it imports this module's types

        await task_cycles(load, slot, reader)
    else:
        await _calls(load, slot, reader)


async def _calls(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """One request per unit (in this connection's session, for a session scenario)."""
    writer = slot.writer
    assert writer is not None
    scenario = load.scenario
    if scenario.session and len(slot.templates) < load.sessions_per_connection:
        await _start_sessions(load, slot, reader)
    template = slot.template or load.template
    turn = itertools.cycle(slot.templates) if len(slot.templates) > 1 else None
    clock = time.perf_counter
    ids = load.ids
    while not load.stopping:
        if turn is not None:
            template = next(turn)
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


async def _handshakes(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """initialize, notifications/initialized, tools/list, DELETE: a new session each unit."""
    writer = slot.writer
    assert writer is not None
    scenario, clock = load.scenario, time.perf_counter
    while not load.stopping:
        started = slot.started = clock()
        session_id = await open_session(
            reader,
            writer,
            host=load.host,
            port=load.port,
            path=load.path,
            request_id=next(load.ids),
            headers=load.headers,
        )
        load.sessions += 1
        extra = [*load.headers, ("Mcp-Session-Id", session_id)]
        template = RequestTemplate(scenario, load.host, load.port, load.path, extra)
        request_id = next(load.ids)
        writer.write(template.build(request_id))
        listed = await read_response(reader)
        writer.write(delete_request(load.host, load.port, load.path, session_id, load.headers))
        deleted = await read_response(reader)
        ended = clock()
        slot.started = 0.0
        try:
            check_response(scenario, listed, request_id)
            if deleted.status not in (200, 202, 204):
                raise ResponseError(f"delete_http_{deleted.status}")
        except ResponseError as error:
            load.fail(error.kind, error.detail)
        else:
            load.ok(ended - started)
        if listed.close or deleted.close:
            return


def _discover_check(result: Any) -> str | None:
    if not isinstance(result, dict) or not isinstance(result.get("capabilities"), dict):
        return "server/discover result has no capabilities"
    return None


async def _discovers(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """server/discover, then tools/list: what a 2026-07-28 client does before its first call."""
    writer = slot.writer
    assert writer is not None
    scenario, clock = load.scenario, time.perf_counter
    discover = replace(
        scenario, method="server/discover", params={}, check=_discover_check, kind=CALL
    )
    first = RequestTemplate(discover, load.host, load.port, load.path, load.headers)
    while not load.stopping:
        started = slot.started = clock()
        discover_id, list_id = next(load.ids), next(load.ids)
        writer.write(first.build(discover_id))
        discovered = await read_response(reader)
        if discovered.close:
            raise ResponseError("closed", "the server closed the connection after server/discover")
        writer.write(load.template.build(list_id))
        listed = await read_response(reader)
        ended = clock()
        slot.started = 0.0
        try:
            check_response(discover, discovered, discover_id)
            check_response(scenario, listed, list_id)
        except ResponseError as error:
            load.fail(error.kind, error.detail)
        else:
            load.ok(ended - started)
        if listed.close:
            return


async def connection(load: Load, slot: Slot) -> None:
    """One client connection, reopened (after a pause) when the server closes it."""
    while not load.stopping:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(load.host, load.port, limit=load.read_limit),
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
    headers: Sequence[tuple[str, str]] = (),
    sessions_per_connection: int = 1,
) -> dict[str, Any]:
    """Run the load and return the results (what ``main`` prints); ``headers`` go with
    every request; a session scenario opens ``sessions_per_connection`` sessions on each
    connection and uses them in turn."""
    template = RequestTemplate(scenario, host, port, path, headers)
    load = Load(scenario, template, host, port, request_timeout, path=path, headers=tuple(headers))
    load.sessions_per_connection = sessions_per_connection
    load.read_limit = max(MAX_HEAD_BYTES, 2 * scenario.payload_bytes)
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
        "counts": load.counts,
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
    parser.add_argument(
        "--header",
        type=header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a header for every request (repeatable)",
    )
    parser.add_argument(
        "--sessions-per-connection",
        type=int,
        default=1,
        metavar="K",
        help="a session scenario: K sessions on each connection, used in turn (default 1)",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.duration <= 0 or args.warmup < 0 or args.timeout <= 0:
        parser.error("connections must be >= 1, duration and timeout > 0, warmup >= 0")
    if args.sessions_per_connection < 1:
        parser.error("--sessions-per-connection must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    scenario = get(args.scenario)
    raise_open_files_limit()  # a connection is a descriptor: 1,024 need more than 1,024
    coroutine = generate(
        scenario,
        host=args.host,
        port=args.port,
        path=args.path,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        request_timeout=args.timeout,
        headers=args.header,
        sessions_per_connection=args.sessions_per_connection,
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

"""Where a peer's time goes, without the network: its ASGI app driven in-process.

    python -m bench.profile                          # µs per call of the default peers
    python -m bench.profile --peers mcpfleet floor --calls 20000
    python -m bench.profile --cprofile mcpfleet      # and a cProfile breakdown of one peer

Each call is the scenario's request handed straight to the peer's ASGI app with
a minimal ``receive``/``send`` pair (what uvicorn does, minus the parsing and the
socket), one call after another. The difference between two peers here is the
difference of their application code; the rest of a server's CPU per call
(uvicorn, httptools, uvloop, the kernel) is about the same for all of them.

A peer that verifies bearer tokens (``Peer.issuer``) gets a token issuer on
loopback (``bench.issuer``), its ``AUTH_*`` settings in the environment while its
app is built, and the token on every call: one token throughout, as in a run.

For a profile of a real server under load, use py-spy on the server's PID
while ``python -m bench.loadgen`` runs (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import importlib
import logging.config
import os
import pstats
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from bench import workloads
from bench.issuer import token_issuer
from bench.loadgen import RequestTemplate, Response, check_response
from bench.peers import PEERS, Peer, default_names
from bench.scenarios import DEFAULT_SCENARIO, SCENARIOS, WORKLOAD_NAMES, Scenario
from bench.scenarios import get as get_scenario
from mcpfleet.observe.logs import logging_config

HOST, PORT = "127.0.0.1", 3000
# In-process profiling imports the peer's app here: only Python peers whose packages the
# main venv has (mcp 2.3.0 is a test dependency; FastMCP lives in its own venv).
IN_PROCESS = sorted(name for name, peer in PEERS.items() if peer.runtime in ("main", "mcp"))


@contextlib.contextmanager
def environment(settings: dict[str, str]) -> Iterator[None]:
    """``os.environ`` with ``settings`` added, restored afterwards."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def peer_app(peer: Peer) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    """The peer's ASGI app and the headers its calls carry (a token issuer's, if it needs
    one; the issuer serves its keys until the block ends)."""
    with contextlib.ExitStack() as stack:
        settings = dict(peer.env)
        headers: list[tuple[str, str]] = []
        if peer.issuer:
            issuer = stack.enter_context(token_issuer())
            settings.update(issuer.server_env())
            headers = issuer.headers()
        with environment(settings):
            module = importlib.import_module(peer.module)
            app = module.asgi_app(["--host", HOST, "--port", str(PORT), *peer.args])
            # Logging as ``mcpfleet serve`` sets it up: an SDK app gives the root logger a
            # handler at INFO when made, which would otherwise print every request here.
            logging.config.dictConfig(logging_config(os.environ.get("LOG_LEVEL", "info")))
        yield app, headers


def request_parts(
    scenario: Scenario, extra: Sequence[tuple[str, str]] = ()
) -> tuple[list[tuple[bytes, bytes]], bytes, bytes]:
    """ASGI headers, and the body split around its id (the load generator's bytes)."""
    wire = RequestTemplate(scenario, HOST, PORT, "/mcp", extra).build(0)
    head, body = wire.split(b"\r\n\r\n", 1)
    headers = []
    for line in head.split(b"\r\n")[1:]:
        name, value = line.split(b":", 1)
        headers.append((name.strip().lower(), value.strip()))
    before, after = body.split(b'"id":0', 1)
    return headers, before + b'"id":', after


def scope_for(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": (HOST, PORT),
        "client": (HOST, 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def one_call(app: Any, scope: dict[str, Any], body: bytes) -> Response:
    """One request through the app, as uvicorn hands it over; the response it sent."""
    delivered = False
    complete = asyncio.Event()
    status = 0
    content_type = ""
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, content_type
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", []):
                if name.lower() == b"content-type":
                    content_type = value.decode().split(";", 1)[0].strip()
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                complete.set()

    await app(dict(scope), receive, send)
    # Back to the event loop, as a server's request task ends: tasks the app
    # started (or cancelled) run now, not pile up until the end of the loop.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return Response(status, content_type, b"".join(chunks), False)


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run the app's lifespan (the SDK starts its session manager there)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), 10.0)
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"lifespan startup failed: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(outbox.get(), 10.0)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def measure(
    peer: Peer, scenario: Scenario, calls: int, profiler: cProfile.Profile | None
) -> dict[str, Any]:
    """µs of wall and CPU time per call, after a warm-up; every response checked once."""
    with peer_app(peer) as (app, extra):
        return await _measure(app, peer, scenario, calls, profiler, extra)


async def _measure(
    app: Any,
    peer: Peer,
    scenario: Scenario,
    calls: int,
    profiler: cProfile.Profile | None,
    extra: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    headers, before, after = request_parts(scenario, extra)
    scope = scope_for(headers)
    async with lifespan(app):
        request_id = 1
        for _ in range(max(200, calls // 10)):  # warm-up, checked
            response = await one_call(app, scope, before + str(request_id).encode() + after)
            check_response(scenario, response, request_id)
            request_id += 1
        bodies = [before + str(request_id + i).encode() + after for i in range(calls)]
        gc.collect()
        if profiler is not None:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            await one_call(app, scope, body)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
        check_response(scenario, response, request_id - 1)
    return {
        "peer": peer.name,
        "calls": calls,
        "wall_us_per_call": round(wall / calls * 1e6, 2),
        "cpu_us_per_call": round(cpu / calls * 1e6, 2),
    }


def _where(filename: str, function: str) -> str:
    for marker in ("/mcpfleet/", "/site-packages/", "/lib/python3"):
        index = filename.rfind(marker)
        if index >= 0:
            filename = filename[index + len(marker) :]
            if marker == "/mcpfleet/":
                filename = "mcpfleet/" + filename
            break
    return f"{filename}:{function}" if filename != "~" else function


def breakdown(profiler: cProfile.Profile, calls: int, top: int) -> str:
    """The functions with the most self time, with their inclusive time and calls per request."""
    stats = pstats.Stats(profiler)
    table = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1.0
    rows = sorted(table.items(), key=lambda item: item[1][2], reverse=True)
    lines = [
        f"{'self':>6} {'incl':>6} {'per call':>8}  function (cProfile; shares of profiled time)"
    ]
    for (filename, _line, function), (_cc, count, self_t, incl_t, _callers) in rows[:top]:
        lines.append(
            f"{self_t / total:6.1%} {incl_t / total:6.1%} {count / calls:8.1f}  "
            f"{_where(filename, function)}"
        )
    ours = [
        (key, entry)
        for key, entry in table.items()
        if "/mcpfleet/" in key[0] and entry[3] / total >= 0.02
    ]
    if ours:
        lines += ["", "mcpfleet functions by inclusive time:"]
        for (filename, _line, function), entry in sorted(ours, key=lambda kv: -kv[1][3]):
            lines.append(f"{entry[3] / total:6.1%}  {_where(filename, function)}")
    areas: dict[str, float] = {}
    for (filename, _line, _function), entry in table.items():
        area = (
            "mcpfleet"
            if "/mcpfleet/" in filename
            else "pydantic"
            if "pydantic" in filename
            else "asyncio"
            if "/asyncio/" in filename
            else "bench driver"
            if "/bench/" in filename
            else "builtins (C)"
            if filename == "~"
            else "other"
        )
        areas[area] = areas.get(area, 0.0) + entry[2]
    lines += ["", "self time by area:"]
    lines += [f"{t / total:6.1%}  {a}" for a, t in sorted(areas.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument(  # no sessions in-process: py-spy a live server for session-echo
        "--scenario",
        default=DEFAULT_SCENARIO,
        choices=sorted(name for name, scenario in SCENARIOS.items() if not scenario.session),
    )
    parser.add_argument("--peers", nargs="+", metavar="PEER", choices=IN_PROCESS)
    parser.add_argument("--calls", type=int, default=20000, help="measured calls per peer")
    parser.add_argument("--cprofile", metavar="PEER", choices=IN_PROCESS, help="profile PEER")
    parser.add_argument("--top", type=int, default=30, help="rows of the cProfile breakdown")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= 1_000_000:
        parser.error("--calls must be between 1 and 1000000")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    scenario = get_scenario(args.scenario)
    if scenario.name in WORKLOAD_NAMES:  # the apps serve the workloads' tools (not S3 here)
        os.environ[workloads.ENV] = "1"
    names = args.peers or [name for name in default_names() if name in IN_PROCESS]
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    print(f"in-process, one call at a time, scenario {scenario.name}, {args.calls} calls per peer")
    for name in names:
        result = run(asyncio.wait_for(measure(PEERS[name], scenario, args.calls, None), 600))
        print(
            f"{name:22} {result['cpu_us_per_call']:8.1f} µs CPU/call"
            f" {result['wall_us_per_call']:8.1f} µs wall/call"
        )
    if args.cprofile:
        profiler = cProfile.Profile()
        peer = PEERS[args.cprofile]
        run(asyncio.wait_for(measure(peer, scenario, args.calls, profiler), 600))
        print(f"\ncProfile of {peer.name} (its overhead inflates small functions):")
        print(breakdown(profiler, args.calls, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

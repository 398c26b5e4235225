"""Server memory per 2025-11-25 session: idle, and with a GET stream held open.

    python -m bench.memory                        # mcpfleet, sdk-json-async and the floor
    python -m bench.memory --sessions 2000 --streams 500 --json bench/results/memory.json
    python -m bench.memory --peers mcpfleet --sessions 200 --streams 50 --settle 0.3

For each peer: start its server pinned to one CPU (as ``bench.run`` does), open
a few keep-alive connections and warm the server up (sessions, a tool call, GET
streams: everything a first request allocates once), let it settle, and read
its RSS (``VmRSS`` of ``/proc/PID/status``). Then:

1. **idle**: open ``--sessions`` sessions over those connections (``initialize``,
   then ``notifications/initialized``) and leave them idle; settle; read RSS.
   ``(RSS after - RSS before) / sessions`` is the figure, in KB per session.
2. **stream**: open ``--streams`` more sessions and, for each, a GET stream
   (``GET /mcp``, ``Accept: text/event-stream``) on a connection of its own, held
   open and unread; settle; read RSS. The figure includes the session, the
   stream and the server's side of its connection.

The floor (``bench/apps/floor.py``) has no sessions: it gets only the second
measurement, GET streams without a session, each an SSE response held open on
its own connection. That is the least a held-open stream costs on uvicorn,
whatever the server does with it.

Then every connection is closed and the server stopped (its sessions end with
it). The kernel's socket buffers are not in a process's RSS, so unread stream
events do not count. Each stream holds a socket in both processes: this process
raises its soft ``RLIMIT_NOFILE`` to the hard limit (the server, started from
it, inherits the raised limit) and reports the server's limit.

The memory goals are in ``bench/goals.py`` (``MEMORY_GOALS``); a missed goal is
reported, not raised. The exit status is non-zero only when a peer could not be
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/memory.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import goals, report
from bench.client import raise_open_files_limit
from bench.loadgen import (
    MAX_HEAD_BYTES,
    RequestTemplate,
    ResponseError,
    check_response,
    open_get_stream,
    open_session,
    read_response,
)
from bench.peers import PEERS, Peer
from bench.run import HOST, BenchError, _cpu_pair, choose_cpus, free_port, machine, server
from bench.scenarios import SCENARIOS

DEFAULT_PEERS = ("mcpfleet", "sdk-json-async", "floor")
STREAM_ONLY = ("floor",)  # no sessions: GET streams only
PATH = "/mcp"
PEER_TIMEOUT = 240.0  # seconds for one peer's whole measurement, whatever the server does
FD_MARGIN = 64  # descriptors this process needs besides its sockets


def measurable(peer: Peer) -> bool:
    """Peers this measures: with sessions in the server's memory, or the floor's streams.
    (A peer with Redis state keeps its sessions in Redis, not in its RSS; a peer that
    verifies bearer tokens holds the same sessions as mcpfleet.)"""
    return (peer.sessions and not peer.redis and not peer.issuer) or peer.name in STREAM_ONLY


# -- /proc --------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """``VmRSS`` of a process, in KB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def open_files_limit(pid: int) -> str:
    """The ``Max open files`` soft/hard limits of a process, from ``/proc/PID/limits``."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/limits", encoding="ascii") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return f"{soft}/{hard}"
    return "unknown"


# -- the client ---------------------------------------------------------------


class Client:
    """Keep-alive connections to one server, and the GET streams held open on their own."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.ids = iter(range(1, 1 << 62))
        self.keepalive: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.streams: list[asyncio.StreamWriter] = []
        self.reconnects = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(
            asyncio.open_connection(HOST, self.port, limit=MAX_HEAD_BYTES), self.timeout
        )

    async def connect(self, count: int) -> None:
        self.keepalive = [await self._connect() for _ in range(count)]

    async def session(self, lane: int) -> str:
        """A new session, opened on keep-alive connection ``lane`` (reopened if closed)."""
        for _attempt in range(3):
            reader, writer = self.keepalive[lane]
            try:
                return await asyncio.wait_for(
                    open_session(
                        reader,
                        writer,
                        host=HOST,
                        port=self.port,
                        path=PATH,
                        request_id=next(self.ids),
                    ),
                    self.timeout,
                )
            except (OSError, asyncio.IncompleteReadError, ResponseError) as exc:
                if isinstance(exc, ResponseError) and exc.kind != "session_closed":
                    raise
                writer.close()
                self.keepalive[lane] = await self._connect()
                self.reconnects += 1
        raise BenchError("the server kept closing the keep-alive connection")

    async def call_echo(self, lane: int, session_id: str) -> None:
        """One ``tools/call`` of echo in a session (warm-up), checked."""
        scenario = SCENARIOS["session-echo"]
        template = RequestTemplate(
            scenario, HOST, self.port, PATH, [("Mcp-Session-Id", session_id)]
        )
        reader, writer = self.keepalive[lane]
        request_id = next(self.ids)
        writer.write(template.build(request_id))
        response = await asyncio.wait_for(read_response(reader), self.timeout)
        check_response(scenario, response, request_id)

    async def stream(self, session_id: str | None) -> None:
        """A GET stream for the session on a new connection, held open."""
        reader, writer = await self._connect()
        self.streams.append(writer)
        await asyncio.wait_for(
            open_get_stream(
                reader, writer, host=HOST, port=self.port, path=PATH, session_id=session_id
            ),
            self.timeout,
        )

    async def open_many(self, count: int, *, streams: bool, sessions: bool = True) -> float:
        """``count`` sessions (or, without sessions, streams), each lane opening its share
        one after another; the seconds taken."""
        started = time.perf_counter()
        todo = iter(range(count))

        async def lane(index: int) -> None:
            for _ in todo:
                session_id = await self.session(index) if sessions else None
                if streams:
                    await self.stream(session_id)

        await asyncio.gather(*(lane(index) for index in range(len(self.keepalive))))
        return time.perf_counter() - started

    async def close(self) -> None:
        writers = [writer for _, writer in self.keepalive] + self.streams
        for writer in writers:
            writer.close()
        closing = [asyncio.ensure_future(writer.wait_closed()) for writer in writers]
        if closing:
            await asyncio.wait(closing, timeout=5.0)
        for task in closing:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: a reset connection is not news here
        self.keepalive, self.streams = [], []


async def measure_peer(
    pid: int, port: int, args: argparse.Namespace, *, sessions: bool = True
) -> dict[str, Any]:
    """Both measurements against one running server (see the module's docstring);
    without ``sessions``, only the second one, with streams that name no session."""
    client = Client(port, args.request_timeout)
    idle: dict[str, Any] | None = None
    try:
        await client.connect(args.connections)
        # Warm-up: what a first session, call and stream allocate once stays in the baseline.
        if sessions:
            await client.open_many(max(args.connections, args.warmup_sessions), streams=False)
            for lane in range(args.connections):
                await client.call_echo(lane, await client.session(lane))
        warm_streams = max(1, args.warmup_sessions // 10)
        await client.open_many(warm_streams, streams=True, sessions=sessions)
        warm_kb = rss_kb(pid)
        await asyncio.sleep(args.settle)

        stream_before = rss_kb(pid)
        if sessions:
            idle_seconds = await client.open_many(args.sessions, streams=False)
            await asyncio.sleep(args.settle)
            idle_after = rss_kb(pid)
            idle = {
                "sessions": args.sessions,
                "rss_before_kb": stream_before,
                "rss_after_kb": idle_after,
                "open_s": round(idle_seconds, 3),
            }
            stream_before = idle_after
        stream_seconds = await client.open_many(args.streams, streams=True, sessions=sessions)
        await asyncio.sleep(args.settle)
        stream_after = rss_kb(pid)
        reconnects = client.reconnects
    finally:
        await client.close()
    idle_kb = None
    if idle is not None:
        idle_kb = round((idle["rss_after_kb"] - idle["rss_before_kb"]) / args.sessions, 2)
    return {
        "rss_warm_kb": warm_kb,
        "sessions": sessions,
        "idle": idle,
        "stream": {
            "streams": args.streams,
            "rss_before_kb": stream_before,
            "rss_after_kb": stream_after,
            "open_s": round(stream_seconds, 3),
        },
        "idle_kb_per_session": idle_kb,
        "stream_kb_per_session": round((stream_after - stream_before) / args.streams, 2),
        "server_open_files": open_files_limit(pid),
        "reconnects": reconnects,
    }


def run_asyncio(coroutine: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def measure(peer: Peer, args: argparse.Namespace, cpu: int | None, progress: Any) -> dict[str, Any]:
    """One peer: its server started, measured, stopped; or ``{"error": ...}``."""
    port = free_port()
    try:
        with server(peer, port, cpu) as process:
            started = time.perf_counter()
            coroutine = measure_peer(process.pid, port, args, sessions=peer.sessions)
            result: dict[str, Any] = run_asyncio(asyncio.wait_for(coroutine, PEER_TIMEOUT))
            result["seconds"] = round(time.perf_counter() - started, 2)
    except (BenchError, ResponseError, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
        progress(f"  memory {peer.name}: FAILED: {exc!r}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    idle = result["idle_kb_per_session"]
    progress(
        f"  memory {peer.name}: idle {'n/a' if idle is None else f'{idle:.2f}'} KB/session, "
        f"with a GET stream {result['stream_kb_per_session']:.2f} KB/session "
        f"({result['seconds']:.1f} s)"
    )
    return result


# -- command line -------------------------------------------------------------


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memory",
        description="Server RSS per 2025-11-25 session, idle and with a GET stream held open.",
    )
    parser.add_argument(
        "--peers",
        nargs="+",
        metavar="PEER",
        choices=sorted(name for name, peer in PEERS.items() if measurable(peer)),
        help=f"peers to measure (default: {' '.join(DEFAULT_PEERS)})",
    )
    parser.add_argument("--sessions", type=int, default=2000, help="idle sessions (default 2000)")
    parser.add_argument(
        "--streams", type=int, default=500, help="sessions with a GET stream (default 500)"
    )
    parser.add_argument(
        "--connections", type=int, default=4, help="keep-alive connections that open sessions"
    )
    parser.add_argument(
        "--warmup-sessions", type=int, default=100, help="sessions opened before the baseline"
    )
    parser.add_argument("--settle", type=float, default=1.0, help="s to wait before reading RSS")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="s per request")
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,LOADGEN_CPU (default: 2 first)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 9000 or not 1 <= args.streams <= 9000:
        parser.error("--sessions and --streams must be between 1 and 9000")
    if not 1 <= args.connections <= 64 or not 0 <= args.warmup_sessions <= 1000:
        parser.error("--connections must be 1..64, --warmup-sessions 0..1000")
    if not 0 <= args.settle <= 30 or args.request_timeout <= 0:
        parser.error("--settle must be 0..30 s, --request-timeout > 0")
    return args


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Measure every peer in turn; the summary ``report.memory_text_table`` prints."""
    names = args.peers or list(DEFAULT_PEERS)
    soft, hard = raise_open_files_limit()
    needed = args.streams + args.connections + max(1, args.warmup_sessions // 10) + FD_MARGIN
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise SystemExit(
            f"{needed} file descriptors needed, the limit is {soft} (hard {hard}): "
            "lower --streams or raise the hard limit (ulimit -Hn)"
        )
    server_cpu, _load_cpu, pinning = choose_cpus(args.cpus)
    pinning = pinning.split(", load generator")[0]  # the client here is not pinned
    progress(
        f"bench.memory: {len(names)} peers, {args.sessions} idle sessions, "
        f"{args.streams} with a GET stream; {pinning}"
    )
    peers = {name: measure(PEERS[name], args, server_cpu, progress) for name in names}
    measured = {name: result for name, result in peers.items() if "error" not in result}
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "sessions": args.sessions,
            "streams": args.streams,
            "connections": args.connections,
            "warmup_sessions": args.warmup_sessions,
            "settle": args.settle,
            "pinning": pinning,
            "loadgen_open_files": f"{soft}/{hard}",
        },
        "machine": machine(),
        "peers": peers,
        "goals": goals.evaluate_memory(measured),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)

    def progress(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    summary = run(args, progress)
    print(report.memory_text_table(summary))
    report.write_outputs(summary, args.json, args.markdown, report.memory_markdown_table)
    return 1 if any("error" in result for result in summary["peers"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

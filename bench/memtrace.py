"""Where a peer's memory per session goes: tracemalloc inside its server.

    python -m bench.memtrace                          # mcpfleet, 500 sessions with a GET stream
    python -m bench.memtrace --idle --count 2000      # idle sessions instead
    python -m bench.memtrace --peer floor             # GET streams on the floor (no session)

``python -m bench.memory`` says how much RSS a session costs; this says where
it goes. It starts the peer's ASGI app (``asgi_app`` of its module, as
``python -m bench.profile`` does) under uvicorn with the same settings (for
mcpfleet, those of ``mcpfleet serve``: ``mcpfleet.runner.UVICORN_OPTIONS``), with
``tracemalloc`` on and one extra route, ``GET /__snapshot``, that collects
garbage and dumps a snapshot. It warms the server up as ``bench.memory`` does,
takes a snapshot, opens ``--count`` sessions (idle, or each with a GET stream),
takes another and prints the growth per session: its total, the part
allocated with no frame of ``--focus`` on the stack (uvicorn, httptools,
uvloop, asyncio: what every server on uvicorn pays; mcpfleet's subclass of
uvicorn's protocol does not count as a frame of mcpfleet), and the rest grouped by
the innermost ``--focus`` frame (``file:line``), each with its largest
allocation sites.

tracemalloc sees Python's allocators only, and its own bookkeeping inflates the
server's RSS: read the sizes here as shares, and RSS from ``bench.memory``.
A diagnosis tool, not a benchmark: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import linecache
import sys
import tempfile
import tracemalloc
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

if __package__ in (None, ""):  # run as a script: python bench/memtrace.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.memory import Client, raise_open_files_limit, run_asyncio
from bench.peers import PEERS
from bench.run import HOST, ROOT, choose_cpus, free_port, server

FOCUS = {"mcpfleet": "/mcpfleet/", "floor": "/bench/apps/"}  # default: the SDK's package
SDK_FOCUS = "/site-packages/mcp/"
OUTSIDE = "(no focus frame: uvicorn, httptools, uvloop, asyncio)"
# Frames that do not own what is allocated under them: mcpfleet's subclass of uvicorn's
# protocol, whose allocations are uvicorn's own.
NOT_OWNERS = ("/mcpfleet/transport/uvicorn_protocol.py",)


# -- the server side ----------------------------------------------------------


def traced_app(inner: Any) -> Any:
    """``inner`` with ``GET /__snapshot?path=...``: gc, then a tracemalloc snapshot to path."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/__snapshot":
            path = parse_qs(scope["query_string"].decode())["path"][0]
            gc.collect()
            tracemalloc.take_snapshot().dump(path)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        await inner(scope, receive, send)

    return app


def serve(argv: Sequence[str]) -> None:
    """``--serve PEER``: the peer's app, traced, under uvicorn."""
    import importlib

    from bench.apps import _serve

    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", required=True, choices=sorted(PEERS))
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args(argv)
    tracemalloc.start(args.frames)
    peer = PEERS[args.serve]
    module = importlib.import_module(peer.module)
    inner = module.asgi_app(["--host", args.host, "--port", str(args.port), *peer.args])
    if peer.name.startswith("mcpfleet"):  # uvicorn as `mcpfleet serve` runs it
        import uvicorn

        from mcpfleet.runner import UVICORN_OPTIONS

        options = {"loop": "uvloop", "log_level": "warning", **UVICORN_OPTIONS}
        uvicorn.run(traced_app(inner), host=args.host, port=args.port, **options)
        return
    _serve.run_uvicorn(traced_app(inner), args.host, args.port)


# -- the driver ---------------------------------------------------------------


async def _snapshot(port: int, path: Path) -> None:
    """Ask the server for a snapshot (bounded by the caller's wait_for)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        request = f"GET /__snapshot?path={quote(str(path))} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n"
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"snapshot failed: {head[:60]!r}")
    finally:
        writer.close()


async def drive(port: int, args: argparse.Namespace, sessions: bool, folder: Path) -> None:
    client = Client(port, 60.0)  # tracemalloc slows the server down
    try:
        await client.connect(args.connections)
        if sessions:
            await client.open_many(100, streams=False)
            await client.call_echo(0, await client.session(0))
        await client.open_many(10, streams=True, sessions=sessions)
        await asyncio.sleep(0.5)
        await asyncio.wait_for(_snapshot(port, folder / "before.snap"), 120.0)
        streams = not args.idle
        await client.open_many(args.count, streams=streams, sessions=sessions)
        await asyncio.sleep(0.5)
        await asyncio.wait_for(_snapshot(port, folder / "after.snap"), 120.0)
    finally:
        await client.close()


def _site(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for marker in ("/site-packages/", "/src/", f"{ROOT}/"):
        if marker in name:
            name = name.split(marker, 1)[1]
            break
    else:
        if "/lib/python" in name:  # the standard library: asyncio/locks.py
            name = name.split("/lib/python", 1)[1].split("/", 1)[-1]
        else:
            name = name.rsplit("/", 1)[-1]
    return f"{name}:{frame.lineno}"


def attribute(before: Path, after: Path, count: int, focus: str, top: int) -> str:
    """The growth between two snapshots per unit, by the innermost ``focus`` frame."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old = tracemalloc.Snapshot.load(str(before)).filter_traces(ignore)
    new = tracemalloc.Snapshot.load(str(after)).filter_traces(ignore)
    owners: collections.Counter[str] = collections.Counter()
    leaves: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for stat in new.compare_to(old, "traceback"):
        if not stat.size_diff:
            continue
        frames = list(stat.traceback)  # oldest first
        mine = [
            frame
            for frame in frames
            if focus in frame.filename and not frame.filename.endswith(NOT_OWNERS)
        ]
        if mine:
            frame = mine[-1]
            line = linecache.getline(frame.filename, frame.lineno).strip()[:72]
            owner = f"{_site(frame)}  {line}"
        else:
            owner = OUTSIDE
        owners[owner] += stat.size_diff
        leaves[owner][_site(frames[-1])] += stat.size_diff
    total = sum(owners.values())
    outside = owners.get(OUTSIDE, 0)
    lines = [
        f"traced growth: {total / count:,.0f} B per unit; {outside / count:,.0f} B with no "
        f"{focus} frame, {(total - outside) / count:,.0f} B under it",
        "",
        f"{'B/unit':>7} {'share':>6}  innermost {focus} frame  [largest allocation sites, B/unit]",
    ]
    for owner, size in owners.most_common(top):
        sites = ", ".join(f"{site} {b / count:,.0f}" for site, b in leaves[owner].most_common(3))
        lines.append(f"{size / count:7,.0f} {size / total:6.1%}  {owner}")
        lines.append(f"{'':16}[{sites}]")
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memtrace", description=__doc__)
    parser.add_argument("--peer", default="mcpfleet", choices=sorted(PEERS))
    parser.add_argument("--count", type=int, default=500, help="sessions (or streams) to open")
    parser.add_argument("--idle", action="store_true", help="idle sessions, no GET streams")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--frames", type=int, default=30, help="tracemalloc frames kept")
    parser.add_argument("--focus", help="path part whose frames own an allocation")
    parser.add_argument("--top", type=int, default=25, help="owners to print")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 5000 or not 1 <= args.frames <= 100:
        parser.error("--count must be 1..5000, --frames 1..100")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--serve" in argv:
        serve(argv)
        return 0
    args = arguments(argv)
    peer = PEERS[args.peer]
    sessions = peer.sessions
    if args.idle and not sessions:
        raise SystemExit(f"{peer.name} has no sessions: --idle does not apply")
    raise_open_files_limit()
    focus = args.focus or FOCUS.get(peer.name, SDK_FOCUS)
    traced = replace(
        peer, module="bench.memtrace", args=("--serve", peer.name, "--frames", str(args.frames))
    )
    server_cpu, _load_cpu, _pinning = choose_cpus(None)
    with tempfile.TemporaryDirectory(prefix="memtrace-") as tmp:
        folder = Path(tmp)
        port = free_port()
        with server(traced, port, server_cpu):
            run_asyncio(asyncio.wait_for(drive(port, args, sessions, folder), 600))
        what = "idle session" if args.idle else "session with a GET stream"
        if not sessions:
            what = "GET stream (no session)"
        print(f"{peer.name}: {args.count} x {what}; tracemalloc, {args.frames} frames")
        print(attribute(folder / "before.snap", folder / "after.snap", args.count, focus, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())

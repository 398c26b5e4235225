"""The load generator's ceiling: how many calls/s it can drive against a server that does nothing.

    python -m bench.ceiling --serve --port 3000   # the trivial server alone
    python -m bench.ceiling                       # measure: trivial server + load generator

The trivial server is an asyncio protocol (uvloop) that splits the byte stream
into requests by ``Content-Length``, copies the JSON-RPC id out of the body and
answers with fixed bytes: the echo scenario's right answer. No HTTP parser, no
JSON parser, no ASGI. Whatever rate the load generator reaches against it, with
its own CPU at or near 100%, is the most it can measure; a peer whose rate is
well below that was measured, not the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.peers import FLOOR, Peer

_RESULT = b',"result":{"content":[{"type":"text","text":"hello"}]}}'
_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "

PEER = Peer(
    "trivial",
    FLOOR,
    "asyncio protocol on uvloop: split by Content-Length, copy the id, answer fixed bytes",
    "bench.ceiling",
    ("--serve",),
    health_path=None,
    scenarios=frozenset({"echo"}),
    default=False,
    sessions=False,
)


class Trivial(asyncio.Protocol):
    """One connection: requests in, fixed answers out, in order."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            lower = self.buffer[:head_end].lower()
            at = lower.find(b"content-length:")
            length = 0
            if at >= 0:
                line_end = lower.find(b"\r\n", at)
                length = int(lower[at + 15 : line_end if line_end >= 0 else None])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                break
            body = self.buffer[head_end + 4 : end]
            self.buffer = self.buffer[end:]
            start = body.find(b'"id":') + 5
            request_id = body[start : body.find(b",", start)]
            answer = b'{"jsonrpc":"2.0","id":' + request_id + _RESULT
            out.append(_HEAD + str(len(answer)).encode() + b"\r\n\r\n" + answer)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Trivial, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def measure(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """The load generator against the trivial server: ``args`` as for ``bench.run``."""
    from bench.run import BenchError, choose_cpus, run_peer

    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    try:
        result: dict[str, Any] = run_peer(PEER, args, "echo", (server_cpu, load_cpu))
    except BenchError as exc:
        progress(f"  load generator ceiling: FAILED: {exc}")
        return {"error": str(exc), "pinning": pinning}
    progress(
        f"  load generator ceiling: {result['calls_per_s']:,.0f} calls/s at "
        f"{result['loadgen_cpu_util']:.0%} of its CPU (trivial server at "
        f"{result['server_cpu_util'] or 0:.0%})"
    )
    result.update(concurrency=args.concurrency, pinning=pinning)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    parser.add_argument("--serve", action="store_true", help="only serve (what the harness runs)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--request-timeout", type=float, default=10.0)
    parser.add_argument("--cpus", default=None, help="SERVER_CPU,LOADGEN_CPU")
    args = parser.parse_args(argv)
    if args.serve:
        try:
            import uvloop
        except ImportError:
            runner: Any = asyncio.run
        else:
            runner = uvloop.run
        with contextlib.suppress(KeyboardInterrupt):
            runner(serve(args.host, args.port))
        return 0
    if args.cpus is not None:
        from bench.run import _cpu_pair

        args.cpus = _cpu_pair(args.cpus)
    result = measure(args, lambda text: print(text, file=sys.stderr, flush=True))
    print(
        f"load generator ceiling: {result.get('calls_per_s', 0):,.0f} calls/s, "
        f"p50 {result.get('p50_ms')} ms, p99 {result.get('p99_ms')} ms, "
        f"load generator CPU {result.get('loadgen_cpu_util', 0):.0%}"
    )
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())

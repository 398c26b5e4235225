"""A peer's cost per call through uvicorn's own HTTP protocol, in-process, without sockets.

    python -m bench.wire                                  # mcpfleet and the floor, echo
    python -m bench.wire --peers mcpfleet floor --rounds 1000 --connections 32

``bench.profile`` hands requests straight to a peer's ASGI app; this feeds the wire bytes
of the load generator's requests to the protocol class the peer's server would run
(``mcpfleet serve``'s, from its settings, for an mcpfleet peer; uvicorn's httptools
protocol for the others), on ``connections`` connections at once, each with a transport
that keeps nothing. So it counts what a server spends per call in uvicorn, its request
cycles and the app, everything but the system calls and the kernel.

Its figures vary with the machine's load as any timing does; the instructions a call
costs do not. For those, run it twice under callgrind with two numbers of rounds and
divide the difference of the totals by the difference of the calls::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python -m bench.wire --peers mcpfleet --rounds 100

``--scenario session-echo`` opens a 2025-11-25 session on each connection first, as the
load generator does. A Redis peer (``mcpfleet-redis``) gets a redis-server of its own;
its sessions are read from Redis once every SESSION_CACHE_SECONDS each (the session
cache, 30 s by default), so its figure can depend on time: under callgrind, 50 times
slower, those reads come 50 times as often.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench.client import RequestTemplate, open_session, read_response, session_headers
from bench.loadgen import check_response
from bench.peers import PEERS
from bench.profile import HOST, IN_PROCESS, PORT, peer_app
from bench.scenarios import get as get_scenario
from bench.services import redis_server
from mcpfleet.transport.asgi import McpApp
from mcpfleet.transport.open_connections import OpenConnections
from mcpfleet.transport.uvicorn_protocol import serving_protocol

WARMUP_ROUNDS = 200


class Discarding(asyncio.Transport):
    """A transport that counts what is written and keeps none of it (but the first
    connection's, to check its answers)."""

    def __init__(self, keep: bool = False) -> None:
        super().__init__()
        self.written = 0
        self.closed = False
        self.kept: bytearray | None = bytearray() if keep else None
        self.reader: asyncio.StreamReader | None = None  # while a session opens

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": (HOST, PORT), "peername": (HOST, 50000)}.get(name, default)

    def write(self, data: Any) -> None:
        self.written += len(data)
        if self.reader is not None:
            self.reader.feed_data(bytes(data))
        if self.kept is not None:
            self.kept += data

    def writelines(self, data: Any) -> None:
        for part in data:
            self.write(part)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Feeding:
    """The client side's writer of one connection: what it writes, the protocol receives."""

    def __init__(self, protocol: HttpToolsProtocol) -> None:
        self.protocol = protocol

    def write(self, data: bytes) -> None:
        self.protocol.data_received(data)


async def open_sessions(
    open_: list[tuple[HttpToolsProtocol, Discarding]], extra: Sequence[tuple[str, str]]
) -> list[list[tuple[str, str]]]:
    """A 2025-11-25 session on each connection, opened as the load generator opens one;
    the headers each connection's calls then carry."""
    headers = []
    for number, (protocol, transport) in enumerate(open_):
        transport.reader = reader = asyncio.StreamReader()
        writer: Any = Feeding(protocol)
        session = await open_session(
            reader,
            writer,
            host=HOST,
            port=PORT,
            path="/mcp",
            request_id=-1 - number,
            headers=extra,
        )
        transport.reader = None
        headers.append([*extra, *session_headers(session)])
    return headers


def protocol_for(app: Any) -> type[HttpToolsProtocol]:
    """The protocol class the peer's server runs."""
    if isinstance(app, McpApp):
        settings = app.config
        protocol, _ = serving_protocol(
            lean=settings.lean_http,
            header_timeout=settings.header_timeout_seconds,
            connections=OpenConnections(settings.max_connections),
        )
        return protocol
    return HttpToolsProtocol


async def responses_complete(protocols: Sequence[Any], patience: float) -> None:
    """Return once every protocol's response is complete: after up to 1,000 turns of the
    loop, then ``patience`` more seconds; ``RuntimeError`` if one is still not."""
    for _ in range(1000):
        await asyncio.sleep(0)
        if all(protocol.cycle.response_complete for protocol in protocols):
            return
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        if all(protocol.cycle.response_complete for protocol in protocols):
            return
    raise RuntimeError("a response did not complete")


async def measure(
    app: Any, extra: Sequence[tuple[str, str]], connections: int, rounds: int, scenario: str
) -> tuple[float, int]:
    """CPU µs per call over ``rounds`` rounds of one request on each connection, and the
    response bytes of the last round (whose first answer is checked)."""
    if isinstance(app, McpApp):
        await app.startup()
    protocol_class = protocol_for(app)
    config = uvicorn.Config(
        app, http=protocol_class, lifespan="off", proxy_headers=False, access_log=False
    )
    config.load()
    state = ServerState()
    loop = asyncio.get_running_loop()
    open_ = []
    for number in range(connections):
        transport = Discarding(keep=number == 0)
        protocol = protocol_class(config=config, server_state=state, app_state={}, _loop=loop)
        protocol.connection_made(transport)
        open_.append((protocol, transport))
    known = get_scenario(scenario)
    each = await open_sessions(open_, extra) if known.session else [list(extra)] * connections
    templates = [RequestTemplate(known, HOST, PORT, "/mcp", headers) for headers in each]
    request_id = 0
    first_id = 0  # the first connection's request of the round

    async def one_round(patience: float = 0.0) -> None:
        """One request on each connection; ``patience``: seconds to wait beyond the
        immediate turns of the loop (a warm-up round may fetch keys or open sessions)."""
        nonlocal request_id, first_id
        first_id = request_id + 1
        for (protocol, transport), template in zip(open_, templates, strict=True):
            request_id += 1
            transport.written = 0
            if transport.kept is not None:
                transport.kept.clear()
            protocol.data_received(template.build(request_id))
        await responses_complete([protocol for protocol, _ in open_], patience)

    for _ in range(WARMUP_ROUNDS):
        await one_round(patience=30.0)
    gc.collect()
    started = time.process_time()
    for _ in range(rounds):
        await one_round()
    spent = time.process_time() - started
    kept = open_[0][1].kept
    assert kept is not None
    reader = asyncio.StreamReader()
    reader.feed_data(bytes(kept))
    reader.feed_eof()
    check_response(known, await read_response(reader), first_id)  # the right answer
    if isinstance(app, McpApp):
        await app.aclose()
    return spent / (rounds * connections) * 1e6, sum(t.written for _, t in open_)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.wire", description=__doc__)
    parser.add_argument("--peers", nargs="+", metavar="PEER", choices=IN_PROCESS)
    parser.add_argument(
        "--scenario", default="echo", help="echo, session-echo, ... (a twin runs in sessions)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=500, help="measured rounds per peer")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    names = args.peers or ["mcpfleet", "floor"]
    for name in names:
        peer = PEERS[name]
        scenario = peer.wire_scenario(args.scenario)
        with contextlib.ExitStack() as stack:
            if peer.redis:  # fleet state in a redis-server of its own, as bench.run gives it
                redis = stack.enter_context(redis_server(None))
                peer = dataclasses.replace(peer, env={**peer.env, "REDIS_URL": redis.url})
            app, headers = stack.enter_context(peer_app(peer))
            per_call, written = uvloop.run(
                measure(app, headers, args.connections, args.rounds, scenario)
            )
        print(
            f"{name}: {per_call:.2f} µs CPU per call, {scenario} ({written} response bytes a round)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

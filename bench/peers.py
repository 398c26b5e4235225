"""The peer registry: the servers a benchmark run starts, one at a time, on their own core.

A peer is a command that serves the echo tool at ``/mcp`` on a given host and
port. Its role says what the report compares it with:

- ``subject``: mcpfleet, the server being measured;
- ``baseline``: another MCP server; throughput goals compare the subject with
  the fastest baseline of the run;
- ``floor``: the least a server can do; CPU goals compare the subject with it.

A peer with ``sessions=False`` (the floor; the SDK in stateless mode) has no
2025-11-25 sessions and does not run the scenarios that need them.

Add a peer by adding an entry to ``PEERS`` (and its app under ``bench/apps/``).
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass, field

from bench.scenarios import SCENARIOS

SUBJECT = "subject"
BASELINE = "baseline"
FLOOR = "floor"


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    role: str
    description: str
    module: str
    args: tuple[str, ...] = ()
    health_path: str | None = "/healthz"
    scenarios: frozenset[str] | None = None  # None: every scenario
    default: bool = True  # run when no --peers are given
    env: dict[str, str] = field(default_factory=dict)
    sessions: bool = True  # serves 2025-11-25 sessions (initialize, Mcp-Session-Id)
    # Fleet state in a redis-server the harness starts (on the load generator's CPU) and
    # stops with the server; its URL goes to the server as REDIS_URL.
    redis: bool = False

    def command(self, host: str, port: int) -> list[str]:
        return [sys.executable, "-m", self.module, "--host", host, "--port", str(port), *self.args]

    def serves(self, scenario: str) -> bool:
        if self.scenarios is not None and scenario not in self.scenarios:
            return False
        known = SCENARIOS.get(scenario)
        return self.sessions or known is None or not known.session


_SDK = "bench.apps.sdk_echo"
# The request-state key of every mcpfleet task of a fleet (id:base64, >= 32 bytes): the same
# on every task, so a requestState one seals verifies on any.
STATE_KEYS = "bench:" + base64.b64encode(b"mcpfleet-bench-request-state-key").decode()

PEERS: dict[str, Peer] = {
    p.name: p
    for p in (
        Peer(
            "mcpfleet",
            SUBJECT,
            "mcpfleet serve (uvicorn, uvloop, httptools), async echo tool",
            "bench.apps.mcpfleet_echo",
        ),
        Peer(
            "mcpfleet-redis",
            SUBJECT,
            "the same mcpfleet app with REDIS_URL: sessions in a redis-server (fleet state)",
            "bench.apps.mcpfleet_echo",
            scenarios=frozenset({"session-echo"}),  # 2026-07-28 calls keep no state
            env={"REQUEST_STATE_KEYS": STATE_KEYS, "DRAIN_DELAY_SECONDS": "0"},
            redis=True,
        ),
        Peer(
            "sdk-json",
            BASELINE,
            "mcp 2.3.0 MCPServer, streamable_http_app(json_response=True), def echo",
            _SDK,
            ("--json-response", "--tool", "sync"),
        ),
        Peer(
            "sdk-json-async",
            BASELINE,
            "mcp 2.3.0 MCPServer, json_response=True, async def echo",
            _SDK,
            ("--json-response", "--tool", "async"),
        ),
        Peer(
            "sdk-json-stateless",
            BASELINE,
            "mcp 2.3.0 MCPServer, json_response=True, stateless_http=True, async def echo",
            _SDK,
            ("--json-response", "--stateless", "--tool", "async"),
            default=False,
            sessions=False,
        ),
        Peer(
            "sdk-sse",
            BASELINE,
            "mcp 2.3.0 MCPServer, default streamable_http_app() (SSE mode), def echo",
            _SDK,
            ("--no-json-response", "--tool", "sync"),
            default=False,
        ),
        Peer(
            "floor",
            FLOOR,
            "raw ASGI app on uvicorn: orjson parse, answer the same JSON-RPC result",
            "bench.apps.floor",
            sessions=False,
        ),
    )
}


def default_names() -> list[str]:
    return [name for name, peer in PEERS.items() if peer.default]


def select(names: list[str] | None) -> list[Peer]:
    if not names:
        return [PEERS[name] for name in default_names()]
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    return [PEERS[name] for name in dict.fromkeys(names)]

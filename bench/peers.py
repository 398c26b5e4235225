"""The peer registry: the servers a benchmark run starts, one at a time, on their own core.

A peer is a command that serves the echo tool at ``/mcp`` on a given host and
port. Its role says what the report compares it with:

- ``subject``: mcpfleet, the server being measured;
- ``baseline``: another MCP server; throughput goals compare the subject with
  the fastest baseline of the run;
- ``floor``: the least a server can do; CPU goals compare the subject with it.

A peer with ``sessions=False`` (the floor; the SDK in stateless mode) has no
2025-11-25 sessions and does not run the scenarios that need them. A peer runs only the
workloads (``bench.workloads``) its app has tools for (``scenarios``).

A peer with ``issuer=True`` verifies OAuth bearer tokens: for each run the harness
starts a token issuer on loopback (``bench.issuer``), gives the server the
``AUTH_*`` settings that point at it and the load generator the token, which it
sends with every request.

Its runtime says what runs it: ``main`` is this interpreter; ``mcp`` (mcp 2.3.0),
``fastmcp`` (FastMCP 4.x) and ``node`` (the TypeScript SDK 1.x) are installed each into
a folder of its own under ``.bench-peers/`` by ``bench.setup_peers`` (``command()``
installs one on first use; ``setup_peers.ensure(peers)`` gives the versions for a report).

Add a peer by adding an entry to ``PEERS`` (and its app under ``bench/apps/``).
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass, field

from bench.scenarios import SCENARIOS, WORKLOAD_NAMES

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
    # Verifies bearer tokens (AUTH_ISSUER): the harness runs a token issuer (bench.issuer)
    # for each run and the load generator sends its one token with every request.
    issuer: bool = False
    # Speaks 2026-07-28. A peer that does not (the TypeScript SDK 1.x) runs each 2026-07-28
    # scenario as its 2025-11-25 session equivalent (``Scenario.legacy``); the report says so.
    modern: bool = True
    # Runs each 2026-07-28 scenario as its 2025-11-25 session twin although it speaks
    # 2026-07-28: mcpfleet on Redis, whose fleet state lives in sessions (a 2026-07-28 call
    # keeps none, so it would never touch Redis).
    twin: bool = False
    # Can answer a call with an SSE stream carrying progress notifications before the result
    # (a peer in JSON-response mode cannot): required by the progress scenarios.
    progress: bool = True
    # What runs ``module``: "main" (this interpreter) or a runtime of bench.setup_peers
    # ("mcp", "fastmcp": a venv of its own; "node": ``module`` is a bench/apps .mjs file).
    runtime: str = "main"
    # Worker threads running ``def`` tools (the blocking workloads): a pool of N threads
    # serves at most N calls of a 50 ms blocking tool per 50 ms.
    threads: int | None = None
    # Traces and metrics exported over OTLP/HTTP: the harness runs a sink that accepts and
    # discards them (bench.otlp_sink) for each run, on the load generator's CPU, and gives
    # the server OTEL_EXPORTER_OTLP_ENDPOINT.
    otlp: bool = False

    def command(self, host: str, port: int) -> list[str]:
        arguments = ["--host", host, "--port", str(port), *self.args]
        if self.runtime == "main":
            return [sys.executable, "-m", self.module, *arguments]
        from bench import setup_peers  # installs the runtime the first time

        return setup_peers.command(self.runtime, self.module, arguments)

    def wire_scenario(self, scenario: str) -> str:
        """The scenario this peer actually runs for ``scenario``: itself, or its legacy twin."""
        known = SCENARIOS.get(scenario)
        if known is None or known.session or known.legacy is None:
            return scenario
        if self.modern and not self.twin:
            return scenario
        return known.legacy

    def serves(self, scenario: str) -> bool:
        if self.scenarios is not None and scenario not in self.scenarios:
            return False
        known = SCENARIOS.get(self.wire_scenario(scenario))
        if known is None:
            return True
        if known.session and not self.sessions:
            return False
        if not known.session and not self.modern:
            return False
        return self.progress or not known.progress


_SDK = "bench.apps.sdk_echo"
_TARGET = "bench.apps.mcpfleet_target"  # mcpfleet serve TARGET [--without PACKAGE]
_SDK_APP = "bench.apps.sdk_server"  # an existing MCPServer app: one async def echo
_FASTMCP = "bench.apps.fastmcp_echo"
_TS = "ts_echo.mjs"  # bench/apps/ts_echo.mjs, linked into the node runtime's folder
_BOTH = frozenset({"echo", "echo-4k"})  # what the floor answers: a tools/call with a text
# The scenarios before issue 18's workloads: what an app serving only echo and progress
# (FastMCP's) runs.
_CLASSIC = frozenset(SCENARIOS) - WORKLOAD_NAMES
# The workloads a JavaScript server has an equivalent for (no blocking call in Node.js; no
# boto3): the async tool and the payloads.
_NODE_WORKLOADS = frozenset(
    name
    for base in ("async-50ms", "resource-1m", "argument-256k")
    for name in (base, f"session-{base}")
)
# mcpfleet's default TOOL_THREADS; the tokens of anyio's default thread limiter, through
# which mcp 2.3.0 runs a def tool.
TOOL_THREADS = 64
SDK_THREADS = 40
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
            env={"DRAIN_DELAY_SECONDS": "0"},  # stops at once: no load balancer to wait for
            threads=TOOL_THREADS,
        ),
        Peer(
            "mcpfleet-redis",
            SUBJECT,
            "the same mcpfleet app with REDIS_URL: sessions in a redis-server (fleet state)",
            "bench.apps.mcpfleet_echo",
            # 2026-07-28 calls keep no state: it runs the workloads in sessions (their twins)
            scenarios=frozenset({"session-echo", "handshake"}) | WORKLOAD_NAMES,
            env={"REQUEST_STATE_KEYS": STATE_KEYS, "DRAIN_DELAY_SECONDS": "0"},
            redis=True,
            twin=True,
            threads=TOOL_THREADS,
        ),
        Peer(
            "mcpfleet-jwt",
            SUBJECT,
            "the same mcpfleet app with AUTH_ISSUER: every request carries an RS256 bearer "
            "token (one for the run), verified with PyJWT, then from the verified-token cache",
            "bench.apps.mcpfleet_echo",
            scenarios=_BOTH,  # what authentication costs a call; sessions add nothing to it
            env={"DRAIN_DELAY_SECONDS": "0"},
            issuer=True,
        ),
        Peer(
            "sdk-json",
            BASELINE,
            "mcp 2.3.0 MCPServer, streamable_http_app(json_response=True), def echo",
            _SDK,
            ("--json-response", "--tool", "sync"),
            progress=False,  # JSON responses: it drops the progress notifications
            runtime="mcp",
            threads=SDK_THREADS,
        ),
        Peer(
            "sdk-json-async",
            BASELINE,
            "mcp 2.3.0 MCPServer, json_response=True, async def echo",
            _SDK,
            ("--json-response", "--tool", "async"),
            progress=False,
            runtime="mcp",
            threads=SDK_THREADS,
        ),
        Peer(
            "sdk-json-stateless",
            BASELINE,
            "mcp 2.3.0 MCPServer, json_response=True, stateless_http=True, async def echo",
            _SDK,
            ("--json-response", "--stateless", "--tool", "async"),
            default=False,
            sessions=False,
            progress=False,
            runtime="mcp",
            threads=SDK_THREADS,
        ),
        Peer(
            "sdk-sse",
            BASELINE,
            "mcp 2.3.0 MCPServer, default streamable_http_app() (SSE mode), async def echo",
            _SDK,
            ("--no-json-response", "--tool", "async"),
            runtime="mcp",
            threads=SDK_THREADS,
        ),
        Peer(
            "fastmcp",
            BASELINE,
            "FastMCP 4.x http_app() (its default: stateful, SSE responses), async def echo",
            _FASTMCP,
            scenarios=_CLASSIC,  # its app serves echo and progress only
            runtime="fastmcp",
        ),
        Peer(
            "fastmcp-json",
            BASELINE,
            "FastMCP 4.x http_app(json_response=True), stateful, async def echo",
            _FASTMCP,
            ("--json-response",),
            progress=False,  # JSON responses: it drops the progress notifications
            scenarios=_CLASSIC,  # its app serves echo and progress only
            runtime="fastmcp",
        ),
        Peer(
            "fastmcp-stateless",
            BASELINE,
            "FastMCP 4.x http_app(stateless_http=True), SSE responses, async def echo",
            _FASTMCP,
            ("--stateless",),
            default=False,
            sessions=False,
            scenarios=_CLASSIC,  # its app serves echo and progress only
            runtime="fastmcp",
        ),
        Peer(
            "ts-sdk",
            BASELINE,
            "TypeScript SDK 1.x McpServer, StreamableHTTPServerTransport per session "
            "(enableJsonResponse), node:http",
            _TS,
            ("--json",),
            scenarios=_CLASSIC | _NODE_WORKLOADS,
            modern=False,  # 2025-11-25 only: 2026-07-28 scenarios run as their legacy twin
            progress=False,  # JSON responses: it drops the progress notifications
            runtime="node",
        ),
        Peer(
            "ts-sdk-sse",
            BASELINE,
            "TypeScript SDK 1.x McpServer, StreamableHTTPServerTransport per session "
            "(SSE responses), node:http",
            _TS,
            scenarios=_CLASSIC,  # the workloads: in its JSON configuration only
            modern=False,
            runtime="node",
        ),
        # Issue 16 (bench.extras): tracing off and on, and an SDK app served by mcpfleet.
        Peer(
            "mcpfleet-no-otel",
            SUBJECT,
            "the mcpfleet app with OpenTelemetry not importable (as without the otel extra)",
            _TARGET,
            ("--without", "opentelemetry"),
            scenarios=_BOTH,
            default=False,
            env={"DRAIN_DELAY_SECONDS": "0"},
        ),
        Peer(
            "mcpfleet-otel",
            SUBJECT,
            "the mcpfleet app with OTEL_EXPORTER_OTLP_ENDPOINT: a span and a duration per "
            "call, exported over OTLP/HTTP to a local sink that discards them",
            "bench.apps.mcpfleet_echo",
            scenarios=_BOTH,
            default=False,
            env={"DRAIN_DELAY_SECONDS": "0"},
            otlp=True,
        ),
        Peer(
            "mcpfleet-sdk-app",
            SUBJECT,
            "mcpfleet serve bench.apps.sdk_server:mcp: an existing mcp 2.3.0 MCPServer app, "
            "served in-process by mcpfleet (mcpfleet.compat)",
            _TARGET,
            ("--target", f"{_SDK_APP}:mcp"),
            scenarios=frozenset({"echo"}),
            default=False,
            env={"DRAIN_DELAY_SECONDS": "0"},
        ),
        Peer(
            "sdk-app",
            BASELINE,
            "the same MCPServer app served by mcp 2.3.0 itself: streamable_http_app("
            "json_response=True, stateless_http=True)",
            _SDK_APP,
            scenarios=frozenset({"echo"}),
            default=False,
            sessions=False,
            progress=False,
            runtime="mcp",
            threads=SDK_THREADS,
        ),
        Peer(
            "floor",
            FLOOR,
            "raw ASGI app on uvicorn: orjson parse, answer the same JSON-RPC result",
            "bench.apps.floor",
            # and the workloads that do not block: a raw app has no thread pool to compare
            scenarios=_BOTH | _NODE_WORKLOADS,
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

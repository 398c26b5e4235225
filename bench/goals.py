"""The goals the report checks, as ratios between peers' medians.

A goal compares the subject with a reference: a named peer, or the best peer
of a role in the run (the fastest baseline for throughput, so the comparison is
with the competitor's fastest configuration). A goal whose peers did not run
is left out of the report.

A goal whose reference is ``IDEAL`` compares the subject's calls/s with the most a run
of a slow-tool scenario can reach: connections ÷ the tool's latency (every connection
always waiting on the tool, nothing else taking any time).

``MEMORY_GOALS`` are absolute: kilobytes of server RSS per 2025-11-25 session,
measured by ``python -m bench.memory``.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.peers import BASELINE, FLOOR, PEERS, SUBJECT
from bench.scenarios import SCENARIOS

# Metrics: name -> (label, whether higher is better).
METRICS = {
    "calls_per_s": ("throughput", True),
    "cpu_us_per_call": ("server CPU per call", False),
    "p99_ms": ("p99 latency", False),
}
_OPS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True, slots=True)
class Goal:
    name: str
    metric: str
    subject: str
    # A peer name, or a role (the best peer of that role in the run), or ABSOLUTE: the
    # subject's own value is compared with ``target`` (in the metric's unit).
    reference: str
    op: str
    target: float
    scenarios: frozenset[str] = frozenset({"echo"})
    concurrency: int | None = 32  # the goal holds at this concurrency only
    source: str = ""
    among: frozenset[str] | None = None  # a role's best peer among these only

    def reference_peer(self, medians: Mapping[str, Mapping[str, Any]]) -> str | None:
        if self.reference not in ROLES:  # a peer, or a configuration of bench.fleet and others
            return self.reference if self.reference in medians else None
        candidates = [
            name
            for name in medians
            if name in PEERS
            and PEERS[name].role == self.reference
            and (self.among is None or name in self.among)
            and medians[name].get(self.metric) is not None
        ]
        if not candidates:
            return None
        higher_better = METRICS[self.metric][1]
        pick = max if higher_better else min
        return pick(candidates, key=lambda name: medians[name][self.metric])

    def evaluate(
        self, scenario: str, concurrency: int, medians: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        if scenario not in self.scenarios or self.subject not in medians:
            return None
        if self.concurrency is not None and concurrency != self.concurrency:
            return None
        mine = medians[self.subject].get(self.metric)
        reference: str | None
        if self.reference == ABSOLUTE:
            reference, ratio = ABSOLUTE, mine
        elif self.reference == IDEAL:
            ideal = ideal_calls_per_s(scenario, concurrency)
            reference = f"{concurrency:,} connections ÷ {SCENARIOS[scenario].tool_seconds:g} s"
            ratio = None if mine is None or not ideal else mine / ideal
        else:
            reference = self.reference_peer(medians)
            theirs = None if reference is None else medians[reference].get(self.metric)
            ratio = None if mine is None or not theirs else mine / theirs
        if ratio is None:
            return None
        return {
            "goal": self.name,
            "metric": self.metric,
            "subject": self.subject,
            "reference": reference,
            "ratio": round(ratio, 3),
            "op": self.op,
            "target": self.target,
            "passed": bool(_OPS[self.op](ratio, self.target)),
            "absolute": self.reference == ABSOLUTE,
            "unit": "ms" if self.metric == "p99_ms" else "x",
            "source": self.source,
        }


ABSOLUTE = "absolute"
IDEAL = "ideal"
ROLES = frozenset({SUBJECT, BASELINE, FLOOR})


def ideal_calls_per_s(scenario: str, concurrency: int) -> float | None:
    """connections ÷ the tool's latency: a slow-tool scenario's most calls/s."""
    seconds = SCENARIOS[scenario].tool_seconds if scenario in SCENARIOS else 0.0
    return concurrency / seconds if seconds else None


TS_SDK_PEERS = frozenset({"ts-sdk", "ts-sdk-sse"})
SDK_PEERS = frozenset({"sdk-json", "sdk-json-async", "sdk-json-stateless", "sdk-sse"})

# Issue 16, measured by ``python -m bench.extras``: the first two in ``bench.run``'s runs of
# ``echo`` (their peers run only when selected), the others by bench.stdio_bench and
# bench.workers_bench, whose configurations stand in for peers.
OTEL_OFF_GOAL = Goal(
    "OpenTelemetry off: server CPU per call, otel extra installed vs not",
    "cpu_us_per_call",
    "mcpfleet",
    "mcpfleet-no-otel",
    "<=",
    1.02,
    source="with the otel extra installed and no OTEL_EXPORTER_OTLP_ENDPOINT, server CPU per "
    "call at most 1.02x that without the extra",
)
SDK_APP_GOAL = Goal(
    "an existing MCPServer app: mcpfleet serve vs the SDK's own HTTP",
    "calls_per_s",
    "mcpfleet-sdk-app",
    "sdk-app",
    ">=",
    4.0,
    source="an existing MCPServer app served by mcpfleet at least 4x the calls/s of the "
    "same app served by the SDK (its fastest configuration) at 32 connections",
)
GOALS: tuple[Goal, ...] = (
    Goal(
        "throughput vs mcp 2.3.0 (fastest config)",
        "calls_per_s",
        "mcpfleet",
        BASELINE,
        ">=",
        5.0,
        among=SDK_PEERS,
        source="2026-07-28 tools/call at 32 concurrent clients >= 5x the throughput of "
        "mcp 2.3.0 in its fastest configuration",
    ),
    Goal(
        "throughput vs the TypeScript SDK 1.x",
        "calls_per_s",
        "mcpfleet",
        BASELINE,
        ">=",
        3.0,
        among=TS_SDK_PEERS,
        source="2026-07-28 tools/call at c32 >= 3x the TypeScript SDK (which speaks only "
        "2025-11-25: it runs the same call in a session)",
    ),
    Goal(
        "p99 latency at 32 connections",
        "p99_ms",
        "mcpfleet",
        ABSOLUTE,
        "<=",
        5.0,
        scenarios=frozenset({"echo", "session-echo"}),
        source="p99 at c32 <= 5 ms",
    ),
    Goal(
        "server CPU per call vs floor",
        "cpu_us_per_call",
        "mcpfleet",
        FLOOR,
        "<=",
        1.35,
        source="server CPU per call at most 1.35x that of a raw ASGI app on uvicorn "
        "(issue 18; 2x before)",
    ),
    Goal(
        "server CPU per call, JWT bearer token vs none",
        "cpu_us_per_call",
        "mcpfleet-jwt",
        "mcpfleet",
        "<=",
        1.15,
        source="JWT-authenticated tools/call at 32 connections costs at most 1.15x the "
        "server CPU per call of unauthenticated calls",
    ),
    Goal(
        "2025-11-25 session throughput vs mcp 2.3.0 json_response=True (faster tool)",
        "calls_per_s",
        "mcpfleet",
        BASELINE,
        ">=",
        5.0,
        scenarios=frozenset({"session-echo"}),
        among=frozenset({"sdk-json", "sdk-json-async"}),  # stateful, json_response=True
        source="2025-11-25 session tools/call at 32 concurrent sessions: "
        "mcpfleet >= 5x mcp 2.3.0 with json_response=True",
    ),
    Goal(
        "2025-11-25 session throughput, Redis state vs memory state",
        "calls_per_s",
        "mcpfleet-redis",
        "mcpfleet",
        ">=",
        0.8,
        scenarios=frozenset({"session-echo"}),
        source="2025-11-25 session tools/call at 32 concurrent sessions with Redis state "
        ">= 0.8x the same with memory state",
    ),
    Goal(
        "blocking 50 ms tool throughput vs mcp 2.3.0 (fastest config)",
        "calls_per_s",
        "mcpfleet",
        BASELINE,
        ">=",
        1.5,
        scenarios=frozenset({"blocking-50ms"}),
        concurrency=64,
        among=SDK_PEERS,
        source="a def tool blocking 50 ms (time.sleep, as boto3 blocks) at 64 connections: "
        "at least 1.5x the SDK's calls/s",
    ),
    Goal(
        "async 50 ms tool throughput vs mcp 2.3.0 (fastest config)",
        "calls_per_s",
        "mcpfleet",
        BASELINE,
        ">=",
        4.0,
        scenarios=frozenset({"async-50ms"}),
        concurrency=1024,
        among=SDK_PEERS,
        source="an async def tool awaiting 50 ms at 1,024 connections: at least 4x the "
        "SDK's calls/s",
    ),
    Goal(
        "async 50 ms tool throughput vs connections ÷ latency",
        "calls_per_s",
        "mcpfleet",
        IDEAL,
        ">=",
        0.9,
        scenarios=frozenset({"async-50ms"}),
        concurrency=1024,
        source="an async def tool awaiting 50 ms at 1,024 connections: at least 90% of "
        "connections ÷ latency, wherever one core allows it",
    ),
    Goal(
        "1 MiB resource read: server CPU per byte vs floor",
        "cpu_us_per_call",
        "mcpfleet",
        FLOOR,
        "<=",
        1.3,
        scenarios=frozenset({"resource-1m"}),
        concurrency=None,
        source="1 MiB payloads at no more than 1.3x the floor's server CPU per byte (the same "
        "bytes per call: the ratio of CPU per call)",
    ),
    OTEL_OFF_GOAL,
    SDK_APP_GOAL,
)

STDIO_GOALS: tuple[Goal, ...] = (
    Goal(
        "stdio tools/call throughput vs the SDK's stdio server",
        "calls_per_s",
        "mcpfleet-stdio",
        "sdk-stdio",
        ">=",
        3.0,
        scenarios=frozenset({"stdio-echo"}),
        concurrency=16,  # calls outstanding (bench.stdio_bench's window)
        source="stdio tools/call at least 3x the SDK's stdio server (a pipelined client: "
        "16 calls outstanding)",
    ),
)
WORKER_GOALS: tuple[Goal, ...] = (
    Goal(
        "2 workers: server CPU per call vs 1 worker (Redis state)",
        "cpu_us_per_call",
        "workers-2",
        "workers-1",
        "<=",
        1.1,
        scenarios=frozenset({"session-echo"}),
        source="mcpfleet serve --workers 2 at most 1.1x the server CPU per call of one "
        "worker (both on Redis state; CPU summed over every process)",
    ),
)
TASK_GOALS: tuple[Goal, ...] = (
    Goal(
        "a task-optional tool answered at once: server CPU per call vs the plain tool",
        "cpu_us_per_call",
        "task-optional",
        "plain",
        "<=",
        1.1,
        scenarios=frozenset({"tasks-echo"}),  # bench.tasks_bench's optional part
        source="issue 15: a task-optional tool that finishes at once costs at most 1.1x the "
        "server CPU per call of the same tool without task support (a client declaring the "
        "tasks extension calls both)",
    ),
)

# ``python -m bench.fleet``: its two configurations stand in for peers, "fleet-redis" (two
# tasks behind HAProxy on one Redis) and "mcpfleet" (one process, memory state).
FLEET_GOALS: tuple[Goal, ...] = (
    Goal(
        "fleet CPU per call vs one process with memory state",
        "cpu_us_per_call",
        "fleet-redis",
        "mcpfleet",
        "<=",
        1.15,
        scenarios=frozenset({"session-echo"}),
        source="fleet CPU per call <= 1.15x one process with memory state (issue 18; "
        "1.25x before) "
        "(server CPU summed over the fleet's mcpfleet processes)",
    ),
)


@dataclass(frozen=True, slots=True)
class MemoryGoal:
    """At most ``target_kb`` of server RSS per session, for the subject."""

    name: str
    metric: str  # a key of a peer's result in bench.memory
    subject: str
    target_kb: float
    source: str = ""

    def evaluate(self, peers: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
        value = peers.get(self.subject, {}).get(self.metric)
        if value is None:
            return None
        others = {
            name: result[self.metric]
            for name, result in peers.items()
            if name != self.subject and result.get(self.metric) is not None
        }
        return {
            "goal": self.name,
            "metric": self.metric,
            "subject": self.subject,
            "value_kb": value,
            "op": "<=",
            "target_kb": self.target_kb,
            "passed": bool(value <= self.target_kb),
            "others": others,
            "source": self.source,
        }


MEMORY_GOALS: tuple[MemoryGoal, ...] = (
    MemoryGoal(
        "idle 2025-11-25 session, RSS per session",
        "idle_kb_per_session",
        "mcpfleet",
        2.0,
        source="idle legacy session <= 2 KB RSS per session (mcp 2.3.0: about 39 KB)",
    ),
    MemoryGoal(
        "session with a GET stream held open, RSS per session",
        "stream_kb_per_session",
        "mcpfleet",
        10.0,
        source="<= 10 KB per session with a GET stream held open (mcp 2.3.0: about 97 KB)",
    ),
)


def evaluate(
    scenario: str, concurrency: int, medians: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The goals that apply to this run, each with its ratio and verdict."""
    results = (goal.evaluate(scenario, concurrency, medians) for goal in GOALS)
    return [result for result in results if result is not None]


def evaluate_fleet(
    scenario: str, concurrency: int, medians: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The fleet goals, from ``python -m bench.fleet``'s medians per configuration."""
    results = (goal.evaluate(scenario, concurrency, medians) for goal in FLEET_GOALS)
    return [result for result in results if result is not None]


def evaluate_configs(
    found: Sequence[Goal], scenario: str, concurrency: int, medians: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Goals between the configurations of one measurement (stdio, workers)."""
    results = (goal.evaluate(scenario, concurrency, medians) for goal in found)
    return [result for result in results if result is not None]


def evaluate_memory(peers: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The memory goals whose subject was measured, each with its verdict."""
    results = (goal.evaluate(peers) for goal in MEMORY_GOALS)
    return [result for result in results if result is not None]

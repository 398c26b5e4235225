"""The whole benchmark in one command: every scenario, every peer, side by side.

    python -m bench --quick                 # a few minutes: c32, one run each
    python -m bench --full --docs           # every scenario at c1 and c32, 3 runs each,
                                            # the workloads at their own connections,
                                            # then docs/benchmarks.md and its plot

In order: install the peers that need their own folder (``bench.setup_peers``),
measure the load generator's ceiling against a trivial server
(``bench.ceiling``; again at the largest count of connections of a slow-tool
workload), run every scenario of the mode against every peer that serves it at
each concurrency of the mode (``bench.run``), then the workloads (slow tools,
payloads, the document server on S3), each at its own connections (``WORKLOADS``),
the fleet's CPU per call (``bench.fleet``), the memory per session
(``bench.memory``) and issue 16's goals (``bench.extras``: tracing off and on, an SDK
app, stdio, two workers). Then print
every table, write the JSON (``--json``; default ``bench/results/MODE.json``)
and, with ``--docs``, the documentation page and its plot.

It is a benchmark, not a test: a missed goal is reported, not raised. The exit
status is 1 only when a run failed (a server that did not start, errors).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ceiling, docs, extras, fleet, memory, report, setup_peers, turns
from bench.peers import PEERS
from bench.run import _cpu_pair, machine, run_scenario
from bench.run import failed as scenario_failed
from bench.scenarios import SCENARIOS, WORKLOAD_NAMES

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
# the fleet measurements of a run: timed, timed beside a busy neighbour, counted
FLEET_KEYS = ("fleet", "fleet_busy", "fleet_instructions")


@dataclass(frozen=True, slots=True)
class Mode:
    runs: int
    duration: float
    warmup: float
    concurrencies: tuple[int, ...]
    scenarios: tuple[str, ...]
    peers: tuple[str, ...]  # the peers of the mode, each running the scenarios it serves
    # Per scenario, only these peers (where a scenario is named): the quick mode runs the
    # fastest configuration of each SDK, and its SSE configuration only where SSE is needed.
    only: dict[str, tuple[str, ...]] | None
    memory_sessions: int
    memory_streams: int
    description: str
    # Issue 18's workloads, each at its own connections (WORKLOADS), with fewer or shorter
    # runs: a 50 ms tool makes every run slow to start and to drain.
    workloads: tuple[tuple[str, int], ...] = ()
    workload_runs: int = 1
    workload_duration: float = 2.0
    workload_warmup: float = 1.5  # 1,024 connections, each opening a session for some peers
    # bench.fleet --parts (the steps from one process to the fleet), then all of it again
    # with --busy-neighbour, for information: the goal is judged on the first
    fleet_parts: bool = False


# Every workload scenario and the connections it runs at (the goals' concurrencies).
WORKLOADS: tuple[tuple[str, int], ...] = (
    ("blocking-50ms", 64),
    ("blocking-50ms", 256),
    ("async-50ms", 256),
    ("async-50ms", 1024),
    ("resource-1m", 16),
    ("argument-256k", 16),
    ("get-document", 64),
)


_QUICK_PEERS = (
    "mcpfleet",
    "mcpfleet-redis",
    "mcpfleet-jwt",
    "sdk-json-async",
    "sdk-sse",
    "fastmcp-json",
    "fastmcp",
    "ts-sdk",
    "ts-sdk-sse",
    "floor",
)

MODES: dict[str, Mode] = {
    "quick": Mode(
        runs=1,
        duration=2.0,
        warmup=1.0,
        concurrencies=(32,),
        scenarios=("echo", "progress", "session-echo", "discover"),
        peers=_QUICK_PEERS,
        only={
            "echo": (
                "mcpfleet",
                "mcpfleet-jwt",
                "sdk-json-async",
                "fastmcp-json",
                "ts-sdk",
                "floor",
            ),
            "progress": ("mcpfleet", "sdk-sse", "fastmcp", "ts-sdk-sse"),
            "session-echo": (
                "mcpfleet",
                "mcpfleet-redis",
                "sdk-json-async",
                "fastmcp-json",
                "ts-sdk",
            ),
            "discover": ("mcpfleet", "sdk-json-async"),
            "blocking-50ms": ("mcpfleet", "sdk-json-async"),  # every SDK app's block is a def
            "async-50ms": ("mcpfleet", "sdk-json-async", "floor"),
            "resource-1m": ("mcpfleet", "sdk-json-async", "floor"),
        },
        memory_sessions=500,
        memory_streams=200,
        description="c32 only, one 2 s run per peer, the fastest configuration of each SDK; "
        "the workloads of the goals (blocking c64, async c1024, 1 MiB c16) against mcpfleet, "
        "one SDK configuration and the floor",
        workloads=(("blocking-50ms", 64), ("async-50ms", 1024), ("resource-1m", 16)),
        workload_runs=1,
        workload_duration=2.0,
    ),
    "full": Mode(
        runs=3,
        duration=4.0,
        warmup=1.0,
        concurrencies=(1, 32),
        scenarios=("echo", "progress", "session-echo", "session-progress", "handshake", "discover"),
        peers=tuple(name for name, peer in PEERS.items() if peer.default),
        only=None,
        memory_sessions=2000,
        memory_streams=500,
        description="c1 and c32, median of 3 runs of 4 s per peer, every configuration; "
        "the workloads (slow tools, payloads, S3) at their own connections, 2 runs of 3 s",
        workloads=WORKLOADS,
        workload_runs=2,
        workload_duration=3.0,
        fleet_parts=True,
    ),
}


def _run_args(
    args: argparse.Namespace, mode: Mode, concurrency: int, scenario: str | None = None
) -> argparse.Namespace:
    peers = [name for name in (args.peers or mode.peers) if name in PEERS]
    if scenario is not None and mode.only and scenario in mode.only:
        peers = [name for name in peers if name in mode.only[scenario]]
    workload = scenario in WORKLOAD_NAMES
    return argparse.Namespace(
        concurrency=concurrency,
        duration=args.duration or (mode.workload_duration if workload else mode.duration),
        warmup=mode.workload_warmup if workload else mode.warmup,
        runs=args.runs or (mode.workload_runs if workload else mode.runs),
        request_timeout=10.0,
        cpus=args.cpus,
        peers=peers,
    )


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    mode = MODES[args.mode]
    base = _run_args(args, mode, max(mode.concurrencies))
    selected = [PEERS[name] for name in base.peers]
    progress(f"bench ({args.mode}): {mode.description}")
    versions = setup_peers.ensure(selected)
    results: dict[str, Any] = {
        "mode": args.mode,
        "mode_description": mode.description,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine(), "peer_versions": versions},
        "ceiling": ceiling.measure(base, progress),
        "scenarios": {},
    }
    pairs = schedule(mode, args.scenarios)
    slow = [c for name, c in pairs if SCENARIOS[name].tool_seconds and c > base.concurrency]
    if slow:  # can the load generator drive connections ÷ latency at all?
        results["ceiling_slow"] = ceiling.measure(_run_args(args, mode, max(slow)), progress)
    for name, concurrency in pairs:
        scenario_args = _run_args(args, mode, concurrency, name)
        if not any(PEERS[peer].serves(name) for peer in scenario_args.peers):
            continue
        key = f"{name}@c{concurrency}"
        results["scenarios"][key] = run_scenario(scenario_args, name, progress)
    if not args.skip_fleet:
        fleet_args = fleet.arguments([])
        for name in ("concurrency", "duration", "warmup", "runs", "request_timeout", "cpus"):
            setattr(fleet_args, name, getattr(base, name))
        fleet_args.parts = mode.fleet_parts
        results["fleet"] = fleet.run(fleet_args, progress)
        if mode.fleet_parts:  # the same with the load side's CPU as busy in every config
            fleet_args.busy_neighbour = True
            results["fleet_busy"] = {**fleet.run(fleet_args, progress), "goals": []}
            # and counted in instructions under callgrind, once each (the count repeats)
            counted = fleet.arguments(["--instructions", "--parts"])
            counted.cpus, counted.request_timeout = base.cpus, base.request_timeout
            results["fleet_instructions"] = fleet.run(counted, progress)
    if not args.skip_memory:
        memory_args = memory.arguments(
            ["--sessions", str(mode.memory_sessions), "--streams", str(mode.memory_streams)]
        )
        memory_args.cpus = args.cpus
        measurable = [peer.name for peer in selected if memory.measurable(peer)]
        memory_args.peers = [name for name in memory.DEFAULT_PEERS if name in measurable]
        if memory_args.peers:
            results["memory"] = memory.run(memory_args, progress)
    if not (args.skip_extras or args.peers or args.scenarios):  # a narrowed run: not these
        runs, duration = args.runs or mode.runs, args.duration or mode.workload_duration
        extras_args = extras.arguments(["--runs", str(runs), "--duration", str(duration)])
        extras_args.cpus = args.cpus
        results["extras"] = extras.run(extras_args, progress)
    results["goals"] = all_goals(results)
    return results


def schedule(mode: Mode, wanted: Sequence[str] | None) -> list[tuple[str, int]]:
    """(scenario, connections) in the order they run: the mode's scenarios at each of its
    concurrencies, then its workloads; ``wanted`` (``--scenarios``) keeps only those named
    (a workload not in the mode at every concurrency of ``WORKLOADS``)."""
    plain = [name for name in wanted or mode.scenarios if name not in WORKLOAD_NAMES]
    pairs = [(name, concurrency) for concurrency in mode.concurrencies for name in plain]
    if not wanted:
        return pairs + list(mode.workloads)
    for name in dict.fromkeys(name for name in wanted if name in WORKLOAD_NAMES):
        base = name.removeprefix("session-")  # a twin runs at its workload's connections
        mine = [c for workload, c in mode.workloads if workload == base]
        pairs += [(name, c) for c in mine or [c for w, c in WORKLOADS if w == base]]
    return pairs


def all_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal verdict of the run, each with where it was measured."""
    found = []
    for key, summary in results["scenarios"].items():
        found += [{**goal, "where": key} for goal in summary["goals"]]
    if "fleet" in results:
        found += [{**goal, "where": "fleet"} for goal in results["fleet"]["goals"]]
    if "extras" in results:
        found += results["extras"]["goals"]
    if "memory" in results:
        for goal in results["memory"]["goals"]:
            found.append(
                {
                    **goal,
                    "where": "memory",
                    "ratio": goal["value_kb"],
                    "target": goal["target_kb"],
                    "absolute": True,
                    "unit": "KB",
                }
            )
    return found


def failed(results: dict[str, Any]) -> bool:
    if "error" in results["ceiling"] or "error" in results.get("ceiling_slow", {}):
        return True
    if any(scenario_failed(summary) for summary in results["scenarios"].values()):
        return True
    if any(key in results and fleet.failed(results[key]) for key in FLEET_KEYS):
        return True
    if "extras" in results and extras.failed(results["extras"]):
        return True
    return any("error" in peer for peer in results.get("memory", {}).get("peers", {}).values())


def text(results: dict[str, Any]) -> str:
    tables = [docs.ceiling_sentence(results["ceiling"])]
    if "ceiling_slow" in results:
        tables.append(docs.ceiling_sentence(results["ceiling_slow"]))
    tables += [report.text_table(summary) for summary in results["scenarios"].values()]
    tables += [report.fleet_text_table(results[key]) for key in FLEET_KEYS if key in results]
    if "memory" in results:
        tables.append(report.memory_text_table(results["memory"]))
    if "extras" in results:
        tables.append(extras.text(results["extras"]))
    verdicts = [[*report.goal_row(goal), goal["where"]] for goal in results["goals"]]
    tables.append("\n".join(report.aligned([*report.GOAL_COLUMNS, "where"], verdicts)))
    return "\n\n".join(tables)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Every benchmark scenario against every peer; tables, JSON and docs.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="the quick mode (the default): a few minutes",
    )
    which.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="the full mode: every scenario at c1 and c32, 3 runs",
    )
    parser.set_defaults(mode="quick")
    parser.add_argument("--peers", nargs="+", metavar="PEER", help="only these peers")
    parser.add_argument("--scenarios", nargs="+", metavar="SCENARIO", help="only these")
    parser.add_argument("--runs", type=int, help="runs per peer (default: the mode's)")
    parser.add_argument("--duration", type=float, help="measured s per run (default: the mode's)")
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,LOADGEN_CPU (default: 2 first)")
    parser.add_argument("--skip-fleet", action="store_true", help="no fleet measurement")
    parser.add_argument("--skip-memory", action="store_true", help="no memory measurement")
    parser.add_argument(
        "--skip-extras",
        action="store_true",
        help="no issue 16 measurements (tracing, SDK app, stdio, workers: bench.extras; "
        "--peers or --scenarios leave them out too)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where the results go (default: bench/results/MODE.json)",
    )
    parser.add_argument(
        "--docs",
        nargs="?",
        type=Path,
        const=DOCS,
        metavar="PATH",
        help=f"write the documentation page and its plot (default {DOCS})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    unknown = [name for name in args.peers or () if name not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s): {', '.join(unknown)}")
    if (args.runs is not None and args.runs < 1) or (
        args.duration is not None and args.duration <= 0
    ):
        parser.error("--runs must be >= 1 and --duration > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    progress = turns.progress_printer(args.quiet)
    results = run(args, progress)
    print(text(results))
    json_path = args.json or ROOT / "bench" / "results" / f"{args.mode}.json"
    turns.write_json(json_path, results)
    progress(f"results: {json_path}")
    if args.docs is not None:
        written = docs.write(results, args.docs)
        progress(f"docs: {', '.join(str(path) for path in written)}")
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())

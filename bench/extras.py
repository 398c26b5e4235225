"""Issue 16's speed goals (tracing off and on, an SDK app, stdio, a second worker) and
issue 15's (the tasks extension).

    python -m bench.extras                              # every part, 3 runs of 3 s (~5 min)
    python -m bench.extras --parts otel stdio --runs 1 --duration 1
    python -m bench.extras --docs                       # and its section in docs/benchmarks.md

The parts, each where its measurement belongs:

- ``otel``: ``bench.run``'s ``echo`` at 32 connections against ``mcpfleet`` (the otel
  extra installed, no ``OTEL_EXPORTER_OTLP_ENDPOINT``), ``mcpfleet-no-otel`` (the same
  app with OpenTelemetry not importable, as without the extra) and ``mcpfleet-otel``
  (tracing on, exporting over OTLP/HTTP to ``bench.otlp_sink``, which discards it);
- ``sdk-app``: the same scenario against ``mcpfleet-sdk-app`` (``mcpfleet serve
  bench.apps.sdk_server:mcp``) and ``sdk-app`` (that MCPServer app served by mcp 2.3.0
  itself, ``json_response=True, stateless_http=True``);
- ``stdio``: ``bench.stdio_bench`` (a client driving ``mcpfleet serve --stdio`` and the
  SDK's stdio server, one call at a time and 16 outstanding);
- ``workers``: ``bench.workers_bench`` (``--workers 2`` against ``--workers 1`` on Redis);
- ``tasks``: ``bench.tasks_bench`` (a task-optional tool answered at once against the plain
  tool; a task's create, get, completed cycle on Redis against the synchronous call).

The results go to ``bench/results/extras.json`` (``--json``). ``python -m bench`` runs
them too (``--skip-extras`` not to), into the ``extras`` key of its results, and the docs
page gets their section. ``--docs`` writes the section into an existing page on its own,
between two markers, leaving the rest of the page as it was generated.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/extras.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import goals, report, stdio_bench, tasks_bench, turns, workers_bench
from bench.machine import machine
from bench.run import _cpu_pair, run_scenario
from bench.run import failed as scenario_failed

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("otel", "sdk-app", "stdio", "workers", "tasks")
# The parts measured by a module of their own: its arguments, run, text, markdown, failed.
MODULE_PARTS = {"stdio": stdio_bench, "workers": workers_bench, "tasks": tasks_bench}
SCENARIO_PEERS = {
    "otel": ("mcpfleet", "mcpfleet-no-otel", "mcpfleet-otel"),
    "sdk-app": ("mcpfleet-sdk-app", "sdk-app"),
}
GOAL_NAMES = frozenset(
    goal.name
    for goal in (
        goals.OTEL_OFF_GOAL,
        goals.SDK_APP_GOAL,
        *goals.STDIO_GOALS,
        *goals.WORKER_GOALS,
        *goals.TASK_GOALS,
    )
)
CONCURRENCY = 32


def _scenario_args(args: argparse.Namespace, peers: Sequence[str]) -> argparse.Namespace:
    return argparse.Namespace(
        concurrency=CONCURRENCY,
        duration=args.duration,
        warmup=args.warmup,
        runs=args.runs,
        request_timeout=10.0,
        cpus=args.cpus,
        peers=list(peers),
    )


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """The selected parts; their summaries and the issue's goal verdicts."""
    inherited = [name for name in os.environ if name.startswith("OTEL_")]
    for name in inherited:  # tracing off must mean off: the servers inherit this environment
        del os.environ[name]
    if inherited:
        progress(f"bench.extras: not passing {', '.join(inherited)} to the servers")
    results: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "config": {"runs": args.runs, "duration": args.duration, "warmup": args.warmup},
        "parts": {},
    }
    parts = results["parts"]
    for part in args.parts:
        if part in SCENARIO_PEERS:
            summary = run_scenario(_scenario_args(args, SCENARIO_PEERS[part]), "echo", progress)
            summary["goals"] = [goal for goal in summary["goals"] if goal["goal"] in GOAL_NAMES]
            parts[part] = summary
        else:
            module = MODULE_PARTS[part]
            parts[part] = module.run(module.arguments(_common(args)), progress)
    results["goals"] = [
        {**goal, "where": f"extras: {part}"}
        for part, summary in parts.items()
        for goal in summary["goals"]
    ]
    if "otel" in parts:
        results["otel_on"] = otel_on(parts["otel"])
    return results


def _common(args: argparse.Namespace) -> list[str]:
    found = ["--runs", str(args.runs), "--duration", str(args.duration)]
    found += ["--warmup", str(args.warmup)]
    if args.cpus is not None:
        found += ["--cpus", ",".join(str(cpu) for cpu in args.cpus)]
    return found


def otel_on(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Tracing on, recorded: its CPU per call against tracing off, and what was exported."""
    peers = summary["peers"]
    on, off = peers.get("mcpfleet-otel"), peers.get("mcpfleet")
    if on is None or off is None:
        return None
    mine, theirs = on["median"].get("cpu_us_per_call"), off["median"].get("cpu_us_per_call")
    exported = [run["otlp"] for run in on["runs"] if isinstance(run.get("otlp"), dict)]
    served = [
        run.get("calls", 0) + run.get("warmup_calls", 0) for run in on["runs"] if "otlp" in run
    ]
    spans = sum(found.get("spans", 0) for found in exported)
    return {
        "cpu_us_per_call": mine,
        "off_cpu_us_per_call": theirs,
        "ratio": round(mine / theirs, 3) if mine and theirs else None,
        "calls_per_s": on["median"].get("calls_per_s"),
        "off_calls_per_s": off["median"].get("calls_per_s"),
        "sink_cpu_us_per_call": on["median"].get("otlp_cpu_us_per_call"),
        "spans_exported": spans,
        "calls_served": sum(served),
        "export_requests": sum(sum(found.get("requests", {}).values()) for found in exported),
    }


def otel_on_sentence(found: dict[str, Any] | None) -> str:
    if not found or found.get("ratio") is None:
        return "OpenTelemetry on: not measured."
    share = found["spans_exported"] / found["calls_served"] if found["calls_served"] else 0
    sink = found.get("sink_cpu_us_per_call")
    return (
        f"OpenTelemetry on (recorded, no target): {found['cpu_us_per_call']:.1f} µs of server "
        f"CPU per call with a span and a duration measurement per call exported over OTLP/HTTP, "
        f"against {found['off_cpu_us_per_call']:.1f} µs with tracing off: "
        f"{found['ratio']:.2f}x ({found['calls_per_s']:,.0f} against "
        f"{found['off_calls_per_s']:,.0f} calls/s). The local sink received "
        f"{found['spans_exported']:,} spans for {found['calls_served']:,} calls served, warm-up "
        f"included ({share:.0%}), in {found['export_requests']:,} export requests"
        + (f"; its own CPU, on the load generator's core, {sink:.1f} µs/call." if sink else ".")
    )


def otel_off_sentence(summary: dict[str, Any]) -> str:
    """What the tracing-off comparison can resolve: the CPU per call of both, run by run."""
    ranges = []
    for name in ("mcpfleet", "mcpfleet-no-otel"):
        low_high = summary["peers"].get(name, {}).get("spread", {}).get("cpu_us_per_call")
        if low_high:
            ranges.append(f"{name} {low_high[0]:.1f} to {low_high[1]:.1f}")
    return (
        "Tracing off runs the same code as tracing never wired (`mcpfleet.observe.otel.wrap` "
        "returns the app itself and nothing imports OpenTelemetry), so this goal compares a "
        "server with itself: its ratio is the precision of a comparison of CPU per call on "
        "the machine at the time. Server CPU µs/call over the runs: "
        + ("; ".join(ranges) or "n/a")
        + "."
    )


def failed(results: dict[str, Any]) -> bool:
    parts = results["parts"]
    checks = [
        *(scenario_failed(parts[name]) for name in SCENARIO_PEERS if name in parts),
        *(module.failed(parts[name]) for name, module in MODULE_PARTS.items() if name in parts),
    ]
    return any(checks)


def text(results: dict[str, Any]) -> str:
    parts = results["parts"]
    blocks = [report.text_table(parts[name]) for name in SCENARIO_PEERS if name in parts]
    if "otel" in parts:
        blocks += [otel_off_sentence(parts["otel"]), otel_on_sentence(results.get("otel_on"))]
    blocks += [module.text(parts[name]) for name, module in MODULE_PARTS.items() if name in parts]
    verdicts = [[*report.goal_row(goal), goal["where"]] for goal in results["goals"]]
    blocks.append("\n".join(report.aligned([*report.GOAL_COLUMNS, "where"], verdicts)))
    return "\n\n".join(blocks)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.extras", description=__doc__)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--runs", type=int, default=3, help="runs of each; medians are shown")
    parser.add_argument("--duration", type=float, default=3.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=1.5, help="warm-up s per run")
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,LOADGEN_CPU (default: 2 first)")
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "bench" / "results" / "extras.json",
        metavar="PATH",
        help="where the results go (default: bench/results/extras.json)",
    )
    parser.add_argument(
        "--docs",
        nargs="?",
        type=Path,
        const=ROOT / "docs" / "benchmarks.md",
        metavar="PATH",
        help="write the section into this page (default docs/benchmarks.md)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--runs must be >= 1, --duration > 0, --warmup >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    progress = turns.progress_printer(args.quiet)
    results = run(args, progress)
    print(text(results))
    turns.write_json(args.json, results)
    progress(f"results: {args.json}")
    if args.docs is not None:
        from bench import extras_docs

        extras_docs.splice(args.docs, results)
        progress(f"docs: {args.docs}")
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())

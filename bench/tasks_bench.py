"""What the tasks extension costs (issue 15): a task-optional tool that finishes at once
against the same tool without task support, and a whole task cycle on Redis state against
the synchronous call of the same tool.

    python -m bench.tasks_bench                        # 32 connections, 3 runs of 3 s
    python -m bench.tasks_bench --runs 1 --duration 1 --parts cycle

Every configuration serves ``bench.apps.mcpfleet_tasks``: one echo body registered as
``echo`` (no task support), ``echo_optional`` (``task="optional"``, a task after the
default 500 ms) and ``echo_task`` (``task="optional", task_after_ms=0``: a task at once).

- ``optional`` (memory state): ``plain``, ``echo`` called by a client that declares the
  tasks extension; ``task-optional``, ``echo_optional`` called by that client (answered in
  the request); ``undeclared``, ``echo`` by a client that declares nothing (the default
  ``echo`` scenario), for reference. Goal: ``task-optional`` at most 1.1x ``plain``'s
  server CPU per call.
- ``cycle`` (Redis state: a fresh redis-server on a free port of 127.0.0.1 per run, on the
  load generator's CPU, its CPU reported apart): ``sync``, ``echo_task`` called by a client
  that declares nothing (it runs in the request); ``cycle``, the same tool called by a
  client that declares the extension: ``tools/call`` answered with a task, then ``tasks/get``
  at once and again until ``completed`` (``bench.task_cycle``). One unit is the cycle: its
  calls/s are cycles/s, its latency the whole cycle's, its CPU the server's per cycle.
  Recorded, no target.

Server on the first CPU, load generator on the second; the configurations of a part take
turns in every run; medians over the runs. Each run is bounded by the load generator's
warm-up, duration and request timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/tasks_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import config_report, goals, turns
from bench.machine import machine
from bench.peers import STATE_KEYS, SUBJECT, Peer
from bench.run import MEDIAN_KEYS, choose_cpus, free_port, run_load, server
from bench.services import redis_server

PEER = Peer(
    "mcpfleet-tasks",
    SUBJECT,
    "mcpfleet serve bench.apps.mcpfleet_tasks:app: echo plain, task-optional, task at once",
    "bench.apps.mcpfleet_tasks",
    env={"DRAIN_DELAY_SECONDS": "0", "REQUEST_STATE_KEYS": STATE_KEYS},
)
# part -> configuration -> (scenario, description)
PARTS: dict[str, dict[str, tuple[str, str]]] = {
    "optional": {
        "plain": ("tasks-plain", "echo, no task support; the client declares the extension"),
        "task-optional": (
            "tasks-optional",
            "echo_optional: task='optional' (a task after 500 ms); the same client",
        ),
        "undeclared": ("echo", "echo, no task support; a client declaring nothing"),
    },
    "cycle": {
        "sync": ("tasks-sync", "echo_task (task_after_ms=0) called synchronously: a client "
                 "declaring nothing; Redis state"),
        "cycle": ("tasks-cycle", "the same tool called by a client declaring the extension: "
                  "tools/call (a task at once), then tasks/get until completed; a caller "
                  "per connection; Redis state"),
        "cycle-anonymous": ("tasks-cycle-anonymous", "the same cycle, every call anonymous: "
                            "their running tasks share one budget (one Redis key)"),
    },
}  # fmt: skip
SUBJECTS = {"optional": "plain", "cycle": "sync"}
GOAL_SCENARIO = {"optional": "tasks-echo", "cycle": "tasks-cycle"}
KEYS = (*MEDIAN_KEYS[:6], "redis_cpu_us_per_call", "gets_per_cycle", "in_request_per_s")
COLUMNS = {
    "optional": config_report.COLUMNS,
    "cycle": (
        *config_report.COLUMNS[:-1],
        ("redis_cpu_us_per_call", "Redis µs/unit", "{:.1f}"),
        ("gets_per_cycle", "tasks/get per cycle", "{:.2f}"),
        ("in_request_per_s", "answered in the request/s", "{:,.0f}"),
        ("errors", "errors", "{}"),
    ),
}


def run_config(
    part: str, name: str, args: argparse.Namespace, cpus: tuple[int | None, int | None]
) -> dict[str, Any]:
    """One run: (Redis and) a fresh server, the load; stopped in reverse."""
    scenario = PARTS[part][name][0]
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        others: dict[str, int] = {}
        if part == "cycle":
            redis = stack.enter_context(redis_server(cpus[1]))
            env["REDIS_URL"], others["redis"] = redis.url, redis.pid
        port = free_port()
        process = stack.enter_context(server(PEER, port, cpus[0], env))
        result = run_load(process.pid, port, args, scenario, cpus[1], others)
    counts = result.get("counts", {})
    if "task_gets" in counts and result.get("calls"):
        result["gets_per_cycle"] = round(counts["task_gets"] / result["calls"], 3)
    if PARTS[part][name][0].startswith("tasks-cycle") and result.get("duration_s"):
        result["in_request_per_s"] = round(counts.get("in_request", 0) / result["duration_s"], 1)
    return result


def run_part(part: str, args: argparse.Namespace, progress: turns.Progress) -> dict[str, Any]:
    """One part's configurations, ``args.runs`` times each, taking turns; its summary."""
    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    configs = PARTS[part]
    progress(f"bench.tasks_bench: {part}, {' and '.join(configs)} x {args.runs} runs")
    load_before = os.getloadavg()

    def measure(name: str) -> dict[str, Any]:
        return run_config(part, name, args, (server_cpu, load_cpu))

    runs = turns.take_turns(list(configs), args.runs, measure, progress)
    summaries = {
        name: config_report.summarize(configs[name][1], runs[name], KEYS) for name in configs
    }
    medians = {name: summary["median"] for name, summary in summaries.items()}
    found = goals.evaluate_configs(goals.TASK_GOALS, GOAL_SCENARIO[part], args.concurrency, medians)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "part": part,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "runs": args.runs,
            "pinning": pinning + ("; Redis on the load generator's" if part == "cycle" else ""),
            "loadavg": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "configs": summaries,
        "goals": found,
        "notes": config_report.notes(summaries),
    }


def run(args: argparse.Namespace, progress: turns.Progress) -> dict[str, Any]:
    """Every selected part; their summaries and the goal verdicts."""
    parts = {part: run_part(part, args, progress) for part in args.parts}
    return {
        "machine": machine(),
        "parts": parts,
        "goals": [goal for summary in parts.values() for goal in summary["goals"]],
    }


def caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    what = (
        "tasks: echo answered at once, plain against task-optional (memory state)"
        if config["part"] == "optional"
        else "tasks: a create -> get -> completed cycle against the synchronous call of the "
        "same tool, on Redis state (one unit: the cycle, or the call)"
    )
    return (
        f"{what}; {config['concurrency']} connections; {config['duration']:g} s measured "
        f"after {config['warmup']:g} s warm-up; median of {config['runs']} runs; "
        f"{config['pinning']}; load average {config['loadavg'][0]:.1f} before, "
        f"{config['loadavg'][1]:.1f} after"
    )


def cycle_sentence(summary: dict[str, Any]) -> str:
    """The cycle against the synchronous call, recorded in a sentence."""
    found = summary["configs"]
    cycle, sync = found.get("cycle", {}).get("median", {}), found.get("sync", {}).get("median", {})
    needed = ("calls_per_s", "cpu_us_per_call", "p50_ms", "p99_ms")
    if any(cycle.get(key) is None or sync.get(key) is None for key in needed):
        return "Task cycle on Redis state: not measured."
    return (
        f"Task cycle on Redis state (recorded, no target): {cycle['calls_per_s']:,.0f} cycles/s "
        f"at {cycle['cpu_us_per_call']:.0f} µs of server CPU per cycle "
        f"({cycle['gets_per_cycle'] or 0:.2f} tasks/get per cycle; p50 {cycle['p50_ms']:.2f} "
        f"ms, p99 {cycle['p99_ms']:.2f} ms for the whole cycle), against "
        f"{sync['calls_per_s']:,.0f} synchronous calls/s of the same tool at "
        f"{sync['cpu_us_per_call']:.0f} µs (p50 {sync['p50_ms']:.2f} ms, p99 "
        f"{sync['p99_ms']:.2f} ms): {cycle['cpu_us_per_call'] / sync['cpu_us_per_call']:.1f}x "
        f"the CPU."
    )


def _tables(results: dict[str, Any], table: Any) -> list[str]:
    blocks = []
    for part, summary in results["parts"].items():
        blocks.append(table(caption(summary), summary, SUBJECTS[part], COLUMNS[part]))
        if part == "cycle":
            blocks.append(cycle_sentence(summary))
    return blocks


def text(results: dict[str, Any]) -> str:
    return "\n\n".join(_tables(results, config_report.text_table))


def markdown(results: dict[str, Any]) -> str:
    return "\n".join(
        block.rstrip("\n") + "\n" for block in _tables(results, config_report.markdown_table)
    )


def failed(results: dict[str, Any]) -> bool:
    return any(
        config["errors"] or not config["calls"]
        for summary in results["parts"].values()
        for config in summary["configs"].values()
    )


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tasks_bench", description=__doc__)
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    turns.add_load_options(parser)
    turns.add_run_options(parser)
    args = parser.parse_args(argv)
    turns.check_run_options(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return turns.main(arguments(argv), run, text, failed)


if __name__ == "__main__":
    sys.exit(main())

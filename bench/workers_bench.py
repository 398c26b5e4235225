"""What a second worker process costs per call: ``mcpfleet serve --workers 2`` against
``--workers 1``, both on Redis state (``session-echo``: 2025-11-25 session calls).

    python -m bench.workers_bench                      # 32 connections, 3 runs of 3 s
    python -m bench.workers_bench --runs 1 --duration 1

Both configurations serve ``bench.apps.mcpfleet_echo`` (the ``mcpfleet-redis`` peer) with
a fresh redis-server of their own (no persistence, a free port on 127.0.0.1, on the load
generator's CPU, as ``bench.run`` starts it) and ``WORKERS=1`` or ``WORKERS=2``. With 2,
the process the harness starts is the supervisor: it binds the port and forks the two
workers that accept on it. The server side is pinned to the first CPU (the workers
inherit it), the load generator and Redis to the second: both configurations get one
core, so the figure compares like with like (as ``bench.fleet``'s shared layout).

The figure is server CPU per call: utime + stime of every process of the server (the
supervisor and its workers, summed) over the load generator's measured window, divided
by the calls in it. "busiest worker" is the larger worker's share of that CPU (the kernel
hands each new connection to whichever worker accepts first). The configurations take
turns in every run; medians over the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/workers_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import config_report, goals, turns
from bench.machine import machine
from bench.peers import PEERS
from bench.run import (
    MEDIAN_KEYS,
    START_TIMEOUT,
    BenchError,
    choose_cpus,
    free_port,
    run_load,
    server,
)
from bench.services import redis_server

SCENARIO = "session-echo"
PEER = "mcpfleet-redis"
CONFIGS = {
    "workers-1": "mcpfleet serve --workers 1, Redis state: one process serving",
    "workers-2": "mcpfleet serve --workers 2, Redis state: a supervisor and two workers "
    "on one port, all on one CPU",
}
KEYS = (*MEDIAN_KEYS, "worker_share")
COLUMNS = (
    *config_report.COLUMNS[:-1],
    ("redis_cpu_us_per_call", "Redis µs/call", "{:.1f}"),
    ("worker_share", "busiest worker", "{:.0%}"),
    ("errors", "errors", "{}"),
)


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (its main thread's: where the supervisor forks)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as found:
            return [int(child) for child in found.read().split()]
    except (OSError, ValueError):
        return []


def wait_workers(pid: int, count: int) -> list[int]:
    """The supervisor's ``count`` workers, once all have been forked."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = children(pid)
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise BenchError(f"{count} workers were not started in {START_TIMEOUT:g} s")


def run_config(
    workers: int, args: argparse.Namespace, cpus: tuple[int | None, int | None]
) -> dict[str, Any]:
    """One run: Redis, the server with ``workers`` workers, the load; stopped in reverse."""
    peer = PEERS[PEER]
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(cpus[1]))
        env = {"REDIS_URL": redis.url, "WORKERS": str(workers)}
        port = free_port()
        process = stack.enter_context(server(peer, port, cpus[0], env))
        forked = wait_workers(process.pid, workers) if workers > 1 else []
        pids = [process.pid, *forked]
        result = run_load(pids, port, args, SCENARIO, cpus[1], {"redis": redis.pid})
    result["workers"] = workers
    result["pids"] = pids
    each = result.get("server_cpu_s_each")
    if each and forked and sum(each[1:]) > 0:  # each[0]: the supervisor
        result["worker_share"] = round(max(each[1:]) / sum(each[1:]), 3)
    return result


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Both configurations, ``args.runs`` times each, taking turns; the summary."""
    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    names = list(CONFIGS)
    progress(f"bench.workers_bench: {SCENARIO}, {' and '.join(names)} x {args.runs} runs")

    def measure(name: str) -> dict[str, Any]:
        return run_config(int(name.rpartition("-")[2]), args, (server_cpu, load_cpu))

    runs = turns.take_turns(names, args.runs, measure, progress)
    configs = {name: config_report.summarize(CONFIGS[name], runs[name], KEYS) for name in names}
    medians = {name: config["median"] for name, config in configs.items()}
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "scenario": SCENARIO,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "runs": args.runs,
            "pinning": f"{pinning}; every worker on the server's CPU, Redis on the load "
            "generator's",
        },
        "machine": machine(),
        "configs": configs,
        "goals": goals.evaluate_configs(goals.WORKER_GOALS, SCENARIO, args.concurrency, medians),
        "notes": config_report.notes(configs) + lopsided(configs),
    }


def lopsided(configs: dict[str, dict[str, Any]]) -> list[str]:
    """Runs in which one worker served (nearly) every connection: they measure one worker."""
    runs = configs.get("workers-2", {}).get("runs", [])
    found = [
        f"run {run['run']} ({run['worker_share']:.0%})"
        for run in runs
        if (run.get("worker_share") or 0) > 0.9
    ]
    if not found:
        return []
    return [
        f"workers-2: one worker served nearly all the CPU in {', '.join(found)}: the kernel "
        "gave it (nearly) every connection, so that run measures one worker serving"
    ]


def caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    return (
        f"workers: scenario {config['scenario']} (2025-11-25 session calls) on Redis state; "
        f"{config['concurrency']} connections; {config['duration']:g} s measured after "
        f"{config['warmup']:g} s warm-up; median of {config['runs']} runs; server CPU summed "
        f"over the supervisor and its workers, 100% = one CPU; Redis apart; {config['pinning']}"
    )


def text(summary: dict[str, Any]) -> str:
    return config_report.text_table(caption(summary), summary, "workers-1", COLUMNS)


def markdown(summary: dict[str, Any]) -> str:
    return config_report.markdown_table(caption(summary), summary, "workers-1", COLUMNS)


def failed(summary: dict[str, Any]) -> bool:
    return any(config["errors"] or not config["calls"] for config in summary["configs"].values())


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.workers_bench", description=__doc__)
    turns.add_load_options(parser)
    turns.add_run_options(parser)
    args = parser.parse_args(argv)
    turns.check_run_options(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return turns.main(arguments(argv), run, text, failed)


if __name__ == "__main__":
    sys.exit(main())

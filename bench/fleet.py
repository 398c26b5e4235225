"""What a fleet costs per call: two mcpfleet tasks behind HAProxy on one Redis, against one
process with memory state, both serving 2025-11-25 sessions (scenario ``session-echo``).

    python -m bench.fleet                        # 32 connections, 3 runs of each
    python -m bench.fleet --runs 1 --duration 2  # a quick look
    python -m bench.fleet --parts --runs 5       # and the steps between the two
    python -m bench.fleet --json bench/results/fleet.json --markdown bench/results/fleet.md

Two configurations take turns in every run (the leader rotates):

- ``mcpfleet``: the ``mcpfleet`` peer of ``bench.run``, one process with memory state,
  loaded directly; the load generator on the other CPU.
- ``fleet-redis``: a redis-server, two tasks of the same app with ``REDIS_URL`` and the
  same ``REQUEST_STATE_KEYS``, and HAProxy in front (round robin, no stickiness,
  ``http-reuse always``: consecutive requests of one client connection go to the tasks
  in turn over shared keep-alive connections). A session opened on one task is served
  by both, so every call reads its session from Redis.

The figure is server CPU per call: utime + stime of the mcpfleet processes (summed over
the fleet's tasks) over the load generator's measured window, divided by the calls
in it. HAProxy's and Redis's CPU are sampled over the same window and reported apart,
for information: they are not in the goal. With two CPUs the default layout
(``--layout shared``) puts both tasks on the first CPU, as the single process is, and
the load generator, HAProxy and Redis on the second; ``--layout spread`` puts one task
on each CPU and leaves the load side unpinned. Throughput is bounded by the cores
(everything shares two of them), so the goal is stated per call.

``--parts`` adds three configurations between them, so that the ratio splits into four
steps, one change each (their product is the ratio): ``single-haproxy``, the single
process behind the same HAProxy; ``pair-memory``, two tasks with memory state behind
HAProxy keeping each session on the task that opened it (a stick table of
``Mcp-Session-Id``); ``sticky-redis``, the same with Redis state; then the fleet, every
request to the next task (round robin). The page of a full run shows them, each with its
tasks' user and system time and how often they were switched out (stopping for want of
work, or preempted), per call.

What runs on one CPU slows the work of the other on machines whose CPUs share a
core or its caches (a lowest-priority busy loop on the load side's CPU made the single
process's CPU per call 1.23x, median of 6 runs each, taking turns). The fleet's load side
uses more of its CPU (HAProxy, Redis) than the single process's (the load generator
alone), so the ratio carries some of that. ``--busy-neighbour`` runs such a loop on the
load side's CPU in every run of every configuration, so that the CPU is as busy in all.

``--sessions-per-connection K`` opens K sessions on each connection and sends each
request in the next one: many sessions, each called less often, as a fleet serving many
agents sees them. A task reads a session from Redis when its cached copy is older than
SESSION_CACHE_SECONDS; ``--cache-compare`` adds ``fleet-redis-1s``, the fleet with that
set to 1 s, taking turns with the others.

    python -m bench.fleet --cache-compare --sessions-per-connection 64 --warmup 4
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/fleet.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import config_report, goals, instructions, report, turns
from bench.peers import PEERS, STATE_KEYS
from bench.run import (
    MEDIAN_KEYS,
    START_TIMEOUT,
    _cpu_pair,
    choose_cpus,
    free_port,
    machine,
    pinned,
    run_load,
    run_peer,
    server,
    stop,
)
from bench.services import BY_SESSION, ROUND_ROBIN, haproxy, redis_server

SCENARIO = "session-echo"
SINGLE = "mcpfleet"
FLEET = "fleet-redis"
# --parts: the steps between the two, each changing one thing
PROXIED = "single-haproxy"
PAIR = "pair-memory"
STICKY = "sticky-redis"
# --cache-compare: the fleet with the session cache of a second it had before 30 s
SHORT_CACHE = "fleet-redis-1s"
TASKS = 2
# duration, warm-up, runs: timed, and counted under callgrind (one run: the count repeats)
TIMING_DEFAULTS = (5.0, 1.5, 3)
INSTRUCTIONS_DEFAULTS = (instructions.DURATION, instructions.WARMUP, 1)
FLEET_KEYS = (
    *MEDIAN_KEYS,
    "haproxy_cpu_util",
    "haproxy_cpu_us_per_call",
    "task_share",
    "instructions_per_call",
    "user_us_per_call",
    "sys_us_per_call",
    "voluntary_per_1k",
    "involuntary_per_1k",
)
DESCRIPTIONS = {
    SINGLE: "one mcpfleet process, memory state, loaded directly",
    FLEET: f"{TASKS} mcpfleet tasks, Redis state, behind HAProxy (round robin, http-reuse always)",
    PROXIED: "one mcpfleet process, memory state, behind the same HAProxy",
    PAIR: f"{TASKS} mcpfleet tasks, memory state each, behind HAProxy keeping each session on "
    "the task that opened it (a stick table of Mcp-Session-Id)",
    STICKY: f"{TASKS} mcpfleet tasks, Redis state, behind HAProxy keeping each session on the "
    "task that opened it",
    SHORT_CACHE: f"as {FLEET}, each task reusing a session it read for 1 s "
    "(SESSION_CACHE_SECONDS=1)",
}
# How each configuration behind HAProxy runs: tasks, Redis state, balance, SESSION_CACHE_SECONDS
SHAPES: dict[str, tuple[int, bool, str, float | None]] = {
    PROXIED: (1, False, ROUND_ROBIN, None),
    PAIR: (TASKS, False, BY_SESSION, None),
    STICKY: (TASKS, True, BY_SESSION, None),
    FLEET: (TASKS, True, ROUND_ROBIN, None),
    SHORT_CACHE: (TASKS, True, ROUND_ROBIN, 1.0),
}
# What each step of --parts changes, from the configuration before it.
STEPS = (
    (SINGLE, PROXIED, "HAProxy in front (its CPU beside the load generator's)"),
    (PROXIED, PAIR, f"{TASKS} processes sharing the CPU, each session on one task"),
    (PAIR, STICKY, "Redis state, each session still on one task"),
    (STICKY, FLEET, "every request to the next task (round robin)"),
)


def layout_cpus(
    layout: str, server_cpu: int | None, load_cpu: int | None
) -> tuple[list[int | None], int | None, str]:
    """The tasks' CPUs, the load side's (load generator, HAProxy, Redis), and a sentence."""
    if layout == "spread" and server_cpu is not None and server_cpu != load_cpu:
        return (
            [server_cpu, load_cpu],
            None,
            f"fleet tasks on CPUs {server_cpu} and {load_cpu}; "
            "load generator, HAProxy and Redis unpinned",
        )
    if server_cpu is None:
        return [None] * TASKS, None, "not pinned"
    return (
        [server_cpu] * TASKS,
        load_cpu,
        f"both fleet tasks on CPU {server_cpu} (as the single process); "
        f"load generator, HAProxy and Redis on CPU {load_cpu}",
    )


def run_fleet(
    args: argparse.Namespace,
    task_cpus: list[int | None],
    load_cpu: int | None,
    *,
    redis: bool = True,
    balance: str = ROUND_ROBIN,
    cache_seconds: float | None = None,
    counter: instructions.Callgrind | None = None,
) -> Any:
    """One run of the fleet: Redis, the tasks, HAProxy; stopped in reverse order. Without
    ``redis`` each task keeps its sessions in memory (balance them ``BY_SESSION``);
    ``cache_seconds`` sets the tasks' SESSION_CACHE_SECONDS (default: theirs); with a
    ``counter`` the tasks run under callgrind and their instructions are counted."""
    peer = PEERS[SINGLE]
    with contextlib.ExitStack() as stack:
        env: dict[str, str] = {}
        others: dict[str, int] = {}
        if redis:
            store = stack.enter_context(redis_server(load_cpu))
            env = {"REDIS_URL": store.url, "REQUEST_STATE_KEYS": STATE_KEYS}
            if cache_seconds is not None:
                env["SESSION_CACHE_SECONDS"] = str(cache_seconds)
            others["redis"] = store.pid
        ports = [free_port() for _ in task_cpus]
        tasks = [
            stack.enter_context(server(peer, port, cpu, env, *_wrapped(counter)))
            for port, cpu in zip(ports, task_cpus, strict=True)
        ]
        proxy = stack.enter_context(haproxy(ports, load_cpu, balance))
        before = proxy.server_stats()
        others = {"haproxy": proxy.pid, **others}
        pids = [task.pid for task in tasks]
        marker = None if counter is None else counter.marker(pids)
        result = run_load(pids, proxy.port, args, SCENARIO, load_cpu, others, at_marker=marker)
        after = proxy.server_stats()
        if counter is not None:
            _count(result, counter, pids)
    counts = {
        name: {key: value - before.get(name, {}).get(key, 0) for key, value in stats.items()}
        for name, stats in after.items()
    }
    result["haproxy_tasks"] = counts  # over the whole load, warm-up included
    total = sum(stats["requests"] for stats in counts.values())
    if total and len(counts) > 1:
        result["task_share"] = round(max(s["requests"] for s in counts.values()) / total, 3)
    return result


def run_single(
    args: argparse.Namespace,
    cpus: tuple[int | None, int | None],
    counter: instructions.Callgrind | None = None,
) -> Any:
    """One run of the single process (the ``mcpfleet`` peer), under callgrind with a
    ``counter``."""
    if counter is None:
        return run_peer(PEERS[SINGLE], args, SCENARIO, cpus)
    port = free_port()
    with server(PEERS[SINGLE], port, cpus[0], None, *_wrapped(counter)) as process:
        result = run_load(
            process.pid, port, args, SCENARIO, cpus[1], at_marker=counter.marker([process.pid])
        )
    _count(result, counter, [process.pid])
    return result


def _wrapped(counter: instructions.Callgrind | None) -> tuple[list[str], float]:
    """``server``'s wrapping command and start timeout, for a run with or without a counter."""
    if counter is None:
        return [], START_TIMEOUT
    return counter.wrap, instructions.START_TIMEOUT


def _count(result: dict[str, Any], counter: instructions.Callgrind, pids: list[int]) -> None:
    total = counter.total(pids)
    result["instructions"] = total
    result["instructions_per_call"] = instructions.per_call(total, result["calls"])


def progress_line(number: int, name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return config_report.progress_line(number, name, result)
    counted = result.get("instructions_per_call")
    return (
        f"  run {number + 1} {name}: {result['calls_per_s']:,.0f} calls/s, "
        f"{result['cpu_us_per_call'] or 0:.1f} µs CPU/call "
        + (f"{counted:,.0f} instructions/call " if counted else "")
        + f"(mcpfleet busy {result['server_cpu_util'] or 0:.0%}), {result['errors']} errors"
    )


def fleet_notes(configs: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for name, config in configs.items():
        disturbed = [
            f"run {run['run']} ({run['server_cpu_util']:.0%})"
            for run in config["runs"]
            if (run.get("server_cpu_util") or 1) < 0.85
        ]
        if disturbed:
            found.append(
                f"{name}: mcpfleet CPU under 85% of a CPU in {', '.join(disturbed)}: "
                "not saturated, or another process took the CPU"
            )
        if config["errors"]:
            found.append(f"{name}: {config['errors']} errors; see the JSON results")
        share = config["median"].get("task_share")
        if name in (FLEET, SHORT_CACHE) and share is not None and share > 0.55:
            found.append(f"{name}: one task served {share:.0%} of the requests: not alternating")
    return found


def steps(
    configs: dict[str, dict[str, Any]], figure: str = "cpu_us_per_call"
) -> list[dict[str, Any]]:
    """With --parts: what each step multiplies the CPU per call (or the ``figure``) by
    (their product is the goal's ratio)."""
    cost = {name: config["median"].get(figure) for name, config in configs.items()}
    if any(not cost.get(name) for name in (SINGLE, PROXIED, PAIR, STICKY, FLEET)):
        return []
    return [
        {"from": before, "to": after, "what": what, "ratio": cost[after] / cost[before]}
        for before, after, what in STEPS
    ]


def step_notes(found: list[dict[str, Any]]) -> list[str]:
    if not found:
        return []
    total = math.prod(step["ratio"] for step in found)
    parts = [f"{s['to']} / {s['from']} {s['ratio']:.2f}x, {s['what']}" for s in found]
    return [f"steps from {SINGLE} to {FLEET} ({total:.2f}x): " + "; ".join(parts)]


def instruction_notes(configs: dict[str, dict[str, Any]]) -> list[str]:
    """With --instructions: each configuration's instructions per call against the single
    process's."""
    base = configs.get(SINGLE, {}).get("median", {}).get("instructions_per_call")
    if not base:
        return []
    found = [
        f"{name} / {SINGLE}: {config['median']['instructions_per_call'] / base:.3f}x "
        f"({config['median']['instructions_per_call']:,.0f} against {base:,.0f})"
        for name, config in configs.items()
        if name != SINGLE and config["median"].get("instructions_per_call")
    ]
    return ["instructions per call (callgrind, user space): " + "; ".join(found)] if found else []


def cache_notes(configs: dict[str, dict[str, Any]]) -> list[str]:
    """With --cache-compare: what the 30 s session cache saves over 1 s."""
    cost = {name: config["median"].get("cpu_us_per_call") for name, config in configs.items()}
    if not cost.get(FLEET) or not cost.get(SHORT_CACHE):
        return []
    return [
        f"{SHORT_CACHE} / {FLEET}: {cost[SHORT_CACHE] / cost[FLEET]:.2f}x "
        f"({cost[SHORT_CACHE]:.1f} µs against {cost[FLEET]:.1f} µs of CPU a call)"
    ]


@contextlib.contextmanager
def busy_neighbour(cpu: int | None) -> Iterator[None]:
    """With --busy-neighbour: a busy loop at the lowest priority on the load side's CPU,
    so that it is as busy in every configuration (it takes only what the load side
    leaves). What runs on one CPU slows the other's work on such machines; the load side
    of a fleet (HAProxy, Redis) uses more of its CPU than the load generator alone."""
    loop = subprocess.Popen(
        pinned(["nice", "-n", "19", sys.executable, "-c", "while True: pass"], cpu),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        stop(loop)


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fleet",
        description="Server CPU per call of a 2-task fleet on Redis against one process.",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    timed, counted = TIMING_DEFAULTS, INSTRUCTIONS_DEFAULTS
    parser.add_argument(
        "--duration",
        type=float,
        help=f"measured s per run (default {timed[0]:g}; {counted[0]:g} with --instructions)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help=f"warm-up s per run (default {timed[1]:g}; {counted[1]:g} with --instructions)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        help=f"runs of each; medians are shown (default {timed[2]}; {counted[2]} with "
        "--instructions)",
    )
    parser.add_argument("--request-timeout", type=float, default=10.0, help="s per request")
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,LOADGEN_CPU (default: 2 first)")
    parser.add_argument(
        "--layout",
        choices=("shared", "spread"),
        default="shared",
        help="shared: both tasks on the server CPU (default); spread: one task per CPU",
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help=f"also {PROXIED}, {PAIR} and {STICKY}: the steps between the two, one change each",
    )
    parser.add_argument(
        "--busy-neighbour",
        action="store_true",
        help="a lowest-priority busy loop on the load side's CPU in every run",
    )
    parser.add_argument(
        "--cache-compare",
        action="store_true",
        help=f"also {SHORT_CACHE}: the fleet with a session cache of 1 s",
    )
    parser.add_argument(
        "--sessions-per-connection",
        type=int,
        default=1,
        metavar="K",
        help="K sessions on each connection, used in turn: many sessions, each called "
        "less often (default 1)",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="run every server under callgrind and count its instructions per call "
        "(bench/instructions.py)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="write the Markdown table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    defaults = INSTRUCTIONS_DEFAULTS if args.instructions else TIMING_DEFAULTS
    for name, value in zip(("duration", "warmup", "runs"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.concurrency < 1 or args.runs < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("concurrency and runs must be >= 1, duration > 0, warmup >= 0")
    if args.sessions_per_connection < 1:
        parser.error("--sessions-per-connection must be >= 1")
    return args


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Both configurations, ``args.runs`` times each, taking turns; the summary. With
    ``args.instructions`` every server runs under callgrind and the figure is its
    instructions per call (``bench.instructions``); no goal is judged on that."""
    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    task_cpus, fleet_load_cpu, fleet_pinning = layout_cpus(args.layout, server_cpu, load_cpu)
    names = [SINGLE, FLEET, *((PROXIED, PAIR, STICKY) if args.parts else ())]
    names += [SHORT_CACHE] if args.cache_compare else []
    counting = args.instructions
    progress(
        f"bench.fleet: {SCENARIO}, {', '.join(names)} x {args.runs} runs"
        + (" under callgrind" if counting else "")
    )
    pinnings = f"single: {pinning}; fleet: {fleet_pinning}"
    if args.busy_neighbour:
        pinnings += f"; a busy loop at the lowest priority on CPU {load_cpu} in every run"

    with contextlib.ExitStack() as stack:
        counter = stack.enter_context(instructions.Callgrind()) if counting else None

        def measure(name: str) -> dict[str, Any]:
            with busy_neighbour(load_cpu) if args.busy_neighbour else contextlib.nullcontext():
                if name == SINGLE:
                    return dict(run_single(args, (server_cpu, load_cpu), counter))
                tasks, redis, balance, seconds = SHAPES[name]
                return dict(
                    run_fleet(
                        args,
                        task_cpus[:tasks],
                        fleet_load_cpu,
                        redis=redis,
                        balance=balance,
                        cache_seconds=seconds,
                        counter=counter,
                    )
                )

        runs = turns.take_turns(names, args.runs, measure, progress, progress_line)
    configs = {
        name: config_report.summarize(DESCRIPTIONS[name], runs[name], FLEET_KEYS) for name in names
    }
    medians = {name: config["median"] for name, config in configs.items()}
    figure = "instructions_per_call" if counting else "cpu_us_per_call"
    found = steps(configs, figure)
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "scenario": SCENARIO,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "runs": args.runs,
            "layout": args.layout,
            "pinning": pinnings,
            "tasks": TASKS,
            "parts": args.parts,
            "busy_neighbour": args.busy_neighbour,
            "sessions_per_connection": args.sessions_per_connection,
            "instructions": counting,
        },
        "machine": machine(),
        "configs": configs,
        "goals": [] if counting else goals.evaluate_fleet(SCENARIO, args.concurrency, medians),
        "steps": found,
        "notes": [
            *instruction_notes(configs),
            *step_notes(found),
            *cache_notes(configs),
            *fleet_notes(configs),
        ],
    }


def failed(summary: dict[str, Any]) -> bool:
    return any(config["errors"] or not config["calls"] for config in summary["configs"].values())


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    summary = run(args, turns.progress_printer(args.quiet))
    print(report.fleet_text_table(summary))
    report.write_outputs(summary, args.json, args.markdown, report.fleet_markdown_table)
    return 1 if failed(summary) else 0


if __name__ == "__main__":
    sys.exit(main())

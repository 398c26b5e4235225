"""stdio ``tools/call``: mcpfleet against the official SDK's stdio server, each launched by a
client as its child (``bench.stdio_load``).

    python -m bench.stdio_bench                        # windows 1 and 16, 3 runs of 3 s
    python -m bench.stdio_bench --runs 1 --duration 1 --windows 16

Configurations (each serves one ``async def echo``; the stdio driver opens a 2025-11-25
session and calls it):

- ``mcpfleet-stdio``: ``mcpfleet serve --stdio bench.apps.mcpfleet_echo:app``;
- ``mcpfleet-stdio-sdk-app``: ``mcpfleet serve --stdio bench.apps.sdk_server:mcp``, the
  SDK app served by mcpfleet;
- ``sdk-stdio``: the same SDK app run by mcp 2.3.0 itself, ``mcp.run("stdio")``, in the
  SDK's own folder (``bench.setup_peers``).

The server is pinned to the first CPU, the driver to the second; the driver reads the
server's CPU (it is its parent). Window 1 is a client that waits for each answer; window
16 keeps 16 calls outstanding (pipelined). The configurations take turns in every run;
medians over the runs. The goal compares calls/s at window 16.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/stdio_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import config_report, goals, setup_peers, turns
from bench.machine import machine
from bench.run import MEDIAN_KEYS, ROOT, choose_cpus, pinned

SCENARIO = "stdio-echo"
GOAL_WINDOW = 16
CONFIGS = {
    "mcpfleet-stdio": "mcpfleet serve --stdio bench.apps.mcpfleet_echo:app (async def echo)",
    "mcpfleet-stdio-sdk-app": "mcpfleet serve --stdio bench.apps.sdk_server:mcp: the "
    "MCPServer app served by mcpfleet",
    "sdk-stdio": "the same MCPServer app run by mcp 2.3.0: mcp.run('stdio')",
}
KEYS = MEDIAN_KEYS[:6]  # calls/s, p50, p99, CPU per call, server and client CPU


def server_command(name: str) -> list[str]:
    if name == "sdk-stdio":
        return setup_peers.command("mcp", "bench.apps.sdk_server", ["--stdio"])
    target = "bench.apps.sdk_server:mcp" if name.endswith("sdk-app") else None
    return [
        sys.executable,
        "-m",
        "mcpfleet",
        "serve",
        "--stdio",
        target or "bench.apps.mcpfleet_echo:app",
    ]


def run_once(
    name: str, args: argparse.Namespace, window: int, cpus: tuple[int | None, int | None]
) -> dict[str, Any]:
    """One run of the driver against a fresh server; its JSON result."""
    driver = [
        sys.executable, "-m", "bench.stdio_load", "--duration", str(args.duration),
        "--warmup", str(args.warmup), "--window", str(window), "--timeout", "10",
        "--", *pinned(server_command(name), cpus[0]),
    ]  # fmt: skip
    limit = args.warmup + args.duration + 60  # start, drain and stop included
    try:
        done = subprocess.run(
            pinned(driver, cpus[1]),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"the stdio driver did not finish in {limit:g} s"}
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"no result (exit {done.returncode}): {done.stderr.decode()[-1500:]}"}
    return dict(json.loads(lines[-1]))


def run_window(
    args: argparse.Namespace,
    window: int,
    cpus: tuple[int | None, int | None],
    pinning: str,
    progress: Any,
) -> dict[str, Any]:
    names = list(args.configs)

    def measure(name: str) -> dict[str, Any]:
        return run_once(name, args, window, cpus)

    runs = turns.take_turns(names, args.runs, measure, progress)
    configs = {name: config_report.summarize(CONFIGS[name], runs[name], KEYS) for name in names}
    medians = {name: config["median"] for name, config in configs.items()}
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "config": {
            "scenario": SCENARIO,
            "window": window,
            "duration": args.duration,
            "warmup": args.warmup,
            "runs": args.runs,
            "pinning": pinning,
        },
        "configs": configs,
        "goals": goals.evaluate_configs(goals.STDIO_GOALS, SCENARIO, window, medians),
        # one call at a time, a server waits on its client by design: no note says so
        "notes": config_report.notes(configs) if window > 1 else [],
    }


def run(args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """Every window, every configuration, ``args.runs`` times; a summary per window."""
    server_cpu, load_cpu, pinning = choose_cpus(args.cpus)
    if "sdk-stdio" in args.configs:
        setup_peers.prepare("mcp")
    progress(f"bench.stdio_bench: {', '.join(args.configs)} x {args.runs} runs")
    started = time.monotonic()
    windows = {
        f"{SCENARIO}@w{window}": run_window(args, window, (server_cpu, load_cpu), pinning, progress)
        for window in args.windows
    }
    return {
        "machine": machine(),
        "seconds": round(time.monotonic() - started, 1),
        "windows": windows,
        "goals": [goal for summary in windows.values() for goal in summary["goals"]],
    }


def caption(summary: dict[str, Any]) -> str:
    config = summary["config"]
    way = "one call at a time" if config["window"] == 1 else f"{config['window']} outstanding"
    return (
        f"stdio: tools/call of echo in a 2025-11-25 session, {way}; {config['duration']:g} s "
        f"measured after {config['warmup']:g} s warm-up; median of {config['runs']} runs; "
        f"server CPU of the driver's child from /proc; {config['pinning']} (the driver)"
    )


def text(results: dict[str, Any]) -> str:
    return "\n\n".join(
        config_report.text_table(caption(summary), summary, "mcpfleet-stdio")
        for summary in results["windows"].values()
    )


def markdown(results: dict[str, Any]) -> str:
    return "\n".join(
        config_report.markdown_table(caption(summary), summary, "mcpfleet-stdio")
        for summary in results["windows"].values()
    )


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.stdio_bench", description=__doc__)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, GOAL_WINDOW])
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    turns.add_run_options(parser, warmup=1.0, cpus="SERVER_CPU,DRIVER_CPU")
    args = parser.parse_args(argv)
    turns.check_run_options(parser, args)
    if min(args.windows) < 1:
        parser.error("--windows must be >= 1")
    return args


def failed(results: dict[str, Any]) -> bool:
    return any(
        config["errors"] or not config["calls"]
        for summary in results["windows"].values()
        for config in summary["configs"].values()
    )


def main(argv: Sequence[str] | None = None) -> int:
    return turns.main(arguments(argv), run, text, failed)


if __name__ == "__main__":
    sys.exit(main())

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

from bench import config_report, goals, setup_peers
from bench.machine import machine
from bench.run import ROOT, _cpu_pair, choose_cpus, pinned

SCENARIO = "stdio-echo"
GOAL_WINDOW = 16
CONFIGS = {
    "mcpfleet-stdio": "mcpfleet serve --stdio bench.apps.mcpfleet_echo:app (async def echo)",
    "mcpfleet-stdio-sdk-app": "mcpfleet serve --stdio bench.apps.sdk_server:mcp: the "
    "MCPServer app served by mcpfleet",
    "sdk-stdio": "the same MCPServer app run by mcp 2.3.0: mcp.run('stdio')",
}
KEYS = (
    "calls_per_s",
    "p50_ms",
    "p99_ms",
    "cpu_us_per_call",
    "server_cpu_util",
    "loadgen_cpu_util",
)


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
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for number in range(args.runs):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            result = run_once(name, args, window, cpus)
            result["run"] = number + 1
            runs[name].append(result)
            progress(config_report.progress_line(number, name, result))
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
    parser.add_argument("--duration", type=float, default=3.0, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up s per run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each; medians are shown")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--cpus", type=_cpu_pair, help="SERVER_CPU,DRIVER_CPU (default: 2 first)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.duration <= 0 or args.warmup < 0 or min(args.windows) < 1:
        parser.error("--runs and --windows must be >= 1, --duration > 0, --warmup >= 0")
    return args


def failed(results: dict[str, Any]) -> bool:
    return any(
        config["errors"] or not config["calls"]
        for summary in results["windows"].values()
        for config in summary["configs"].values()
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    results = run(args, progress)
    print(text(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 1 if failed(results) else 0


if __name__ == "__main__":
    sys.exit(main())

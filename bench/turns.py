"""What the measurements whose configurations stand in for peers share (``bench.fleet``,
``bench.stdio_bench``, ``bench.workers_bench``, ``bench.tasks_bench``): configurations
taking turns run by run, the options of their command lines, and their output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.config_report import progress_line
from bench.run import BenchError, _cpu_pair

Progress = Callable[[str], None]


def take_turns(
    names: Sequence[str],
    runs: int,
    measure: Callable[[str], dict[str, Any]],
    progress: Progress,
    line: Callable[[int, str, dict[str, Any]], str] = progress_line,
) -> dict[str, list[dict[str, Any]]]:
    """``measure(name)`` for every name, ``runs`` times, the leader rotating from run to run
    (a slow drift of the machine spreads over all of them); the results by name, each with
    its run number (a run that could not produce a result: ``{"error": ...}``)."""
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for number in range(runs):
        shift = number % len(names)
        for name in [*names[shift:], *names[:shift]]:
            try:
                result = measure(name)
            except BenchError as exc:
                result = {"error": str(exc)}
            result["run"] = number + 1
            found[name].append(result)
            progress(line(number, name, result))
    return found


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    duration: float = 3.0,
    warmup: float = 1.5,
    cpus: str = "SERVER_CPU,LOADGEN_CPU",
) -> None:
    """``--duration``, ``--warmup``, ``--runs``, ``--cpus``, ``--json`` and ``--quiet``."""
    parser.add_argument("--duration", type=float, default=duration, help="measured s per run")
    parser.add_argument("--warmup", type=float, default=warmup, help="warm-up s per run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each; medians are shown")
    parser.add_argument("--cpus", type=_cpu_pair, help=f"{cpus} (default: 2 first)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """``--concurrency`` and ``--request-timeout``: what ``bench.run.run_load`` reads."""
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="s per request")


def check_run_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if getattr(args, "concurrency", 1) < 1 or args.runs < 1:
        parser.error("--concurrency and --runs must be >= 1")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be > 0, --warmup >= 0")


def progress_printer(quiet: bool) -> Progress:
    """Progress lines on stderr, or none."""

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return progress


def write_json(path: Path | None, results: Any) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def main(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, Progress], dict[str, Any]],
    text: Callable[[dict[str, Any]], str],
    failed: Callable[[dict[str, Any]], bool],
) -> int:
    """A measurement's command: ``run``, its ``text`` printed, its JSON written; exit
    status 1 when a run ``failed``."""
    results = run(args, progress_printer(args.quiet))
    print(text(results))
    write_json(args.json, results)
    return 1 if failed(results) else 0

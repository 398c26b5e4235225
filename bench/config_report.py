"""Summaries and tables of a measurement whose configurations stand in for peers (the stdio
servers of ``bench.stdio_bench``, the worker counts of ``bench.workers_bench``).

A summary holds ``configs``: per configuration its description, the medians and the
low/high of each measured key over the runs, its calls and errors, and every run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.report import GOAL_COLUMNS, aligned, goal_row, markdown_rows

# (key, label, format) of the table's columns; "ratio" and "cpu_ratio" compare the subject.
COLUMNS = (
    ("config", "config", "{}"),
    ("calls_per_s", "calls/s", "{:,.0f}"),
    ("calls_spread", "spread", "±{:.0%}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p99_ms", "p99 ms", "{:.2f}"),
    ("cpu_us_per_call", "server CPU µs/call", "{:.1f}"),
    ("ratio", "{subject} ÷ config", "{:.2f}x"),
    ("cpu_ratio", "config CPU ÷ {subject}", "{:.2f}x"),
    ("server_cpu_util", "server CPU", "{:.0%}"),
    ("loadgen_cpu_util", "client CPU", "{:.0%}"),
    ("errors", "errors", "{}"),
)


def _median(values: list[Any]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(description: str, runs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    good = [run for run in runs if "error" not in run]

    def low_high(key: str) -> list[float] | None:
        present = [run[key] for run in good if run.get(key) is not None]
        return [min(present), max(present)] if present else None

    return {
        "description": description,
        "median": {key: _median([run.get(key) for run in good]) for key in keys},
        "spread": {key: low_high(key) for key in keys},
        "calls": sum(run.get("calls", 0) for run in good),
        "errors": sum(run.get("errors", 0) for run in good) + len(runs) - len(good),
        "runs": runs,
    }


def progress_line(number: int, name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"  run {number + 1} {name}: FAILED: {result['error'][:500]}"
    return (
        f"  run {number + 1} {name}: {result['calls_per_s']:,.0f} calls/s, "
        f"{result['cpu_us_per_call'] or 0:.1f} µs CPU/call "
        f"(server busy {result['server_cpu_util'] or 0:.0%})"
    )


def notes(configs: dict[str, dict[str, Any]]) -> list[str]:
    """Runs whose server was not saturated (another process on its CPU, or waiting), and
    failures."""
    found = []
    for name, config in configs.items():
        idle = [
            f"run {run['run']} ({run['server_cpu_util']:.0%})"
            for run in config["runs"]
            if (run.get("server_cpu_util") or 1) < 0.85
        ]
        if idle:
            found.append(
                f"{name}: server under 85% of its CPU in {', '.join(idle)}: waiting on its "
                "client, or another process took the CPU"
            )
        failures = [run["error"][:300] for run in config["runs"] if "error" in run]
        if failures:
            found.append(f"{name}: {len(failures)} failed runs: {failures[0]}")
    return found


def _spread(config: dict[str, Any]) -> float | None:
    low_high = config["spread"].get("calls_per_s")
    median = config["median"].get("calls_per_s")
    if not low_high or not median:
        return None
    return float((low_high[1] - low_high[0]) / 2 / median)


def _ratio(a: Any, b: Any, wanted: bool) -> float | None:
    return a / b if wanted and a and b else None


def rows(
    summary: dict[str, Any], subject: str, columns: Sequence[tuple[str, str, str]] = COLUMNS
) -> list[list[str]]:
    mine = summary["configs"].get(subject, {}).get("median", {})
    found = []
    for name, config in summary["configs"].items():
        median = config["median"]

        other = name != subject
        values = {
            **median,
            "config": name,
            "calls_spread": _spread(config),
            "ratio": _ratio(mine.get("calls_per_s"), median.get("calls_per_s"), other),
            "cpu_ratio": _ratio(median.get("cpu_us_per_call"), mine.get("cpu_us_per_call"), other),
            "errors": config["errors"],
        }
        found.append(
            [
                "n/a" if values.get(key) is None else form.format(values[key])
                for key, _, form in columns
            ]
        )
    return found


def header(subject: str, columns: Sequence[tuple[str, str, str]] = COLUMNS) -> list[str]:
    return [label.format(subject=subject) for _, label, _ in columns]


def text_table(
    caption: str,
    summary: dict[str, Any],
    subject: str,
    columns: Sequence[tuple[str, str, str]] = COLUMNS,
) -> str:
    lines = [caption, ""]
    lines += aligned(header(subject, columns), rows(summary, subject, columns))
    if summary["goals"]:
        lines += ["", *aligned(GOAL_COLUMNS, [goal_row(goal) for goal in summary["goals"]])]
    lines += [f"note: {note}" for note in summary.get("notes", [])]
    return "\n".join(lines)


def markdown_table(
    caption: str,
    summary: dict[str, Any],
    subject: str,
    columns: Sequence[tuple[str, str, str]] = COLUMNS,
) -> str:
    lines = [caption + ".", ""]
    lines += markdown_rows(header(subject, columns), rows(summary, subject, columns))
    if summary["goals"]:
        lines += ["", *markdown_rows(GOAL_COLUMNS, [goal_row(goal) for goal in summary["goals"]])]
    if summary.get("notes"):
        lines += ["", *(f"- {note}" for note in summary["notes"])]
    return "\n".join(lines) + "\n"

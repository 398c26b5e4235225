"""``docs/benchmarks.md`` and its plot, generated from the results of ``python -m bench``.

    python -m bench --full --docs                        # run, then write the page
    python -m bench.docs bench/results/full.json         # the page from saved results
    python -m bench.docs bench/results/full.json --extras bench/results/extras.json

The page states the machine, the versions of every peer, the load generator's
ceiling, every goal with its verdict, a plot (SVG) of throughput and p99 per
peer for the c32 scenarios and the workloads of the goals (the 1 MiB read: server CPU
per call instead of p99), and every table of the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from bench import extras_docs, report, workloads

# Each plotted scenario, and what its right-hand panel shows besides calls/s.
PLOT_SCENARIOS = (
    ("echo@c32", "p99_ms"),
    ("progress@c32", "p99_ms"),
    ("session-echo@c32", "p99_ms"),
    ("discover@c32", "p99_ms"),
    ("blocking-50ms@c64", "p99_ms"),
    ("async-50ms@c1024", "p99_ms"),
    ("resource-1m@c16", "cpu_us_per_call"),
    ("get-document@c64", "p99_ms"),
)
_RIGHT = {
    "p99_ms": ("p99 ms", "{:.2f}"),
    "cpu_us_per_call": ("server CPU µs/call", "{:,.0f}"),
}
_ROW = 18  # px per bar
_LABEL = 280  # px for the peer names (and the twin each runs)
_BAR = 300  # px for the longest bar
_GAP = 40  # px between the two panels
_COLORS = {"subject": "#2b6cb0", "baseline": "#a0aec0", "floor": "#68d391"}


# What the second fleet table is (bench.fleet --busy-neighbour; bench/README.md says why).
BUSY_INTRO = (
    "### The same, the load side's CPU kept busy in every configuration",
    "",
    "For information (the goal is judged above): a busy loop at the lowest priority runs on "
    "the load side's CPU in every run, taking only what the load side leaves, so that this "
    "CPU is as busy beside the single process as beside the fleet (whose HAProxy and Redis "
    "use it too). On this machine, work on one CPU slows the other's; see "
    "`bench/README.md`, *Fleet cost*.",
)

# The third (bench.fleet --instructions; bench/instructions.py says how).
COUNTED_INTRO = (
    "### The same in instructions per call (callgrind)",
    "",
    "For information (the goal is judged on CPU time, above): every mcpfleet process ran "
    "under callgrind, counting from the start of the load generator's window to its end; "
    "the instructions of user space over the calls, summed over a configuration's tasks. "
    "This count does not move with what shares the CPUs (two tasks taking turns on one, a "
    "busy neighbour); it leaves out the kernel's share and what cache misses cost. See "
    "`bench/README.md`, *Fleet cost*.",
)


def ceiling_sentence(ceiling: dict[str, Any]) -> str:
    if "error" in ceiling:
        return f"Load generator ceiling: not measured ({ceiling['error'][:200]})."
    first = (
        f"Load generator ceiling: {ceiling['calls_per_s']:,.0f} calls/s against a trivial "
        f"server (`bench/ceiling.py`) at {ceiling['concurrency']:,} connections, with the load "
        f"generator at {ceiling['loadgen_cpu_util']:.0%} of its CPU; p50 "
        f"{ceiling['p50_ms']:.2f} ms, p99 {ceiling['p99_ms']:.2f} ms."
    )
    if ceiling["concurrency"] > 32:  # the slow-tool workloads' largest count of connections
        ideal = ceiling["concurrency"] / workloads.TOOL_SECONDS
        if ceiling["calls_per_s"] >= ideal:
            verdict = "the load generator can drive that rate"
        elif ceiling["loadgen_cpu_util"] >= 0.9:
            verdict = "the load generator cannot drive that rate: a peer's figure is bounded"
        else:
            verdict = (
                "the load generator did not reach it, but with its CPU not saturated: the "
                "trivial server, or another process on the machine, bounded this measurement"
            )
        return (
            f"{first} A {workloads.TOOL_SECONDS * 1e3:g} ms tool at as many connections can "
            f"reach {ideal:,.0f} calls/s at most (connections ÷ latency): {verdict}."
        )
    return (
        f"{first} Every peer below runs well under that rate, so its figure is the server's, "
        "not the load generator's (the 1 MiB and 256 KiB payloads excepted: see their notes)."
    )


def _panel(x: int, y: int, title: str, rows: list[tuple[str, str, float]], form: str) -> list[str]:
    """A horizontal bar chart: (label, role, value) rows, scaled to the largest value."""
    top = max((value for _, _, value in rows), default=0) or 1.0
    parts = [f'<text x="{x}" y="{y}" font-weight="bold">{escape(title)}</text>']
    for index, (label, role, value) in enumerate(rows):
        row_y = y + 8 + index * _ROW
        width = max(1.0, value / top * _BAR)
        color = _COLORS.get(role, "#a0aec0")
        parts.append(
            f'<text x="{x + _LABEL - 6}" y="{row_y + 12}" text-anchor="end">{escape(label)}</text>'
        )
        parts.append(
            f'<rect x="{x + _LABEL}" y="{row_y + 2}" width="{width:.1f}" height="{_ROW - 5}" '
            f'fill="{color}"/>'
        )
        parts.append(
            f'<text x="{x + _LABEL + width + 4:.1f}" y="{row_y + 12}">'
            f"{escape(form.format(value))}</text>"
        )
    return parts


def plot(results: dict[str, Any]) -> str:
    """The SVG: per scenario, calls/s (left) and p99 ms or CPU (right) of every peer."""
    panel_width = _LABEL + _BAR + 70
    parts: list[str] = []
    y = 24
    for key, right in PLOT_SCENARIOS:
        summary = results["scenarios"].get(key)
        if summary is None:
            continue
        scenario = summary["config"]["scenario"]
        rows = [
            (report.peer_label(name, peer, scenario), peer["role"], peer["median"])
            for name, peer in summary["peers"].items()
            if peer["median"].get("calls_per_s")
        ]
        if not rows:
            continue
        throughput = [(label, role, m["calls_per_s"]) for label, role, m in rows]
        other = [(label, role, m.get(right) or 0.0) for label, role, m in rows]
        name, form = _RIGHT[right]
        parts += _panel(10, y, f"{key}: calls/s (higher is better)", throughput, "{:,.0f}")
        parts += _panel(10 + panel_width + _GAP, y, f"{key}: {name} (lower is better)", other, form)
        y += 8 + len(rows) * _ROW + 34
    width = 2 * panel_width + _GAP + 20
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
            f'viewBox="0 0 {width} {y}" font-family="sans-serif" font-size="12">',
            f'<rect width="{width}" height="{y}" fill="white"/>',
            *parts,
            "</svg>",
            "",
        ]
    )


def _versions(machine: dict[str, Any]) -> list[str]:
    main = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    lines = [f"- main environment (mcpfleet, the floor, the load generator): {main}"]
    lines += [
        f"- `{name}` peer runtime (a folder of its own under `.bench-peers/`): {text}"
        for name, text in machine.get("peer_versions", {}).items()
    ]
    return lines


def _goal_table(goals: list[dict[str, Any]]) -> list[str]:
    rows = [[*report.goal_row(goal), goal["where"]] for goal in goals]
    return report.markdown_rows([*report.GOAL_COLUMNS, "measured in"], rows)


def page(results: dict[str, Any], plot_name: str) -> str:
    machine = results["machine"]
    missed = [goal for goal in results["goals"] if not goal["passed"]]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python -m bench --{results['mode']} --docs` on {results['date']} "
        f"({results['mode_description']}). Do not edit by hand: run it again.",
        "",
        "Each peer is a server answering the same calls, started in turn on one CPU while "
        "the load generator (`bench/loadgen.py`, its own process) runs on the other; server "
        "CPU is read from `/proc` at the start and end of the measured window. The peers "
        "take turns within each run and the tables show medians over the runs, with the "
        "spread of calls/s (half the range, as a share of the median). `bench/README.md` "
        "says how each scenario and peer is built.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {machine['cpu']} ({machine['cpus']} CPUs); {machine['platform']}",
        f"- Python {machine['python']}; commit {machine['commit']}",
        *_versions(machine),
        "",
        ceiling_sentence(results["ceiling"]),
        "",
        *([ceiling_sentence(results["ceiling_slow"]), ""] if "ceiling_slow" in results else []),
        "## Goals",
        "",
        *_goal_table(results["goals"]),
        "",
        f"{len(results['goals']) - len(missed)} of {len(results['goals'])} goals met in this run."
        + (
            " Missed: " + "; ".join(f"{goal['goal']} ({goal['where']})" for goal in missed) + "."
            if missed
            else ""
        ),
        "",
        "## Throughput and p99 per peer",
        "",
        f"![calls/s and p99 per peer at 32 connections, and for the workloads of the goals "
        f"(the 1 MiB read: server CPU per call)]({plot_name})",
        "",
        "## Every scenario",
        "",
    ]
    for key, summary in results["scenarios"].items():
        lines += [f"### {key}", "", report.scenario_markdown(summary), ""]
    if "fleet" in results:
        lines += ["## Fleet: CPU per call", "", report.fleet_markdown_table(results["fleet"]), ""]
    if "fleet_busy" in results:
        lines += [*BUSY_INTRO, "", report.fleet_markdown_table(results["fleet_busy"]), ""]
    if "fleet_instructions" in results:
        counted = report.fleet_markdown_table(results["fleet_instructions"])
        lines += [*COUNTED_INTRO, "", counted, ""]
    if "memory" in results:
        lines += ["## Memory per session", "", report.memory_markdown_table(results["memory"]), ""]
    if "extras" in results:
        lines += [extras_docs.section(results["extras"]), ""]
    if "monitor" in results:
        lines += [extras_docs.monitor_section(results["monitor"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def write(results: dict[str, Any], path: Path) -> list[Path]:
    """The page at ``path`` and its plot beside it (same name, ``.svg``)."""
    svg = path.with_suffix(".svg")
    path.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(plot(results), encoding="utf-8")
    path.write_text(page(results, svg.name), encoding="utf-8")
    return [path, svg]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.docs", description=__doc__)
    parser.add_argument("results", type=Path, help="JSON written by python -m bench")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument(
        "--extras",
        type=Path,
        metavar="PATH",
        help="issue 16's results (python -m bench.extras --json PATH) to show in the page, "
        "in place of any in RESULTS",
    )
    parser.add_argument(
        "--monitor",
        type=Path,
        metavar="PATH",
        help="the monitor's results (python -m bench.monitor --out PATH) to show in the page",
    )
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    if args.monitor is not None:
        results["monitor"] = json.loads(args.monitor.read_text(encoding="utf-8"))
    if args.extras is not None:
        results["extras"] = json.loads(args.extras.read_text(encoding="utf-8"))
        kept = [goal for goal in results["goals"] if not goal["where"].startswith("extras")]
        results["goals"] = kept + results["extras"]["goals"]
    for path in write(results, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

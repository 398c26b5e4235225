"""The docs page's sections measured apart from the full run: issues 15 and 16's goals
(``bench.extras``: its goal verdicts, the recorded costs of tracing and of a task cycle, and
each part's table), and the monitor's (``bench.monitor``, issue 17).

``section`` and ``monitor_section`` are the Markdown, each between two markers of its own;
``bench.docs`` puts them in a page it generates, and ``splice`` and ``splice_monitor`` write
one into a page generated earlier, replacing that section between its markers (or inserting
it before the per-peer tables) and leaving the rest, the other section included, unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import extras, monitor, report

BEGIN = "<!-- bench.extras: begin -->"
END = "<!-- bench.extras: end -->"
MONITOR_BEGIN = "<!-- bench.monitor: begin -->"
MONITOR_END = "<!-- bench.monitor: end -->"
HEADING = "## Tracing, an SDK app, stdio, workers and tasks (issues 16 and 15)"
BEFORE = "## Throughput and p99 per peer"
PART_TITLES = {
    "otel": "OpenTelemetry off and on (echo@c32)",
    "sdk-app": "An existing MCPServer app, served by mcpfleet and by the SDK (echo@c32)",
    "stdio": "stdio tools/call",
    "workers": "Two workers against one, on Redis state",
    "tasks": "The tasks extension: a task-optional tool, and a task's whole cycle on Redis",
}


def section(results: dict[str, Any], *, separate: bool = False) -> str:
    """The section's Markdown; ``separate``: measured apart from the rest of the page."""
    machine = results["machine"]
    config = results["config"]
    missed = [goal for goal in results["goals"] if not goal["passed"]]
    when = (
        f"Measured {results['date']} by `python -m bench.extras` (median of {config['runs']} "
        f"runs of {config['duration']:g} s per configuration, after {config['warmup']:g} s of "
        f"warm-up; commit {machine['commit']})"
    )
    if separate:
        when += (
            ", apart from the run the rest of this page comes from: these goals are not in the "
            "table of goals above, and `python -m bench --full --docs` measures them again "
            "with everything else"
        )
    lines = [
        BEGIN,
        HEADING,
        "",
        when + ".",
        "",
        *report.markdown_rows(
            [*report.GOAL_COLUMNS, "measured in"],
            [[*report.goal_row(goal), goal["where"]] for goal in results["goals"]],
        ),
        "",
        f"{len(results['goals']) - len(missed)} of {len(results['goals'])} goals met."
        + (" Missed: " + "; ".join(goal["goal"] for goal in missed) + "." if missed else ""),
        "",
    ]
    parts = results["parts"]
    for part, title in PART_TITLES.items():
        if part not in parts:
            continue
        lines += [f"### {title}", ""]
        if part in extras.SCENARIO_PEERS:
            lines += [report.scenario_markdown(parts[part])]
            if part == "otel":
                lines += [extras.otel_off_sentence(parts[part]), ""]
                lines += [extras.otel_on_sentence(results.get("otel_on")), ""]
        else:
            lines += [extras.MODULE_PARTS[part].markdown(parts[part])]
    lines += [END]
    return "\n".join(lines).rstrip() + "\n"


def monitor_section(results: dict[str, Any]) -> str:
    """The monitor's section (``bench.monitor``'s results), between its markers."""
    body = monitor.markdown(results).rstrip("\n")
    return f"{MONITOR_BEGIN}\n{body}\n{MONITOR_END}\n"


def _spliced(page: str, begin: str, end: str, block: str) -> str:
    """``page`` with ``block`` (its markers included) in place of the one between ``begin``
    and ``end``, or before the per-peer tables, or at the end."""
    if begin in page and end in page:
        head, _, rest = page.partition(begin)
        _, _, tail = rest.partition(end)
        return head + block.rstrip("\n") + tail
    if BEFORE in page:
        head, _, tail = page.partition(BEFORE)
        return head + block + "\n" + BEFORE + tail
    return page.rstrip("\n") + "\n\n" + block


def splice(path: Path, results: dict[str, Any]) -> None:
    """Write the extras section into the page at ``path``, replacing an earlier one."""
    page = path.read_text(encoding="utf-8")
    path.write_text(_spliced(page, BEGIN, END, section(results, separate=True)), encoding="utf-8")


def splice_monitor(path: Path, results: dict[str, Any]) -> None:
    """Write the monitor's section into the page at ``path``, replacing an earlier one."""
    page = path.read_text(encoding="utf-8")
    block = monitor_section(results)
    path.write_text(_spliced(page, MONITOR_BEGIN, MONITOR_END, block), encoding="utf-8")

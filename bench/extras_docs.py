"""The docs page's section for issue 16's goals (``bench.extras``): its goal verdicts, the
recorded cost of tracing, and each part's table.

``section`` is the Markdown, between two markers; ``bench.docs`` puts it in a page it
generates, and ``splice`` writes it into a page generated earlier, replacing the section
between the markers (or inserting it before the plot) and leaving the rest unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import extras, report, stdio_bench, workers_bench

BEGIN = "<!-- bench.extras: begin -->"
END = "<!-- bench.extras: end -->"
HEADING = "## Tracing, an SDK app, stdio and workers (issue 16)"
BEFORE = "## Throughput and p99 per peer"
PART_TITLES = {
    "otel": "OpenTelemetry off and on (echo@c32)",
    "sdk-app": "An existing MCPServer app, served by mcpfleet and by the SDK (echo@c32)",
    "stdio": "stdio tools/call",
    "workers": "Two workers against one, on Redis state",
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
        elif part == "stdio":
            lines += [stdio_bench.markdown(parts[part])]
        else:
            lines += [workers_bench.markdown(parts[part])]
    lines += [END]
    return "\n".join(lines).rstrip() + "\n"


def splice(path: Path, results: dict[str, Any]) -> None:
    """Write the section into the page at ``path``, replacing an earlier one."""
    page = path.read_text(encoding="utf-8")
    block = section(results, separate=True)
    if BEGIN in page and END in page:
        head, _, rest = page.partition(BEGIN)
        _, _, tail = rest.partition(END)
        page = head + block.rstrip("\n") + tail
    elif BEFORE in page:
        head, _, tail = page.partition(BEFORE)
        page = head + block + "\n" + BEFORE + tail
    else:
        page = page.rstrip("\n") + "\n\n" + block
    path.write_text(page, encoding="utf-8")

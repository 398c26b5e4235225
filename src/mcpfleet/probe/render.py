"""Reports as a rich table for people, or as JSON for machines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mcpfleet.probe.model import Report, Status, Verdict

STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim"}
VERDICT_STYLE = {Verdict.HEALTHY: "green", Verdict.DEGRADED: "yellow", Verdict.DOWN: "red"}


def to_json(reports: Sequence[Report], *, single: bool) -> str:
    value: Any = (
        reports[0].to_json()
        if single
        else {
            "verdict": worst(reports).value,
            "counts": {v.value: sum(r.verdict is v for r in reports) for v in Verdict},
            "targets": [report.to_json() for report in reports],
        }
    )
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def worst(reports: Sequence[Report]) -> Verdict:
    verdicts = [report.verdict for report in reports] or [Verdict.DOWN]
    return max(verdicts, key=lambda verdict: verdict.exit_code)


def print_report(console: Console, report: Report) -> None:
    title = f"{escape(report.url)}  era: {report.era or '-'}"
    table = Table(title=title, title_justify="left")
    table.add_column("phase")
    table.add_column("status")
    table.add_column("ms", justify="right")
    table.add_column("detail", overflow="fold")
    for phase in report.phases:
        elapsed = "" if phase.elapsed_ms is None else f"{phase.elapsed_ms:.1f}"
        status = f"[{STYLE[phase.status]}]{phase.status.value}[/]"
        # Details quote servers: their text is shown, never read as Rich markup.
        table.add_row(escape(phase.name), status, elapsed, escape(phase.detail), style=None)
    console.print(table)
    verdict = report.verdict
    line = f"[{VERDICT_STYLE[verdict]}]{verdict.value}[/]"
    if report.failing_phase:
        line += f" (phase: {report.failing_phase})"
    if report.tools_hash:
        line += f"  tools: {len(report.tools)}  hash: {report.tools_hash}"
    console.print(line, highlight=False)


def print_summary(console: Console, reports: Sequence[Report]) -> None:
    table = Table(title=f"{len(reports)} targets: {worst(reports).value}", title_justify="left")
    for column in ("target", "verdict", "era", "phase", "detail"):
        table.add_column(column, overflow="fold")
    for report in reports:
        phase = next((p for p in report.phases if p.name == report.failing_phase), None)
        verdict = f"[{VERDICT_STYLE[report.verdict]}]{report.verdict.value}[/]"
        table.add_row(
            escape(report.url),
            verdict,
            report.era or "-",
            report.failing_phase or "",
            escape(phase.detail) if phase else "",
        )
    console.print(table)

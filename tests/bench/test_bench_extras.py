"""Issue 16's measurements (``bench.extras``) at their smallest: each part runs for about a
second and yields a result with calls and no errors. No speed is asserted."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import extras_docs

ROOT = Path(__file__).resolve().parent.parent.parent
SHORT = ("--runs", "1", "--duration", "1", "--warmup", "0.5")


def harness(tmp_path: Path, module: str, *options: str) -> tuple[str, dict[str, Any]]:
    """Run a harness command briefly (the SDK's folder may be installed on first use);
    what it printed and its JSON results."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", module, *options, "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(results.read_text(encoding="utf-8"))


def assert_served(configs: dict[str, Any]) -> None:
    for name, config in configs.items():
        (run,) = config["runs"]
        assert "error" not in run, (name, run)
        assert run["calls"] > 0, (name, run)
        assert run["errors"] == 0, (name, run)
        assert run["cpu_us_per_call"] is not None, (name, run)


def test_stdio_driver_measures_mcpfleet_and_the_sdk(tmp_path: Path) -> None:
    """The stdio driver calls echo on mcpfleet's and the SDK's stdio servers and checks
    every answer; the goal is evaluated at its window."""
    printed, results = harness(
        tmp_path, "bench.stdio_bench", *SHORT, "--windows", "16", "--configs",
        "mcpfleet-stdio", "sdk-stdio",
    )  # fmt: skip
    summary = results["windows"]["stdio-echo@w16"]
    assert_served(summary["configs"])
    (goal,) = summary["goals"]
    assert goal["subject"] == "mcpfleet-stdio"
    assert goal["reference"] == "sdk-stdio"
    assert "calls/s" in printed


def test_workers_bench_sums_the_cpu_of_every_worker(tmp_path: Path) -> None:
    """Two workers on Redis are measured as one server: the supervisor and both workers."""
    _, summary = harness(tmp_path, "bench.workers_bench", *SHORT)
    assert_served(summary["configs"])
    (two,) = summary["configs"]["workers-2"]["runs"]
    assert len(two["pids"]) == 3
    assert len(two["server_cpu_s_each"]) == 3
    (one,) = summary["configs"]["workers-1"]["runs"]
    assert len(one["pids"]) == 1
    assert [goal["goal"] for goal in summary["goals"]] == [
        "2 workers: server CPU per call vs 1 worker (Redis state)"
    ]


def test_extras_measure_tracing_and_the_sdk_app_and_write_their_section(tmp_path: Path) -> None:
    """Tracing off, off without the extra, and on (its spans reach the sink), and the SDK
    app served both ways; the section goes into a page once, however often it is written."""
    page = tmp_path / "benchmarks.md"
    shutil.copy(ROOT / "docs" / "benchmarks.md", page)
    before = outside_section(page.read_text(encoding="utf-8"))
    _, results = harness(
        tmp_path, "bench.extras", "--parts", "otel", "sdk-app", *SHORT, "--docs", str(page)
    )
    for part in ("otel", "sdk-app"):
        assert_served(results["parts"][part]["peers"])
    (traced,) = results["parts"]["otel"]["peers"]["mcpfleet-otel"]["runs"]
    assert traced["otlp"]["spans"] > 0, traced["otlp"]
    assert {goal["where"] for goal in results["goals"]} == {"extras: otel", "extras: sdk-app"}
    extras_docs.splice(page, results)
    text = page.read_text(encoding="utf-8")
    assert text.count(extras_docs.BEGIN) == 1
    assert extras_docs.HEADING in text
    assert outside_section(text) == before


def outside_section(page: str) -> list[str]:
    """The words of a page outside its issue 16 section, if it has one."""
    if extras_docs.BEGIN in page:
        begin, end = page.index(extras_docs.BEGIN), page.index(extras_docs.END)
        page = page[:begin] + page[end + len(extras_docs.END) :]
    return page.split()


def test_tasks_bench_measures_the_optional_tool_and_the_task_cycle(tmp_path: Path) -> None:
    """The plain and the task-optional tool are answered in the request; on Redis each
    cycle's task is created, then completed with the echoed text by tasks/get; the goal is
    evaluated between the plain and the task-optional tool."""
    printed, results = harness(tmp_path, "bench.tasks_bench", *SHORT)  # c32: the goal's
    optional, cycle = results["parts"]["optional"], results["parts"]["cycle"]
    assert_served(optional["configs"])
    assert_served(cycle["configs"])
    (run,) = cycle["configs"]["cycle"]["runs"]
    assert run["counts"]["task_gets"] >= run["calls"]  # at least one tasks/get per cycle
    (sync,) = cycle["configs"]["sync"]["runs"]
    assert "task_gets" not in sync["counts"]
    (goal,) = results["goals"]
    assert (goal["subject"], goal["reference"]) == ("task-optional", "plain")
    assert "cycles/s" in printed


def test_the_monitor_section_outlives_the_extras_section(tmp_path: Path) -> None:
    """The monitor's section is written between its own markers once, however often, and
    writing the extras section again leaves it as it was."""
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Throughput and p99 per peer\n\ntable\n", encoding="utf-8")
    monitor = {
        "machine": {"commit": "abc1234"},
        "endpoints": 1000,
        "probing": {
            "endpoints": 1000, "cpu_share": 0.2, "cpu_ms_per_probe": 6.0, "probes_per_s": 33.3,
        },
    }  # fmt: skip
    extras = {
        "date": "2026-01-01 00:00 UTC",
        "machine": {"commit": "abc1234"},
        "config": {"runs": 1, "duration": 1.0, "warmup": 0.5},
        "parts": {},
        "goals": [],
    }
    extras_docs.splice_monitor(page, monitor)
    extras_docs.splice_monitor(page, monitor)
    extras_docs.splice(page, extras)
    first = page.read_text(encoding="utf-8")
    extras_docs.splice(page, extras)
    text = page.read_text(encoding="utf-8")
    assert text == first
    assert text.count(extras_docs.MONITOR_BEGIN) == text.count(extras_docs.BEGIN) == 1
    assert "under a quarter of a core" in text
    assert "| MET |" in text
    assert text.index(extras_docs.END) < text.index("## Throughput and p99 per peer")

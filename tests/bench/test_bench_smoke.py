"""The benchmark harness end to end, at its smallest: no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def harness(tmp_path: Path, module: str, *options: str) -> tuple[str, dict[str, Any]]:
    """Run a harness command briefly; return what it printed and its JSON summary."""
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", module, *options, "--json", str(results)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(results.read_text(encoding="utf-8"))


BRIEF = ("--concurrency", "2", "--duration", "2", "--warmup", "0.5", "--runs", "1",
         "--request-timeout", "5")


def test_harness_measures_mcpfleet_echo(tmp_path: Path) -> None:
    """The echo scenario against mcpfleet yields calls, no errors and a CPU figure."""
    printed, summary = harness(tmp_path, "bench.run", "--scenario", "echo",
                               "--peers", "mcpfleet", *BRIEF)
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["cpu_us_per_call"] is not None
    assert "calls/s" in printed


def test_harness_measures_mcpfleet_session_echo(tmp_path: Path) -> None:
    """The session scenario opens one session per connection and skips peers without any."""
    _, summary = harness(tmp_path, "bench.run", "--scenario", "session-echo",
                         "--peers", "mcpfleet", "floor", *BRIEF)
    assert list(summary["peers"]) == ["mcpfleet"]  # the floor has no sessions
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["sessions"] == 2
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]


def test_harness_measures_mcpfleet_with_redis_state(tmp_path: Path) -> None:
    """The Redis peer: the harness starts its redis-server and stops it afterwards."""
    _, summary = harness(tmp_path, "bench.run", "--scenario", "session-echo",
                         "--peers", "mcpfleet-redis", *BRIEF)
    (run,) = summary["peers"]["mcpfleet-redis"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["redis_cpu_us_per_call"] is not None


def test_memory_reports_kb_per_session(tmp_path: Path) -> None:
    """The memory measurement reports KB per idle and per streaming session, with its goals."""
    printed, summary = harness(tmp_path, "bench.memory", "--peers", "mcpfleet",
                               "--sessions", "20", "--streams", "5",
                               "--warmup-sessions", "10", "--settle", "0.2")
    result = summary["peers"]["mcpfleet"]
    assert "error" not in result, result
    assert isinstance(result["idle_kb_per_session"], float | int)
    assert isinstance(result["stream_kb_per_session"], float | int)
    assert {goal["metric"] for goal in summary["goals"]} == {
        "idle_kb_per_session",
        "stream_kb_per_session",
    }
    assert "KB/session" in printed


@pytest.mark.parametrize("scenario", ["progress", "handshake", "discover"])
def test_harness_runs_each_unit_kind_against_mcpfleet(tmp_path: Path, scenario: str) -> None:
    """Progress over SSE, the 2025 handshake and the 2026 discovery: calls, and no errors."""
    _, summary = harness(tmp_path, "bench.run", "--scenario", scenario,
                         "--peers", "mcpfleet", *BRIEF)
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    if scenario == "handshake":  # a new session per unit
        assert run["sessions"] >= run["calls"]


def test_quick_mode_smallest_scenario_writes_results_and_docs(tmp_path: Path) -> None:
    """python -m bench --quick, cut to one peer and one scenario: ceiling, table, page, plot."""
    page = tmp_path / "benchmarks.md"
    printed, results = harness(
        tmp_path, "bench", "--quick", "--peers", "mcpfleet", "--scenarios", "echo",
        "--duration", "1", "--skip-fleet", "--skip-memory", "--docs", str(page),
    )
    assert results["mode"] == "quick"
    assert results["ceiling"]["calls"] > 0, results["ceiling"]
    (run,) = results["scenarios"]["echo@c32"]["peers"]["mcpfleet"]["runs"]
    assert run["calls"] > 0, run
    assert run["errors"] == 0, run
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks")
    assert "Load generator ceiling" in text
    assert "### echo@c32" in text
    svg = (tmp_path / "benchmarks.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert "mcpfleet" in svg
    assert "Load generator ceiling" in printed

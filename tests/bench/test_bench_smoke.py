"""The benchmark harness end to end, at its smallest: no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_harness_measures_mcpfleet_echo(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench.run",
        "--scenario", "echo",
        "--peers", "mcpfleet",
        "--concurrency", "2",
        "--duration", "2",
        "--warmup", "0.5",
        "--runs", "1",
        "--request-timeout", "5",
        "--json", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["cpu_us_per_call"] is not None
    assert "calls/s" in done.stdout


def test_harness_measures_mcpfleet_session_echo(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench.run",
        "--scenario", "session-echo",
        "--peers", "mcpfleet", "floor",
        "--concurrency", "2",
        "--duration", "2",
        "--warmup", "0.5",
        "--runs", "1",
        "--request-timeout", "5",
        "--json", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    assert list(summary["peers"]) == ["mcpfleet"]  # the floor has no sessions
    (run,) = summary["peers"]["mcpfleet"]["runs"]
    assert "error" not in run, run
    assert run["sessions"] == 2
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]


def test_harness_measures_mcpfleet_with_redis_state(tmp_path: Path) -> None:
    """The Redis peer: the harness starts its redis-server and stops it afterwards."""
    results = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "bench.run",
        "--scenario", "session-echo",
        "--peers", "mcpfleet-redis",
        "--concurrency", "2",
        "--duration", "2",
        "--warmup", "0.5",
        "--runs", "1",
        "--request-timeout", "5",
        "--json", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    (run,) = summary["peers"]["mcpfleet-redis"]["runs"]
    assert "error" not in run, run
    assert run["calls"] > 0
    assert run["errors"] == 0, run["error_samples"]
    assert run["redis_cpu_us_per_call"] is not None


def test_memory_reports_kb_per_session(tmp_path: Path) -> None:
    results = tmp_path / "memory.json"
    command = [
        sys.executable, "-m", "bench.memory",
        "--peers", "mcpfleet",
        "--sessions", "20",
        "--streams", "5",
        "--warmup-sessions", "10",
        "--settle", "0.2",
        "--json", str(results),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(results.read_text(encoding="utf-8"))
    result = summary["peers"]["mcpfleet"]
    assert "error" not in result, result
    assert isinstance(result["idle_kb_per_session"], float | int)
    assert isinstance(result["stream_kb_per_session"], float | int)
    assert {goal["metric"] for goal in summary["goals"]} == {
        "idle_kb_per_session",
        "stream_kb_per_session",
    }
    assert "KB/session" in done.stdout

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

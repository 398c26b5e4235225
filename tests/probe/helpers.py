"""Running the prober from the tests: in process, or as ``python -m mcpfleet.probe``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from mcpfleet.probe import Options, Report, probe
from mcpfleet.probe.model import Phase
from tests.conftest import ROOT


def run(url: str, **options: Any) -> Report:
    return asyncio.run(probe(url, Options(**options)))


def phase(report: Report, name: str) -> Phase:
    found = [p for p in report.phases if p.name == name]
    assert found, f"no phase {name!r} in {[p.name for p in report.phases]}"
    return found[0]


def statuses(report: Report) -> dict[str, str]:
    return {p.name: p.status.value for p in report.phases}


def cli(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> tuple[int, Any, float]:
    """``python -m mcpfleet.probe ARGS --json``: exit code, parsed JSON, seconds taken."""
    import time

    start = time.monotonic()
    completed = cli_text(*args, "--json", timeout=timeout, env=env)
    elapsed = time.monotonic() - start
    assert completed.stdout, completed.stderr
    return completed.returncode, json.loads(completed.stdout), elapsed


def cli_text(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mcpfleet.probe ARGS`` with ``env`` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "mcpfleet.probe", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )

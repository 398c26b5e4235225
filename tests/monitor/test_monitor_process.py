"""``mcpfleet monitor run`` as a process: it probes, serves its page, and stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from mcpfleet.monitor import open_store
from tests.conftest import ROOT, free_port
from tests.monitor.support import mcp_target, write_config
from tests.probe.servers import threaded


def test_run_serves_status_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The monitor process probes on its interval, its status server reports the endpoint
    up with Prometheus metrics, and SIGTERM ends it with exit code 0, history kept."""
    port = free_port()
    with threaded(mcp_target()) as target:
        path = write_config(
            tmp_path,
            f"""
            storage: {{url: "sqlite:///{tmp_path}/h.db"}}
            serve: {{port: {port}}}
            endpoints:
              - {{name: api, url: "{target.url}", interval: 100ms}}
            """,
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet", "monitor", "run", "--config", str(path)],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            status = _wait_for_state(f"http://127.0.0.1:{port}", process)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        finally:
            process.send_signal(signal.SIGTERM)
            output = process.communicate(timeout=20)[0].decode()
    assert status == "up"
    assert 'probe_success{endpoint="api"' in metrics
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert _stored(tmp_path) >= 2


def _wait_for_state(base: str, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the monitor exited early"
        try:
            document = httpx.get(base + "/api/status.json", timeout=2).json()
        except httpx.HTTPError:
            document = None
        if document and document["endpoints"][0]["latest"] is not None:
            time.sleep(0.3)  # a few more probes on the 100 ms interval
            return str(document["endpoints"][0]["state"])
        time.sleep(0.05)
    raise AssertionError("no probe result in 20 s")


def _stored(tmp_path: Path) -> int:
    async def count() -> int:
        store = open_store(f"sqlite:///{tmp_path}/h.db")
        try:
            return len(await store.results("api", 0))
        finally:
            await store.aclose()

    return asyncio.run(count())

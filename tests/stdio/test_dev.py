"""``mcpfleet dev``: a reloading server for a laptop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.timeout(90)

APP = '''
from mcpfleet import Server

app = Server("dev-test", "1.0.0")


@app.tool()
async def first() -> str:
    """The tool the app starts with."""
    return "one"
'''

ADDED = '''

@app.tool()
async def second() -> str:
    """A tool added while the server runs."""
    return "two"
'''


class DevProcess:
    """``mcpfleet dev devapp:app`` in its own process group, as a terminal runs it."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet", "dev", "devapp:app", "--port", str(self.port)],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tools(self) -> list[str] | None:
        """The tool names the server lists now, or None while it is not answering."""
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers = {
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/list",
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
        try:
            response = httpx.post(self.url, json=body, headers=headers, timeout=2.0)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return [tool["name"] for tool in response.json()["result"]["tools"]]

    def wait_for(self, name: str, within: float) -> float:
        """Poll until ``name`` is listed; the seconds it took (fails after ``within``)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            assert self.process.poll() is None, self.output()
            listed = self.tools()
            if listed is not None and name in listed:
                return time.monotonic() - started
            time.sleep(0.05)
        pytest.fail(f"{name} was not listed within {within} s:\n{self.output()}")

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)

    def output(self) -> str:
        self.stop()
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevProcess]:
    (tmp_path / "devapp.py").write_text(APP)
    running = DevProcess(tmp_path)
    yield running
    running.stop()
    if running.process.stdout is not None:
        running.process.stdout.close()


def test_a_change_is_served_without_restarting_the_command(dev: DevProcess, tmp_path: Path) -> None:
    """Adding a tool to the app's file serves it within 2 s (plus a margin for busy test
    machines), while the same command keeps running."""
    dev.wait_for("first", within=30)
    with (tmp_path / "devapp.py").open("a") as app_file:
        app_file.write(ADDED)
    took = dev.wait_for("second", within=6)
    print(f"the change was served after {took:.2f} s")
    assert dev.process.poll() is None


def test_a_broken_save_does_not_stop_the_command(dev: DevProcess, tmp_path: Path) -> None:
    """A save that does not import leaves the command running; the fix is then served."""
    dev.wait_for("first", within=30)
    app_file = tmp_path / "devapp.py"
    app_file.write_text(APP + "\nthis line does not parse (\n")
    deadline = time.monotonic() + 10
    while dev.tools() is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # the worker with the old code stops; the new one fails to import
    app_file.write_text(APP + ADDED)
    dev.wait_for("second", within=10)
    assert dev.process.poll() is None


def test_sigint_exits_at_once(dev: DevProcess) -> None:
    """Ctrl-C stops the command promptly, with no drain wait, and frees the port."""
    dev.wait_for("first", within=30)
    started = time.monotonic()
    dev.interrupt()
    dev.process.wait(timeout=10)
    assert time.monotonic() - started < 5
    assert dev.tools() is None


def test_prints_the_endpoint_and_the_inspector_command(dev: DevProcess) -> None:
    """The command prints the full endpoint URL and the command that opens the Inspector."""
    dev.wait_for("first", within=30)
    dev.interrupt()
    dev.process.wait(timeout=10)
    output = dev.output()
    assert f"MCP endpoint:  {dev.url}" in output
    command = f"npx @modelcontextprotocol/inspector --transport http --server-url {dev.url}"
    assert command in output

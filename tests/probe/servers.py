"""Servers the prober's tests start on 127.0.0.1: ASGI apps in a thread, or child processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from tests.conftest import ROOT, free_port

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node22" / "node_modules" / ".bin" / "node"
TS_SDK = TOOLS / "ts-sdk"


class ThreadedServer:
    """An ASGI app under uvicorn in a thread of the test process; ``stop`` ends it."""

    def __init__(self, app: Any, *, lifespan: str = "off", **config: Any) -> None:
        self.port = free_port()
        scheme = "https" if "ssl_certfile" in config else "http"
        self.base = f"{scheme}://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp"
        settings = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            lifespan=lifespan,
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
            loop="asyncio",
            http="h11",
            **config,
        )
        self.server = uvicorn.Server(settings)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("threaded server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextlib.contextmanager
def threaded(app: Any, **config: Any) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, **config).start()
    try:
        yield server
    finally:
        server.stop()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not listen in time")


@contextlib.contextmanager
def child(command: list[str], port: int, cwd: Any = ROOT) -> Iterator[str]:
    """A server in a child process listening on ``port``; yields its /mcp URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextlib.contextmanager
def sdk_server(*, json_response: bool, stateless: bool) -> Iterator[str]:
    """mcp 2.3.0's ``MCPServer`` (bench/apps/sdk_echo.py) under uvicorn."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bench.apps.sdk_echo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--json-response" if json_response else "--no-json-response",
        "--stateless" if stateless else "--no-stateless",
    ]
    with child(command, port) as url:
        yield url


@contextlib.contextmanager
def ts_server() -> Iterator[str]:
    """The official TypeScript SDK's Streamable HTTP server (tests/clients/ts_server.mjs)."""
    if not NODE.exists() or not (TS_SDK / "node_modules" / "@modelcontextprotocol").exists():
        pytest.fail("Node.js 22 or the TypeScript SDK is missing: run scripts/install-tools.sh")
    # An ES module finds its packages next to itself, so the script runs from the SDK's folder.
    shutil.copy(ROOT / "tests" / "clients" / "ts_server.mjs", TS_SDK / "ts_server.mjs")
    port = free_port()
    with child([str(NODE), str(TS_SDK / "ts_server.mjs"), str(port)], port, cwd=TS_SDK) as url:
        yield url


@contextlib.contextmanager
def silent_listener() -> Iterator[str]:
    """A socket that accepts TCP connections (in its backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        sock.close()

"""Shared fixtures: real servers on 127.0.0.1 and free ports, in their own processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every server a test starts is one process unless the test asks for workers (``mcpfleet
# serve`` would otherwise run one worker per CPU with Redis state): a test that stops,
# kills or asks a task for its pid means that process.
os.environ.setdefault("WORKERS", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``mcpfleet serve TARGET`` in a child process, stopped when the test ends."""

    def __init__(self, target: str, env: dict[str, str] | None = None) -> None:
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.base = f"http://127.0.0.1:{self.port}"
        self._env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> ServerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self._env}
        env.pop("PORT", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mcpfleet", "serve", self.target,
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.stop()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server {self.target} did not become healthy in {timeout} s")

    def stop(self) -> str:
        """Stop the server; returns what it printed."""
        if self.process is None:
            return ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # drains without the deregistration wait
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        output = ""
        if self.process.stdout is not None:
            output = self.process.stdout.read().decode()
            self.process.stdout.close()
        self.process = None
        return output

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@contextlib.contextmanager
def serving(target: str, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(target, env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def conformance_server() -> Iterator[ServerProcess]:
    with serving("examples.conformance_server:app") as server:
        yield server


# Request-state keys the test server is given, so tests can seal states themselves.
STATE_KEY = b"k" * 32
STATE_KEYS = "test:" + __import__("base64").b64encode(STATE_KEY).decode()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A redis-server of the tests' own for the whole run (never the machine's own)."""
    from tests.redis_support import RedisServer

    redis = RedisServer().start()
    try:
        yield redis.url
    finally:
        redis.cleanup()


@pytest.fixture(scope="session", params=["memory", "redis"])
def test_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """The behaviours app, once with state in memory and once with state in Redis."""
    env = {"REQUEST_STATE_KEYS": STATE_KEYS}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    with serving("tests.apps.behaviours:app", env) as server:
        yield server

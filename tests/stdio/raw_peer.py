"""A client that writes raw JSON lines to ``mcpfleet serve --stdio`` and checks every
line the server writes to stdout is a JSON-RPC message."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from tests.conftest import ROOT

MODERN = "2026-07-28"
TARGET = "tests.stdio.stdio_app:app"


def modern_meta(**capabilities: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    }


def is_jsonrpc(message: Any) -> bool:
    """Whether a decoded line has the shape of a JSON-RPC 2.0 message."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return False
    if "method" in message:
        return isinstance(message["method"], str)
    return "id" in message and (("result" in message) != ("error" in message))


class RawPeer:
    """The server in a child process; what it writes to stdout, line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        command = args or ("-m", "mcpfleet", "serve", "--stdio", TARGET)
        self.process = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[Any] = queue.Queue()
        self.not_protocol: list[bytes] = []  # stdout lines that are not JSON-RPC
        self.replies: dict[str, Any] = {}  # replies read while waiting for another
        self.stderr = b""
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not is_jsonrpc(message):
                self.not_protocol.append(line)
                continue
            self.lines.put(message)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"jsonrpc": "2.0", **message}).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        self.send({"id": request_id, "method": method, "params": params})

    def next(self, timeout: float = 15.0) -> Any:
        """The server's next message (None once stdout has closed)."""
        return self.lines.get(timeout=timeout)

    def until_reply(self, request_id: Any, timeout: float = 15.0) -> tuple[dict[str, Any], list]:
        """Read until the reply to ``request_id``; it, and the other messages read on the
        way (replies to other requests are also kept for their own ``until_reply``)."""
        key = json.dumps(request_id)
        if key in self.replies:
            return self.replies.pop(key), []
        deadline = time.monotonic() + timeout
        before: list[Any] = []
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            assert message is not None, "stdout closed before the reply"
            if "method" not in message:
                if message.get("id") == request_id and type(message["id"]) is type(request_id):
                    return message, before
                self.replies[json.dumps(message.get("id"))] = message
            before.append(message)

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self, timeout: float = 15.0) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def stop(self) -> None:
        """End the child, however the test ended."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                with contextlib.suppress(OSError):  # a pipe the child already broke
                    stream.close()

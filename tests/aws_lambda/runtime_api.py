"""A Lambda Runtime API of the tests' own: a real HTTP server on 127.0.0.1 that speaks
the documented ``/2018-06-01/runtime/...`` protocol to the function process.

A test queues an event with ``invoke``; the function takes it from
``/runtime/invocation/next`` and answers on ``/runtime/invocation/{id}/response``
(whole, or chunked with the streaming headers, body chunks handed to the test as they
arrive, trailers kept) or ``/error``; ``/runtime/init/error`` is kept too. Every wait
here is bounded, and ``stop`` ends every handler.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT_SECONDS = 30.0
DELIMITER = b"\x00" * 8
API = "/2018-06-01/runtime"


@dataclass
class Invocation:
    """One event, and what the function answered."""

    event: dict[str, Any]
    deadline_seconds: float
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    chunks: queue.Queue[bytes | None] = field(default_factory=queue.Queue)  # None: the end
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    error_type: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _seen: bytearray = field(default_factory=bytearray)

    @property
    def streamed(self) -> bool:
        return self.headers.get("lambda-runtime-function-response-mode") == "streaming"

    def wait(self) -> Invocation:
        """Wait for the whole answer."""
        assert self.done.wait(WAIT_SECONDS), "the function never answered"
        return self

    def read_until(self, marker: bytes) -> bytes:
        """Everything received so far, once it contains ``marker`` (or the answer ended)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while marker not in self._seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{marker!r} never arrived; got {bytes(self._seen)!r}"
            try:
                chunk = self.chunks.get(timeout=left)
            except queue.Empty:
                continue
            if chunk is None:
                self.chunks.put(None)
                break
            self._seen += chunk
        return bytes(self._seen)

    def body(self) -> bytes:
        """The whole payload, once the answer is complete."""
        self.wait()
        return self.read_until(b"\x00never\x00")

    def http(self) -> tuple[dict[str, Any], bytes]:
        """The HTTP head and body: the prelude of a streamed answer, or a buffered result."""
        payload = self.body()
        if self.streamed:
            head, _, rest = payload.partition(DELIMITER)
            return json.loads(head), rest
        result = json.loads(payload)
        body = result.pop("body")
        return result, body.encode()


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that takes a function process's hang-up in its stride."""

    api: RuntimeApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApiServer:
    """The server, on a free port, serving until ``stop``."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.init_errors: list[tuple[str, dict[str, Any]]] = []
        self.stopping = threading.Event()
        self.http = QuietServer(("127.0.0.1", 0), RuntimeApiHandler)
        self.http.api = self
        self.http.daemon_threads = True
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.http.server_address[1]}"

    def start(self) -> RuntimeApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.http.shutdown()
        self.http.server_close()
        self.thread.join(WAIT_SECONDS)

    def invoke(self, event: dict[str, Any], deadline_seconds: float = 60.0) -> Invocation:
        """Queue an event for the function."""
        invocation = Invocation(event, deadline_seconds)
        self.invocations[invocation.request_id] = invocation
        self.pending.put(invocation)
        return invocation

    def next_invocation(self) -> Invocation | None:
        """The next queued event, or ``None`` once the server stops."""
        while not self.stopping.is_set():
            try:
                return self.pending.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def wait_init_error(self) -> tuple[str, dict[str, Any]]:
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.init_errors:
            assert time.monotonic() < deadline, "no init error was reported"
            time.sleep(0.02)
        return self.init_errors[0]


class RuntimeApiHandler(BaseHTTPRequestHandler):
    """The documented endpoints, for one function process."""

    protocol_version = "HTTP/1.1"

    @property
    def api(self) -> RuntimeApiServer:
        server = self.server
        assert isinstance(server, QuietServer)
        return server.api

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path != f"{API}/invocation/next":
            self.answer(404)
            return
        invocation = self.api.next_invocation()
        if invocation is None:
            self.close_connection = True
            self.answer(503)
            return
        deadline_ms = int((time.time() + invocation.deadline_seconds) * 1000)
        self.answer(
            200,
            json.dumps(invocation.event).encode(),
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": (
                    "arn:aws:lambda:us-east-1:123456789012:function:mcp-test"
                ),
                "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793",
            },
        )

    def do_POST(self) -> None:
        parts = self.path.removeprefix(API).strip("/").split("/")
        if parts == ["init", "error"]:
            self.api.init_errors.append(
                (
                    self.headers.get("Lambda-Runtime-Function-Error-Type", ""),
                    json.loads(self.read_whole() or b"{}"),
                )
            )
            self.answer(202)
            return
        invocation = self.api.invocations.get(parts[1]) if len(parts) == 3 else None
        if invocation is None or parts[0] != "invocation":
            self.answer(404)
            return
        invocation.headers = {k.lower(): v for k, v in self.headers.items()}
        if parts[2] == "error":
            invocation.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            invocation.error = json.loads(self.read_whole() or b"{}")
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            invocation.trailers = self.read_chunked(invocation.chunks)
        else:
            invocation.chunks.put(self.read_whole())
        invocation.chunks.put(None)
        invocation.done.set()
        self.answer(202)

    def read_whole(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def read_chunked(self, chunks: queue.Queue[bytes | None]) -> dict[str, str]:
        """Hand each chunk on as it arrives; return the trailers."""
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                break
            chunks.put(self.rfile.read(size))
            self.rfile.readline()
        trailers = {}
        for _ in range(100):
            line = self.rfile.readline().strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            trailers[name.strip().lower()] = value.strip()
        return trailers

"""A stand-in for an OpenTelemetry collector: accepts OTLP/HTTP exports and discards them.

    python -m bench.otlp_sink --port 4318

``POST /v1/traces`` and ``POST /v1/metrics`` (protobuf, as mcpfleet's OTLP/HTTP exporters
send them, gzip or not) are answered ``200`` with an empty export response; the spans of
each trace export are counted (with ``opentelemetry-proto``, when it is importable), so a
run can say how many of its calls were exported. ``GET /stats`` answers the counts as
JSON; ``GET /healthz`` answers 200. Loopback only; HTTP/1.1 keep-alive, one thread per
connection. ``sink(cpu)`` runs it as a child process for one benchmark run.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 64 * 1024 * 1024  # one export; the exporter's batches are far smaller


class Counts:
    """Requests, bytes and spans received, per path; shared by the handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.bytes = 0
        self.spans = 0
        self.undecoded = 0

    def add(self, path: str, size: int, spans: int | None) -> None:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1
            self.bytes += size
            if spans is None:
                self.undecoded += 1
            else:
                self.spans += spans

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "bytes": self.bytes,
                "spans": self.spans,
                "undecoded": self.undecoded,
            }


def count_spans(body: bytes) -> int | None:
    """The spans in an ``ExportTraceServiceRequest``, or None when it cannot be decoded."""
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:
        return None
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except Exception:  # protobuf's DecodeError has no stable import path
        return None
    return sum(len(scope.spans) for spans in request.resource_spans for scope in spans.scope_spans)


def handler(counts: Counts) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._answer(413, b"", "text/plain")
                self.close_connection = True
                return
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            spans = count_spans(body) if self.path == "/v1/traces" else 0
            counts.add(self.path, length, spans)
            self._answer(200, b"", "application/x-protobuf")  # an empty export response

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._answer(200, json.dumps(counts.snapshot()).encode(), "application/json")
            elif self.path == "/healthz":
                self._answer(200, b"ok", "text/plain")
            else:
                self._answer(404, b"", "text/plain")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@dataclass
class Sink:
    """A running sink: its process and port; ``stats()`` reads its counts."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5.0)
        try:
            connection.request("GET", "/stats")
            return dict(json.loads(connection.getresponse().read()))
        except OSError as exc:
            return {"error": str(exc)}
        finally:
            connection.close()


@contextlib.contextmanager
def sink(cpu: int | None) -> Iterator[Sink]:
    """The sink as a child process pinned to ``cpu``, ready; stopped on the way out."""
    from bench.run import HOST, START_TIMEOUT, BenchError, free_port, pinned, stop

    with tempfile.TemporaryFile() as log:
        port = free_port()
        command = [sys.executable, "-m", "bench.otlp_sink", "--host", HOST, "--port", str(port)]
        process = subprocess.Popen(
            pinned(command, cpu), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        running = Sink(process, port)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while "error" in running.stats():
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise BenchError(f"the OTLP sink did not start:\n{tail}")
                time.sleep(0.05)
            yield running
        finally:
            stop(process)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), handler(Counts()))
    server.daemon_threads = True
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()

"""SIGTERM drains the task the way ECS stops it: readiness first, work finished, streams ended."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

import httpx
import orjson

from mcpfleet.protocol.sse import EventParser
from tests.conftest import serving
from tests.wire import call, headers_for, initialize, legacy_headers, request


def test_sigterm_drains_then_exits() -> None:
    """Readiness turns 503 at once, in-flight calls finish, streams end, and exit is 0."""
    env = {"DRAIN_DELAY_SECONDS": "1", "DRAIN_DEADLINE_SECONDS": "8"}
    with serving("tests.apps.behaviours:app", env) as server:
        assert httpx.get(f"{server.base}/readyz").status_code == 200
        results: list[Any] = []

        def in_flight() -> None:
            response = call(server.url, "tools/call", {"name": "nap", "arguments": {"seconds": 2}})
            results.append(response.json())

        calls = [threading.Thread(target=in_flight) for _ in range(3)]
        for thread in calls:
            thread.start()
        streams: dict[str, list[Any]] = {"listen": [], "get": []}

        def listen() -> None:
            message = request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
            with httpx.stream("POST", server.url, headers=headers_for(message),
                              content=orjson.dumps(message), timeout=20) as response:
                parser = EventParser()
                for chunk in response.iter_raw():
                    streams["listen"] += parser.feed(chunk)

        session_id, _ = initialize(server.url)

        def get() -> None:
            with httpx.stream("GET", server.url, timeout=20, headers=legacy_headers(
                    session_id, accept="text/event-stream")) as response:
                parser = EventParser()
                for chunk in response.iter_raw():
                    streams["get"] += parser.feed(chunk)

        readers = [threading.Thread(target=listen), threading.Thread(target=get)]
        for thread in readers:
            thread.start()
        time.sleep(0.5)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        time.sleep(0.1)
        ready = httpx.get(f"{server.base}/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "draining"
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        for thread in calls + readers:
            thread.join(10)
        exit_code = server.process.wait(10)
        elapsed = time.monotonic() - started
    assert exit_code == 0
    assert elapsed < 8
    assert [r["result"]["content"][0]["text"] for r in results] == ["slept 2.0"] * 3
    final = orjson.loads(streams["listen"][-1].data)
    assert final["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
    assert streams["get"][-1].retry is not None, "the GET stream ends with a retry hint"


def test_responses_close_their_connection_while_draining() -> None:
    """Before SIGTERM a keep-alive connection stays open; during the drain delay every
    response says ``Connection: close`` and the server closes the connection after it, so
    no client sends its next request into the close at the stop."""
    env = {"DRAIN_DELAY_SECONDS": "3", "DRAIN_DEADLINE_SECONDS": "8"}
    with serving("tests.apps.behaviours:app", env) as server, httpx.Client() as client:
        before = client.post(server.url, headers=headers_for(request("tools/list")),
                             content=orjson.dumps(request("tools/list")))
        assert before.status_code == 200
        assert before.headers.get("connection") != "close"
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        during = client.post(server.url, headers=headers_for(request("tools/list")),
                             content=orjson.dumps(request("tools/list")))
        assert during.status_code == 200
        assert "result" in during.json()
        assert during.headers.get("connection") == "close"
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):  # ends when the server closes the connection
                received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in received.lower()

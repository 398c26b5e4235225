"""Clients that misbehave at the HTTP level leave the server up, and it says what happened."""

from __future__ import annotations

import socket
import threading
import time

import orjson

from tests.conftest import ServerProcess, serving
from tests.wire import call, headers_for, request


def raw_request(server: ServerProcess, body: bytes, extra: str = "") -> bytes:
    message = request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    headers = "".join(f"{k}: {v}\r\n" for k, v in headers_for(message).items())
    return (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def still_serving(server: ServerProcess) -> bool:
    response = call(server.url, "tools/call", {"name": "echo", "arguments": {"text": "ok"}})
    return bool(response.status_code == 200)


def test_disconnect_mid_body_is_logged_and_harmless() -> None:
    """A client that goes away halfway through its body leaves the server serving, and logged."""
    with serving("tests.apps.behaviours:app") as server:
        message = orjson.dumps(request("tools/call", {"name": "echo", "arguments": {"text": "x"}}))
        head = raw_request(server, message)
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head[: len(head) - len(message) // 2])
        time.sleep(0.3)
        assert still_serving(server)
        output = server.stop()
    assert "client disconnected before the request body arrived" in output


def test_huge_header_is_refused_and_harmless() -> None:
    """A request with a 200 KB header gets an error or a closed connection, never a crash."""
    with serving("tests.apps.behaviours:app") as server:
        body = orjson.dumps(request("tools/list"))
        data = raw_request(server, body, extra=f"X-Huge: {'a' * 200_000}\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            try:
                sock.sendall(data)
                reply = sock.recv(200)
            except OSError:
                reply = b""
        assert not reply.startswith(b"HTTP/1.1 5")
        assert still_serving(server)


def test_slow_client_does_not_hold_up_others() -> None:
    """A client sending its request a byte at a time is served, and others meanwhile too."""
    with serving("tests.apps.behaviours:app") as server:
        body = orjson.dumps(request("tools/call", {"name": "echo", "arguments": {"text": "s"}}))
        data = raw_request(server, body)
        replies: list[bytes] = []

        def trickle() -> None:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                step = max(1, len(data) // 40)
                for start in range(0, len(data), step):
                    sock.sendall(data[start:start + step])
                    time.sleep(0.025)
                replies.append(sock.recv(4096))

        slow = threading.Thread(target=trickle)
        slow.start()
        time.sleep(0.2)
        served_meanwhile = all(still_serving(server) for _ in range(5))
        slow.join(10)
    assert served_meanwhile
    assert replies[0].startswith(b"HTTP/1.1 200")

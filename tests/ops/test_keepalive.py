"""The server's keep-alive timeout is HTTP_KEEPALIVE_SECONDS, and nothing closes an idle
connection sooner: a load balancer that reuses a connection the server has just closed
answers its client 502."""

from __future__ import annotations

import socket
import time

from tests.conftest import serving

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response (head and Content-Length body) from ``sock``; b"" on EOF."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_idle_connection_is_reused_after_ten_seconds() -> None:
    """With HTTP_KEEPALIVE_SECONDS 30 (and a header timeout of 2 s, which must not apply to an
    idle connection), a request, 10 s of silence, and a second request on the same
    connection: both answered, never a reset or an end of stream."""
    env = {"HTTP_KEEPALIVE_SECONDS": "30", "HEADER_TIMEOUT_SECONDS": "2"}
    with (
        serving("tests.apps.behaviours:app", env) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(10)
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_an_idle_connection_is_closed_after_the_keepalive_timeout() -> None:
    """With HTTP_KEEPALIVE_SECONDS 1 the server closes a connection idle after a response,
    cleanly (end of stream), well before the client's own 10 s timeout: the setting is the
    one in force."""
    with (
        serving("tests.apps.behaviours:app", {"HTTP_KEEPALIVE_SECONDS": "1"}) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock,
    ):
        sock.sendall(REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        assert sock.recv(65536) == b""  # the server's close; a 10 s timeout raises instead

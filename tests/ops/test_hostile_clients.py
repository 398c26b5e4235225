"""Clients that misbehave at the HTTP level leave the server up, and it says what happened."""

from __future__ import annotations

import resource
import selectors
import socket
import threading
import time
from typing import Any

import orjson
import pytest

from tests.conftest import ServerProcess, serving
from tests.wire import call, headers_for, meta, request


def raw_request(server: ServerProcess, body: bytes, extra: str = "") -> bytes:
    message = request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    headers = "".join(f"{k}: {v}\r\n" for k, v in headers_for(message).items())
    return (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def still_serving(server: ServerProcess) -> bool:
    response = call(server.url, "tools/call", {"name": "echo", "arguments": {"text": "ok"}})
    return bool(response.status_code == 200)


@pytest.mark.parametrize("lean", ["1", "0"])
def test_disconnect_mid_body_is_logged_and_harmless(lean: str) -> None:
    """A client that goes away halfway through its body leaves the server serving, and
    logged (with LEAN_HTTP on and off)."""
    with serving("tests.apps.behaviours:app", {"LEAN_HTTP": lean}) as server:
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
                    sock.sendall(data[start : start + step])
                    time.sleep(0.025)
                replies.append(sock.recv(4096))

        slow = threading.Thread(target=trickle)
        slow.start()
        time.sleep(0.2)
        served_meanwhile = all(still_serving(server) for _ in range(5))
        slow.join(10)
    assert served_meanwhile
    assert replies[0].startswith(b"HTTP/1.1 200")


# -- connections: the header timeout, early answers, the bound ---------------------------

HUGE = 100 * 1024 * 1024  # a declared body no server here accepts


def open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def post_head(server: ServerProcess, message: dict[str, Any], length: int, **headers: str) -> bytes:
    """A POST head for ``message`` declaring a ``length``-byte body."""
    fields = {**headers_for(message), **headers, "content-length": str(length)}
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{lines}\r\n".encode()


def read_until_closed(sockets: list[socket.socket], within: float) -> dict[socket.socket, bytes]:
    """What each socket received before the server closed it, for those closed in time."""
    received = {sock: b"" for sock in sockets}
    closed: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + within
        while len(closed) < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(4096)
                except OSError:  # a reset is a close too
                    chunk = b""
                received[sock] += chunk
                if not chunk:
                    selector.unregister(sock)
                    closed[sock] = received[sock]
    return closed


def answer_on(sock: socket.socket, port: int) -> bytes:
    """GET /healthz on an open connection, and the response's status line."""
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    data = b""
    for _ in range(100):
        head, sep, body = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        if sep and length is not None and len(body) >= length:
            break
        chunk = sock.recv(4096)
        assert chunk, f"closed early: {data!r}"
        data += chunk
    return data.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("lean", ["1", "0"])
def test_connections_without_a_complete_head_are_closed(lean: str) -> None:
    """Hundreds of connections that send nothing or half a head are closed after the
    header timeout (a half head with 408), while other callers are answered meanwhile,
    a kept-alive connection too, across the timeout, until its next head stalls."""
    count = min(500, (open_files_limit() - 64) // 2)
    env = {"HEADER_TIMEOUT_SECONDS": "1", "LEAN_HTTP": lean}
    half_head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    with serving("tests.apps.behaviours:app", env) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(count)]
        half = idle[: count // 2]
        for sock in half:
            sock.sendall(half_head)
        kept = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        try:
            statuses = []
            for _ in range(4):  # 1.6 s in all: past the timeout, between heads
                statuses.append(answer_on(kept, server.port))
                assert still_serving(server)
                time.sleep(0.4)
            kept.sendall(half_head)
            closed = read_until_closed([*idle, kept], within=30)
        finally:
            for sock in [*idle, kept]:
                sock.close()
        assert still_serving(server)
    assert statuses == [b"HTTP/1.1 200 OK"] * 4
    assert len(closed) == count + 1
    assert all(closed[sock].startswith(b"HTTP/1.1 408 ") for sock in [*half, kept])
    assert not any(closed[sock] for sock in idle[count // 2 :])


def send_huge_body(server: ServerProcess, head: bytes) -> tuple[int, bytes]:
    """Send ``head`` and then its huge body in chunks until a send fails: the bytes sent,
    and what came back meanwhile (read by a thread, so a reset cannot hide it)."""
    replies: list[bytes] = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:

        def read() -> None:
            for _ in range(1000):
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                replies.append(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sent = 0
        try:
            sock.sendall(head)
            chunk = b"x" * 65536
            while sent < HUGE:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        reader.join(10)
    return sent, b"".join(replies)


@pytest.mark.parametrize("lean", ["1", "0"])
def test_a_413_closes_the_connection_without_reading_the_body(lean: str) -> None:
    """A 100 MiB body declared past MAX_BODY_BYTES gets its 413, then the connection
    closes: the client's sends fail long before the body is through."""
    message = request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    with serving("tests.apps.behaviours:app", {"LEAN_HTTP": lean}) as server:
        sent, reply = send_huge_body(server, post_head(server, message, HUGE))
        assert still_serving(server)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert sent < HUGE // 4  # what the sockets' buffers take, not the body


def test_any_answer_before_the_body_closes_the_connection() -> None:
    """A response sent before the request's body was read (here a 415, which does not
    ask for the close itself) closes the connection instead of draining the body."""
    message = request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    with serving("tests.apps.behaviours:app") as server:
        head = post_head(server, message, HUGE, **{"content-type": "text/plain"})
        sent, reply = send_huge_body(server, head)
        assert still_serving(server)
    assert reply.startswith(b"HTTP/1.1 415 ")
    assert b"connection: close" not in reply.lower()
    assert sent < HUGE // 4


@pytest.mark.parametrize("lean", ["1", "0"])
def test_an_early_answer_reaches_a_client_that_sends_its_whole_body_first(lean: str) -> None:
    """A client that writes a 6 MiB body in full before it reads (as most HTTP clients do)
    still gets its 413: the server closes gently, reading and dropping the rest of the body
    for a bounded time, instead of resetting the connection under the unread answer."""
    size = 6 * 1024 * 1024
    message = request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    with serving("tests.apps.behaviours:app", {"LEAN_HTTP": lean}) as server:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(post_head(server, message, size))
                sock.sendall(b"x" * size)
                reply = sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]
        assert still_serving(server)


def test_the_connection_bound_makes_room_and_says_so_once() -> None:
    """Past MAX_CONNECTIONS, the oldest idle connections are closed to make room, so
    callers keep being answered; one notice says so (rate-limited)."""
    env = {"MAX_CONNECTIONS": "5", "HEADER_TIMEOUT_SECONDS": "60"}
    with serving("tests.apps.behaviours:app", env) as server:
        idle = []
        for _ in range(20):
            idle.append(socket.create_connection(("127.0.0.1", server.port)))
            time.sleep(0.01)  # each one admitted in turn, so the oldest are the ones closed
        try:
            served = [still_serving(server) for _ in range(5)]
            closed = read_until_closed(idle[:15], within=10)
        finally:
            for sock in idle:
                sock.close()
        output = server.stop()
    assert all(served)
    assert len(closed) == 15
    assert output.count("connection bound reached") == 1


def test_past_the_bound_with_every_connection_busy_a_new_one_gets_503() -> None:
    """When every connection of the bound is answering a request, a new connection is
    answered 503 and closed; once they end, callers are served again."""
    env = {"MAX_CONNECTIONS": "3"}
    with serving("tests.apps.behaviours:app", env) as server:
        streams = []
        try:
            for n in range(3):
                params = {
                    "name": "slow",
                    "arguments": {"tag": f"busy-{n}"},
                    "_meta": meta(progressToken=n),
                }
                message = request("tools/call", params)
                body = orjson.dumps(message)
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                streams.append(sock)
                sock.sendall(post_head(server, message, len(body)) + body)
                received = b""
                for _ in range(100):
                    if b"data:" in received:
                        break
                    received += sock.recv(4096)
                assert b"data:" in received
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as refused:
                reply = refused.recv(4096)
        finally:
            for sock in streams:
                sock.close()
        deadline = time.monotonic() + 10
        while not still_serving(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert still_serving(server)
        output = server.stop()
    assert reply.startswith(b"HTTP/1.1 503 ")
    assert "connection bound reached" in output

"""An answer sent before its request's body has arrived (a 415, a 406 on a chunked body
still coming) leaves the connection usable: the client reads a keep-alive answer, sends
the rest of its body and then its next request on the same connection, and that request
is answered. A body that never ends within the bound is cut off with the connection.

On a real server, over a raw socket, so that the order of the bytes is exactly this one."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import orjson
import pytest

from tests.conftest import ServerProcess, serving
from tests.wire import headers_for, request


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with serving("tests.apps.behaviours:app") as server:
        yield server


class Wire:
    """One connection: raw requests out, responses parsed by their Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _read(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def close(self) -> None:
        self.sock.close()


def good_request(port: int) -> bytes:
    message = request("tools/call", {"name": "echo", "arguments": {"text": "next"}})
    body = orjson.dumps(message)
    headers = headers_for(message)
    lines = ["POST /mcp HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode() + b"\r\n\r\n" + body


def chunked_head(port: int, content_type: str, accept: str) -> bytes:
    return (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Type: {content_type}\r\nAccept: {accept}\r\n\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize(
    ("content_type", "accept", "status"),
    [
        ("text/plain", "application/json, text/event-stream", 415),
        ("application/json", "text/html", 406),
    ],
)
def test_the_next_request_after_an_early_answer_is_answered(
    server: ServerProcess, content_type: str, accept: str, status: int
) -> None:
    """The early answer does not announce a close, and the connection really stays open:
    the rest of the body is read and dropped, and the next request on it gets its answer."""
    wire = Wire(server.port)
    try:
        body = orjson.dumps(request("tools/list"))
        wire.send(chunked_head(server.port, content_type, accept) + chunk(body[:10]))
        answered, headers, _ = wire.response()
        assert answered == status
        assert "close" not in headers.get("connection", "")
        time.sleep(0.05)  # the answer is out before the rest of the body is sent
        wire.send(chunk(body[10:]) + b"0\r\n\r\n" + good_request(server.port))
        answered, _, reply = wire.response()
        assert answered == 200, reply
        assert orjson.loads(reply)["result"]["content"][0]["text"] == "next"
        # And once more, in its own packet, after the keep-alive timeout was re-armed.
        time.sleep(0.05)
        wire.send(good_request(server.port))
        assert wire.response()[0] == 200
    finally:
        wire.close()


def test_a_body_that_does_not_end_is_cut_off_with_the_connection(
    server: ServerProcess,
) -> None:
    """A client that stops sending in the middle of a body it was refused gets its answer,
    and the connection closes after the drain bound (2 s), not the keep-alive timeout."""
    wire = Wire(server.port)
    try:
        wire.send(chunked_head(server.port, "text/plain", "*/*") + chunk(b'{"jsonrpc"'))
        assert wire.response()[0] == 415
        started = time.monotonic()
        wire.sock.settimeout(10)
        assert wire.closed_by_server()
        assert time.monotonic() - started < 6
    finally:
        wire.close()


def test_a_declared_body_past_the_bound_closes_after_the_answer(server: ServerProcess) -> None:
    """A declared length far past the bound (a 413) is not waited for: the answer comes,
    then the end of the stream, while the client still has most of its body to send."""
    wire = Wire(server.port)
    try:
        wire.send(
            f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
            f"Content-Length: {64 * 1024 * 1024}\r\n\r\n".encode()
            + b"x" * 1024
        )
        assert wire.response()[0] == 413
        wire.sock.settimeout(5)
        assert wire.closed_by_server()
    finally:
        wire.close()

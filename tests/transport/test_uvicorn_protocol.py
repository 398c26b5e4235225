"""``LeanHttpToolsProtocol``: uvicorn's httptools protocol with lists where uvicorn makes
empty deques; it must serve exactly as uvicorn's own does."""

from __future__ import annotations

import asyncio
import collections
import re
import socket
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from mcpfleet.transport import uvicorn_protocol
from mcpfleet.transport.uvicorn_protocol import LeanHttpToolsProtocol
from tests.conftest import serving


class FakeTransport(asyncio.Transport):
    """What the protocol writes, and its reading and closing state."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def _serve_fake(requests: bytes) -> tuple[LeanHttpToolsProtocol, FakeTransport, list[str]]:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append(scope["path"])
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await asyncio.sleep(0.01)  # the next request arrives while this one runs
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body) + 1).encode())]})
        await send({"type": "http.response.body", "body": body + scope["path"][-1:].encode()})

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    protocol = LeanHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    waiters = list if uvicorn_protocol._LISTS_FOR_WAITERS else collections.deque
    assert type(protocol.pipeline) is not collections.deque
    assert type(protocol.flow._is_writable_event._waiters) is waiters  # type: ignore[attr-defined]
    protocol.data_received(requests)
    assert type(protocol.cycle.message_event._waiters) is waiters  # type: ignore[attr-defined]
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(seen) == requests.count(b"HTTP/1.1") and transport.written.count(b"200 OK") == len(
            seen
        ):
            break
    # Flow control: a paused transport makes ``send`` wait until writing resumes.
    protocol.pause_writing()
    drained = asyncio.ensure_future(protocol.flow.drain())
    await asyncio.sleep(0)
    assert not drained.done()
    protocol.resume_writing()
    await asyncio.wait_for(drained, 1)
    return protocol, transport, seen


def test_pipelined_requests_are_served_in_order() -> None:
    """Requests sent back to back on one connection queue in the pipeline and are answered
    one after another, in order; flow control still pauses and resumes writing."""
    requests = b"".join(
        f"POST /{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nb{n}".encode()
        for n in range(3)
    )
    protocol, transport, seen = asyncio.run(_serve_fake(requests))
    assert seen == ["/0", "/1", "/2"]
    answers = bytes(transport.written).split(b"\r\n\r\n")[1:]
    assert [answer[:3] for answer in answers] == [b"b00", b"b11", b"b22"]
    assert not protocol.pipeline


@pytest.mark.parametrize("lean", ["1", "0"])
def test_the_real_server_answers_pipelined_requests(lean: str) -> None:
    """``mcpfleet serve`` answers pipelined requests in order, with the protocol (the
    default) and with uvicorn's own (``LEAN_HTTP=0``)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    received = b""
    env = {"LEAN_HTTP": lean}
    with serving("tests.apps.behaviours:app", env) as server, socket.create_connection(
        ("127.0.0.1", server.port), timeout=5
    ) as sock:
        sock.sendall(request * 3 + b"GET /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        while received.count(b"HTTP/1.1 ") < 4:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed early: {received!r}"
            received += chunk
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", received) == [b"200", b"200", b"200", b"404"]


def test_lean_http_is_on_unless_turned_off() -> None:
    """``LEAN_HTTP`` defaults on; ``0``, ``false`` or ``no`` turn it off."""
    from mcpfleet.config import Config

    assert Config.from_env({}).lean_http is True
    assert Config.from_env({"LEAN_HTTP": "1"}).lean_http is True
    for off in ("0", "false", "No"):
        assert Config.from_env({"LEAN_HTTP": off}).lean_http is False

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
from mcpfleet.transport.open_connections import OpenConnections
from mcpfleet.transport.uvicorn_protocol import LeanHttpToolsProtocol
from tests.conftest import serving


class FakeTransport(asyncio.Transport):
    """What the protocol writes, and its reading and closing state."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.reading = True
        self.eof_written = False
        self.protocol: asyncio.BaseProtocol | None = None

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

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

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
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body) + 1).encode())],
            }
        )
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
        f"POST /{n} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nb{n}".encode() for n in range(3)
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
    with (
        serving("tests.apps.behaviours:app", env) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
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


@pytest.mark.parametrize(
    ("version", "lean"),
    [
        ("0.55.0", True),
        ("0.54.0", False),
        ("0.55.1", False),
        ("0.56.0", False),
        ("0.55.0rc1", False),
        ("1.0.0", False),
        ("", False),
    ],
)
def test_lean_http_is_only_for_the_tested_uvicorn(version: str, lean: bool) -> None:
    """LEAN_HTTP serves with LeanHttpToolsProtocol only on a uvicorn release it was tested
    with; on any other it falls back to the guarded protocol, with a reason naming both."""
    protocol, refusal = uvicorn_protocol.serving_protocol(
        lean=True, header_timeout=10, connections=OpenConnections(10), uvicorn_version=version
    )
    assert issubclass(protocol, LeanHttpToolsProtocol) is lean
    assert issubclass(protocol, uvicorn_protocol.GuardedHttpToolsProtocol)
    assert (refusal is None) is lean
    if refusal is not None:
        assert f"uvicorn {version} " in refusal
        assert "0.55.0" in refusal


def test_the_installed_uvicorn_is_a_tested_one() -> None:
    """The uvicorn installed here is one LEAN_HTTP was tested with, so the suite runs it."""
    assert uvicorn.__version__ in uvicorn_protocol.TESTED_UVICORN_VERSIONS


def test_lean_http_off_is_the_guarded_protocol_without_a_reason() -> None:
    """``LEAN_HTTP=0`` serves with the guarded protocol, whatever the uvicorn, and says
    nothing; each server gets its own class with its own settings."""
    connections: OpenConnections[Any] = OpenConnections(10)
    protocol, refusal = uvicorn_protocol.serving_protocol(
        lean=False, header_timeout=2.5, connections=connections
    )
    other, _ = uvicorn_protocol.serving_protocol(
        lean=False, header_timeout=1, connections=OpenConnections(5)
    )
    assert refusal is None
    assert not issubclass(protocol, LeanHttpToolsProtocol)
    assert (protocol.header_timeout, protocol.open_connections) == (2.5, connections)
    assert other.header_timeout == 1
    assert uvicorn_protocol.GuardedHttpToolsProtocol.header_timeout is None


async def _late_pipelined_head() -> tuple[FakeTransport, bytes]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.8)  # the next head's deadline passes meanwhile (swept 4/s)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    protocol_class, _ = uvicorn_protocol.serving_protocol(
        lean=True, header_timeout=0.05, connections=OpenConnections(10)
    )
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHo")
    for _ in range(200):
        if transport.closed:
            break
        await asyncio.sleep(0.01)
    return transport, bytes(transport.written)


def test_a_late_pipelined_head_ends_the_connection_after_the_answer_in_progress() -> None:
    """A pipelined head still incomplete at its deadline does not cut the response in
    progress: that one is sent whole, then the connection closes."""
    transport, written = asyncio.run(_late_pipelined_head())
    assert transport.closed
    assert written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close\r\n" in written
    assert written.endswith(b"\r\n\r\nok")


def test_requests_run_through_uvicorns_own_callbacks() -> None:
    """The guards cost a request almost nothing: of uvicorn's per-request callbacks, only
    ``on_response_complete`` and ``on_message_complete`` are overridden (and, by the lean
    protocol, ``on_headers_complete``, to make a LeanCycle with a lighter Event; it folds
    uvicorn's other two callbacks into its own, one frame each)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    for name in ("data_received", "on_message_begin", "on_url", "on_header", "on_body"):
        for guarded in (uvicorn_protocol.GuardedHttpToolsProtocol, LeanHttpToolsProtocol):
            assert getattr(guarded, name) is getattr(HttpToolsProtocol, name), name
    guarded_class = uvicorn_protocol.GuardedHttpToolsProtocol
    assert guarded_class.on_headers_complete is HttpToolsProtocol.on_headers_complete


def _guarded(app: Any, header_timeout: float = 10) -> tuple[Any, FakeTransport]:
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    config.load()
    protocol_class, _ = uvicorn_protocol.serving_protocol(
        lean=True, header_timeout=header_timeout, connections=OpenConnections(10)
    )
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def _late_heads() -> dict[str, FakeTransport]:
    connections = {name: _guarded(_answer, header_timeout=0.1) for name in ("silent", "half")}
    connections["half"][0].data_received(b"POST /mcp HTTP/1.1\r\nHo")
    for name in ("kept", "kept-half"):
        connections[name] = _guarded(_answer, header_timeout=0.1)
        connections[name][0].data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.05)
    connections["kept-half"][0].data_received(b"GET / HTTP/1.1\r\n")
    await asyncio.sleep(0.8)  # past the timeout, noted and swept (4/s)
    return {name: transport for name, (_, transport) in connections.items()}


def test_the_sweep_closes_connections_whose_head_is_late() -> None:
    """Once the header timeout has passed, a connection that sent nothing is closed, one
    with half a first head or half a next head gets a 408 and is closed, and one waiting
    between requests is left to uvicorn's keep-alive timeout."""
    transports = asyncio.run(_late_heads())
    closed = {name: transport.closed for name, transport in transports.items()}
    assert closed == {"silent": True, "half": True, "kept": False, "kept-half": True}
    assert transports["silent"].written == b""
    assert transports["half"].written.startswith(b"HTTP/1.1 408 ")
    assert transports["kept"].written.endswith(b"\r\n\r\nok")
    assert transports["kept-half"].written.endswith(b"ok" + uvicorn_protocol._TIMED_OUT)


async def _early_answer() -> tuple[Any, FakeTransport, asyncio.BaseProtocol | None]:
    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"0")]}
        )
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = _guarded(refuse)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nab")
    await asyncio.sleep(0.01)
    lingering = transport.protocol
    assert lingering is not None
    assert isinstance(lingering, asyncio.Protocol)
    lingering.data_received(b"x" * uvicorn_protocol.LINGER_BYTES)
    assert not transport.closed  # the rest of the body is read and dropped
    lingering.data_received(b"x")
    assert transport.closed  # up to LINGER_BYTES
    lingering.connection_lost(None)
    return protocol, transport, lingering


def test_an_early_answer_lingers_in_place_of_the_protocol() -> None:
    """After an answer sent before its body was read, our side ends, the transport's
    protocol drops what still comes (to LINGER_BYTES), and its loss reaches uvicorn's."""
    protocol, transport, lingering = asyncio.run(_early_answer())
    assert isinstance(lingering, uvicorn_protocol.LingeringProtocol)
    assert transport.eof_written
    assert transport.written.startswith(b"HTTP/1.1 413 ")
    assert len(protocol.open_connections) == 0
    assert protocol not in protocol.connections

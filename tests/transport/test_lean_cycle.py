"""``LeanCycle``: a response with a ``Content-Length`` goes out in one write, and every
response is the same bytes uvicorn's own cycle sends."""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Any

import orjson
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mcpfleet.transport import lean_cycle, uvicorn_protocol
from mcpfleet.transport.open_connections import OpenConnections
from tests.conftest import serving

DEFAULTS = [(b"date", b"Thu, 03 Dec 2026 18:00:00 GMT"), (b"server", b"uvicorn")]


class Recording(asyncio.Transport):
    """Each write the protocol makes, as it made it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 3000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.writes.append(b"".join(bytes(part) for part in data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _responder(messages: list[dict[str, Any]], errors: list[BaseException]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        for message in messages:
            try:
                await send(message)
            except RuntimeError as error:  # uvicorn's refusal, the same from both cycles
                errors.append(error)
                raise

    return app


async def _serve(
    protocol_class: type[HttpToolsProtocol], request: bytes, messages: list[dict[str, Any]]
) -> tuple[Recording, list[BaseException]]:
    errors: list[BaseException] = []
    config = uvicorn.Config(
        _responder(messages, errors), lifespan="off", log_level="critical", access_log=False
    )
    config.load()
    state = ServerState()
    state.default_headers = list(DEFAULTS)
    protocol = protocol_class(config=config, server_state=state, app_state={})
    transport = Recording()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(50):
        await asyncio.sleep(0)
        if protocol.cycle.response_complete or transport.closed:
            break
    return transport, errors


def _both(request: bytes, messages: list[dict[str, Any]]) -> tuple[Any, Any]:
    lean_class, refusal = uvicorn_protocol.serving_protocol(
        lean=True, header_timeout=10, connections=OpenConnections(10)
    )
    assert refusal is None
    lean = asyncio.run(_serve(lean_class, request, messages))
    plain = asyncio.run(_serve(HttpToolsProtocol, request, messages))
    return lean, plain


POST = b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
JSON = (b"content-type", b"application/json")


def _start(status: int, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def _body(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": body, "more_body": more}


def test_a_json_response_is_one_write_of_uvicorns_bytes() -> None:
    """Head and body of a response with a Content-Length leave in one write, with the
    default headers, and the bytes are those of uvicorn's own cycle (two writes)."""
    body = b'{"jsonrpc":"2.0","id":1,"result":{}}'
    messages = [_start(200, JSON, (b"content-length", str(len(body)).encode())), _body(body)]
    (lean, _), (plain, _) = _both(POST, messages)
    assert len(lean.writes) == 1
    assert len(plain.writes) == 2
    assert lean.writes[0] == b"".join(plain.writes)
    assert lean.writes[0].startswith(b"HTTP/1.1 200 OK\r\ndate: Thu, 03 Dec 2026")
    assert not lean.closed


LARGE = b"x" * (lean_cycle.JOIN_AT_MOST + 1)

SAME_BYTES = {
    # a body in two parts: the head goes with the first
    "parts": [_start(200, (b"content-length", b"4")), _body(b"ab", True), _body(b"cd")],
    # no Content-Length: chunked, uvicorn's own path
    "chunked": [_start(200, JSON), _body(b"ab", True), _body(b"cd")],
    # an SSE stream, as the server sends one
    "sse": [
        _start(200, (b"content-type", b"text/event-stream")),
        _body(b"data: 1\n\n", True),
        _body(b"data: 2\n\n"),
    ],
    "no body": [_start(202, (b"content-length", b"0")), _body(b"")],
    "204": [_start(204), _body(b"")],
    # headers uvicorn acts on are left to it
    "connection close": [
        _start(200, (b"content-length", b"2"), (b"connection", b"close")),
        _body(b"ok"),
    ],
    "mixed case": [
        _start(200, (b"Content-Type", b"text/plain"), (b"content-length", b"2")),
        _body(b"ok"),
    ],
    "large": [_start(200, (b"content-length", str(len(LARGE)).encode())), _body(LARGE)],
    "unknown status": [_start(299, (b"content-length", b"2")), _body(b"ok")],
}


@pytest.mark.parametrize("case", sorted(SAME_BYTES))
def test_every_response_is_uvicorns_bytes(case: str) -> None:
    """Streams, chunked bodies, bodies in parts, empty bodies, large bodies and headers
    uvicorn acts on: the client receives what uvicorn's own cycle sends."""
    (lean, lean_errors), (plain, plain_errors) = _both(POST, SAME_BYTES[case])
    assert b"".join(lean.writes) == b"".join(plain.writes)
    assert lean.closed == plain.closed
    assert not lean_errors
    assert not plain_errors


@pytest.mark.parametrize(
    ("request_bytes", "closes"),
    [
        (b"HEAD /mcp HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (b"POST /mcp HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", True),
        (
            b"POST /mcp HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
            True,
        ),
    ],
)
def test_head_requests_and_closing_connections_match_uvicorn(
    request_bytes: bytes, closes: bool
) -> None:
    """A HEAD request (no body sent) and a connection that closes after its response
    (``connection: close`` added to the head) are answered as uvicorn answers them."""
    messages = [_start(200, JSON, (b"content-length", b"2")), _body(b"ok")]
    (lean, _), (plain, _) = _both(request_bytes, messages)
    assert b"".join(lean.writes) == b"".join(plain.writes)
    assert lean.closed == plain.closed == closes
    if closes:
        assert b"connection: close\r\n" in lean.writes[0]
        assert len(lean.writes) == 1


@pytest.mark.parametrize(
    "messages",
    [
        [_start(200, (b"x-bad", b"a\nb"), (b"content-length", b"2")), _body(b"ok")],
        [_start(200, (b"bad name", b"v"), (b"content-length", b"2")), _body(b"ok")],
        [_start(200, (b"content-length", b"3")), _body(b"ok")],
        [_start(200, (b"content-length", b"1")), _body(b"ok")],
        [_start(200, (b"content-length", b"2")), _start(200)],
    ],
    ids=["header value", "header name", "short body", "long body", "start twice"],
)
def test_what_uvicorn_refuses_is_refused(messages: list[dict[str, Any]]) -> None:
    """A header uvicorn refuses, a body that does not match its Content-Length and a
    message out of place raise uvicorn's errors, and no complete response goes out."""
    (lean, lean_errors), (plain, plain_errors) = _both(POST, messages)
    assert [str(error) for error in lean_errors] == [str(error) for error in plain_errors]
    assert lean_errors
    assert lean.closed == plain.closed


def _exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def _call(body: dict[str, Any], **headers: str) -> bytes:
    data = orjson.dumps(body)
    lines = [
        "POST /mcp HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Accept: application/json, text/event-stream",
        "Connection: close",
        f"Content-Length: {len(data)}",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _tool_call(
    request_id: int, name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None
) -> bytes:
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": {**MODERN, **(meta or {})}},
    }
    return _call(body, MCP_Protocol_Version="2026-07-28", Mcp_Method="tools/call", Mcp_Name=name)


REQUESTS = {
    "result": _tool_call(1, "echo", {"text": "hi"}),
    "tool error": _tool_call(2, "fail_politely", {}),
    "protocol error": _tool_call(3, "nowhere", {}),
    "stream": _tool_call(4, "chatty", {}, {"io.modelcontextprotocol/logLevel": "debug"}),
    "unsupported media": _call({"jsonrpc": "2.0"}).replace(
        b"application/json\r\n", b"text/x\r\n", 1
    ),
    "health": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
}


def _timeless(answer: bytes) -> bytes:
    """An answer without what changes with time: the date, the health route's uptime (a
    number of the same length, so that its Content-Length is compared too)."""
    answer = re.sub(rb"date: [^\r]*\r\n", b"", answer)
    return re.sub(rb'"uptimeSeconds":[0-9.]+', lambda m: b"0" * len(m.group()), answer)


def test_the_real_server_sends_the_same_bytes_with_lean_http_on_and_off() -> None:
    """``mcpfleet serve`` answers results, tool errors, protocol errors, SSE streams and
    HTTP refusals with the same bytes with the lean cycle (the default) and with uvicorn's
    own (``LEAN_HTTP=0``), apart from the date and the uptime."""
    answers: dict[str, dict[str, bytes]] = {}
    for lean in ("1", "0"):
        with serving("tests.apps.behaviours:app", {"LEAN_HTTP": lean}) as server:
            answers[lean] = {
                name: _timeless(_exchange(server.port, request))
                for name, request in REQUESTS.items()
            }
    for name in REQUESTS:
        assert answers["1"][name] == answers["0"][name], name
        assert answers["1"][name].startswith(b"HTTP/1.1 "), name
    assert b"text/event-stream" in answers["1"]["stream"]
    assert b"transfer-encoding: chunked" in answers["1"]["stream"]
    assert b'"hi"' in answers["1"]["result"]

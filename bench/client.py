"""The load generator's HTTP/1.1 client: raw asyncio streams, one response at a time.

What ``bench.loadgen`` and ``bench.memory`` share: reading a response (Content-Length,
chunked, or delimited by close), the JSON-RPC messages of an SSE body, and the
requests that open, use and end a 2025-11-25 session. Written on raw streams
because an HTTP client library would cost more CPU per call than a fast server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.scenarios import SESSION_PROTOCOL_VERSION, Scenario

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


def raise_open_files_limit() -> tuple[int, int]:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit (a connection is a
    descriptor: 1,024 of them need more than a common soft limit of 1,024); the new pair.
    Children (a server the harness starts) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def header(text: str) -> tuple[str, str]:
    """``NAME: VALUE`` (the load generator's ``--header``) as a header pair."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or any(c in text for c in "\r\n") or " " in name:
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text[:40]!r}")
    return name, value


# -- the request --------------------------------------------------------------


class RequestTemplate:
    """The wire bytes of one scenario request, with only the JSON-RPC id left to fill in."""

    __slots__ = ("_body_tail", "_head", "_tail_len")

    def __init__(
        self,
        scenario: Scenario,
        host: str,
        port: int,
        path: str,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        rest = orjson.dumps({"method": scenario.method, "params": scenario.full_params()})
        # The body is '{"jsonrpc":"2.0","id":' + id + ',' + rest-without-its-brace.
        self._body_tail = b"," + rest[1:]
        self._tail_len = len(b'{"jsonrpc":"2.0","id":') + len(self._body_tail)
        lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in (*scenario.headers(), *extra_headers)]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")

    def build(self, request_id: int) -> bytes:
        rid = str(request_id).encode()
        return b"".join(
            (
                self._head,
                str(self._tail_len + len(rid)).encode(),
                b'\r\n\r\n{"jsonrpc":"2.0","id":',
                rid,
                self._body_tail,
            )
        )


class ResponseError(Exception):
    """A response the scenario does not accept; ``kind`` names the failure for counting."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


# -- the response -------------------------------------------------------------


@dataclass(slots=True)
class Response:
    status: int
    content_type: str
    body: bytes
    close: bool
    session_id: str | None = None  # the Mcp-Session-Id response header, as sent


def _header(head_lower: bytes, name: bytes) -> bytes | None:
    """A header's value from a lower-cased response head (the first occurrence)."""
    start = head_lower.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    end = head_lower.find(b"\r\n", start)
    return head_lower[start:end].strip()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size_total = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        size = int(line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, if any
                pass
            return b"".join(chunks)
        size_total += size
        if size_total > MAX_BODY_BYTES:
            raise ResponseError("body_too_large")
        chunk = await reader.readexactly(size + 2)
        chunks.append(chunk[:-2])


async def read_head(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """A response's status line and headers: the status, the head, the head lower-cased."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or len(head) < 12:
        raise ResponseError("http", head[:40].decode("latin-1", "replace"))
    return int(head[9:12]), head, head.lower()


def _session_id(head: bytes, lower: bytes) -> str | None:
    """``Mcp-Session-Id`` from the head as sent (the lower-cased copy finds it)."""
    start = lower.find(b"\r\nmcp-session-id:")
    if start < 0:
        return None
    start += len(b"\r\nmcp-session-id:")
    end = lower.find(b"\r\n", start)
    return head[start:end].strip().decode("latin-1")


async def read_response(reader: asyncio.StreamReader) -> Response:
    """One HTTP/1.1 response: Content-Length, chunked, or delimited by close."""
    status, head, lower = await read_head(reader)
    connection = _header(lower, b"connection")
    close = connection == b"close" or head.startswith(b"HTTP/1.0")
    content_type = (_header(lower, b"content-type") or b"").split(b";", 1)[0].strip()
    length = _header(lower, b"content-length")
    encoding = _header(lower, b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding:
        body = await _read_chunked(reader)
    elif length is not None:
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise ResponseError("body_too_large")
        body = await reader.readexactly(size)
    elif status in (204, 304) or status < 200:
        body = b""
    else:
        body = await reader.read(MAX_BODY_BYTES)
        close = True
    return Response(status, content_type.decode("latin-1"), body, close, _session_id(head, lower))


def sse_messages(body: bytes) -> list[Any]:
    """The JSON ``data`` of every event in an SSE body (comments and other fields skipped)."""
    text = body.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    messages = []
    for event in text.split("\n\n"):
        data = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if data and any(data):  # an event with empty data (a priming event) carries none
            messages.append(orjson.loads("\n".join(data)))
    return messages


def final_message(response: Response, request_id: int) -> Any:
    """The JSON-RPC response to ``request_id`` that ``response`` carries."""
    if response.status != 200:
        detail = response.body[:200].decode("utf-8", "replace")
        raise ResponseError(f"http_{response.status}", detail)
    try:
        if response.content_type == "application/json":
            return orjson.loads(response.body)
        if response.content_type == "text/event-stream":
            for message in sse_messages(response.body):
                if isinstance(message, dict) and message.get("id") == request_id:
                    return message
            raise ResponseError("sse_no_response", response.body[:200].decode("utf-8", "replace"))
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResponseError("json", str(exc)) from None
    raise ResponseError("content_type", response.content_type)


# -- 2025-11-25 sessions ------------------------------------------------------

CLIENT_INFO = {"name": "mcpfleet-bench", "version": "1.0.0"}


def _post(
    host: str, port: int, path: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_POST_HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept", "application/json, text/event-stream"),
)


def session_headers(session_id: str) -> list[tuple[str, str]]:
    """What every request of an open session carries besides Host and the body's headers."""
    return [("MCP-Protocol-Version", SESSION_PROTOCOL_VERSION), ("Mcp-Session-Id", session_id)]


def initialize_request(
    host: str, port: int, path: str, request_id: int, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """``initialize`` for 2025-11-25: no MCP-Protocol-Version header, no session yet
    (``headers``: what every request of the client carries, such as its credentials)."""
    params = {
        "protocolVersion": SESSION_PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": CLIENT_INFO,
    }
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
    )
    return _post(host, port, path, [*_POST_HEADERS, *headers], body)


def initialized_request(
    host: str, port: int, path: str, session_id: str, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    body = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'
    sent = [*_POST_HEADERS, *headers, *session_headers(session_id)]
    return _post(host, port, path, sent, body)


def get_stream_request(host: str, port: int, path: str, session_id: str | None) -> bytes:
    """The GET that opens a session's server-to-client SSE stream (no session: the floor's)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
    if session_id is not None:
        lines += [f"{name}: {value}" for name, value in session_headers(session_id)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def open_session(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    host: str,
    port: int,
    path: str,
    request_id: int,
    headers: Sequence[tuple[str, str]] = (),
) -> str:
    """Open a 2025-11-25 session on this keep-alive connection; its ``Mcp-Session-Id``.

    ``ResponseError`` (kind ``session_*``) when the server does not answer as
    the spec says: a JSON-RPC result with the protocol version, the session
    header, then 202 for ``notifications/initialized``.
    """
    writer.write(initialize_request(host, port, path, request_id, headers))
    response = await read_response(reader)
    try:
        message = final_message(response, request_id)
    except ResponseError as error:
        raise ResponseError(f"session_{error.kind}", error.detail) from None
    result = message.get("result") if isinstance(message, dict) else None
    if not isinstance(result, dict) or not result.get("protocolVersion"):
        raise ResponseError("session_initialize", repr(message)[:200])
    if response.session_id is None:
        raise ResponseError("session_no_id", "initialize answered without Mcp-Session-Id")
    if response.close:
        raise ResponseError("session_closed", "the server closed the connection")
    writer.write(initialized_request(host, port, path, response.session_id, headers))
    notified = await read_response(reader)
    if notified.status != 202:
        detail = notified.body[:200].decode("utf-8", "replace")
        raise ResponseError(f"session_initialized_http_{notified.status}", detail)
    if notified.close:
        raise ResponseError("session_closed", "the server closed the connection")
    return response.session_id


async def open_get_stream(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    host: str,
    port: int,
    path: str,
    session_id: str | None,
) -> None:
    """Send the session's GET and read only the head: 200 ``text/event-stream``.

    The stream stays open, its body unread (events wait in the socket buffers),
    until the caller closes the connection.
    """
    writer.write(get_stream_request(host, port, path, session_id))
    status, head, lower = await read_head(reader)
    content_type = (_header(lower, b"content-type") or b"").split(b";", 1)[0].strip()
    if status != 200 or content_type != b"text/event-stream":
        raise ResponseError(f"stream_http_{status}", head[:200].decode("latin-1", "replace"))


def delete_request(
    host: str, port: int, path: str, session_id: str, headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The DELETE that ends a 2025-11-25 session."""
    lines = [f"DELETE {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Length: 0"]
    sent = [*headers, *session_headers(session_id)]
    lines += [f"{name}: {value}" for name, value in sent]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

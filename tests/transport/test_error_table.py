"""The error table: each error class of ``mcpfleet.errors``, in each protocol era, on each
path, and the status, headers, JSON-RPC code and id the client gets.

Paths: ``POST JSON`` (a request answered with one JSON body), ``POST SSE`` (a request
whose answer had turned into an SSE stream when the error came), ``GET`` (the 2025
stream), ``DELETE``, ``reply POST`` (a client's JSON-RPC response) and ``listen``
(``subscriptions/listen``). The id is the request's whenever the body was read, and
null when it was not (GET, DELETE, and refusals decided on the headers alone).

Which combinations exist, and so which rows are here:

- ``ParseError``, ``InvalidRequest``: every path with a body (POST JSON, reply POST,
  listen). A body that does not parse never starts a stream: no POST SSE row.
- ``MethodNotFound``: POST JSON in both eras; in the 2025 era ``subscriptions/listen``
  itself is an unknown method.
- ``InvalidParams``, ``ResourceNotFound`` (-32002 in the 2025 era), ``InternalError``:
  POST JSON and POST SSE of both eras; ``InvalidParams`` on listen too (a bad filter).
- ``HeaderMismatch``: 2026-07-28 only (the 2025 era has no routing headers): POST JSON
  and listen. Headers are checked before dispatch, so never on a stream.
- ``MissingClientCapability``: 2026-07-28 only (a 2025 session gets an ``isError``
  result instead): POST JSON and POST SSE.
- ``UnsupportedProtocolVersion``: POST JSON and listen (2026-07-28); POST JSON, reply
  POST, GET and DELETE of a session (2025).
- ``HttpRejection``: 400 (a session id missing or invalid, a bad Last-Event-ID), 404
  (an unknown session) and 409 (a second GET stream) on the 2025 paths; 403 (Origin,
  Host), 406, 413 and 415 wherever the check applies; 405 only where no session era
  applies (GET and DELETE of the 2026-07-28 era); 503 when the sessions are full.
- ``Unauthorized``, ``InsufficientScope``: POST JSON, listen and GET (2026-07-28: before
  the 405), POST JSON, reply POST, GET and DELETE (2025). They are decided on the
  headers, before the body is read: the id is null. The behaviours app names its
  caller from ``x-user``; ``AUTH_REQUIRED_SCOPES`` makes every caller short of a scope.
- ``RateLimited``: requests only (POST JSON and listen; GET, DELETE and replies are not
  counted), and a second session of one caller.
- ``StateUnavailable``: every path that touches the fleet state (all 2025 paths, a
  2026-07-28 tool that keeps a handle), with a redis-server the test stops: 503 with
  Retry-After; on a stream that already started, the stream's last event.

Errors on a stream that has started come as its last event with status 200 and
without their headers (Retry-After cannot follow a 200). The behaviours app has no
handler that streams and then fails with a protocol error, so the POST SSE rows use
``streaming_app`` below, served from this module.

A row that shows an open server bug names it and is marked ``xfail`` (strict: once the
bug is fixed the row fails until its mark is removed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet import Context, Server
from mcpfleet.errors import (
    InvalidParams,
    ResourceNotFound,
    StateUnavailable,
)
from tests.conftest import STATE_KEYS, ServerProcess
from tests.wire import (
    LEGACY,
    VERSION,
    headers_for,
    initialize,
    legacy_headers,
    meta,
    open_session,
    request,
    sse_messages,
)

# -- an app whose one tool streams, then fails (served from this module) ----------------

streaming_app = Server("streaming-errors", "1.0.0")


@streaming_app.tool()
async def fail_after_event(error: str, ctx: Context) -> str:
    """Log once (the answer turns into a stream), then fail with the named error."""
    await ctx.log("info", "streaming now", logger="table")
    if error == "invalid_params":
        raise InvalidParams("Invalid params: found wanting after the first event")
    if error == "resource_not_found":
        raise ResourceNotFound("table://missing")
    if error == "missing_capability":
        await ctx.elicit("Name?", {"type": "object", "properties": {}})
    if error == "state_unavailable":
        raise StateUnavailable()
    raise ValueError(f"no such error: {error}")  # a tool's own failure: an isError result


@streaming_app.resource("table://broken")
async def broken_after_event(ctx: Context) -> str:
    """Log once, then fail unexpectedly (a resource's failure is the server's: -32603)."""
    await ctx.log("info", "streaming now", logger="table")
    raise RuntimeError("secret resource failure")


# -- servers ----------------------------------------------------------------------------

APP = "tests.apps.behaviours:app"
SERVERS: dict[str, tuple[str, dict[str, str]]] = {
    "plain": (APP, {}),
    "auth": (APP, {"AUTH_REQUIRED_SCOPES": "admin"}),
    "limits": (APP, {"RATE_LIMIT": "1/hour", "MAX_BODY_BYTES": "1024"}),
    "full": (APP, {"MAX_SESSIONS": "2"}),
    "quota": (APP, {"MAX_SESSIONS_PER_PRINCIPAL": "1"}),
    "streaming": ("tests.transport.test_error_table:streaming_app", {}),
}


class Servers:
    """The servers of the table, each started when a row first needs it."""

    def __init__(self) -> None:
        self.running: dict[str, ServerProcess] = {}
        self.redis: Any = None

    def __getitem__(self, name: str) -> ServerProcess:
        if name not in self.running:
            if name == "redis-down":
                self.running[name] = self._redis_down()
            else:
                target, env = SERVERS[name]
                self.running[name] = ServerProcess(
                    target, {"REQUEST_STATE_KEYS": STATE_KEYS, **env}
                ).start()
        return self.running[name]

    def _redis_down(self) -> ServerProcess:
        """The behaviours app on a redis-server of its own, which is then stopped."""
        from tests.redis_support import RedisServer

        self.redis = RedisServer().start()
        server = ServerProcess(
            APP, {"REQUEST_STATE_KEYS": STATE_KEYS, "REDIS_URL": self.redis.url}
        ).start()
        server.session_id = initialize(server.url)[0]  # type: ignore[attr-defined]  # read by rows
        self.redis.stop()
        return server

    def stop(self) -> None:
        for server in self.running.values():
            server.stop()
        if self.redis is not None:
            self.redis.cleanup()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    started = Servers()
    try:
        yield started
    finally:
        started.stop()


# -- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    text: str


Send = Callable[[ServerProcess], Answer]


def exchange(
    server: ServerProcess, method: str, headers: dict[str, str], body: bytes = b""
) -> Answer:
    """One request; a GET stream that opens is read only up to its head."""
    with httpx.stream(method, server.url, headers=headers, content=body, timeout=10) as response:
        opened = response.headers.get("content-type") == "text/event-stream"
        text = "" if method == "GET" and opened else response.read().decode()
        return Answer(response.status_code, response.headers, text)


def session_of(server: ServerProcess, user: str | None = None) -> str:
    if hasattr(server, "session_id"):
        return str(server.session_id)
    if user is None:
        return initialize(server.url)[0]
    return open_session(server.url, x_user=user)


def modern(
    message: Any, *, content: bytes | None = None, warm_up: bool = False, **overrides: str | None
) -> Send:
    """A 2026-07-28 POST (headers from the message unless overridden)."""

    def send(server: ServerProcess) -> Answer:
        headers = headers_for(message if isinstance(message, dict) else {}, **overrides)
        body = content if content is not None else orjson.dumps(message)
        if warm_up:  # one request first, to use up the caller's rate
            first = request("tools/list")
            exchange(server, "POST", headers_for(first, **overrides), orjson.dumps(first))
        return exchange(server, "POST", headers, body)

    return send


def legacy(
    message: Any,
    *,
    content: bytes | None = None,
    session: bool = True,
    version: str | None = LEGACY,
    user: str | None = None,
    **extra: str,
) -> Send:
    """A 2025-era POST, in a new session unless ``session`` is False."""

    def send(server: ServerProcess) -> Answer:
        session_id = session_of(server, user) if session else None
        headers = legacy_headers(session_id, version, **extra)
        if user is not None:
            headers["x-user"] = user
        body = content if content is not None else orjson.dumps(message)
        return exchange(server, "POST", headers, body)

    return send


def stream_request(
    method: str,
    *,
    session: bool | str = True,
    version: str | None = LEGACY,
    accept: str = "text/event-stream",
    **extra: str,
) -> Send:
    """A GET or DELETE of a 2025 session (a new one; or a given id, or none)."""

    def send(server: ServerProcess) -> Answer:
        if isinstance(session, str):
            session_id: str | None = session
        else:
            session_id = session_of(server) if session else None
        headers = legacy_headers(session_id, version, **extra)
        headers.pop("content-type")
        if method == "GET":
            headers["accept"] = accept
        return exchange(server, method, headers)

    return send


def second_get(server: ServerProcess) -> Answer:
    """A GET while the session's stream is open on another connection."""
    session_id = session_of(server)
    headers = {**legacy_headers(session_id), "accept": "text/event-stream"}
    with httpx.stream("GET", server.url, headers=headers, timeout=10) as first:
        assert first.status_code == 200
        return exchange(server, "GET", headers)


def modern_call(
    tool: str, arguments: dict[str, Any], request_id: Any, **meta_extra: Any
) -> dict[str, Any]:
    return request(
        "tools/call",
        {"name": tool, "arguments": arguments, "_meta": meta(**meta_extra)},
        request_id=request_id,
    )


def legacy_message(method: str, params: dict[str, Any], request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def deep_body(message: dict[str, Any], depth: int = 300) -> bytes:
    """The message as JSON with a value nested ``depth`` deep first in its params, which
    must not be empty (written as text: no encoder writes it)."""
    nested = b'{"a":' * depth + b"1" + b"}" * depth
    return orjson.dumps(message).replace(b'"params":{', b'"params":{"x":' + nested + b",", 1)


LOGGING = meta(**{"io.modelcontextprotocol/logLevel": "info"})


def streamed(error: str, request_id: int) -> Send:
    """A modern call of the streaming tool, logged at info: its answer streams."""
    call = request(
        "tools/call",
        {"name": "fail_after_event", "arguments": {"error": error}, "_meta": LOGGING},
        request_id=request_id,
    )
    return modern(call)


def legacy_streamed(error: str, request_id: int) -> Send:
    """A 2025 call of the streaming tool (sessions log at info unless told otherwise)."""
    return legacy(
        legacy_message(
            "tools/call", {"name": "fail_after_event", "arguments": {"error": error}}, request_id
        )
    )


# -- the table ------------------------------------------------------------------------------

PRESENT = "<present>"


@dataclass(frozen=True)
class Row:
    error: str  # the class of mcpfleet.errors this row provokes
    era: str  # "2026" or "2025"
    path: str
    send: Send
    status: int
    code: int
    request_id: Any  # the id the answer must carry
    headers: dict[str, str | None] = field(default_factory=dict)  # None: must be absent
    server: str = "plain"
    bug: str | None = None  # an open server bug this row shows: xfail, strict

    @property
    def name(self) -> str:
        return f"{self.error}-{self.era}-{self.path.replace(' ', '_')}-{self.status}"


NO_CHALLENGE = {"www-authenticate": None}
ALLOW = {"allow": "POST"}
RETRY = {"retry-after": PRESENT}
CHALLENGE = {"www-authenticate": PRESENT}
LISTEN = {"notifications": {"toolsListChanged": True}}
EVIL = "http://evil.example"
BAD_VERSION = "2099-01-01"


# The rows are a table, one row to an error, laid out by hand: no formatter below.
# fmt: off
def modern_rows() -> list[Row]:
    listen = request("subscriptions/listen", LISTEN, request_id="listen-1")
    bad_meta = {**meta(), "io.modelcontextprotocol/protocolVersion": BAD_VERSION}
    bad_version = {"mcp_protocol_version": BAD_VERSION}
    return [
        Row("ParseError", "2026", "POST JSON",
            modern(request("tools/list"), content=b'{"jsonrpc": "2.0", "id": 1,'), 400, -32700,
            None),
        Row("ParseError", "2026", "listen",
            modern(listen, content=b'{"jsonrpc":"2.0","id":"listen-1","method":"subscr'), 400,
            -32700, None),
        Row("InvalidRequest", "2026", "POST JSON",
            modern({**request("tools/list", request_id=11), "jsonrpc": "1.0"}), 400, -32600, 11),
        Row("InvalidRequest", "2026", "POST JSON",
            modern(request("tools/list"),
                   content=deep_body(request("tools/list", request_id="deep"))),
            400, -32600, "deep"),
        Row("InvalidRequest", "2026", "POST JSON",
            modern([request("tools/list")], mcp_method="tools/list"), 400, -32600, None),
        Row("InvalidRequest", "2026", "listen",
            modern({**request("subscriptions/listen", request_id="listen-2"), "params": [1]}),
            400, -32600, "listen-2"),
        Row("InvalidRequest", "2026", "reply POST",
            modern({"jsonrpc": "2.0", "id": 12, "result": {}}), 400, -32600, 12),
        Row("MethodNotFound", "2026", "POST JSON", modern(request("no/such/method", request_id=13)),
            404, -32601, 13),
        Row("MethodNotFound", "2026", "POST JSON", modern(request("ping", request_id="removed")),
            404, -32601, "removed"),
        Row("InvalidParams", "2026", "POST JSON",
            modern({"jsonrpc": "2.0", "id": 14, "method": "tools/list", "params": {}}), 400, -32602,
            14),
        Row("InvalidParams", "2026", "POST JSON", modern(modern_call("nope", {}, 15)), 400, -32602,
            15),
        Row("InvalidParams", "2026", "listen",
            modern(request("subscriptions/listen", {"notifications": 5}, request_id=16)), 400,
            -32602, 16),
        Row("InvalidParams", "2026", "POST SSE",
            streamed("invalid_params", 17),
            200, -32602, 17, {"retry-after": None}, server="streaming"),
        Row("ResourceNotFound", "2026", "POST JSON",
            modern(request("resources/read", {"uri": "behaviours://missing"}, request_id=18)), 400,
            -32602, 18),
        Row("ResourceNotFound", "2026", "POST SSE",
            streamed("resource_not_found", 19),
            200, -32602, 19, server="streaming"),
        Row("InternalError", "2026", "POST JSON",
            modern(request("resources/read", {"uri": "behaviours://broken"}, request_id=20)), 500,
            -32603, 20),
        Row("InternalError", "2026", "POST SSE",
            modern(request("resources/read", {"uri": "table://broken", "_meta": LOGGING},
                           request_id=21)),
            200, -32603, 21, server="streaming"),
        Row("HeaderMismatch", "2026", "POST JSON",
            modern(modern_call("echo", {"text": "x"}, 22), mcp_name="add"), 400, -32020, 22),
        Row("HeaderMismatch", "2026", "listen",
            modern(request("subscriptions/listen", LISTEN, request_id=23), mcp_method="tools/list"),
            400, -32020, 23),
        Row("MissingClientCapability", "2026", "POST JSON", modern(modern_call("ask_name", {}, 24)),
            400, -32021, 24),
        Row("MissingClientCapability", "2026", "POST SSE",
            streamed("missing_capability", 25),
            200, -32021, 25, server="streaming"),
        Row("UnsupportedProtocolVersion", "2026", "POST JSON",
            modern(request("tools/list", {"_meta": bad_meta}, request_id=26), **bad_version),
            400, -32022, 26),
        Row("UnsupportedProtocolVersion", "2026", "listen",
            modern(request("subscriptions/listen", {**LISTEN, "_meta": bad_meta}, request_id=27),
                   **bad_version),
            400, -32022, 27),
        Row("HttpRejection", "2026", "POST JSON", modern(request("tools/list"), origin=EVIL), 403,
            -32600, None, NO_CHALLENGE),
        Row("HttpRejection", "2026", "POST JSON",
            modern(request("tools/list"), host="evil.example"), 403, -32600, None, NO_CHALLENGE),
        Row("HttpRejection", "2026", "listen", modern(listen, origin=EVIL), 403, -32600, None,
            NO_CHALLENGE),
        Row("HttpRejection", "2026", "GET",
            lambda server: exchange(server, "GET", {"mcp-protocol-version": VERSION}), 405, -32600,
            None, ALLOW),
        Row("HttpRejection", "2026", "DELETE",
            lambda server: exchange(server, "DELETE", {"mcp-protocol-version": VERSION}), 405,
            -32600, None, ALLOW),
        Row("HttpRejection", "2026", "GET",
            lambda server: exchange(server, "GET", {"mcp-protocol-version": VERSION,
                                                    "origin": EVIL}),
            403, -32600, None),
        Row("HttpRejection", "2026", "POST JSON",
            modern(request("tools/list"), accept="application/json"), 406, -32600, None),
        Row("HttpRejection", "2026", "listen", modern(listen, accept="text/event-stream"), 406,
            -32600, None),
        Row("HttpRejection", "2026", "POST JSON",
            modern(modern_call("echo", {"text": "x" * 2000}, 28)), 413, -32600, None,
            server="limits"),
        Row("HttpRejection", "2026", "listen",
            modern(request("subscriptions/listen", {**LISTEN, "pad": "x" * 2000})), 413, -32600,
            None, server="limits"),
        Row("HttpRejection", "2026", "POST JSON",
            modern(request("tools/list"), content_type="text/plain"), 415, -32600, None),
        Row("HttpRejection", "2026", "listen", modern(listen, content_type="text/plain"), 415,
            -32600, None),
        Row("Unauthorized", "2026", "POST JSON", modern(request("tools/list", request_id=29)), 401,
            -32001, None, CHALLENGE, server="auth"),
        Row("Unauthorized", "2026", "listen", modern(listen), 401, -32001, None, CHALLENGE,
            server="auth"),
        Row("Unauthorized", "2026", "GET",
            lambda server: exchange(server, "GET", {"mcp-protocol-version": VERSION}), 401, -32001,
            None, CHALLENGE, server="auth"),
        Row("InsufficientScope", "2026", "POST JSON",
            modern(request("tools/list", request_id=30), x_user="alice"), 403, -32003, None,
            CHALLENGE, server="auth"),
        Row("InsufficientScope", "2026", "listen", modern(listen, x_user="alice"), 403, -32003,
            None, CHALLENGE, server="auth"),
        Row("InsufficientScope", "2026", "GET",
            lambda server: exchange(server, "GET", {"mcp-protocol-version": VERSION,
                                                    "x-user": "alice"}),
            403, -32003, None, CHALLENGE, server="auth"),
        Row("RateLimited", "2026", "POST JSON",
            modern(request("tools/list", request_id=31), warm_up=True, x_user="rate-1"), 429,
            -32005, 31, RETRY, server="limits"),
        Row("RateLimited", "2026", "listen",
            modern(request("subscriptions/listen", LISTEN, request_id=32), warm_up=True,
                   x_user="rate-2"),
            429, -32005, 32, RETRY, server="limits"),
        Row("StateUnavailable", "2026", "POST JSON",
            modern(modern_call("remember", {"value": "v"}, 33)), 503, -32600, 33, RETRY,
            server="redis-down"),
        Row("StateUnavailable", "2026", "POST SSE",
            streamed("state_unavailable", 34),
            200, -32600, 34, {"retry-after": None}, server="streaming"),
    ]


def legacy_rows() -> list[Row]:
    def call(method: str, params: dict[str, Any], request_id: Any) -> dict[str, Any]:
        return legacy_message(method, params, request_id)

    reply = {"jsonrpc": "2.0", "id": "s-unknown", "result": {}}
    ping = call("ping", {}, "p-1")
    init = {
        "jsonrpc": "2.0",
        "id": "init",
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "table", "version": "1"},
        },
    }
    return [
        Row("ParseError", "2025", "POST JSON",
            legacy(ping, content=b'{"jsonrpc":"2.0","id":"p-1","meth'), 400, -32700, None),
        Row("ParseError", "2025", "reply POST",
            legacy(reply, content=b'{"jsonrpc":"2.0","id":"s-1","result":{'), 400, -32700, None),
        Row("InvalidRequest", "2025", "POST JSON",
            legacy({**call("ping", {}, 41), "jsonrpc": "1.0"}), 400, -32600, 41),
        Row("InvalidRequest", "2025", "POST JSON",
            legacy(None, content=deep_body(call("tools/call", {"name": "echo"}, 42))),
            400, -32600, 42),
        Row("InvalidRequest", "2025", "POST JSON", legacy([ping, ping]), 400, -32600, None),
        Row("InvalidRequest", "2025", "reply POST", legacy(reply), 400, -32600, "s-unknown"),
        Row("InvalidRequest", "2025", "reply POST",
            legacy({**reply, "id": "s-2", "error": {"code": 1, "message": "x"}}),
            400, -32600, "s-2"),
        Row("InvalidRequest", "2025", "reply POST",
            legacy({"jsonrpc": "2.0", "id": 43, "result": {}}), 400, -32600, 43),
        Row("MethodNotFound", "2025", "POST JSON", legacy(call("no/such/method", {}, 44)), 404,
            -32601, 44),
        Row("MethodNotFound", "2025", "listen", legacy(call("subscriptions/listen", LISTEN, 45)),
            404, -32601, 45),
        Row("InvalidParams", "2025", "POST JSON",
            legacy(call("logging/setLevel", {"level": "loud"}, 46)), 400, -32602, 46),
        Row("InvalidParams", "2025", "POST JSON", legacy(call("tools/call", {"name": "nope"}, 47)),
            400, -32602, 47),
        Row("InvalidParams", "2025", "POST JSON",
            legacy({**init, "params": {"protocolVersion": LEGACY}}, session=False, version=None),
            400, -32602, "init"),
        Row("InvalidParams", "2025", "POST SSE",
            legacy_streamed("invalid_params", 48),
            200, -32602, 48, server="streaming"),
        Row("ResourceNotFound", "2025", "POST JSON",
            legacy(call("resources/read", {"uri": "behaviours://missing"}, 49)), 400, -32002, 49),
        Row("ResourceNotFound", "2025", "POST SSE",
            legacy_streamed("resource_not_found", 50),
            200, -32002, 50, server="streaming"),
        Row("InternalError", "2025", "POST JSON",
            legacy(call("resources/read", {"uri": "behaviours://broken"}, 51)), 500, -32603, 51),
        Row("InternalError", "2025", "POST SSE",
            legacy(call("resources/read", {"uri": "table://broken"}, 52)), 200, -32603, 52,
            server="streaming"),
        Row("UnsupportedProtocolVersion", "2025", "POST JSON",
            legacy(call("ping", {}, 53), version=BAD_VERSION), 400, -32022, 53),
        Row("UnsupportedProtocolVersion", "2025", "reply POST", legacy(reply, version=BAD_VERSION),
            400, -32022, "s-unknown"),
        Row("UnsupportedProtocolVersion", "2025", "GET", stream_request("GET", version=BAD_VERSION),
            400, -32022, None),
        Row("UnsupportedProtocolVersion", "2025", "DELETE",
            stream_request("DELETE", version=BAD_VERSION), 400, -32022, None),
        Row("HttpRejection", "2025", "POST JSON", legacy(call("ping", {}, 54), session=False), 400,
            -32600, 54),
        Row("HttpRejection", "2025", "POST JSON",
            legacy(call("ping", {}, 55), session=False, mcp_session_id="x" * 300), 400, -32600, 55),
        Row("HttpRejection", "2025", "GET", stream_request("GET", session=False), 400, -32600,
            None),
        Row("HttpRejection", "2025", "GET", stream_request("GET", last_event_id="g1_" + "9" * 20),
            400, -32600, None),
        Row("HttpRejection", "2025", "DELETE", stream_request("DELETE", session=False), 400, -32600,
            None),
        Row("HttpRejection", "2025", "reply POST", legacy(reply, session=False), 400, -32600,
            "s-unknown"),
        Row("HttpRejection", "2025", "POST JSON", legacy(call("ping", {}, 56), origin=EVIL), 403,
            -32600, None, NO_CHALLENGE),
        Row("HttpRejection", "2025", "GET", stream_request("GET", origin=EVIL), 403, -32600, None,
            NO_CHALLENGE),
        Row("HttpRejection", "2025", "DELETE", stream_request("DELETE", origin=EVIL), 403, -32600,
            None, NO_CHALLENGE),
        Row("HttpRejection", "2025", "reply POST", legacy(reply, origin=EVIL), 403, -32600, None,
            NO_CHALLENGE),
        Row("HttpRejection", "2025", "POST JSON",
            legacy(call("ping", {}, 57), session=False, mcp_session_id="no-such-session"), 404,
            -32600, 57),
        Row("HttpRejection", "2025", "GET", stream_request("GET", session="no-such-session"), 404,
            -32600, None),
        Row("HttpRejection", "2025", "DELETE", stream_request("DELETE", session="no-such-session"),
            404, -32600, None),
        Row("HttpRejection", "2025", "reply POST",
            legacy(reply, session=False, mcp_session_id="no-such-session"), 404, -32600,
            "s-unknown"),
        Row("HttpRejection", "2025", "POST JSON", legacy(ping, accept="application/json"), 406,
            -32600, None),
        Row("HttpRejection", "2025", "GET", stream_request("GET", accept="application/json"), 406,
            -32600, None),
        Row("HttpRejection", "2025", "reply POST", legacy(reply, accept="text/event-stream"), 406,
            -32600, None),
        Row("HttpRejection", "2025", "GET", second_get, 409, -32600, None),
        Row("HttpRejection", "2025", "POST JSON",
            legacy(call("tools/call", {"name": "echo", "arguments": {"text": "x" * 2000}}, 58),
                   session=False, mcp_session_id="any"),
            413, -32600, None, server="limits"),
        Row("HttpRejection", "2025", "reply POST",
            legacy({**reply, "result": {"pad": "x" * 2000}}, session=False, mcp_session_id="any"),
            413, -32600, None, server="limits"),
        Row("HttpRejection", "2025", "POST JSON", legacy(ping, content_type="text/plain"), 415,
            -32600, None),
        Row("HttpRejection", "2025", "reply POST", legacy(reply, content_type="text/plain"), 415,
            -32600, None),
        Row("HttpRejection", "2025", "POST JSON", past_session_limit(init, user=None), 503, -32600,
            "init", RETRY, server="full"),
        Row("Unauthorized", "2025", "POST JSON", legacy(ping, session=False, mcp_session_id="any"),
            401, -32001, None, CHALLENGE, server="auth"),
        Row("Unauthorized", "2025", "GET", stream_request("GET", session="any"), 401, -32001, None,
            CHALLENGE, server="auth"),
        Row("Unauthorized", "2025", "DELETE", stream_request("DELETE", session="any"), 401, -32001,
            None, CHALLENGE, server="auth"),
        Row("Unauthorized", "2025", "reply POST",
            legacy(reply, session=False, mcp_session_id="any"), 401, -32001, None, CHALLENGE,
            server="auth"),
        Row("InsufficientScope", "2025", "POST JSON",
            legacy(ping, session=False, mcp_session_id="any", x_user="alice"), 403, -32003, None,
            CHALLENGE, server="auth"),
        Row("InsufficientScope", "2025", "GET",
            stream_request("GET", session="any", x_user="alice"), 403, -32003, None, CHALLENGE,
            server="auth"),
        Row("InsufficientScope", "2025", "DELETE",
            stream_request("DELETE", session="any", x_user="alice"), 403, -32003, None, CHALLENGE,
            server="auth"),
        Row("InsufficientScope", "2025", "reply POST",
            legacy(reply, session=False, mcp_session_id="any", x_user="alice"), 403, -32003, None,
            CHALLENGE, server="auth"),
        Row("RateLimited", "2025", "POST JSON", legacy(call("ping", {}, 59), user="rate-3"), 429,
            -32005, 59, RETRY, server="limits"),
        Row("RateLimited", "2025", "POST JSON", past_session_limit(init, user="quota"), 429, -32005,
            "init", RETRY, server="quota"),
        Row("StateUnavailable", "2025", "POST JSON", legacy(call("ping", {}, 60)), 503, -32600, 60,
            RETRY, server="redis-down"),
        Row("StateUnavailable", "2025", "POST JSON", legacy(init, session=False, version=None), 503,
            -32600, "init", RETRY, server="redis-down"),
        Row("StateUnavailable", "2025", "reply POST", legacy(reply), 503, -32600, "s-unknown",
            RETRY, server="redis-down"),
        Row("StateUnavailable", "2025", "GET", stream_request("GET"), 503, -32600, None, RETRY,
            server="redis-down"),
        Row("StateUnavailable", "2025", "DELETE", stream_request("DELETE"), 503, -32600, None,
            RETRY, server="redis-down"),
        Row("StateUnavailable", "2025", "POST SSE",
            legacy_streamed("state_unavailable", 61),
            200, -32600, 61, {"retry-after": None}, server="streaming"),
    ]


# fmt: on


def past_session_limit(init: dict[str, Any], user: str | None) -> Send:
    """initialize past a session limit: the server's (``user`` None: other callers fill
    it first) or the caller's own (one session of its own first)."""

    def send(server: ServerProcess) -> Answer:
        if user is not None:
            session_of(server, user)
        headers = legacy_headers(version=None)
        for filler in range(10 if user is None else 1):
            if user is None:
                headers["x-user"] = f"filler-{filler}"
            else:
                headers["x-user"] = user
            answer = exchange(server, "POST", headers, orjson.dumps(init))
            if answer.status != 200:
                break
        return answer

    return send


ROWS = modern_rows() + legacy_rows()


def row_params() -> list[Any]:
    params = []
    for row in ROWS:
        marks = [pytest.mark.xfail(reason=row.bug, strict=True)] if row.bug else []
        params.append(pytest.param(row, id=row.name, marks=marks))
    return params


def last_message(answer: Answer) -> dict[str, Any]:
    """The answer's JSON-RPC message: its JSON body, or the last event of its stream."""
    if answer.headers.get("content-type") == "text/event-stream":
        messages = sse_messages(answer.text)
        assert messages, answer.text
        assert messages[0].get("method") == "notifications/message", messages[0]
        return messages[-1]
    body: dict[str, Any] = orjson.loads(answer.text)
    return body


@pytest.mark.parametrize("row", row_params())
def test_error_row(row: Row, servers: Servers) -> None:
    """Each error class, in each era and on each path where it can happen, gets its HTTP
    status, its headers, its JSON-RPC code, and the request's id (null when unread)."""
    answer = row.send(servers[row.server])
    assert answer.status == row.status, answer.text
    assert "secret" not in answer.text
    message = last_message(answer)
    assert message["jsonrpc"] == "2.0"
    assert message["error"]["code"] == row.code, message
    assert message["id"] == row.request_id, message
    assert type(message["id"]) is type(row.request_id)
    if row.path == "POST SSE":
        assert answer.headers["content-type"] == "text/event-stream"
    for name, expected in row.headers.items():
        value = answer.headers.get(name)
        if expected is None:
            assert value is None, (name, value)
        elif expected == PRESENT:
            assert value, name
        else:
            assert value == expected, (name, value)
    if "retry-after" in row.headers and row.headers["retry-after"] == PRESENT:
        assert int(answer.headers["retry-after"]) > 0
    if row.error == "InsufficientScope":
        assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]


def test_the_table_covers_every_error_class_and_path() -> None:
    """Every error class of the tree that a client can receive has a row, and each era
    has a row on each of its paths."""
    classes = {row.error for row in ROWS}
    assert classes >= {
        "ParseError",
        "InvalidRequest",
        "MethodNotFound",
        "InvalidParams",
        "ResourceNotFound",
        "InternalError",
        "HeaderMismatch",
        "MissingClientCapability",
        "UnsupportedProtocolVersion",
        "HttpRejection",
        "Unauthorized",
        "InsufficientScope",
        "RateLimited",
        "StateUnavailable",
    }
    statuses = {row.status for row in ROWS if row.error == "HttpRejection"}
    assert statuses >= {400, 403, 404, 405, 406, 409, 413, 415, 503}
    paths = {(row.era, row.path) for row in ROWS}
    for era in ("2026", "2025"):
        for path in ("POST JSON", "POST SSE", "GET", "DELETE", "reply POST", "listen"):
            assert (era, path) in paths, (era, path)

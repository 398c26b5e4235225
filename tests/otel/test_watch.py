"""The wrapper's pure parts: reading a response's outcome, and choosing a span's parent."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from opentelemetry.trace import Link

from mcpfleet.observe.otel_asgi import ResponseWatch, buffer_body, decode_request, replaying
from mcpfleet.observe.otel_spans import parent_of, request_attributes

A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _start(status: int, media: bytes, *extra: tuple[bytes, bytes]) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", media), *extra],
    }


def _body(chunk: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


def _event(message: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(message) + b"\n\n"


NOTE = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}}
FAILED = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "x"}}
TOOL_ERROR = {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": True}}
OK = {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}


@pytest.mark.parametrize(
    ("messages", "outcome"),
    [
        ([_start(200, b"application/json"), _body(orjson.dumps(OK))], (None, None)),
        (
            [
                _start(200, b"application/json"),
                _body(orjson.dumps(FAILED)[:9], True),
                _body(orjson.dumps(FAILED)[9:]),
            ],
            ("-32603", -32603),
        ),
        (
            [_start(200, b"application/json; charset=utf-8"), _body(orjson.dumps(TOOL_ERROR))],
            ("tool_error", None),
        ),
        (
            [
                _start(200, b"text/event-stream"),
                _body(_event(NOTE), True),
                _body(_event(FAILED)[:20], True),
                _body(_event(FAILED)[20:]),
            ],
            ("-32603", -32603),
        ),
        (
            [_start(200, b"text/event-stream"), _body(_event(FAILED), True), _body(_event(OK))],
            (None, None),
        ),
        (
            [_start(200, b"text/event-stream"), _body(_event(OK).replace(b"\n", b"\r\n"))],
            (None, None),
        ),
        ([_start(202, b"application/json"), _body(b"")], (None, None)),
        ([_start(404, b"text/plain"), _body(b"gone")], ("404", None)),
        ([_start(503, b"application/json"), _body(b"{not json")], ("503", None)),
    ],
    ids=[
        "json-ok",
        "json-error-in-two-chunks",
        "tool-error",
        "sse-error-split",
        "sse-last-event-wins",
        "sse-crlf",
        "accepted",
        "http-error",
        "undecodable-error",
    ],
)
def test_outcome_is_read_from_the_response(
    messages: list[dict[str, Any]], outcome: tuple[str | None, int | None]
) -> None:
    """The outcome is the JSON-RPC error of the JSON body or the last SSE event, else the
    HTTP status when it is an error."""
    watch = ResponseWatch(1)
    for message in messages:
        watch.feed(message)
    assert watch.outcome() == outcome


def test_session_id_is_read_from_the_response_head() -> None:
    """An initialize response's Mcp-Session-Id is what the span records."""
    watch = ResponseWatch(0)
    watch.feed(_start(200, b"application/json", (b"mcp-session-id", b"s-1")))
    assert watch.session_id == "s-1"


@pytest.mark.parametrize(
    ("meta", "headers", "parent", "links"),
    [
        ({"traceparent": A}, {}, A, []),
        ({}, {"traceparent": B}, B, []),
        ({"traceparent": A}, {"traceparent": B}, A, [B]),
        ({"traceparent": A}, {"traceparent": A}, A, []),
        ({"traceparent": "00-junk"}, {"traceparent": B}, B, []),
        ({"traceparent": 7}, {}, None, []),
        ({}, {}, None, []),
    ],
    ids=["meta", "header", "both", "same-twice", "bad-meta", "not-a-string", "none"],
)
def test_parent_comes_from_meta_then_the_header(
    meta: dict[str, Any], headers: dict[str, str], parent: str | None, links: list[str]
) -> None:
    """_meta's traceparent is the parent, else the header's; a differing header is linked."""
    found, linked = parent_of(meta, headers)
    assert _span_of(found) == (None if parent is None else parent.split("-")[2])
    assert [format(link.context.span_id, "016x") for link in linked] == [
        value.split("-")[2] for value in links
    ]
    assert all(isinstance(link, Link) for link in linked)


def _span_of(found: Any) -> str | None:
    from opentelemetry import trace

    if found is None:
        return None
    return format(trace.get_current_span(found).get_span_context().span_id, "016x")


@pytest.mark.parametrize(
    ("message", "headers", "expected"),
    [
        (
            {"method": "tools/call", "id": 3, "params": {"name": "t"}},
            {},
            {
                "mcp.method.name": "tools/call",
                "jsonrpc.request.id": "3",
                "gen_ai.tool.name": "t",
                "gen_ai.operation.name": "execute_tool",
            },
        ),
        (
            {"method": "prompts/get", "id": "a", "params": {"name": "p"}},
            {"mcp-protocol-version": "2025-06-18", "mcp-session-id": "s"},
            {
                "mcp.method.name": "prompts/get",
                "jsonrpc.request.id": "a",
                "gen_ai.prompt.name": "p",
                "mcp.protocol.version": "2025-06-18",
                "mcp.session.id": "s",
            },
        ),
        (
            {"method": "initialize", "id": 0, "params": {"protocolVersion": "2025-11-25"}},
            {},
            {
                "mcp.method.name": "initialize",
                "jsonrpc.request.id": "0",
                "mcp.protocol.version": "2025-11-25",
            },
        ),
        (
            {"method": "resources/read", "id": 1, "params": {"uri": "file:///a"}},
            {},
            {
                "mcp.method.name": "resources/read",
                "jsonrpc.request.id": "1",
                "mcp.resource.uri": "file:///a",
            },
        ),
        (
            {"method": "notifications/initialized"},
            {},
            {"mcp.method.name": "notifications/initialized"},
        ),
    ],
    ids=["tool", "prompt-legacy", "initialize", "resource", "notification"],
)
def test_request_attributes(
    message: dict[str, Any], headers: dict[str, str], expected: dict[str, Any]
) -> None:
    """Each method carries the conventions' attributes, and no others."""
    params = message.get("params", {})
    assert request_attributes(message, params, params.get("_meta", {}), headers) == expected


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"}', True),
        (b'{"id":1,"result":{}}', False),
        (b"[]", False),
        (b"{", False),
        (b"", False),
        (None, False),
    ],
)
def test_only_requests_and_notifications_are_traced(body: bytes | None, decoded: bool) -> None:
    """A client's reply, a batch, or an undecodable or missing body gets no span."""
    assert (decode_request(body) is not None) is decoded


def test_body_is_replayed_as_received() -> None:
    """The app receives the same messages the client sent, then the client's next ones."""
    sent = [
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"c", "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def scenario() -> tuple[bytes | None, list[Any]]:
        queue = list(sent)

        async def receive() -> Any:
            return queue.pop(0)

        received, body = await buffer_body(receive, 10)
        replay = replaying(received, receive)
        return body, [await replay() for _ in sent]

    body, replayed = asyncio.run(scenario())
    assert body == b"abc"
    assert replayed == sent


def test_a_body_over_the_limit_is_not_read_further() -> None:
    """Past the limit the body is not decoded, and what was read is replayed untouched."""
    sent = [
        {"type": "http.request", "body": b"x" * 8, "more_body": True},
        {"type": "http.request", "body": b"y" * 8, "more_body": False},
    ]

    async def scenario() -> tuple[bytes | None, list[Any]]:
        queue = list(sent)

        async def receive() -> Any:
            return queue.pop(0)

        received, body = await buffer_body(receive, 10)
        replay = replaying(received, receive)
        return body, [await replay(), await replay()]

    body, replayed = asyncio.run(scenario())
    assert body is None
    assert replayed == sent

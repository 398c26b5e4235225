"""Spans and the duration histogram, exported over OTLP/HTTP from apps served by uvicorn."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from mcpfleet.config import Config
from mcpfleet.observe.otel import TraceIds, wrap
from mcpfleet.protocol.request_state import KeyRing
from mcpfleet.transport.asgi import McpApp
from tests.apps.behaviours import app as behaviours
from tests.conftest import STATE_KEYS
from tests.otel.receiver import OtlpReceiver, ReceivedSpan
from tests.otel.serving import UvicornThread
from tests.stdio.raw_peer import RawPeer
from tests.wire import VERSION, initialize, legacy_call, meta, post, request, sse_messages

SERVER = 2  # SpanKind.SERVER in OTLP
STATUS_ERROR = 2


class Client:
    """A client's own span, as a W3C traceparent."""

    def __init__(self) -> None:
        self.trace_id = secrets.token_hex(16)
        self.span_id = secrets.token_hex(8)
        self.traceparent = f"00-{self.trace_id}-{self.span_id}-01"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


def _task(receiver: OtlpReceiver, name: str, state_url: str | None = None) -> UvicornThread:
    config = Config(
        state_url=state_url,
        request_state_keys=KeyRing.from_text(STATE_KEYS),
        metrics_service=name,
        metrics_interval_seconds=0,
        drain_delay_seconds=0,
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "300",
    }
    return UvicornThread(wrap(McpApp(behaviours, config), config, env)).start()


@pytest.fixture(scope="module")
def tasks(receiver: OtlpReceiver) -> Iterator[tuple[UvicornThread, UvicornThread]]:
    """Two tasks of one fleet: the same request-state keys, each its own exporter."""
    first, second = _task(receiver, "task-a"), _task(receiver, "task-b")
    yield first, second
    first.stop()
    second.stop()


def _call(
    url: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    traceparent: str | None = None,
    header: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    fields = {} if traceparent is None else {"traceparent": traceparent}
    message = request(
        "tools/call",
        {"name": tool, "arguments": arguments, "_meta": meta(**fields), **(extra or {})},
    )
    response = post(url, message, **({} if header is None else {"traceparent": header}))
    if response.headers["content-type"].startswith("text/event-stream"):
        return sse_messages(response.text)[-1]
    body: dict[str, Any] = response.json()
    return body


def _request_span(
    receiver: OtlpReceiver,
    body: dict[str, Any],
    count: int = 1,
) -> list[ReceivedSpan]:
    request_id = str(body["id"])
    return receiver.spans(lambda s: s.attributes.get("jsonrpc.request.id") == request_id, count)


def test_meta_traceparent_parents_the_span(tasks: Any, receiver: OtlpReceiver) -> None:
    """A tools/call with _meta.traceparent is a SERVER child of the client's span, named and
    attributed by the MCP conventions."""
    client = Client()
    body = _call(tasks[0].url, "echo", {"text": "hi"}, traceparent=client.traceparent)
    (span,) = _request_span(receiver, body)
    assert span.name == "tools/call echo"
    assert span.kind == SERVER
    assert (span.trace_id, span.parent_span_id) == (client.trace_id, client.span_id)
    assert span.links == []
    assert span.service == "task-a"
    assert span.attributes["mcp.method.name"] == "tools/call"
    assert span.attributes["gen_ai.tool.name"] == "echo"
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["mcp.protocol.version"] == VERSION
    assert "error.type" not in span.attributes
    assert span.status_code != STATUS_ERROR


def test_header_traceparent_is_the_fallback(tasks: Any, receiver: OtlpReceiver) -> None:
    """Without _meta.traceparent, the HTTP traceparent header is the parent."""
    client = Client()
    body = _call(tasks[0].url, "add", {"a": 1, "b": 2}, header=client.traceparent)
    (span,) = _request_span(receiver, body)
    assert (span.trace_id, span.parent_span_id) == (client.trace_id, client.span_id)
    assert span.links == []


def test_meta_wins_and_the_header_is_linked(tasks: Any, receiver: OtlpReceiver) -> None:
    """With both, _meta is the parent and the header's context becomes a link."""
    in_meta, in_header = Client(), Client()
    body = _call(
        tasks[0].url,
        "echo",
        {"text": "x"},
        traceparent=in_meta.traceparent,
        header=in_header.traceparent,
    )
    (span,) = _request_span(receiver, body)
    assert (span.trace_id, span.parent_span_id) == (in_meta.trace_id, in_meta.span_id)
    assert span.links == [(in_header.trace_id, in_header.span_id)]


def test_legacy_session_requests_carry_the_session_id(
    tasks: Any,
    receiver: OtlpReceiver,
) -> None:
    """initialize and a later call of a 2025-era session both carry mcp.session.id."""
    session_id, _ = initialize(tasks[0].url)
    client = Client()
    params = {
        "name": "echo",
        "arguments": {"text": "old"},
        "_meta": {"traceparent": client.traceparent},
    }
    body = legacy_call(tasks[0].url, session_id, "tools/call", params).json()
    (span,) = _request_span(receiver, body)
    assert span.attributes["mcp.session.id"] == session_id
    assert span.attributes["mcp.protocol.version"] == "2025-11-25"
    assert (span.trace_id, span.parent_span_id) == (client.trace_id, client.span_id)
    (opened,) = receiver.spans(
        lambda s: s.name == "initialize" and s.attributes.get("mcp.session.id") == session_id
    )
    assert opened.attributes["mcp.protocol.version"] == "2025-11-25"


@pytest.mark.parametrize(
    ("tool", "arguments", "error_type"),
    [
        ("no_such_tool", {}, "-32602"),
        ("add", {"a": "x"}, "tool_error"),
        ("fail_politely", {}, "tool_error"),
    ],
)
def test_errors_set_error_type(
    tasks: Any, receiver: OtlpReceiver, tool: str, arguments: dict[str, Any], error_type: str
) -> None:
    """A JSON-RPC error sets error.type to its code, a tool's error to tool_error; both
    set the span's status to ERROR."""
    body = _call(tasks[0].url, tool, arguments)
    (span,) = _request_span(receiver, body)
    assert span.attributes["error.type"] == error_type
    assert span.status_code == STATUS_ERROR


def test_http_rejection_sets_error_type(tasks: Any, receiver: OtlpReceiver) -> None:
    """A request refused at the HTTP layer (406) carries the error and the status."""
    message = request("tools/call", {"name": "echo", "arguments": {"text": "a"}})
    response = post(tasks[0].url, message, accept="application/json")
    assert response.status_code == 406
    (span,) = _request_span(receiver, message)
    assert span.attributes["http.response.status_code"] == 406
    assert span.attributes["error.type"] == str(response.json()["error"]["code"])
    assert span.status_code == STATUS_ERROR


def test_streamed_response_is_read_from_its_last_event(
    tasks: Any,
    receiver: OtlpReceiver,
) -> None:
    """An SSE response's outcome is read from its final event, after its notifications."""
    params = {
        "name": "chatty",
        "arguments": {},
        "_meta": meta(**{"io.modelcontextprotocol/logLevel": "debug"}),
    }
    response = post(tasks[0].url, request("tools/call", params))
    assert response.headers["content-type"].startswith("text/event-stream")
    *notes, body = sse_messages(response.text)
    assert len(notes) == 4
    assert body["result"]["content"][0]["text"] == "logged"
    (span,) = _request_span(receiver, body)
    assert "error.type" not in span.attributes


def test_mrtr_retry_on_another_task_stays_in_the_trace(
    tasks: Any,
    receiver: OtlpReceiver,
) -> None:
    """The first pass on one task and the retry on another are both children of the
    client's span."""
    client = Client()
    caps = {"capabilities": {"elicitation": {}}, "traceparent": client.traceparent}
    first = _call(tasks[0].url, "ask_name", {}, extra={"_meta": meta(**caps)})["result"]
    (key,) = first["inputRequests"]
    answer = {key: {"action": "accept", "content": {"name": "Ada"}}}
    retry = {"_meta": meta(**caps), "requestState": first["requestState"], "inputResponses": answer}
    second = _call(tasks[1].url, "ask_name", {}, extra=retry)
    assert second["result"]["content"][0]["text"] == "Hello, Ada!"
    passes = receiver.spans(lambda s: s.trace_id == client.trace_id, count=2)
    assert {s.service for s in passes} == {"task-a", "task-b"}
    assert {s.parent_span_id for s in passes} == {client.span_id}
    assert {s.name for s in passes} == {"tools/call ask_name"}


def test_duration_histogram_is_exported(tasks: Any, receiver: OtlpReceiver) -> None:
    """mcp.server.operation.duration arrives in seconds, with method, tool and error type."""
    _call(tasks[1].url, "echo", {"text": "m"})
    _call(tasks[1].url, "fail_politely", {})

    def ours(tool: str) -> Any:
        return lambda p: (
            p.metric == "mcp.server.operation.duration"
            and p.service == "task-b"
            and p.attributes.get("gen_ai.tool.name") == tool
        )

    (ok, *_) = receiver.points(ours("echo"))
    assert ok.unit == "s"
    assert ok.count >= 1
    assert ok.attributes["mcp.method.name"] == "tools/call"
    assert "error.type" not in ok.attributes
    (failed, *_) = receiver.points(ours("fail_politely"))
    assert failed.attributes["error.type"] == "tool_error"


def test_log_lines_carry_the_span_ids(tasks: Any, receiver: OtlpReceiver) -> None:
    """A log line written while a request is served names that request's trace and span."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]  # a list as the handler
    handler.addFilter(TraceIds())
    calls = logging.getLogger("mcpfleet.calls")
    level = calls.level
    calls.addHandler(handler)
    calls.setLevel(logging.INFO)
    try:
        client = Client()
        body = _call(tasks[0].url, "echo", {"text": "logged"}, traceparent=client.traceparent)
    finally:
        calls.removeHandler(handler)
        calls.setLevel(level)
    (span,) = _request_span(receiver, body)
    ids = {(r.__dict__.get("traceId"), r.__dict__.get("spanId")) for r in records}
    assert (client.trace_id, span.span_id) in ids


def test_session_on_another_task_stays_in_the_trace(
    receiver: OtlpReceiver,
    redis_url: str,
) -> None:
    """A 2025-era session opened on one task and used on another (fleet state in Redis):
    the call's span, on the second task, has the session id and the client's parent."""
    first = _task(receiver, "fleet-a", state_url=redis_url)
    second = _task(receiver, "fleet-b", state_url=redis_url)
    try:
        session_id, _ = initialize(first.url)
        client = Client()
        params = {
            "name": "echo",
            "arguments": {"text": "moved"},
            "_meta": {"traceparent": client.traceparent},
        }
        body = legacy_call(second.url, session_id, "tools/call", params).json()
    finally:
        first.stop()
        second.stop()
    assert body["result"]["content"][0]["text"] == "moved"
    (span,) = _request_span(receiver, body)
    assert span.service == "fleet-b"
    assert span.attributes["mcp.session.id"] == session_id
    assert (span.trace_id, span.parent_span_id) == (client.trace_id, client.span_id)


def test_a_stdio_server_traces_its_requests(receiver: OtlpReceiver) -> None:
    """``mcpfleet serve --stdio`` with an OTLP endpoint: a request's span is parented from
    _meta, marked as a pipe, ends with the error its response carries, and is sent before
    the process exits on the end of its input."""
    client = Client()
    peer = RawPeer(env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "stdio"})
    try:
        params = {"name": "review", "arguments": {}, "_meta": meta(traceparent=client.traceparent)}
        peer.request(5, "prompts/get", params)
        reply, _ = peer.until_reply(5)
        assert reply["error"]["code"] == -32602  # the prompt's argument is missing
        peer.close_stdin()
        assert peer.wait() == 0
    finally:
        peer.stop()
    (span,) = receiver.spans(lambda s: s.service == "stdio")
    assert span.name == "prompts/get review"
    assert (span.trace_id, span.parent_span_id) == (client.trace_id, client.span_id)
    assert span.attributes["network.transport"] == "pipe"
    assert span.attributes["gen_ai.prompt.name"] == "review"
    assert span.attributes["error.type"] == "-32602"
    (point, *_) = receiver.points(lambda p: p.service == "stdio")
    assert point.attributes["error.type"] == "-32602"

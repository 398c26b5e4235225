"""The image's Lambda entry point against a Runtime API server: the real runtime
interface client (BUFFERED) and our streaming runtime (RESPONSE_STREAM) serve MCP
requests from every HTTP event source, refuse at once what a Lambda cannot hold open,
and report what they cannot serve."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.aws_lambda.events import (
    LEGACY,
    http_api_event,
    initialize,
    last_message,
    legacy_call,
    listen,
    modern_call,
    rest_event,
    url_event,
)
from tests.aws_lambda.function import lambda_function
from tests.aws_lambda.runtime_api import WAIT_SECONDS, Invocation
from tests.conftest import STATE_KEYS
from tests.redis_support import RedisServer

MODES = ["BUFFERED", "RESPONSE_STREAM"]
Answer = tuple[int, dict[str, Any], bytes]


def answer(invocation: Invocation) -> Answer:
    """Status, headers and body of the HTTP response the function gave."""
    head, body = invocation.wait().http()
    return head["statusCode"], head.get("headers", {}), body


def message(invocation: Invocation) -> dict[str, Any]:
    _, headers, body = answer(invocation)
    return last_message(body, headers.get("content-type", ""))


@pytest.mark.parametrize("mode", MODES)
def test_modern_tool_call_end_to_end(mode: str) -> None:
    """A 2026-07-28 tools/call through a Function URL event gets the tool's result."""
    with lambda_function(mode) as (api, _):
        call = api.invoke(url_event("POST", "/mcp", *modern_call("echo", {"text": "hi"})))
        status, headers, _ = answer(call)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert message(call)["result"]["content"] == [{"type": "text", "text": "hi"}]
        assert call.streamed is (mode == "RESPONSE_STREAM")


def test_progress_arrives_before_the_tool_finishes(tmp_path: Path) -> None:
    """In RESPONSE_STREAM mode the first progress event reaches the client while the tool
    still waits, and the result follows on the same stream."""
    gate = tmp_path / "gate"
    with lambda_function("RESPONSE_STREAM") as (api, _):
        body, headers = modern_call("wait_for_gate", {"gate": str(gate)}, progress=True)
        call = api.invoke(url_event("POST", "/mcp", body, headers))
        seen = call.read_until(b"waiting for the gate")
        assert not call.done.is_set()
        assert b'"result"' not in seen
        head = json.loads(seen.partition(b"\x00" * 8)[0])
        assert head["statusCode"] == 200
        assert head["headers"]["content-type"] == "text/event-stream"
        gate.touch()
        assert message(call)["result"]["content"][0]["text"] == "through"
        assert call.headers["content-type"] == (
            "application/vnd.awslambda.http-integration-response"
        )
        assert call.headers["transfer-encoding"] == "chunked"
        assert call.trailers == {}


def refused(kind: str) -> dict[str, Any]:
    if kind == "listen":
        return url_event("POST", "/mcp", *listen())
    if kind == "get-stream":
        return url_event("GET", "/mcp", None, {"mcp-protocol-version": LEGACY})
    return url_event("POST", "/mcp", initialize())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kind", "status", "code", "reason"),
    [
        ("listen", 404, -32601, "subscriptions/listen needs a stream held open"),
        ("get-stream", 405, -32600, "cannot hold a GET stream open"),
        ("legacy-without-redis", 400, -32600, "2025-era session needs the fleet state in Redis"),
    ],
)
def test_refusals_are_answered_at_once(
    mode: str, kind: str, status: int, code: int, reason: str
) -> None:
    """What a Lambda cannot serve is answered with its status, JSON-RPC error and reason,
    and the invocation ends with the answer."""
    with lambda_function(mode) as (api, _):
        call = api.invoke(refused(kind))
        got_status, headers, _ = answer(call)
        error = message(call)["error"]
        assert (got_status, error["code"]) == (status, code)
        assert reason in error["message"]
        if kind == "get-stream":
            assert headers["allow"] == "POST"


def staged_http_api(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return http_api_event("POST", "/mcp", body, headers, stage="prod")


def staged_rest(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return rest_event("POST", "/mcp", body, headers, stage="prod")


def function_url(body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return url_event("POST", "/mcp", body, headers)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("make", "streams"),
    [(function_url, True), (staged_http_api, False), (staged_rest, True)],
    ids=["function-url", "http-api-stage", "rest-api-stage"],
)
def test_each_event_source_passes(
    mode: str, make: Callable[[dict[str, Any], dict[str, str]], dict[str, Any]], streams: bool
) -> None:
    """Function URL, HTTP API on stage prod (/prod/mcp) and REST API events each reach the
    endpoint and get their source's response shape (an HTTP API's never streamed)."""
    with lambda_function(mode) as (api, _):
        call = api.invoke(make(*modern_call("echo", {"text": "source"})))
        head, body = call.wait().http()
        assert head["statusCode"] == 200, (head, body)
        assert last_message(body, "application/json")["result"]["content"][0]["text"] == "source"
        assert call.streamed is (streams and mode == "RESPONSE_STREAM")
        if make is staged_rest:
            assert "cookies" not in head


@pytest.mark.parametrize("mode", MODES)
def test_legacy_session_is_served_with_redis(mode: str) -> None:
    """With REDIS_URL, a 2025-era session opens, takes a tools/call, and its GET stream is
    refused with 405 naming POST and DELETE."""
    redis = RedisServer().start()
    try:
        extra = {"REDIS_URL": redis.url, "REQUEST_STATE_KEYS": STATE_KEYS}
        with lambda_function(mode, extra) as (api, _):
            opened = api.invoke(url_event("POST", "/mcp", initialize()))
            status, headers, _ = answer(opened)
            assert status == 200
            session = headers["mcp-session-id"]
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            session_headers = {"mcp-session-id": session, "mcp-protocol-version": LEGACY}
            assert answer(api.invoke(url_event("POST", "/mcp", note, session_headers)))[0] == 202
            called = api.invoke(url_event("POST", "/mcp", *legacy_call(session)))
            assert message(called)["result"]["content"][0]["text"] == "hi"
            got = api.invoke(url_event("GET", "/mcp", None, session_headers))
            assert answer(got)[0] == 405
            assert answer(got)[1]["allow"] == "POST, DELETE"
    finally:
        redis.cleanup()


def test_legacy_post_stream_arrives_as_produced(tmp_path: Path) -> None:
    """In RESPONSE_STREAM mode a 2025-era tools/call's progress reaches the client on its
    POST stream while the tool still waits."""
    gate = tmp_path / "gate"
    redis = RedisServer().start()
    try:
        extra = {"REDIS_URL": redis.url, "REQUEST_STATE_KEYS": STATE_KEYS}
        with lambda_function("RESPONSE_STREAM", extra) as (api, _):
            session = answer(api.invoke(url_event("POST", "/mcp", initialize())))[1][
                "mcp-session-id"
            ]
            session_headers = {"mcp-session-id": session, "mcp-protocol-version": LEGACY}
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            assert answer(api.invoke(url_event("POST", "/mcp", note, session_headers)))[0] == 202
            body = {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "tools/call",
                "params": {
                    "name": "wait_for_gate",
                    "arguments": {"gate": str(gate)},
                    "_meta": {"progressToken": "p4"},
                },
            }
            call = api.invoke(url_event("POST", "/mcp", body, session_headers))
            seen = call.read_until(b"waiting for the gate")
            assert not call.done.is_set()
            assert b'"result"' not in seen
            gate.touch()
            assert message(call)["result"]["content"][0]["text"] == "through"
    finally:
        redis.cleanup()


@pytest.mark.parametrize("mode", MODES)
def test_an_event_that_is_no_http_request_fails_its_invocation(mode: str) -> None:
    """An S3 notification event fails its invocation through /error, and the function
    serves the next event."""
    with lambda_function(mode) as (api, _):
        failed = api.invoke({"Records": [{"eventSource": "aws:s3"}]}).wait()
        assert failed.error is not None
        assert "UnsupportedEvent" in failed.error["errorType"]
        assert "not an HTTP request" in failed.error["errorMessage"]
        following = api.invoke(url_event("POST", "/mcp", *modern_call("echo", {"text": "on"})))
        assert message(following)["result"]["content"][0]["text"] == "on"


@pytest.mark.parametrize("mode", MODES)
def test_an_app_that_cannot_load_fails_the_init(mode: str) -> None:
    """An MCPFLEET_APP naming nothing is reported to /runtime/init/error, and the process
    exits."""
    nowhere = {"MCPFLEET_APP": "tests.nowhere:app"}
    with lambda_function(mode, nowhere) as (api, process):
        error_type, document = api.wait_init_error()
        assert error_type == "Runtime.ConfigError"
        assert "tests.nowhere" in document["errorMessage"]
        assert process.wait(WAIT_SECONDS) == 1


def test_an_unknown_invoke_mode_fails_the_init() -> None:
    """A LAMBDA_INVOKE_MODE that is neither mode is reported to /runtime/init/error."""
    with lambda_function("STREAMING") as (api, process):
        error_type, document = api.wait_init_error()
        assert error_type == "Runtime.ConfigError"
        assert "LAMBDA_INVOKE_MODE" in document["errorMessage"]
        assert process.wait(WAIT_SECONDS) == 1


def test_a_stream_cut_by_the_deadline_ends_with_error_trailers(tmp_path: Path) -> None:
    """A streamed call still running near the invocation's deadline is cancelled, and its
    stream ends with the Lambda-Runtime-Function-Error-* trailers."""
    gate = tmp_path / "never"
    with lambda_function("RESPONSE_STREAM") as (api, _):
        body, headers = modern_call("wait_for_gate", {"gate": str(gate)}, progress=True)
        call = api.invoke(url_event("POST", "/mcp", body, headers), deadline_seconds=2.5)
        call.wait()
        assert call.trailers["lambda-runtime-function-error-type"] == "Function.ResponseIncomplete"
        document = json.loads(base64.b64decode(call.trailers["lambda-runtime-function-error-body"]))
        assert "time ran out" in document["errorMessage"]
        assert b'"result"' not in call.body()


def test_entry_point_outside_lambda_says_so() -> None:
    """Without AWS_LAMBDA_RUNTIME_API the entry point stops with the reason."""
    done = subprocess.run(
        [sys.executable, "-m", "mcpfleet.aws_lambda"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 2
    assert b"AWS_LAMBDA_RUNTIME_API" in done.stderr

"""The Lambda adapter serves each event source's events through the real ASGI app
(BUFFERED: the whole response as the function's result)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcpfleet.aws_lambda import adapter as adapter_module
from mcpfleet.aws_lambda.adapter import Adapter
from mcpfleet.config import Config
from mcpfleet.secrets import secret_variables
from tests.aws_lambda import app as test_app
from tests.aws_lambda.events import (
    LEGACY,
    MODERN,
    http_api_event,
    initialize,
    last_message,
    legacy_call,
    listen,
    modern_call,
    rest_event,
    url_event,
)
from tests.deploy import apps
from tests.redis_support import RedisServer


def call_echo() -> dict[str, Any]:
    body, headers = modern_call("echo", {"text": "hi"})
    return url_event("POST", "/mcp", body, headers)


def result_of(response: dict[str, Any]) -> dict[str, Any]:
    return last_message(response["body"], response["headers"].get("content-type", ""))


@pytest.fixture
def stateless() -> Iterator[Adapter]:
    adapter = Adapter(apps.bare, Config(host="0.0.0.0"))
    yield adapter
    adapter.close()


def test_modern_tool_call_is_served(stateless: Adapter) -> None:
    """A 2026-07-28 tools/call event gets the tool's result in a buffered response."""
    response = stateless(call_echo())
    assert response["statusCode"] == 200
    assert result_of(response)["result"]["content"] == [{"type": "text", "text": "hi"}]
    assert response["isBase64Encoded"] is False
    assert "content-length" not in response["headers"]


def test_base64_body_is_decoded(stateless: Adapter) -> None:
    """A body the Function URL delivers base64-encoded is decoded before the app reads it."""
    event = call_echo()
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert result_of(stateless(event))["result"]["content"][0]["text"] == "hi"


def test_health_paths_answer(stateless: Adapter) -> None:
    """Liveness and readiness answer 200 through the adapter."""
    assert stateless(url_event("GET", "/healthz"))["statusCode"] == 200
    assert stateless(url_event("GET", "/readyz"))["statusCode"] == 200


def test_http_api_event_on_a_named_stage_reaches_the_endpoint(stateless: Adapter) -> None:
    """An HTTP API event for /prod/mcp on stage prod is served at /mcp, in the 2.0 shape."""
    body, headers = modern_call("echo", {"text": "staged"})
    response = stateless(http_api_event("POST", "/mcp", body, headers, stage="prod"))
    assert response["statusCode"] == 200, response
    assert result_of(response)["result"]["content"][0]["text"] == "staged"


def test_rest_event_is_served_in_the_rest_shape(stateless: Adapter) -> None:
    """A REST API (payload 1.0) event is served, and answered without a cookies field."""
    body, headers = modern_call("echo", {"text": "rest"})
    response = stateless(rest_event("POST", "/mcp", body, headers))
    assert response["statusCode"] == 200, response
    assert "cookies" not in response
    assert response["headers"]["content-type"] == "application/json"
    assert last_message(response["body"], "application/json")["result"]["content"][0] == {
        "type": "text",
        "text": "rest",
    }


def test_legacy_session_refused_without_redis(stateless: Adapter) -> None:
    """Without Redis state, a 2025-era initialize is refused with the reason, not half-served."""
    response = stateless(url_event("POST", "/mcp", initialize()))
    assert response["statusCode"] == 400
    assert "2025-era session needs the fleet state in Redis" in response["body"]
    assert result_of(response)["id"] == 1


def test_listen_and_get_stream_are_refused(stateless: Adapter) -> None:
    """subscriptions/listen gets 404 with -32601 and a GET stream 405, each with the reason."""
    body, headers = listen()
    listened = stateless(url_event("POST", "/mcp", body, headers))
    assert listened["statusCode"] == 404
    assert result_of(listened)["error"]["code"] == -32601
    assert result_of(listened)["id"] == 7
    got = stateless(url_event("GET", "/mcp", None, {"mcp-protocol-version": LEGACY}))
    assert got["statusCode"] == 405
    assert got["headers"]["allow"] == "POST"
    assert "cannot hold a GET stream open" in result_of(got)["error"]["message"]


def test_discovery_promises_no_notification_a_lambda_cannot_deliver(stateless: Adapter) -> None:
    """server/discover on Lambda says no list-changed notifications and no resource
    subscriptions, since the streams that would carry them are refused."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 3, "method": "server/discover", "params": {"_meta": meta}}
    headers = {"mcp-protocol-version": MODERN, "mcp-method": "server/discover"}
    response = stateless(url_event("POST", "/mcp", body, headers))
    capabilities = result_of(response)["result"]["capabilities"]
    assert capabilities["tools"] == {"listChanged": False}
    for kind in ("resources", "prompts"):
        assert capabilities.get(kind, {}).get("listChanged", False) is False
    assert capabilities.get("resources", {}).get("subscribe", False) is False


def test_legacy_session_spans_instances_with_redis() -> None:
    """With Redis, a session opened on one instance is served by another."""
    redis = RedisServer().start()
    first = Adapter(apps.bare, Config(host="0.0.0.0", state_url=redis.url))
    second = Adapter(apps.bare, Config(host="0.0.0.0", state_url=redis.url))
    try:
        opened = first(url_event("POST", "/mcp", initialize()))
        assert opened["statusCode"] == 200, opened
        session = opened["headers"]["mcp-session-id"]
        first(
            url_event(
                "POST",
                "/mcp",
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"mcp-session-id": session, "mcp-protocol-version": LEGACY},
            )
        )
        body, headers = legacy_call(session)
        answer = second(url_event("POST", "/mcp", body, headers))
        assert result_of(answer)["result"]["content"][0]["text"] == "hi"
        got = second(url_event("GET", "/mcp", None, headers))
        assert (got["statusCode"], got["headers"]["allow"]) == (405, "POST, DELETE")
    finally:
        first.close()
        second.close()
        redis.cleanup()


def test_an_instance_reuses_a_session_record_for_a_second_at_most() -> None:
    """Between invocations an instance hears no evictions, so whatever SESSION_CACHE_SECONDS
    says, it reuses a session record it read from Redis for a second at most."""
    redis = RedisServer().start()
    instance = Adapter(apps.bare, Config(host="0.0.0.0", state_url=redis.url))
    try:
        assert Config().session_cache_seconds > 1
        assert getattr(instance.app.state, "cache_seconds", None) == 1.0
    finally:
        instance.close()
        redis.cleanup()


def test_secret_arns_name_what_to_fill() -> None:
    """NAME_SECRET_ARN names a secret for NAME, unless NAME is already set."""
    env = {
        "DATABASE_URL_SECRET_ARN": "arn:db",
        "REQUEST_STATE_KEYS_SECRET_ARN": "arn:keys",
        "REQUEST_STATE_KEYS": "set",
        "PORT": "3000",
    }
    assert secret_variables(env) == {"DATABASE_URL": "arn:db"}


def test_handler_entry_point_loads_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler Lambda calls loads MCPFLEET_APP once and serves events with it."""
    import mcpfleet.aws_lambda

    monkeypatch.setenv("MCPFLEET_APP", "tests.aws_lambda.app:app")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(adapter_module, "_adapter", None)
    assert mcpfleet.aws_lambda.handler is adapter_module.handler
    try:
        answer = mcpfleet.aws_lambda.handler(call_echo(), None)
        assert result_of(answer)["result"]["content"][0]["text"] == "hi"
        first = adapter_module._adapter
        assert mcpfleet.aws_lambda.handler(url_event("GET", "/healthz"))["statusCode"] == 200
        assert adapter_module._adapter is first
    finally:
        if adapter_module._adapter is not None:
            adapter_module._adapter.close()


class LambdaContext:
    """The part of Lambda's context object the adapter reads: the time left."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_a_call_still_running_at_the_deadline_is_answered_504(tmp_path: Path) -> None:
    """A tool still waiting when the invocation's time is nearly out is cancelled, and the
    client gets 504 with the reason instead of a timed-out invocation."""
    adapter = Adapter(test_app.app, Config(host="0.0.0.0"))
    try:
        body, headers = modern_call("wait_for_gate", {"gate": str(tmp_path / "never")})
        event = url_event("POST", "/mcp", body, headers)
        response = adapter(event, LambdaContext(remaining_ms=1500))
        assert response["statusCode"] == 504
        assert "time ran out" in result_of(response)["error"]["message"]
    finally:
        adapter.close()

"""The Lambda handler adapter serves Function URL events through the real ASGI app."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mcpfleet.config import Config
from mcpfleet.deploy.lambda_adapter import Adapter, is_legacy, resolve_secrets
from tests.deploy import apps
from tests.redis_support import RedisServer

MODERN = "2026-07-28"


def url_event(
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A Function URL invocation event, payload format 2.0, as Lambda delivers it."""
    text = "" if payload is None else json.dumps(payload)
    body = base64.b64encode(text.encode()).decode() if base64_body else text
    host = "abcdefghij.lambda-url.us-east-1.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "host": host,
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": host,
            "domainPrefix": "abcdefghij",
            "requestId": "c4a1f6c0-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "29/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795957200000,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "mcp-client/1.0",
            },
        },
        "body": body or None,
        "isBase64Encoded": base64_body,
    }


def call_echo(version: str = MODERN, session: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": "echo", "arguments": {"text": "hi"}}
    headers = {"mcp-protocol-version": version}
    if version == MODERN:
        params["_meta"] = {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers |= {"mcp-method": "tools/call", "mcp-name": "echo"}
    if session:
        headers["mcp-session-id"] = session
    return url_event(
        "POST",
        "/mcp",
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params},
        headers,
    )


def result_of(response: dict[str, Any]) -> dict[str, Any]:
    text = response["body"]
    if response["headers"].get("content-type", "").startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    message: dict[str, Any] = json.loads(text)
    return message


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


def test_legacy_session_refused_without_redis(stateless: Adapter) -> None:
    """Without Redis state, a 2025-era initialize is refused with the reason, not half-served."""
    init = url_event(
        "POST",
        "/mcp",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    response = stateless(init)
    assert response["statusCode"] == 400
    assert "2025-era session needs the fleet state in Redis" in response["body"]
    assert is_legacy(url_event("GET", "/mcp"), "/mcp")
    assert not is_legacy(call_echo(), "/mcp")


def test_legacy_session_spans_instances_with_redis() -> None:
    """With Redis, a session opened on one instance is served by another."""
    redis = RedisServer().start()
    first = Adapter(apps.bare, Config(host="0.0.0.0", state_url=redis.url))
    second = Adapter(apps.bare, Config(host="0.0.0.0", state_url=redis.url))
    try:
        opened = first(
            url_event(
                "POST",
                "/mcp",
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                },
            )
        )
        assert opened["statusCode"] == 200, opened
        session = opened["headers"]["mcp-session-id"]
        first(
            url_event(
                "POST",
                "/mcp",
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"},
            )
        )
        answer = second(call_echo("2025-11-25", session))
        assert result_of(answer)["result"]["content"][0]["text"] == "hi"
    finally:
        first.close()
        second.close()
        redis.stop()


def test_secret_arns_are_resolved_once() -> None:
    """NAME_SECRET_ARN fills NAME from Secrets Manager, unless NAME is already set."""
    env = {
        "DATABASE_URL_SECRET_ARN": "arn:db",
        "REQUEST_STATE_KEYS_SECRET_ARN": "arn:keys",
        "REQUEST_STATE_KEYS": "set",
        "PORT": "3000",
    }
    asked: list[str] = []

    def fetch(arn: str) -> str:
        asked.append(arn)
        return f"value of {arn}"

    resolve_secrets(env, fetch)
    assert env["DATABASE_URL"] == "value of arn:db"
    assert env["REQUEST_STATE_KEYS"] == "set"
    assert asked == ["arn:db"]


def test_handler_entry_point_loads_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler Lambda calls loads MCPFLEET_APP once and serves events with it."""
    from mcpfleet.deploy import lambda_adapter

    monkeypatch.setenv("MCPFLEET_APP", "tests.deploy.apps:bare")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(lambda_adapter, "_adapter", None)
    try:
        assert (
            result_of(lambda_adapter.handler(call_echo(), None))["result"]["content"][0]["text"]
            == "hi"
        )
        first = lambda_adapter._adapter
        assert lambda_adapter.handler(url_event("GET", "/healthz"))["statusCode"] == 200
        assert lambda_adapter._adapter is first
    finally:
        if lambda_adapter._adapter is not None:
            lambda_adapter._adapter.close()

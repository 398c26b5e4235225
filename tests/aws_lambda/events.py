"""Lambda invocation events as each HTTP source delivers them, and MCP requests in them."""

from __future__ import annotations

import json
from typing import Any

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
URL_HOST = "abcdefghij.lambda-url.us-east-1.on.aws"
API_HOST = "k1l2m3n4o5.execute-api.us-east-1.amazonaws.com"
ACCEPT = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def url_event(
    method: str, path: str, payload: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Function URL invocation event (payload 2.0)."""
    return _v2_event(method, path, payload, headers, URL_HOST, "$default")


def http_api_event(
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    *,
    stage: str = "prod",
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload 2.0) on a named stage: the raw path starts
    with the stage."""
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    return _v2_event(method, raw_path, payload, headers, API_HOST, stage)


def _v2_event(
    method: str,
    raw_path: str,
    payload: Any,
    headers: dict[str, str] | None,
    host: str,
    stage: str,
) -> dict[str, Any]:
    text = "" if payload is None else json.dumps(payload)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": {
            "host": host,
            "x-forwarded-proto": "https",
            "x-forwarded-port": "443",
            **ACCEPT,
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": host.split(".")[0],
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "requestId": "c4a1f6c0-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": stage,
            "time": "29/Nov/2026:13:00:00 +0000",
            "timeEpoch": 1795957200000,
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "mcp-client/1.0",
            },
        },
        "body": text or None,
        "isBase64Encoded": False,
    }


def rest_event(
    method: str,
    path: str,
    payload: Any = None,
    headers: dict[str, str] | None = None,
    *,
    stage: str = "prod",
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload 1.0); the path carries no stage, the
    request context's path does."""
    every = {"host": API_HOST, **ACCEPT, **(headers or {})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": every,
        "multiValueHeaders": {name: [value] for name, value in every.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_HOST.split(".")[0],
            "domainName": API_HOST,
            "httpMethod": method,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "mcp-client/1.0"},
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": "c4a1f6c0-0000-4000-8000-000000000001",
            "resourcePath": "/{proxy+}",
            "stage": stage,
        },
        "body": None if payload is None else json.dumps(payload),
        "isBase64Encoded": False,
    }


def modern_call(
    name: str, arguments: dict[str, Any], *, progress: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 tools/call body and its headers."""
    meta: dict[str, Any] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    if progress:
        meta["progressToken"] = "p1"
    body = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": meta},
    }
    headers = {"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": name}
    return body, headers


def listen() -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 subscriptions/listen body and its headers."""
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "subscriptions/listen",
        "params": {
            "notifications": {"toolsListChanged": True},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    return body, {"mcp-protocol-version": MODERN, "mcp-method": "subscriptions/listen"}


def initialize(request_id: int = 1) -> dict[str, Any]:
    """A 2025-era initialize body."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }


def legacy_call(session: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2025-era tools/call of echo in ``session``."""
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}},
    }
    return body, {"mcp-protocol-version": LEGACY, "mcp-session-id": session}


def last_message(body: bytes | str, content_type: str) -> dict[str, Any]:
    """The JSON-RPC message a response ends with (the last SSE event, or the JSON body)."""
    text = body.decode() if isinstance(body, bytes) else body
    if content_type.startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    message: dict[str, Any] = json.loads(text)
    return message

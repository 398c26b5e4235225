"""Building 2026-07-28 requests by hand, for tests that need exact control of the wire."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson

VERSION = "2026-07-28"
_ids = itertools.count(1)

NAME_KEY = {
    "tools/call": "name", "prompts/get": "name", "resources/read": "uri",
    "tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId",
}


def meta(**extra: Any) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": VERSION,
        "io.modelcontextprotocol/clientCapabilities": extra.pop("capabilities", {}),
        **extra,
    }


def request(method: str, params: dict[str, Any] | None = None, *,
            request_id: Any = None) -> dict[str, Any]:
    params = dict(params or {})
    params.setdefault("_meta", meta())
    return {"jsonrpc": "2.0", "id": next(_ids) if request_id is None else request_id,
            "method": method, "params": params}


def headers_for(message: dict[str, Any], **overrides: str | None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": message.get("method", ""),
    }
    key = NAME_KEY.get(message.get("method", ""))
    if key is not None:
        headers["mcp-name"] = str(message["params"].get(key, ""))
    for name, value in overrides.items():
        name = name.replace("_", "-").lower()
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def post(url: str, message: Any, *, content: bytes | None = None,
         **header_overrides: str | None) -> httpx.Response:
    """POST one message (or raw bytes) with correct headers unless overridden."""
    body = content if content is not None else orjson.dumps(message)
    headers = headers_for(message if isinstance(message, dict) else {}, **header_overrides)
    return httpx.post(url, content=body, headers=headers, timeout=10.0)


def call(url: str, method: str, params: dict[str, Any] | None = None,
         **header_overrides: str | None) -> httpx.Response:
    return post(url, request(method, params), **header_overrides)


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON messages of an SSE body."""
    return [orjson.loads(line[5:]) for line in text.splitlines() if line.startswith("data:")
            and line[5:].strip()]


# -- the 2025 era ---------------------------------------------------------------

LEGACY = "2025-11-25"


def legacy_headers(session_id: str | None = None, version: str | None = LEGACY,
                   **extra: str) -> dict[str, str]:
    headers = {"content-type": "application/json",
               "accept": "application/json, text/event-stream"}
    if version is not None:
        headers["mcp-protocol-version"] = version
    if session_id is not None:
        headers["mcp-session-id"] = session_id
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return headers


def initialize_message(version: str = LEGACY, capabilities: dict[str, Any] | None = None,
                       request_id: Any = 0) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": capabilities or {},
                       "clientInfo": {"name": "tests", "version": "1"}}}


def open_session(url: str, **headers: str) -> str:
    """``initialize`` with extra headers (credentials, say); the new session's id."""
    response = httpx.post(url, content=orjson.dumps(initialize_message()), timeout=10,
                          headers=legacy_headers(version=None, **headers))
    assert response.status_code == 200, response.text
    session_id: str = response.headers["mcp-session-id"]
    return session_id


def initialize(url: str, version: str = LEGACY, capabilities: dict[str, Any] | None = None,
               ) -> tuple[str, dict[str, Any]]:
    """Open a session; returns its id and the initialize result."""
    response = httpx.post(url, content=orjson.dumps(initialize_message(version, capabilities)),
                          timeout=10, headers=legacy_headers(version=None))
    response.raise_for_status()
    session_id = response.headers["mcp-session-id"]
    result: dict[str, Any] = response.json()["result"]
    notify = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    httpx.post(url, content=orjson.dumps(notify), timeout=10,
               headers=legacy_headers(session_id, result["protocolVersion"])).raise_for_status()
    return session_id, result


def legacy_post(url: str, session_id: str | None, message: Any, version: str | None = LEGACY,
                **extra: str) -> httpx.Response:
    return httpx.post(url, content=orjson.dumps(message), timeout=10,
                      headers=legacy_headers(session_id, version, **extra))


def legacy_call(url: str, session_id: str, method: str, params: dict[str, Any] | None = None,
                request_id: Any = None) -> httpx.Response:
    message = {"jsonrpc": "2.0", "id": next(_ids) if request_id is None else request_id,
               "method": method, "params": params or {}}
    return legacy_post(url, session_id, message)

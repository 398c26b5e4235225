"""Broken, hostile and half-conformant servers, as small raw ASGI apps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from mcpfleet.config import Config
from mcpfleet.protocol.headers import encode_header_value
from mcpfleet.server.app import Server
from mcpfleet.transport.asgi import McpApp

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def respond(
    send: Any,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type.encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def fixed(status: int, body: bytes, content_type: str) -> App:
    """Every request gets the same response."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await respond(send, status, body, content_type)

    return app


HTML_200 = fixed(200, b"<!doctype html><html><body>Welcome to our site</body></html>", "text/html")
ERROR_500 = fixed(500, b"Internal Server Error", "text/plain")
HUGE_JSON = fixed(
    200,
    b'{"jsonrpc":"2.0","id":1,"result":"' + b"x" * (5 * 1024 * 1024) + b'"}',
    "application/json",
)
BAD_UTF8_SSE = fixed(
    200, b'data: {"jsonrpc":"2.0","id":1,"result":{"x":"\xff"}}\n\n', "text/event-stream"
)
LONG_SSE_LINE = fixed(200, b"data: " + b"y" * (2 * 1024 * 1024), "text/event-stream")
BAD_UTF8 = fixed(200, b'{"jsonrpc":"2.0","id":1,"result":{"x":"\xff\xfe"}}', "application/json")


async def redirect_loop(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every request is sent back to where it came from."""
    await respond(send, 307, b"", "text/plain", [(b"location", scope["path"].encode())])


async def endless_sse(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An SSE stream of keep-alive comments that never carries a response (bounded: 10 s)."""
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/event-stream")],
    }
    await send(start)
    for _ in range(200):
        await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
        await asyncio.sleep(0.05)
    await send({"type": "http.response.body", "body": b""})


def mcp_app(server: Server) -> McpApp:
    return McpApp(server, Config.from_env({}))


def legacy_400(inner: App) -> App:
    """A 2025-era-only server that answers an unknown session with 400 instead of 404."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if headers.get(b"mcp-protocol-version") == b"2026-07-28":
            body = b'{"error":"Bad Request: missing session id"}'
            await respond(send, 400, body, "application/json")
            return

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 404:
                message = {**message, "status": 400}
            await send(message)

        await inner(scope, receive, rewrite)

    return app


def no_name_validation(inner: App) -> App:
    """A modern server that never notices an ``Mcp-Name`` disagreeing with the body."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await inner(scope, receive, send)
            return
        chunks = []
        for _ in range(1000):
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = list(scope["headers"])
        try:
            decoded = json.loads(body)
            name = decoded["params"]["name"] if decoded["method"] == "tools/call" else None
        except (ValueError, KeyError, TypeError):
            name = None
        if isinstance(name, str):  # overwrite the header with what the body says
            headers = [(k, v) for k, v in headers if k != b"mcp-name"]
            headers.append((b"mcp-name", encode_header_value(name).encode()))
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return dict(await receive())

        await inner({**scope, "headers": headers}, replay, send)

    return app


TOKEN = "probe-secret"


def protected(inner: App, *, complete: bool = True) -> App:
    """Bearer auth in front of ``inner``, with RFC 9728 and RFC 8414 metadata documents.

    ``complete=False`` leaves out the token endpoint and PKCE methods.
    """

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        host, port = scope["server"]
        base = f"http://{host}:{port}"
        path = scope["path"]
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        if path == "/.well-known/oauth-protected-resource/mcp":
            document = {"resource": f"{base}/mcp", "authorization_servers": [f"{base}/auth"]}
            await respond(send, 200, json.dumps(document).encode(), "application/json")
        elif path == "/.well-known/oauth-authorization-server/auth":
            await respond(
                send, 200, json.dumps(as_metadata(base, complete)).encode(), "application/json"
            )
        elif dict(scope["headers"]).get(b"authorization") == f"Bearer {TOKEN}".encode():
            await inner(scope, receive, send)
        else:
            challenge = f'Bearer resource_metadata="{metadata}"'
            await respond(
                send,
                401,
                b'{"error":"invalid_token"}',
                "application/json",
                [(b"www-authenticate", challenge.encode())],
            )

    return app


def as_metadata(base: str, complete: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "issuer": f"{base}/auth",
        "authorization_endpoint": f"{base}/auth/authorize",
        "response_types_supported": ["code"],
    }
    if complete:
        document["token_endpoint"] = f"{base}/auth/token"
        document["code_challenge_methods_supported"] = ["S256"]
    return document

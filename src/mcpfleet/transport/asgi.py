"""The ASGI application: one MCP endpoint for every protocol generation.

A POST goes: HTTP checks (Origin, Host, content types, size) → JSON-RPC decode
→ era → the era's validation and dispatch → a JSON or SSE response. Every
decision is made by ``mcpfleet.protocol``; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mcpfleet.config import Config
from mcpfleet.errors import (
    HttpRejection,
    InternalError,
    InvalidRequest,
    ProtocolError,
)
from mcpfleet.protocol.headers import check_param_headers
from mcpfleet.protocol.jsonrpc import (
    MessageError,
    Notification,
    Request,
    decode_message,
    result_message,
)
from mcpfleet.protocol.modern import unsupported_version, validate_modern_request
from mcpfleet.protocol.versions import Era, request_era
from mcpfleet.server.app import Server
from mcpfleet.server.modern import ModernDispatcher
from mcpfleet.transport.http import (
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    accepts_json_and_sse,
    header_map,
    read_body,
    send_empty,
    send_error,
    send_json,
)
from mcpfleet.transport.listen import ListenStreams
from mcpfleet.transport.streams import ResponseStream, cancel_on_disconnect

log = logging.getLogger("mcpfleet.transport")

ALLOW_POST = [(b"allow", b"POST")]


class McpApp:
    """ASGI app serving ``server`` at ``config.path``, plus ``/healthz``."""

    def __init__(self, server: Server, config: Config | None = None) -> None:
        self.server = server
        self.config = config or Config()
        self.modern = ModernDispatcher(
            server,
            self.config.request_state_keys,
            state_ttl_seconds=self.config.request_state_ttl_seconds,
        )
        self.listen = ListenStreams(server, self.modern, self.config.keepalive_seconds)
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path == self.config.path or path == self.config.path + "/":
                await self.endpoint(scope, receive, send)
            elif path == "/healthz":
                await send_json(send, 200, {"status": "ok"})
            else:
                await send_json(send, 404, {"error": "not found"})
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.draining = True
                await self.listen.close_all()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        try:
            self.check_caller(headers)
            method = scope["method"]
            if method == "POST":
                await self.post(headers, receive, send)
            elif method in ("GET", "DELETE"):
                raise HttpRejection(405, "Method not allowed", headers={"allow": "POST"})
            else:
                raise HttpRejection(405, "Method not allowed", headers={"allow": "POST"})
        except ProtocolError as error:
            request_id = error.request_id if isinstance(error, MessageError) else None
            await send_error(send, error, request_id)
        except ClientDisconnected:
            log.info("client disconnected before the request body arrived")

    def check_caller(self, headers: dict[str, str]) -> None:
        """The DNS rebinding guard: a present Origin and the Host must be allowed."""
        origin = headers.get("origin")
        if origin is not None and not self.config.origin_allowed(origin):
            raise HttpRejection(403, "Forbidden: Origin not allowed")
        if not self.config.host_allowed(headers.get("host")):
            raise HttpRejection(403, "Forbidden: Host not allowed")

    async def post(self, headers: dict[str, str], receive: Receive, send: Send) -> None:
        content_type = headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise HttpRejection(
                415, "Unsupported Media Type: Content-Type must be application/json"
            )
        if not accepts_json_and_sse(headers.get("accept")):
            raise HttpRejection(
                406, "Not Acceptable: Accept must list application/json and text/event-stream"
            )
        body = await read_body(receive, self.config.max_body_bytes, headers.get("content-length"))
        message = decode_message(body)
        method = None if not isinstance(message, Request | Notification) else message.method
        era, version = request_era(headers, method)
        if era is Era.UNSUPPORTED:
            raise _with_id(unsupported_version(version), message)
        if era is Era.LEGACY:
            raise _with_id(unsupported_version(version), message)
        if not isinstance(message, Request):
            if isinstance(message, Notification):
                await send_empty(send, 202)
                return
            raise InvalidRequest("Invalid request: this protocol version has no client replies")
        await self.modern_request(headers, version, message, receive, send)

    async def modern_request(
        self,
        headers: dict[str, str],
        version: str | None,
        request: Request,
        receive: Receive,
        send: Send,
    ) -> None:
        stream = ResponseStream(send, request.id)
        try:
            meta = validate_modern_request(headers, version, request.method, request.params)
            self.modern.check_method(request.method)
            if request.method == "tools/call":
                self.check_param_headers(headers, request.params)
            if request.method == "subscriptions/listen":
                await self.listen.serve(request, meta, stream, receive)
                return
            async with cancel_on_disconnect(receive) as gone:
                try:
                    result = await self.modern.dispatch(request, meta, stream.notify, None)
                except asyncio.CancelledError:
                    if not gone.is_set():
                        raise
                    log.info("request %r cancelled: the client closed its stream", request.id)
                    return
            await stream.finish(result_message(request.id, result))
        except ProtocolError as error:
            await stream.fail(error)
        except Exception:
            log.exception("request %r failed", request.id)
            await stream.fail(InternalError())

    def check_param_headers(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        declared = self.server.param_headers.get(params.get("name"))  # type: ignore[arg-type]
        if declared:
            check_param_headers(declared, headers, params.get("arguments"))


def _with_id(error: ProtocolError, message: Any) -> ProtocolError:
    request_id = getattr(message, "id", None)
    return MessageError(error, request_id)

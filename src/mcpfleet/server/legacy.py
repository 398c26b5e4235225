"""Dispatch of 2025-era requests (protocol 2025-03-26, 2025-06-18, 2025-11-25).

Sessions come from ``initialize`` and live in the fleet state. Questions to the
client travel as JSON-RPC requests on the response stream; the answer arrives
as the client's own POST, possibly on another task, and is handed over through
the fleet state. Handlers are the same as in the modern era.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import orjson

from mcpfleet.auth.principal import Principal, principal_id
from mcpfleet.errors import (
    InvalidParams,
    MethodNotFound,
    ProtocolError,
    ResourceNotFound,
    ToolError,
)
from mcpfleet.protocol.jsonrpc import Request, request_message
from mcpfleet.protocol.modern import LOG_LEVELS
from mcpfleet.protocol.versions import negotiate_legacy
from mcpfleet.server.app import Server
from mcpfleet.server.context import Context, LazyContext
from mcpfleet.server.operations import OPERATIONS
from mcpfleet.state.base import MAX_SUBSCRIPTIONS, FleetState, SessionRecord

INPUT_CAPABILITY = {
    "elicitation/create": "elicitation",
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
}


class ClientRequestFailed(ToolError):
    """The client could not answer a question: no capability, an error, or no reply."""


class OutboundStream(Protocol):
    """Where a legacy request's messages go: its POST's SSE stream, or the stream's log."""

    async def send(self, message: dict[str, Any]) -> None:
        """Send (and log) one message of the stream."""

    async def release(self, retry_ms: int) -> None:
        """Close the connection but not the stream; the client resumes with GET."""


class ResourceGone(ProtocolError):
    """resources/read of an unknown URI, as 2025-era versions report it."""

    code = -32002
    default_message = "Resource not found"


def new_session_id() -> str:
    """192 random bits, as URL-safe visible ASCII."""
    return secrets.token_urlsafe(24)


class SessionExchange:
    """The legacy ``Exchange``: messages go out on the request's stream, answers come back
    through the fleet state from whichever task the client's reply reached."""

    __slots__ = ("_stream", "record", "state", "timeout")

    def __init__(
        self, stream: OutboundStream, state: FleetState, record: SessionRecord, timeout: float
    ) -> None:
        self._stream = stream
        self.state = state
        self.record = record
        self.timeout = timeout

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self._stream.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def close_stream(self, retry_ms: int) -> None:
        await self._stream.release(retry_ms)

    async def ping(self) -> None:
        await self._ask_one({"method": "ping", "params": {}})

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        for request in requests.values():
            capability = INPUT_CAPABILITY.get(request["method"])
            if capability is None:
                raise ValueError(f"cannot ask the client for {request['method']}")
            if capability not in self.record.client_capabilities:
                raise ClientRequestFailed(f"The client does not support {capability}")
        answers = await asyncio.gather(*(self._ask_one(r) for r in requests.values()))
        return dict(zip(requests, answers, strict=True))

    async def _ask_one(self, request: dict[str, Any]) -> Any:
        request_id = "s-" + secrets.token_urlsafe(9)
        params = dict(request.get("params") or {})  # ping has none: an empty object is fine
        if request["method"] == "elicitation/create" and self.record.protocol_version < (
            "2025-11-25"
        ):
            params.pop("mode", None)
        await self.state.expect_reply(self.record.id, request_id)
        await self._stream.send(request_message(request_id, request["method"], params))
        raw = await self.state.wait_reply(self.record.id, request_id, self.timeout)
        if raw is None:
            raise ClientRequestFailed(f"No reply from the client to {request['method']}")
        reply = orjson.loads(raw)
        if reply.get("error") is not None:
            message = reply["error"].get("message", "error")
            raise ClientRequestFailed(f"The client answered {request['method']}: {message}")
        return reply.get("result")


class LegacyDispatcher:
    """Runs 2025-era requests of a session against the app."""

    def __init__(
        self,
        server: Server,
        state: FleetState,
        *,
        max_sessions: int = 10_000,
        max_sessions_per_principal: int | None = None,
        reply_timeout: float = 300.0,
        default_log_level: str | None = "info",
        max_subscriptions: int = MAX_SUBSCRIPTIONS,
    ) -> None:
        self.server = server
        self.state = state
        self.max_sessions = max_sessions
        self.max_sessions_per_principal = max_sessions_per_principal
        self.reply_timeout = reply_timeout
        self.default_log_level = default_log_level
        self.max_subscriptions = max_subscriptions

    async def initialize(
        self, request: Request, principal: Principal | None
    ) -> tuple[dict[str, Any], SessionRecord]:
        """Open a session: negotiate the version and remember the client."""
        params = request.params
        capabilities = params.get("capabilities")
        client_info = params.get("clientInfo")
        if not isinstance(capabilities, dict) or not isinstance(client_info, dict):
            raise InvalidParams("Invalid params: initialize needs capabilities and clientInfo")
        version = negotiate_legacy(params.get("protocolVersion"))
        record = SessionRecord(
            id=new_session_id(),
            protocol_version=version,
            client_capabilities=capabilities,
            client_info=client_info,
            principal=principal_id(principal),
            log_level=self.default_log_level,
        )
        await self.state.create_session(
            record,
            max_sessions=self.max_sessions,
            max_per_principal=self.max_sessions_per_principal,
        )
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": self.server.capabilities(),
            "serverInfo": self.server.server_info,
        }
        if self.server.instructions:
            result["instructions"] = self.server.instructions
        return result, record

    async def dispatch(
        self,
        request: Request,
        record: SessionRecord,
        stream: OutboundStream,
        principal: Principal | None = None,
    ) -> dict[str, Any]:
        method = request.method
        params = request.params
        simple = _SESSION_METHODS.get(method)
        if simple is not None:
            return await simple(self, record, params)
        operation = OPERATIONS.get(method)
        if operation is None:
            raise MethodNotFound(f"Method not found: {method}")
        raw_meta = params.get("_meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        ctx = LazyContext(partial(self._context, request, record, stream, meta, principal))
        try:
            return await operation(self.server, params, ctx)
        except ResourceNotFound as missing:
            raise ResourceGone(missing.message, data=missing.data) from None

    def _context(
        self,
        request: Request,
        record: SessionRecord,
        stream: OutboundStream,
        meta: dict[str, Any],
        principal: Principal | None,
    ) -> Context:
        token = meta.get("progressToken")
        return Context(
            server=self.server,
            exchange=SessionExchange(stream, self.state, record, self.reply_timeout),
            request_id=request.id,
            method=request.method,
            protocol_version=record.protocol_version,
            client_capabilities=record.client_capabilities,
            client_info=record.client_info,
            meta=meta,
            log_level=record.log_level,
            progress_token=token if isinstance(token, int | str) else None,
            principal=principal,
            state=self.state,
            session_id=record.id,
        )

    # -- methods that only touch the session ------------------------------------
    # Each changes one field in the state (never the record, which is this request's own
    # copy), so that changes made at once by requests on different tasks all survive.

    async def _ping(self, record: SessionRecord, params: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def _set_level(self, record: SessionRecord, params: dict[str, Any]) -> dict[str, Any]:
        level = params.get("level")
        if not isinstance(level, str) or level not in LOG_LEVELS:
            raise InvalidParams("Invalid params: unknown log level")
        await self.state.set_log_level(record.id, level)
        return {}

    async def _subscribe(self, record: SessionRecord, params: dict[str, Any]) -> dict[str, Any]:
        uri, limit = _uri(params), self.max_subscriptions
        if not await self.state.subscribe_resource(record.id, uri, max_subscriptions=limit):
            raise InvalidParams(
                f"Invalid params: a session may subscribe to at most {limit} resources; "
                "unsubscribe from one first"
            )
        return {}

    async def _unsubscribe(self, record: SessionRecord, params: dict[str, Any]) -> dict[str, Any]:
        await self.state.unsubscribe_resource(record.id, _uri(params))
        return {}


def _uri(params: dict[str, Any]) -> str:
    uri = params.get("uri")
    if not isinstance(uri, str) or not uri:
        raise InvalidParams("Invalid params: uri must be a non-empty string")
    return uri


_SESSION_METHODS: dict[
    str, Callable[[LegacyDispatcher, SessionRecord, dict[str, Any]], Awaitable[dict[str, Any]]]
] = {
    "ping": LegacyDispatcher._ping,
    "logging/setLevel": LegacyDispatcher._set_level,
    "resources/subscribe": LegacyDispatcher._subscribe,
    "resources/unsubscribe": LegacyDispatcher._unsubscribe,
}

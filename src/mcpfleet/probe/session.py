"""The prober as an MCP client: requests of either era, with the headers each needs."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from mcpfleet.probe.model import Clock, Options, Phase, Report, Status
from mcpfleet.probe.wire import Reply, exchange
from mcpfleet.protocol.headers import NAME_SOURCE, encode_header_value, param_headers
from mcpfleet.protocol.jsonrpc import notification_message, request_message
from mcpfleet.protocol.versions import (
    LATEST_LEGACY,
    LATEST_MODERN,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
)

ACCEPT = "application/json, text/event-stream"
CLIENT_INFO = {"name": "mcpfleet-probe", "version": "1"}


class Session:
    """One probe's conversation with one endpoint, within one deadline."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        options: Options,
        report: Report,
        deadline: float,
    ) -> None:
        self.client = client
        self.url = url
        self.options = options
        self.report = report
        self.deadline = deadline
        self.ids = itertools.count(1)
        self.session_id: str | None = None
        self.version: str = LATEST_LEGACY

    def _base(self) -> dict[str, str]:
        return {"content-type": "application/json", "accept": ACCEPT, **self.options.headers}

    async def send(self, method: str, headers: dict[str, str], payload: Any) -> Reply:
        return await exchange(
            self.client, method, self.url, headers, payload, self.deadline, self.options.max_bytes
        )

    async def modern(
        self, method: str, params: dict[str, Any], **header_overrides: str
    ) -> tuple[Any, Reply, float]:
        """A 2026-07-28 request: version in the header and ``_meta``, method and name mirrored."""
        params = {
            **params,
            "_meta": {
                META_PROTOCOL_VERSION: LATEST_MODERN,
                META_CLIENT_CAPABILITIES: {},
                META_CLIENT_INFO: CLIENT_INFO,
            },
        }
        request_id = next(self.ids)
        headers = {**self._base(), "mcp-protocol-version": LATEST_MODERN, "mcp-method": method}
        source = NAME_SOURCE.get(method)
        if source is not None:
            headers["mcp-name"] = encode_header_value(str(params.get(source, "")))
        headers.update(header_overrides)
        clock = Clock()
        reply = await self.send("POST", headers, request_message(request_id, method, params))
        return request_id, reply, clock.ms

    def legacy_headers(self, session_id: str | None = None) -> dict[str, str]:
        headers = {**self._base(), "mcp-protocol-version": self.version}
        sid = session_id or self.session_id
        if sid is not None:
            headers["mcp-session-id"] = sid
        return headers

    async def initialize(self) -> tuple[Any, Reply, float]:
        request_id = next(self.ids)
        params = {"protocolVersion": LATEST_LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
        clock = Clock()
        reply = await self.send(
            "POST", self._base(), request_message(request_id, "initialize", params)
        )
        return request_id, reply, clock.ms

    async def legacy(
        self, method: str, params: dict[str, Any], session_id: str | None = None
    ) -> tuple[Any, Reply, float]:
        request_id = next(self.ids)
        clock = Clock()
        reply = await self.send(
            "POST", self.legacy_headers(session_id), request_message(request_id, method, params)
        )
        return request_id, reply, clock.ms

    async def notify(self, method: str) -> tuple[Reply, float]:
        clock = Clock()
        reply = await self.send("POST", self.legacy_headers(), notification_message(method))
        return reply, clock.ms

    async def delete(self) -> tuple[Reply, float]:
        clock = Clock()
        headers = {k: v for k, v in self.legacy_headers().items() if k != "content-type"}
        reply = await self.send("DELETE", headers, None)
        return reply, clock.ms

    async def list_request(
        self, modern: bool, method: str, params: dict[str, Any]
    ) -> tuple[Any, Reply, float]:
        if modern:
            return await self.modern(method, params)
        return await self.legacy(method, params)

    def record(
        self, name: str, status: Status, detail: str, elapsed: float | None = None, **data: Any
    ) -> Phase:
        return self.report.add(Phase(name, status, detail, elapsed, dict(data)))


def call_headers(tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, str]:
    """``Mcp-Param-*`` headers a modern call of ``tool`` must carry (x-mcp-header)."""
    schema = tool.get("inputSchema")
    if not isinstance(schema, dict):
        return {}
    try:
        declared = param_headers(schema)
    except ValueError:
        return {}
    headers = {}
    for param in declared:
        value: Any = arguments
        for key in param.path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        headers[param.field_name] = encode_header_value(text)
    return headers

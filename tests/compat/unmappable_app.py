"""An SDK app that reaches below MCPServer: a low-level handler of its own and a
middleware, neither of which mcpfleet can serve."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import RequestParams

mcp = MCPServer("exporter")


@mcp.tool()
def ping_me() -> str:
    """A tool that would map."""
    return "pong"


async def export(ctx: Any, params: RequestParams) -> dict[str, Any]:
    return {}


mcp._lowlevel_server.add_request_handler("notes/export", RequestParams, export)


class Audit:
    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        return await call_next(ctx)


mcp.middleware.append(Audit())

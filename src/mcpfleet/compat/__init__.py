"""Serving apps written for the official SDK, unchanged, on mcpfleet's core.

    mcpfleet serve app:mcp          # mcp = MCPServer("notes") in app.py
    mcpfleet compat check app:mcp   # what maps, what does not, both tools/list hashes

``serve_sdk(obj)`` turns an SDK ``MCPServer`` (mcp 2.x) or ``FastMCP`` (mcp 1.x)
into an mcpfleet ``Server``: the same tools, resources, templates, prompts and
completions, described exactly as the SDK describes them, run in this process by
the SDK's own code with the SDK's view of the mcpfleet request (see
``compat.bridge`` and ``compat.session``).
What cannot be served (a custom low-level handler, middleware, an extension, the
SDK's auth) is named in a ``ConfigError`` before anything is served.

The ``mcp`` package is imported only when the loaded object is one of its servers.
"""

from __future__ import annotations

from typing import Any

from mcpfleet.compat.bridge import SdkBridge, SdkCalls
from mcpfleet.compat.fastmcp import FastMcpCalls
from mcpfleet.compat.inventory import Inventory, inventory
from mcpfleet.compat.mcpserver import McpServerCalls
from mcpfleet.compat.sdk import check_version, sdk_kind
from mcpfleet.errors import ConfigError
from mcpfleet.server.app import Server

__all__ = ["Inventory", "describe", "sdk_kind", "serve_sdk"]


def describe(obj: Any) -> Inventory:
    """What of the SDK server ``obj`` maps onto mcpfleet, and what does not."""
    kind = sdk_kind(obj)
    if kind is None:
        raise ConfigError(f"a {type(obj).__name__} is not an SDK server (MCPServer or FastMCP)")
    check_version(kind)
    return inventory(obj, kind)


def serve_sdk(obj: Any) -> Server:
    """An mcpfleet ``Server`` serving the SDK server ``obj``; ``ConfigError`` naming
    everything in it that cannot be served."""
    found = describe(obj)
    if found.unmappable:
        raise ConfigError(
            f"{found.kind} {found.name!r} cannot be served by mcpfleet: "
            + "; ".join(found.unmappable)
        )
    return build(obj)


def sdk_calls(obj: Any) -> SdkCalls:
    """How to reach into ``obj``'s SDK generation."""
    return McpServerCalls(obj) if sdk_kind(obj) == "MCPServer" else FastMcpCalls(obj)


def build(obj: Any) -> Server:
    """The mcpfleet ``Server`` for ``obj``, with no check of what cannot be mapped."""
    calls = sdk_calls(obj)
    info = calls.server_info()
    # The SDK's default cache hints: results are stale at once.
    server = Server(info["name"], info["version"], instructions=obj.instructions, list_ttl_ms=0)
    server.server_info = info
    SdkBridge(obj, calls, server).sync()  # its handlers keep the bridge alive
    return server

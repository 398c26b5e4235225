"""``mcpfleet compat check MODULE:OBJ``: what of an SDK app maps, and the proof.

The proof is the ``tools/list`` of both servers: the SDK server's own listing and
the one mcpfleet serves for it, each hashed the same way (canonical JSON,
SHA-256). The command exits with status 1 when something cannot be served or the
two hashes differ.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfleet.compat import build, describe, sdk_calls
from mcpfleet.compat.bridge import sdk_listings
from mcpfleet.compat.sdk import listing_hash, sdk_version
from mcpfleet.server.app import Server
from mcpfleet.server.operations import list_tools


def _no_context() -> Any:
    raise RuntimeError("a tools/list of an SDK app needs no request context")


async def served_tools(server: Server) -> list[dict[str, Any]]:
    """The tools mcpfleet lists for ``server``, every page of them."""
    tools: list[dict[str, Any]] = []
    params: dict[str, Any] = {}
    while True:
        page = await list_tools(server, params, _no_context)
        tools.extend(page["tools"])
        if "nextCursor" not in page:
            return tools
        params = {"cursor": page["nextCursor"]}


def report(obj: Any) -> tuple[list[str], bool]:
    """The lines ``compat check`` prints, and whether the app can be served as it is."""
    found = describe(obj)
    server = build(obj)
    sdk_hash = listing_hash(sdk_listings(sdk_calls(obj))["tools"])
    fleet_hash = listing_hash(asyncio.run(served_tools(server)))
    lines = [f"{found.kind} {found.name!r} (mcp {sdk_version()})", "maps:"]
    lines += [f"  {line}" for line in found.mapped()] or ["  (nothing)"]
    if found.ignored:
        lines.append("ignored (no effect on what clients see):")
        lines += [f"  {line}" for line in found.ignored]
    lines.append("cannot be served:")
    lines += [f"  {line}" for line in found.unmappable] or ["  (nothing)"]
    same = sdk_hash == fleet_hash
    lines += [
        "tools/list sha256:",
        f"  SDK       {sdk_hash}",
        f"  mcpfleet  {fleet_hash}  {'same' if same else 'DIFFERENT'}",
    ]
    return lines, same and not found.unmappable

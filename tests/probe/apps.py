"""The app the prober's tests call tools on: one read-only tool, one that is not."""

from __future__ import annotations

from typing import Annotated

from mcpfleet import Server, header_param

app = Server("probe-target", "1.0.0")
removed: list[str] = []


@app.tool(annotations={"readOnlyHint": True})
async def lookup(region: Annotated[str, header_param("Region")], key: str) -> str:
    """Read a value (the region is mirrored into Mcp-Param-Region)."""
    return f"{region}:{key}"


@app.tool(annotations={"readOnlyHint": False, "destructiveHint": True})
async def remove(key: str) -> str:
    """Remove a value."""
    removed.append(key)
    return f"removed {key}"


other = Server("probe-target", "1.0.0")


@other.tool()
async def greet(name: str) -> str:
    """A different tool list, for drift."""
    return f"Hello, {name}!"

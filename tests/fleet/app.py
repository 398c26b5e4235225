"""The app every task of a test fleet serves: tools that say which task answered, and tools
whose effects must cross from one task to another (replies, event logs, notifications)."""

from __future__ import annotations

import asyncio
import os

from mcpfleet import Context, Server

app = Server("fleet", "1.0.0", instructions="Tools for testing a fleet of tasks.")


@app.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@app.tool()
async def whoami() -> str:
    """The process id of the task that answered."""
    return str(os.getpid())


@app.tool()
async def ask_name(ctx: Context) -> str:
    """Elicit a name, then greet."""
    answer = await ctx.elicit(
        "Your name?", {"type": "object", "properties": {"name": {"type": "string"}}}
    )
    if answer.action != "accept" or not answer.content:
        return "no name given"
    return f"Hello, {answer.content['name']}!"


@app.tool()
async def ticker(count: int, delay: float, ctx: Context) -> str:
    """Log the numbers 0..count-1, one every ``delay`` seconds."""
    for number in range(count):
        await ctx.log("info", number)
        await asyncio.sleep(delay)
    return f"ticked {count}"


@app.tool()
async def touch(uri: str) -> str:
    """Announce that a resource changed."""
    app.resource_updated(uri)
    return "touched"


@app.tool()
async def add_tool(name: str) -> str:
    """Register a new tool at run time (on this task), announcing the changed list."""

    async def dynamic() -> str:
        return name

    app.tool(name)(dynamic)
    return "added"


@app.resource("fleet://note", mime_type="text/plain")
async def note() -> str:
    return "a note"


app.enable_subscriptions()


@app.tool()
async def remember(value: str, ctx: Context) -> str:
    """Keep a value under a new handle."""
    return await ctx.handles.mint({"value": value}, ttl_seconds=60)


@app.tool()
async def recall(handle: str, ctx: Context) -> str:
    """The value kept under a handle."""
    kept = await ctx.handles.read(handle)
    return str(kept["value"])

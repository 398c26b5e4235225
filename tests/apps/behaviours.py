"""An app whose tools exhibit the behaviours the transport tests observe."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import BaseModel

from mcpfleet import Context, Server, ToolError, header_param

app = Server("behaviours", "1.0.0", page_size=3)

# What happened to long-running calls, for the cancellation test to read back.
events: dict[str, str] = {}


class Weather(BaseModel):
    city: str
    celsius: float


@app.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@app.tool()
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@app.tool()
async def weather(city: str) -> Weather:
    """Structured output from a pydantic model."""
    return Weather(city=city, celsius=21.5)


@app.tool()
async def fail_politely() -> str:
    """Fail with a message meant for the model."""
    raise ToolError("the thing is broken")


@app.tool()
async def crash() -> str:
    """Fail with an unexpected exception whose text must not reach the client."""
    raise RuntimeError("secret internal detail")


@app.tool()
def blocking_sum(values: list[int]) -> int:
    """A synchronous tool, run in a worker thread."""
    return sum(values)


@app.tool()
async def slow(tag: str, ctx: Context) -> str:
    """Sleep until cancelled; records whether the client's disconnect cancelled it."""
    events[tag] = "started"
    await ctx.progress(0, 1, "started")
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        events[tag] = "cancelled"
        raise
    events[tag] = "finished"
    return "done"


@app.tool()
async def event_of(tag: str) -> str:
    """What happened to the slow call with this tag."""
    return events.get(tag, "unknown")


@app.tool()
async def chatty(ctx: Context) -> str:
    """Log at every level."""
    for level in ("debug", "info", "warning", "error"):
        await ctx.log(level, f"{level} message", logger="chatty")
    return "logged"


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
async def regional(region: Annotated[str, header_param("Region")], size: int = 1) -> str:
    """A parameter mirrored into the Mcp-Param-Region header."""
    return f"{region}:{size}"


@app.tool()
async def add_tool(name: str) -> str:
    """Register a new tool at run time."""

    async def dynamic() -> str:
        return name

    app.tool(name)(dynamic)
    return "added"


@app.tool()
async def touch(uri: str) -> str:
    """Announce that a resource changed."""
    app.resource_updated(uri)
    return "touched"


@app.resource("behaviours://broken")
async def broken() -> str:
    raise RuntimeError("secret resource failure")


@app.resource("behaviours://note", mime_type="text/plain")
async def note() -> str:
    return "a note"


@app.resource("behaviours://items/{item_id}")
async def item(item_id: int) -> dict[str, Any]:
    return {"text": f"item {item_id}", "mimeType": "text/plain"}


@app.prompt()
def greet(name: str) -> str:
    """Greet someone."""
    return f"Say hello to {name}."


app.enable_subscriptions()


@app.tool()
async def ticker(count: int, delay: float, ctx: Context) -> str:
    """Log the numbers 0..count-1, one every ``delay`` seconds."""
    for number in range(count):
        await ctx.log("info", number)
        await asyncio.sleep(delay)
    return f"ticked {count}"


@app.tool(task="optional", task_after_ms=0)
async def background(seconds: float) -> str:
    """Work a little (a task, for a client that declares the tasks extension)."""
    await asyncio.sleep(min(max(seconds, 0.0), 0.5))
    return "done"


@app.authenticate
async def caller(headers: dict[str, str]) -> str | None:
    """The principal is whatever the x-user header says (a stand-in for real auth)."""
    return headers.get("x-user")


@app.tool()
async def ping_client(ctx: Context) -> str:
    """Ping the client and report that it answered."""
    await ctx.ping()
    return "pong"


@app.tool()
async def nap(seconds: float) -> str:
    """Sleep, then answer (an in-flight call for the drain test)."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@app.tool()
async def remember(value: str, ctx: Context) -> str:
    """Keep a value under a new handle."""
    return await ctx.handles.mint({"value": value}, ttl_seconds=60)


@app.tool()
async def recall(handle: str, ctx: Context) -> str:
    """The value kept under a handle of this caller."""
    kept = await ctx.handles.read(handle)
    return str(kept["value"])


@app.tool()
async def huge() -> int:
    """A result no JSON encoder here can write (an integer past 64 bits)."""
    return 2**70

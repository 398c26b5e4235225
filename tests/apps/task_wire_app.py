"""Tools that run as tasks, for the wire tests of the tasks extension: a result of any
size, a long wait, questions, and a caller named by the ``x-user`` header."""

from __future__ import annotations

import asyncio

from mcpfleet import Context, Server

app = Server("task-wire", "1.0.0", task_after_ms=100)


@app.authenticate
async def caller(headers: dict[str, str]) -> str | None:
    """The principal is whatever the x-user header says (a stand-in for real auth)."""
    return headers.get("x-user")


@app.tool(task="optional", task_after_ms=0)
async def sized(size: int) -> str:
    """A task at once, whose result is ``size`` characters."""
    await asyncio.sleep(0.05)
    return "x" * size


@app.tool(task="required", task_after_ms=0)
async def wait(seconds: float) -> str:
    """A task at once, that waits."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}"


@app.tool(task="optional")
async def quick(text: str) -> str:
    """May run as a task, but answers at once: always answered in the request."""
    return text


@app.tool(task="optional", task_after_ms=0)
async def two_rounds(ctx: Context) -> str:
    """A task at once, that asks a question, then another."""
    name_form = {"type": "object", "properties": {"name": {"type": "string"}}}
    first = await ctx.elicit("Your name?", name_form)
    await ctx.progress(0.5)  # nowhere to go once a task: dropped, never an error
    sure_form = {"type": "object", "properties": {"sure": {"type": "boolean"}}}
    second = await ctx.elicit("Sure?", sure_form)
    name = (first.content or {}).get("name")
    sure = (second.content or {}).get("sure")
    return f"{name} sure={sure}"

"""An app for the stdio tests: it logs heavily and prints, on purpose, everywhere.

Run as a script (``python tests/stdio/stdio_app.py``) it serves itself with
``mcpfleet.stdio.run``, as a user's script would; a script's stdout is guarded from
that call on, so this one prints nothing before it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from mcpfleet import Context, Server

if __name__ != "__main__":  # imported by ``serve --stdio``, which claims stdout first
    print("printed at import time")  # the stdout guard must catch this
    os.write(1, b"written to fd 1 at import time\n")

app = Server("stdio-test", "1.0.0", instructions="A server for the stdio tests.")
noisy = logging.getLogger("stdio_app")
noisy.setLevel(logging.DEBUG)
noisy.addHandler(logging.StreamHandler(sys.__stdout__))  # fd 1, captured before the claim


def chatter(where: str) -> None:
    print(f"print from {where}")  # the stdout guard must catch this
    sys.stdout.write(f"sys.stdout.write from {where}\n")
    noisy.info("logging from %s", where)
    logging.getLogger("mcpfleet.test").warning("library log from %s", where)


@app.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    chatter("echo")
    return text


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers, in a worker thread."""
    chatter("add")
    return a + b


@app.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Sleep a while, reporting progress and a log message first."""
    await ctx.progress(0, 1, "started")
    await ctx.log("info", "slow started")
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@app.tool()
async def ask_name(ctx: Context) -> str:
    """Elicit the user's name."""
    answer = await ctx.elicit(
        "Your name?", {"type": "object", "properties": {"name": {"type": "string"}}}
    )
    return f"{answer.action}:{(answer.content or {}).get('name')}"


@app.tool()
async def summarise(text: str, ctx: Context) -> str:
    """Ask the client's model to summarise the text."""
    result: dict[str, Any] = await ctx.sample(f"Summarise: {text}", max_tokens=20)
    return f"model said: {result['content']['text']}"


@app.tool()
async def roots(ctx: Context) -> str:
    """The client's roots, comma-separated."""
    found = await ctx.list_roots()
    return ",".join(root["uri"] for root in found)


@app.tool()
async def grow(name: str) -> str:
    """Register a new tool called ``name`` (the tool list changes)."""

    async def grown() -> str:
        return f"I am {name}"

    app.tool(name=name, description="A tool added at run time.")(grown)
    return f"added {name}"


@app.resource("test://greeting", mime_type="text/plain")
def greeting() -> str:
    """A static greeting."""
    chatter("greeting")
    return "hello from stdio"


@app.resource("test://items/{item}")
def item(item: str) -> str:
    """One item, by name."""
    return f"item {item}"


@app.prompt()
def review(code: str) -> str:
    """Ask for a review of some code."""
    chatter("review")
    return f"Please review: {code}"


if __name__ == "__main__":
    from mcpfleet.stdio import run

    run(app)

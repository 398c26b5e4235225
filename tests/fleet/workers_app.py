"""The app the worker tests serve: every tool says which worker process answered it."""

from __future__ import annotations

import asyncio
import os

from mcpfleet import Server

app = Server("workers", "1.0.0")


@app.tool()
async def whoami() -> str:
    """The process id of the worker that answered."""
    return str(os.getpid())


@app.tool()
async def touch(uri: str) -> str:
    """Announce that a resource changed; the process id of the worker that did."""
    app.resource_updated(uri)
    return str(os.getpid())


@app.tool()
async def nap(seconds: float) -> str:
    """Sleep, then say which worker slept."""
    await asyncio.sleep(seconds)
    return str(os.getpid())


@app.resource("workers://note", mime_type="text/plain")
async def note() -> str:
    return "a note"


app.enable_subscriptions()

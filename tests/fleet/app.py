"""The app every task of a test fleet serves: tools that say which task answered, and tools
whose effects must cross from one task to another (replies, event logs, notifications)."""

from __future__ import annotations

import os

from mcpfleet import Server
from tests.apps import behaviours

app = Server("fleet", "1.0.0", instructions="Tools for testing a fleet of tasks.")

# The tools the single-process tests use too, registered here as they are there.
for shared in (behaviours.echo, behaviours.ask_name, behaviours.ticker, behaviours.remember,
               behaviours.recall):
    app.tool()(shared)


@app.tool()
async def whoami() -> str:
    """The process id of the task that answered."""
    return str(os.getpid())


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


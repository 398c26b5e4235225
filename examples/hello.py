"""A small mcpfleet app: ``mcpfleet serve examples.hello:app``."""

from __future__ import annotations

from mcpfleet import Context, Server

app = Server("hello", "1.0.0", instructions="Greets people and echoes text.")


@app.tool()
async def greet(name: str) -> str:
    """Say hello to someone."""
    return f"Hello, {name}!"


@app.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@app.tool()
async def count(to: int, ctx: Context) -> int:
    """Count up to a number, reporting progress on the way."""
    for step in range(1, to + 1):
        await ctx.progress(step, to, f"counted {step}")
    return to


@app.resource("hello://readme", mime_type="text/plain")
def readme() -> str:
    """What this server does."""
    return "This server greets people."


@app.prompt()
def introduce(name: str) -> str:
    """Ask the model to introduce someone."""
    return f"Please introduce {name} in one sentence."

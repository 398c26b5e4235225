"""The app the Lambda tests serve: an echo, and a tool that reports progress and then
waits for a file the test creates, so that a test can see the progress arrive before
the tool has finished."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcpfleet import Context, Server

app = Server("lambda-test", "1.0.0")

GATE_WAIT_SECONDS = 30.0


@app.tool()
async def echo(text: str) -> str:
    """Say it back."""
    return text


@app.tool()
async def wait_for_gate(gate: str, ctx: Context) -> str:
    """Report progress, wait until the file ``gate`` exists (30 s at most), then finish."""
    await ctx.progress(1, 2, "waiting for the gate")
    path = Path(gate)
    for _ in range(int(GATE_WAIT_SECONDS / 0.02)):
        if await asyncio.to_thread(path.exists):
            await ctx.progress(2, 2, "through the gate")
            return "through"
        await asyncio.sleep(0.02)
    return "the gate never opened"

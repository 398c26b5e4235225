"""Tools that run as tasks of the 2026-07-28 tasks extension, for the fleet tests: work that
leaves traces a test can read (which process ran it, whether it was stopped, whether it
finished), a question to the client, and a failure. Callers are named by ``X-Api-Key``.

Each tool that leaves traces takes ``marker``, a path prefix in the test's own folder:

    <marker>.pid      the process id of the task that runs the work, written when it starts
    <marker>.stopped  the same, written when the work is cancelled (by the client or a drain)
    <marker>.done     the same, written when the work reaches its end
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from mcpfleet import Context, Server
from mcpfleet.auth import Principal
from mcpfleet.errors import InternalError, Unauthorized

# API key -> principal
KEYS = {"key-alice": "alice", "key-bob": "bob"}

app = Server("fleet-tasks", "1.0.0", instructions="Tasks across a fleet.", task_after_ms=200)


@app.authenticate
async def by_api_key(headers: dict[str, str]) -> Principal:
    name = KEYS.get(headers.get("x-api-key", ""))
    if name is None:
        raise Unauthorized()
    return Principal.named(name)


def leave(marker: str, suffix: str) -> None:
    """Write this process's id to ``<marker><suffix>``."""
    Path(marker + suffix).write_text(str(os.getpid()))


@app.tool(task="optional")
async def work(seconds: float, marker: str) -> str:
    """Work for ``seconds``: a task once it has run 200 ms."""
    leave(marker, ".pid")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        leave(marker, ".stopped")
        raise
    leave(marker, ".done")
    return f"worked {seconds}s in {os.getpid()}"


CONFIRM_SCHEMA = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean"}, "note": {"type": "string"}},
    "required": ["confirm"],
}


@app.tool(task="optional", task_after_ms=0)
async def confirm(item: str, marker: str, ctx: Context) -> str:
    """A task at once, that asks the user to confirm, then says what the answer was."""
    leave(marker, ".pid")
    question = {
        "method": "elicitation/create",
        "params": {"mode": "form", "message": f"Delete {item}?", "requestedSchema": CONFIRM_SCHEMA},
    }
    try:
        answers = await ctx.ask({"confirm": question})
    except asyncio.CancelledError:
        leave(marker, ".stopped")
        raise
    answer: dict[str, Any] = answers["confirm"]
    content = answer.get("content") or {}
    leave(marker, ".done")
    return f"{item}: {answer['action']} confirm={content.get('confirm')} note={content.get('note')}"


@app.tool(task="required", task_after_ms=0)
async def broken(seconds: float) -> str:
    """A task at once, that fails with a JSON-RPC error after ``seconds``."""
    await asyncio.sleep(seconds)
    raise InternalError("the job broke")

"""An app written for the 1.x SDK's ``FastMCP`` (mcp 1.x only: tests/compat/test_fastmcp.py
runs it in an environment of its own). ``python -m tests.compat.fastmcp_app PORT`` serves
it with the SDK's own Streamable HTTP server."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import Completion, ToolAnnotations
from pydantic import BaseModel


@asynccontextmanager
async def lifespan(app: FastMCP) -> AsyncIterator[dict[str, Any]]:
    yield {"greeting": "hello from the lifespan"}


mcp = FastMCP("legacy-notes", instructions="Keeps notes, the 1.x way.", lifespan=lifespan)


class Consent(BaseModel):
    name: str
    agree: bool = False


@mcp.tool(title="Add", annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool()
async def fail(reason: str) -> str:
    """Always fails, on purpose."""
    raise ToolError(f"refused: {reason}")


@mcp.tool()
async def work(steps: int, ctx: Context) -> str:
    """Report progress and log."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    await ctx.info("informing")
    await ctx.error("erring")
    return f"did {steps} steps"


@mcp.tool()
async def ask(ctx: Context) -> str:
    """Ask the user for their name."""
    answer = await ctx.elicit("Who are you?", Consent)
    if answer.action == "accept":
        return f"hello {answer.data.name} agree={answer.data.agree}"
    return answer.action


@mcp.tool()
async def inspect(ctx: Context) -> dict[str, Any]:
    """What the Context says about the request."""
    contents = list(await ctx.read_resource("notes://readme"))
    return {
        "has_request_id": bool(ctx.request_id),
        "lifespan": ctx.request_context.lifespan_context["greeting"],
        "readme": contents[0].content,
    }


@mcp.resource("notes://readme", mime_type="text/markdown")
def readme() -> str:
    """The read-me."""
    return "# Notes"


@mcp.resource("notes://{topic}/summary")
def summary(topic: str) -> str:
    """A topic's summary."""
    return f"all about {topic}"


@mcp.prompt(title="Review")
def review(code: str, language: str = "python") -> str:
    """Review some code."""
    return f"Review this {language}: {code}"


@mcp.completion()
async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
    if argument.name == "language":
        values = [v for v in ("python", "perl") if v.startswith(argument.value)]
        return Completion(values=values, total=len(values), hasMore=False)
    return None


if __name__ == "__main__":
    mcp.settings.port = int(sys.argv[1])
    mcp.run("streamable-http")

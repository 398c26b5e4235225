"""An app written for the official SDK's ``MCPServer``, as its users write one.

It uses every decorator and every Context method mcpfleet's compat layer serves;
the tests run it under the SDK's own server and under ``mcpfleet serve`` and
expect the same answers.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, Icon, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Completion, SamplingMessage, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

EVENTS: list[str] = []  # what the lifespan did, in order


@asynccontextmanager
async def lifespan(app: MCPServer[Any]) -> AsyncIterator[dict[str, Any]]:
    EVENTS.append("started")
    try:
        yield {"greeting": "hello from the lifespan"}
    finally:
        EVENTS.append("stopped")


mcp = MCPServer(
    "notes",
    title="Notes",
    instructions="Keeps notes.",
    version="1.2.3",
    website_url="https://example.com/notes",
    icons=[Icon(src="https://example.com/icon.png", mime_type="image/png")],
    lifespan=lifespan,
)


class Weather(BaseModel):
    """A forecast."""

    city: str
    celsius: float = Field(description="Temperature")


class Consent(BaseModel):
    name: str
    agree: bool = False


@mcp.tool(
    title="Add",
    annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True),
    icons=[Icon(src="https://example.com/add.png")],
    meta={"example.com/cost": 1},
)
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@mcp.tool(description="The weather in a city.")
async def weather(city: str) -> Weather:
    return Weather(city=city, celsius=21.5)


@mcp.tool()
async def shout(text: str) -> str:
    """Upper-case text."""
    return text.upper()


@mcp.tool()
async def fail(reason: str) -> str:
    """Always fails, on purpose."""
    raise ToolError(f"refused: {reason}")


@mcp.tool()
async def work(steps: int, ctx: Context) -> str:
    """Report progress and log at every level."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    await ctx.debug("debugging")
    await ctx.info("informing")
    await ctx.warning("warning")
    await ctx.error("erring", logger_name="notes")
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
    """What the Context says about the request and the client."""
    capabilities = ctx.client_capabilities
    contents = list(await ctx.read_resource("notes://readme"))
    params = ctx.session.client_params
    return {
        "client": None if params is None else params.client_info.name,
        "has_request_id": bool(ctx.request_id),
        "elicitation": capabilities is not None and capabilities.elicitation is not None,
        "lifespan": ctx.request_context.lifespan_context["greeting"],
        "readme": contents[0].content,
    }


@mcp.tool()
async def roots(ctx: Context) -> list[str]:
    """The client's roots."""
    listed = await ctx.session.list_roots()
    return [str(root.uri) for root in listed.roots]


@mcp.tool()
async def summarize(text: str, ctx: Context) -> str:
    """Ask the client's model to summarize."""
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    result = await ctx.session.create_message([message], max_tokens=20, temperature=0.1)
    return f"{result.model}: {result.content.text}"


@mcp.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool at run time and tell the clients."""
    mcp.add_tool(lambda: name, name=name, description="Added at run time.")
    await ctx.session.send_tool_list_changed()
    await ctx.notify_tools_changed()
    return f"added {name}"


@mcp.resource("notes://readme", title="Read me", mime_type="text/markdown")
def readme() -> str:
    """The read-me."""
    return "# Notes"


@mcp.resource("notes://logo", mime_type="image/png")
def logo() -> bytes:
    return b"\x89PNG"


@mcp.resource("notes://{topic}/summary", description="A topic's summary.")
async def summary(topic: str) -> str:
    return json.dumps({"topic": topic})


@mcp.prompt(title="Review")
def review(code: str, language: str = "python") -> str:
    """Review some code."""
    return f"Review this {language}: {code}"


@mcp.prompt()
def chat(topic: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"Tell me about {topic}"},
        {"role": "assistant", "content": "Gladly."},
    ]


@mcp.completion()
async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
    if argument.name == "language":
        values = [v for v in ("python", "perl", "rust") if v.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)
    return None

"""An ``MCPServer`` with a tool for each way the SDK validates arguments and converts
results: returns of every kind, with and without structured output, parameters that
need JSON pre-parsing, aliases and constraints, and every kind of failure. Tools
``echo_any`` and ``raw`` return whatever ``VALUE`` holds, for property tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from mcp.server.mcpserver import Context, Image, MCPServer, Resolve
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, ConfigDict, Field, RootModel

mcp = MCPServer("results")
VALUE: list[Any] = [None]  # what echo_any and raw return


class Weather(BaseModel):
    city: str
    celsius: float = Field(description="Temperature")
    note: str | None = None


class Infinite(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")

    value: float


class Point(TypedDict):
    x: int
    y: int


@dataclass
class Pair:
    left: str
    right: int = 0


class Loud(str):
    """A ``str`` subclass."""


@mcp.tool()
async def echo(text: str) -> str:
    return text


@mcp.tool()
async def echo_many(text: str, times: int = 2, sep: str = " ") -> str:
    return sep.join([text] * times)


@mcp.tool()
async def number(value: int) -> int:
    return value


@mcp.tool()
async def flag(value: bool) -> bool:
    return value


@mcp.tool()
async def ratio(value: float) -> float:
    return value / 3


@mcp.tool()
async def infinite(negative: bool = False) -> float:
    return -math.inf if negative else math.inf


@mcp.tool()
async def nothing() -> None:
    return None


@mcp.tool()
async def bool_as_int() -> int:
    return True


@mcp.tool()
async def int_as_str() -> str:
    return 7  # type: ignore[return-value]  # a wrong return, on purpose


@mcp.tool()
async def subclass_str() -> str:
    return Loud("loud")


@mcp.tool()
async def short(text: str) -> Annotated[str, Field(max_length=3)]:
    return text


@mcp.tool()
async def mapping(keys: list[str]) -> dict[str, int]:
    return {key: len(key) for key in keys}


@mcp.tool()
async def words(text: str) -> list[str]:
    return text.split()


@mcp.tool()
async def weather(city: str, celsius: float = 21.5) -> Weather:
    return Weather(city=city, celsius=celsius)


@mcp.tool()
async def infinite_model() -> Infinite:
    return Infinite(value=math.inf)


@mcp.tool()
async def point(x: int, y: int) -> Point:
    return {"x": x, "y": y}


@mcp.tool()
async def pair(left: str) -> Pair:
    return Pair(left)


@mcp.tool()
async def echo_any() -> Any:
    return VALUE[0]


@mcp.tool()
async def raw():  # type: ignore[no-untyped-def]  # no return annotation: no structured output
    return VALUE[0]


@mcp.tool(structured_output=False)
async def unstructured(city: str) -> Weather:
    return Weather(city=city, celsius=3.0)


@mcp.tool()
async def listing(count: int) -> tuple[int, str]:
    return count, "items"


@mcp.tool()
async def nested() -> list[Any]:
    return ["a", None, [1, ["b", {"c": None}]], ()]


@mcp.tool()
async def block() -> TextContent:
    return TextContent(type="text", text="a block")


@mcp.tool()
async def mixed() -> list[Any]:
    return ["text", ImageContent(type="image", data="aGk=", mime_type="image/png")]


@mcp.tool()
async def picture() -> Image:
    return Image(data=b"\x89PNG", format="png")


@mcp.tool()
async def whole() -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text="whole")], is_error=True)


@mcp.tool()
async def whole_checked() -> Annotated[CallToolResult, Weather]:
    content = [TextContent(type="text", text="checked")]
    return CallToolResult(content=content, structured_content={"city": "Oslo", "celsius": 1.0})


@mcp.tool()
async def model_argument(weather: Weather, tags: list[str] | None = None) -> str:
    return f"{weather.city} {weather.celsius} {tags}"


@mcp.tool()
async def optional(text: str | None = None, count: int | None = None) -> str:
    return f"{text!r} {count!r}"


@mcp.tool()
async def aliased(schema: str, model_dump: int = 1) -> str:  # names a BaseModel method
    return f"{schema} {model_dump}"


@mcp.tool()
async def bounded(value: Annotated[int, Field(ge=0, le=10)]) -> int:
    return value


@mcp.tool()
def blocking(text: str) -> str:
    """A sync tool: run on a worker thread."""
    return text[::-1]


@mcp.tool()
async def fails(kind: str) -> str:
    if kind == "tool":
        raise ToolError("refused")
    if kind == "resource":
        raise ResourceError("no such resource")
    if kind == "nested":
        raise UnexpectedToolError("Error executing tool inner")
    if kind == "protocol":
        raise MCPError(-32042, "app protocol error", {"why": "test"})
    if kind == "crash":
        raise ValueError("secret detail")
    return "fine"


@mcp.tool()
async def with_context(text: str, ctx: Context) -> str:
    await ctx.report_progress(1, 2, "half")
    return f"{text} {ctx.request_context.request_id}"


def _upper(unit: str) -> str:
    return unit.upper()


@mcp.tool()
async def resolved(unit: str, upper: Annotated[str, Resolve(_upper)]) -> str:
    return f"{unit}->{upper}"


@mcp.tool()
async def echo_dict() -> dict[str, Any]:
    return VALUE[0]  # type: ignore[no-any-return]  # whatever the test put there


@mcp.tool()
async def echo_list() -> list[Any]:
    return VALUE[0]  # type: ignore[no-any-return]  # whatever the test put there


class MaybeCounts(RootModel[dict[str, int] | None]):
    """Structured output that may be no object at all."""


@mcp.tool()
async def maybe_counts(empty: bool) -> MaybeCounts:
    return MaybeCounts(None if empty else {"a": 1})

"""What registration derives from a handler: schemas, descriptions, validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from mcpfleet import Context, Server, content, header_param
from mcpfleet.errors import InvalidParams
from mcpfleet.server.operations import tool_result


class Point(BaseModel):
    x: int
    y: int


@dataclass
class Reading:
    sensor: str
    value: float


def registered(func: Any, **options: Any) -> dict[str, Any]:
    app = Server("t")
    app.tool(**options)(func)
    return app.tools[options.get("name") or func.__name__].wire


def test_input_schema_comes_from_type_hints() -> None:
    """Parameters become properties; those without defaults are required; Context is hidden."""

    async def find(query: str, ctx: Context, limit: int = 10,
                   tags: list[str] | None = None) -> str:
        """Find things.

        Longer text that is not part of the description."""
        return query

    wire = registered(find)
    schema = wire["inputSchema"]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"query", "limit", "tags"}
    assert schema["required"] == ["query"]
    assert schema["properties"]["limit"]["default"] == 10
    assert wire["description"] == "Find things."
    assert "outputSchema" not in wire


def test_field_descriptions_and_header_mirrors_reach_the_schema() -> None:
    """Annotated descriptions and x-mcp-header annotations are kept in the schema."""

    async def run(region: Annotated[str, header_param("Region", description="where")],
                  note: Annotated[str, Field(description="free text")] = "") -> str:
        return region

    properties = registered(run)["inputSchema"]["properties"]
    assert properties["region"]["x-mcp-header"] == "Region"
    assert properties["region"]["description"] == "where"
    assert properties["note"]["description"] == "free text"


@pytest.mark.parametrize(
    ("returns", "wrapped"),
    [(Point, False), (Reading, False), (int, True), (list[str], True), (dict[str, float], False)],
    ids=["model", "dataclass", "int", "list", "dict"],
)
def test_typed_returns_get_an_output_schema(returns: Any, wrapped: bool) -> None:
    """A return type other than text or content gives an object outputSchema."""

    async def tool() -> Any:
        return None

    tool.__annotations__["return"] = returns
    schema = registered(tool)["outputSchema"]
    assert schema["type"] == "object"
    assert ("result" in schema.get("properties", {})) is wrapped


@pytest.mark.parametrize(
    "returns", [str, content.ContentBlock, list[content.ContentBlock], None],
    ids=["str", "block", "blocks", "none"],
)
def test_text_and_content_returns_have_no_output_schema(returns: Any) -> None:
    """Text and content blocks are plain content, without an outputSchema."""

    async def tool() -> Any:
        return None

    tool.__annotations__["return"] = returns
    assert "outputSchema" not in registered(tool)


def test_structured_result_carries_content_and_structured_content() -> None:
    """A model result is dumped to JSON for structuredContent and mirrored as text."""

    async def where() -> Point:
        return Point(x=1, y=2)

    app = Server("t")
    app.tool()(where)
    result = tool_result(app.tools["where"].signature, Point(x=1, y=2))
    assert result["structuredContent"] == {"x": 1, "y": 2}
    assert result["content"][0]["text"] == '{"x":1,"y":2}'


def test_wrapped_result_is_under_result() -> None:
    """A non-object return is wrapped as {"result": value}, its text unwrapped."""

    async def total() -> int:
        return 3

    app = Server("t")
    app.tool()(total)
    result = tool_result(app.tools["total"].signature, 3)
    assert result == {"content": [content.text("3")], "structuredContent": {"result": 3}}


def test_bind_reports_fields_without_library_text() -> None:
    """Invalid arguments raise InvalidParams naming each bad field in plain words."""

    async def add(a: int, b: int) -> int:
        return a + b

    app = Server("t")
    app.tool()(add)
    with pytest.raises(InvalidParams) as caught:
        app.tools["add"].signature.bind({"a": "x"})
    message = caught.value.message
    assert "'a'" in message
    assert "'b' is required" in message
    assert "pydantic" not in message.lower()


@pytest.mark.parametrize("name", ["", "has space", "x" * 129, "slash/name"])
def test_invalid_tool_names_are_refused(name: str) -> None:
    """Tool names follow the 1-128 character [A-Za-z0-9_.-] rule."""

    async def tool() -> str:
        return ""

    with pytest.raises(ValueError, match="tool name"):
        Server("t").tool(name)(tool)


def test_variadic_handlers_are_refused() -> None:
    """A handler with *args cannot be described and is refused at registration."""

    async def tool(*values: int) -> str:
        return ""

    with pytest.raises(TypeError):
        Server("t").tool()(tool)


def test_template_parameters_must_exist() -> None:
    """A resource template whose variable has no parameter is refused."""

    async def item() -> str:
        return ""

    with pytest.raises(TypeError, match="item_id"):
        Server("t").resource("x://items/{item_id}")(item)


def test_invalid_mirrored_header_is_refused() -> None:
    """An x-mcp-header on a non-primitive parameter makes the tool invalid."""

    async def tool(values: Annotated[list[int], header_param("Values")]) -> str:
        return ""

    with pytest.raises(ValueError, match="primitive"):
        Server("t").tool()(tool)


def test_capabilities_follow_what_is_registered() -> None:
    """A server declares prompts, resources and completions only when it has them."""
    app = Server("t")
    assert set(app.capabilities()) == {"tools", "logging"}

    @app.prompt()
    def hello() -> str:
        return "hi"

    @app.completion()
    def complete(ref: Any, argument: Any, context: Any) -> list[str]:
        return []

    assert {"prompts", "completions"} <= set(app.capabilities())

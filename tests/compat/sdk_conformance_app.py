"""The conformance suite's server contract written the SDK's way (``MCPServer``), for
``mcpfleet serve tests.compat.sdk_conformance_app:mcp``.

Everything uses the SDK's own API: decorators, ``Context`` and its session, a
``Tool`` built with ``Tool.from_function`` for a hand-written input schema, and
``MCPError`` for a missing client capability. Questions to the client are asked
one at a time, as the SDK's ``Context`` asks them; served by mcpfleet they become
2026-07-28 input-required rounds. One thing the SDK's API cannot say: several
questions in one round (the suite's multiple-inputs scenario).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import (
    AudioContent,
    Completion,
    EmbeddedResource,
    ImageContent,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)
from pydantic import Field

IMAGE_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Dw"
    "HwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
AUDIO_WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool(
    name: str | None = None,
    address: dict[str, Any] | None = None,
    contactMethod: str | None = None,  # noqa: N803 (the wire name)
    phone: str | None = None,
    email: str | None = None,
) -> str:
    args = {"name": name, "address": address, "contactMethod": contactMethod}
    args |= {"phone": phone, "email": email}
    return f"JSON Schema 2020-12 tool called with: {_json({k: v for k, v in args.items() if v})}"


SCHEMA_TOOL = Tool.from_function(
    json_schema_2020_12_tool,
    description="Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
).model_copy(update={"parameters": JSON_SCHEMA_2020_12})

mcp = MCPServer("mcp-conformance-test-server", version="1.0.0", tools=[SCHEMA_TOOL])


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _image() -> ImageContent:
    return ImageContent(type="image", data=IMAGE_PNG, mime_type="image/png")


def _embedded(uri: str, text: str, mime_type: str = "text/plain") -> EmbeddedResource:
    contents = TextResourceContents(uri=uri, text=text, mime_type=mime_type)
    return EmbeddedResource(type="resource", resource=contents)


@mcp.tool(description="Tests simple text content response")
async def test_simple_text() -> str:
    return "This is a simple text response for testing."


@mcp.tool(description="Tests image content response")
async def test_image_content() -> list[ImageContent]:
    return [_image()]


@mcp.tool(description="Tests audio content response")
async def test_audio_content() -> list[AudioContent]:
    return [AudioContent(type="audio", data=AUDIO_WAV, mime_type="audio/wav")]


@mcp.tool(description="Tests embedded resource content response")
async def test_embedded_resource() -> list[EmbeddedResource]:
    return [_embedded("test://embedded-resource", "This is an embedded resource content.")]


@mcp.tool(description="Tests response with multiple content types (text, image, resource)")
async def test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    data = _json({"test": "data", "value": 123})
    return [
        TextContent(type="text", text="Multiple content types test:"),
        _image(),
        _embedded("test://mixed-content-resource", data, "application/json"),
    ]


@mcp.tool(description="Tests tool that emits log messages during execution")
async def test_tool_with_logging(ctx: Context) -> str:
    for line in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(line)
        await asyncio.sleep(0.05)
    return "Tool with logging executed successfully"


@mcp.tool(description="Tests tool that reports progress notifications")
async def test_tool_with_progress(ctx: Context) -> str:
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100, f"Completed step {step} of 100")
        await asyncio.sleep(0.05)
    return "Progress complete"


@mcp.tool(description="Tests error response handling")
async def test_error_handling() -> str:
    raise ToolError("This tool intentionally returns an error for testing")


@mcp.tool(description="Tests SSE stream disconnection and client reconnection (SEP-1699)")
async def test_reconnection(ctx: Context) -> str:
    await ctx.close_sse_stream()
    await asyncio.sleep(0.1)
    return (
        "Reconnection test completed successfully. If you received this, "
        "the client properly reconnected after stream closure."
    )


@mcp.tool(description="Tests server-initiated sampling (LLM completion request)")
async def test_sampling(
    prompt: Annotated[str, Field(description="The prompt to send to the LLM")], ctx: Context
) -> str:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    result = await ctx.session.create_message([message], max_tokens=100)
    reply = result.content.text if isinstance(result.content, TextContent) else "No response"
    return f"LLM response: {reply}"


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> Any:
    return await ctx.session.elicit_form(message, schema, ctx.request_id)


@mcp.tool(description="Tests server-initiated elicitation (user input request)")
async def test_elicitation(
    message: Annotated[str, Field(description="The message to show the user")], ctx: Context
) -> str:
    schema = {
        "type": "object",
        "properties": {"response": {"type": "string", "description": "User's response"}},
        "required": ["response"],
    }
    result = await _elicit(ctx, message, schema)
    return f"User response: action={result.action}, content={_json(result.content or {})}"


DEFAULTS = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
    "required": [],
}


@mcp.tool(description="Tests elicitation with default values per SEP-1034")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    result = await _elicit(ctx, "Please review and update the form fields with defaults", DEFAULTS)
    return f"Elicitation completed: action={result.action}, content={_json(result.content or {})}"


def _titled(word: str) -> list[dict[str, str]]:
    names = ("First", "Second", "Third")
    return [{"const": f"value{i + 1}", "title": f"{names[i]} {word}"} for i in range(3)]


OPTIONS = ["option1", "option2", "option3"]
ENUMS = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "description": "Select one option", "enum": OPTIONS},
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": _titled("Option"),
        },
        "legacyEnum": {
            "type": "string",
            "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "description": "Select multiple options",
            "minItems": 1,
            "maxItems": 3,
            "items": {"type": "string", "enum": OPTIONS},
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": {"anyOf": _titled("Choice")},
        },
    },
    "required": [],
}


@mcp.tool(description="Tests elicitation with enum schema improvements per SEP-1330")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    result = await _elicit(ctx, "Please select options from the enum fields", ENUMS)
    return f"Elicitation completed: action={result.action}, content={_json(result.content or {})}"


@mcp.tool(
    name="test_header_params",
    description="Echoes a parameter mirrored in the Mcp-Param-Region header",
)
async def header_params(
    region: Annotated[
        str, Field(description="Where to run", json_schema_extra={"x-mcp-header": "Region"})
    ],
    query: str = "",
) -> str:
    return f"region={region} query={query}"


@mcp.tool(description="Test tool requiring sampling")
async def test_missing_capability(ctx: Context) -> str:
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        data = {"requiredCapabilities": {"sampling": {}}}
        raise MCPError(-32021, "Missing required client capability: sampling", data)
    return "Success"


def _form(field: str, kind: str = "string") -> dict[str, Any]:
    return {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}


def _field(result: Any, name: str) -> str:
    value = (result.content or {}).get(name)
    return "unknown" if value is None else str(value)


async def _sample(ctx: Context, text: str, max_tokens: int) -> str:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    result = await ctx.session.create_message([message], max_tokens=max_tokens)
    return result.content.text if isinstance(result.content, TextContent) else "no response"


@mcp.tool(description="MRTR: returns InputRequiredResult with elicitation request")
async def test_input_required_result_elicitation(ctx: Context) -> str:
    answer = await _elicit(ctx, "What is your name?", _form("name"))
    return f"Hello, {_field(answer, 'name')}!"


@mcp.tool(description="MRTR: returns InputRequiredResult with sampling request")
async def test_input_required_result_sampling(ctx: Context) -> str:
    return f"Sampling result: {await _sample(ctx, 'What is the capital of France?', 100)}"


@mcp.tool(description="MRTR: returns InputRequiredResult with roots/list request")
async def test_input_required_result_list_roots(ctx: Context) -> str:
    roots = await ctx.session.list_roots()
    return f"Found {len(roots.roots)} root(s)"


@mcp.tool(description="MRTR: returns InputRequiredResult with requestState")
async def test_input_required_result_request_state(ctx: Context) -> str:
    answer = await _elicit(ctx, "Please confirm", _form("ok", "boolean"))
    if (answer.content or {}).get("ok") is True:
        return "state-ok: requestState validated"
    return "state-not-confirmed"


@mcp.tool(description="MRTR: multi-round InputRequiredResult workflow")
async def test_input_required_result_multi_round(ctx: Context) -> str:
    first = await _elicit(ctx, "Step 1: What is your name?", _form("name"))
    second = await _elicit(ctx, "Step 2: What is your favorite color?", _form("color"))
    return f"Multi-round complete for {_field(first, 'name')} who likes {_field(second, 'color')}"


@mcp.tool(description="MRTR: HMAC-signed requestState integrity test")
async def test_input_required_result_tampered_state(ctx: Context) -> str:
    await _elicit(ctx, "Please confirm", _form("ok", "boolean"))
    return "integrity-ok: state verified"


@mcp.tool(description="MRTR: respects client capabilities in inputRequests")
async def test_input_required_result_capabilities(ctx: Context) -> str:
    capabilities = ctx.client_capabilities
    received = 0
    if capabilities is not None and capabilities.elicitation is not None:
        await _elicit(ctx, "Elicitation input", _form("value"))
        received += 1
    if capabilities is not None and capabilities.sampling is not None:
        await _sample(ctx, "Sample request", 50)
        received += 1
    return f"capabilities-ok: received {received} input(s)"


@mcp.tool(description="Diagnostic tool validating response progress streams")
async def test_streaming_elicitation(ctx: Context) -> str:
    await ctx.report_progress(50, 100)
    return "Streaming complete"


@mcp.tool(description="Diagnostic logging validator tool")
async def test_logging_tool(ctx: Context) -> str:
    await ctx.info("Diagnostic trace logging activated")
    return "Logging evaluated"


def test_dynamic_tool() -> str:
    """A tool that comes and goes"""
    return "dynamic"


@mcp.tool(description="Adds or removes a tool, so that list-changed notifications flow")
async def test_trigger_tool_change(ctx: Context) -> str:
    if any(tool.name == "test_dynamic_tool" for tool in await mcp.list_tools()):
        mcp.remove_tool("test_dynamic_tool")
    else:
        mcp.add_tool(test_dynamic_tool)
    await ctx.notify_tools_changed()
    return "Mutation triggered"


def test_dynamic_prompt() -> str:
    """A prompt that comes and goes"""
    return "dynamic prompt"


@mcp.tool(description="Adds or removes a prompt, so that list-changed notifications flow")
async def test_trigger_prompt_change(ctx: Context) -> str:
    if any(prompt.name == "test_dynamic_prompt" for prompt in await mcp.list_prompts()):
        mcp.remove_prompt("test_dynamic_prompt")
    else:
        mcp.add_prompt(Prompt.from_function(test_dynamic_prompt))
    await ctx.notify_prompts_changed()
    return "Mutation triggered"


@mcp.resource(
    "test://static-text",
    name="static-text",
    title="Static Text Resource",
    description="A static text resource for testing",
    mime_type="text/plain",
)
def static_text() -> str:
    return "This is the content of the static text resource."


@mcp.resource(
    "test://static-binary",
    name="static-binary",
    title="Static Binary Resource",
    description="A static binary resource (image) for testing",
    mime_type="image/png",
)
def static_binary() -> bytes:
    import base64

    return base64.b64decode(IMAGE_PNG)


@mcp.resource(
    "test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
def template(id: str) -> str:
    return _json({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@mcp.prompt(title="Simple Test Prompt", description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@mcp.prompt(title="Prompt With Arguments", description="A prompt with required arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@mcp.prompt(
    title="Prompt With Embedded Resource", description="A prompt that includes an embedded resource"
)
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # noqa: N803
) -> list[dict[str, Any]]:
    embedded = _embedded(resourceUri, "Embedded resource content for testing.")
    return [
        {"role": "user", "content": embedded.model_dump(by_alias=True, exclude_none=True)},
        {"role": "user", "content": "Please process the embedded resource above."},
    ]


@mcp.prompt(title="Prompt With Image", description="A prompt that includes image content")
def test_prompt_with_image() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": _image().model_dump(by_alias=True, exclude_none=True)},
        {"role": "user", "content": "Please analyze the image above."},
    ]


@mcp.prompt(description="MRTR: prompt that requires elicitation input")
async def test_input_required_result_prompt(ctx: Context) -> str:
    answer = await _elicit(ctx, "What context should the prompt use?", _form("context"))
    return f"Prompt with context: {_field(answer, 'context')}"


SUGGESTIONS = {"arg1": ["paris", "park", "party"], "arg2": ["blue", "green", "red"]}


@mcp.completion()
async def complete(ref: Any, argument: Any, context: Any) -> Completion:
    options = SUGGESTIONS.get(argument.name, [])
    values = [option for option in options if option.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)

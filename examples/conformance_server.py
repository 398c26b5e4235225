"""The server contract of the official MCP conformance suite, on mcpfleet.

Serve it with ``mcpfleet serve examples.conformance_server:app`` and point
``npx @modelcontextprotocol/conformance server --url http://127.0.0.1:3000/mcp``
at it. Tool, resource and prompt names follow the suite's example servers.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, Field

from mcpfleet import Context, Server, ToolError, content, header_param
from mcpfleet.errors import InternalError

# A 1x1 red PNG and a minimal WAV file, as the conformance suite expects them.
IMAGE_PNG = "".join(
    [
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Dw",
        "HwAFBQIAX8jx0gAAAABJRU5ErkJggg==",
    ]
)
AUDIO_WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

# A tool that may run as a task becomes one after 200 ms (the suite's slow tools take 1 s).
app = Server("mcp-conformance-test-server", "1.0.0", list_ttl_ms=300_000, task_after_ms=200)
app.enable_subscriptions()

EMPTY = {"type": "object", "properties": {}}


def _elicit_text(answer: dict[str, Any], field: str) -> str:
    value = (answer.get("content") or {}).get(field)
    return str(value) if value is not None else "unknown"


def _form(message: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "method": "elicitation/create",
        "params": {
            "message": message,
            "requestedSchema": {"type": "object", "properties": properties, "required": required},
        },
    }


def _sampling(text: str, max_tokens: int) -> dict[str, Any]:
    message = {"role": "user", "content": {"type": "text", "text": text}}
    return {
        "method": "sampling/createMessage",
        "params": {"messages": [message], "maxTokens": max_tokens},
    }


ROOTS = {"method": "roots/list", "params": {}}

# -- content tools ----------------------------------------------------------


@app.tool()
async def test_simple_text() -> str:
    """Tests simple text content response"""
    return "This is a simple text response for testing."


@app.tool()
async def test_image_content() -> content.ContentBlock:
    """Tests image content response"""
    return content.image(IMAGE_PNG, "image/png")


@app.tool()
async def test_audio_content() -> content.ContentBlock:
    """Tests audio content response"""
    return content.audio(AUDIO_WAV, "audio/wav")


@app.tool()
async def test_embedded_resource() -> content.ContentBlock:
    """Tests embedded resource content response"""
    return content.embedded_resource(
        content.text_resource("test://embedded-resource", "This is an embedded resource content.")
    )


@app.tool()
async def test_multiple_content_types() -> list[content.ContentBlock]:
    """Tests response with multiple content types (text, image, resource)"""
    data = orjson.dumps({"test": "data", "value": 123}).decode()
    return [
        content.text("Multiple content types test:"),
        content.image(IMAGE_PNG, "image/png"),
        content.embedded_resource(
            content.text_resource("test://mixed-content-resource", data, "application/json")
        ),
    ]


@app.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    """Tests tool that emits log messages during execution"""
    await ctx.log("info", "Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.log("info", "Tool execution completed")
    return "Tool with logging executed successfully"


@app.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    """Tests tool that reports progress notifications"""
    for step in (0, 50, 100):
        await ctx.progress(step, 100, f"Completed step {step} of 100")
        if step < 100:
            await asyncio.sleep(0.05)
    return str(ctx.progress_token if ctx.progress_token is not None else 0)


@app.tool()
async def test_error_handling() -> str:
    """Tests error response handling"""
    raise ToolError("This tool intentionally returns an error for testing")


@app.tool()
async def test_reconnection(ctx: Context) -> str:
    """Tests SSE stream disconnection and client reconnection (SEP-1699)"""
    await ctx.close_stream(retry_ms=200)
    await asyncio.sleep(0.1)
    return (
        "Reconnection test completed successfully. If you received this, "
        "the client properly reconnected after stream closure."
    )


# -- tools that ask the client ----------------------------------------------


@app.tool()
async def test_sampling(
    prompt: Annotated[str, Field(description="The prompt to send to the LLM")], ctx: Context
) -> str:
    """Tests server-initiated sampling (LLM completion request)"""
    result = await ctx.sample(prompt, max_tokens=100)
    reply = (result.get("content") or {}).get("text", "No response")
    return f"LLM response: {reply}"


@app.tool()
async def test_elicitation(
    message: Annotated[str, Field(description="The message to show the user")], ctx: Context
) -> str:
    """Tests server-initiated elicitation (user input request)"""
    schema = {
        "type": "object",
        "properties": {"response": {"type": "string", "description": "User's response"}},
        "required": ["response"],
    }
    result = await ctx.elicit(message, schema)
    return f"User response: action={result.action}, content={_json(result.content or {})}"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


DEFAULTS_SCHEMA = {
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


@app.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Tests elicitation with default values per SEP-1034"""
    result = await ctx.elicit(
        "Please review and update the form fields with defaults", DEFAULTS_SCHEMA
    )
    return f"Elicitation completed: action={result.action}, content={_json(result.content or {})}"


def _titled(prefix: str, word: str) -> list[dict[str, str]]:
    names = ("First", "Second", "Third")
    return [{"const": f"{prefix}{i + 1}", "title": f"{names[i]} {word}"} for i in range(3)]


ENUMS_SCHEMA = {
    "type": "object",
    "properties": {
        "untitledSingle": {
            "type": "string",
            "description": "Select one option",
            "enum": ["option1", "option2", "option3"],
        },
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": _titled("value", "Option"),
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
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": {"anyOf": _titled("value", "Choice")},
        },
    },
    "required": [],
}


@app.tool()
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Tests elicitation with enum schema improvements per SEP-1330"""
    result = await ctx.elicit("Please select options from the enum fields", ENUMS_SCHEMA)
    return f"Elicitation completed: action={result.action}, content={_json(result.content or {})}"


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


class Address(BaseModel):
    street: str | None = None
    city: str | None = None


@app.tool(input_schema=JSON_SCHEMA_2020_12)
async def json_schema_2020_12_tool(
    name: str | None = None,
    address: Address | None = None,
    contactMethod: str | None = None,  # noqa: N803 (the wire name)
    phone: str | None = None,
    email: str | None = None,
) -> str:
    """Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)"""
    args: dict[str, Any] = {
        "name": name,
        "contactMethod": contactMethod,
        "phone": phone,
        "email": email,
    }
    if address is not None:
        args["address"] = address.model_dump(exclude_none=True)
    return f"JSON Schema 2020-12 tool called with: {_json({k: v for k, v in args.items() if v})}"


@app.tool()
async def test_header_params(
    region: Annotated[str, header_param("Region", description="Where to run")],
    query: str = "",
) -> str:
    """Echoes a parameter mirrored in the Mcp-Param-Region header"""
    return f"region={region} query={query}"


# -- 2026-07-28: capabilities, MRTR, listen ---------------------------------


@app.tool(requires={"sampling": {}})
async def test_missing_capability() -> str:
    """Test tool requiring sampling"""
    return "Success"


@app.tool()
async def test_input_required_result_elicitation(ctx: Context) -> str:
    """MRTR: returns InputRequiredResult with elicitation request"""
    answers = await ctx.ask(
        {"user_name": _form("What is your name?", {"name": {"type": "string"}}, ["name"])}
    )
    return f"Hello, {_elicit_text(answers['user_name'], 'name')}!"


@app.tool()
async def test_input_required_result_sampling(ctx: Context) -> str:
    """MRTR: returns InputRequiredResult with sampling request"""
    (answer,) = await ctx.ask([_sampling("What is the capital of France?", 100)])
    text = (answer.get("content") or {}).get("text", "no response")
    return f"Sampling result: {text}"


@app.tool()
async def test_input_required_result_list_roots(ctx: Context) -> str:
    """MRTR: returns InputRequiredResult with roots/list request"""
    roots = await ctx.list_roots()
    return f"Found {len(roots)} root(s)"


@app.tool()
async def test_input_required_result_request_state(ctx: Context) -> str:
    """MRTR: returns InputRequiredResult with requestState"""
    (answer,) = await ctx.ask([_form("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])])
    if (answer.get("content") or {}).get("ok") is True:
        return "state-ok: requestState validated"
    return "state-not-confirmed"


@app.tool()
async def test_input_required_result_multiple_inputs(ctx: Context) -> str:
    """MRTR: returns InputRequiredResult with multiple input requests"""
    name, greeting, roots = await ctx.ask(
        [
            _form("What is your name?", {"name": {"type": "string"}}, ["name"]),
            _sampling("Generate a greeting", 50),
            ROOTS,
        ]
    )
    text = (greeting.get("content") or {}).get("text", "Hello there!")
    return (
        f"Name: {_elicit_text(name, 'name')}; Greeting: {text}; "
        f"Roots: {len(roots.get('roots', []))}"
    )


@app.tool()
async def test_input_required_result_multi_round(ctx: Context) -> str:
    """MRTR: multi-round InputRequiredResult workflow"""
    (first,) = await ctx.ask(
        [_form("Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])]
    )
    (second,) = await ctx.ask(
        [_form("Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"])]
    )
    return (
        f"Multi-round complete for {_elicit_text(first, 'name')} "
        f"who likes {_elicit_text(second, 'color')}"
    )


@app.tool()
async def test_input_required_result_tampered_state(ctx: Context) -> str:
    """MRTR: HMAC-signed requestState integrity test"""
    await ctx.ask([_form("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])])
    return "integrity-ok: state verified"


@app.tool()
async def test_input_required_result_capabilities(ctx: Context) -> str:
    """MRTR: respects client capabilities in inputRequests"""
    wanted = []
    if "elicitation" in ctx.client_capabilities:
        wanted.append(_form("Elicitation input", {"value": {"type": "string"}}, ["value"]))
    if "sampling" in ctx.client_capabilities:
        wanted.append(_sampling("Sample request", 50))
    answers = await ctx.ask(wanted) if wanted else []
    return f"capabilities-ok: received {len(answers)} input(s)"


@app.tool()
async def test_streaming_elicitation(ctx: Context) -> str:
    """Diagnostic tool validating response progress streams"""
    await ctx.progress(50, 100)
    return "Streaming complete"


@app.tool()
async def test_logging_tool(ctx: Context) -> str:
    """Diagnostic logging validator tool"""
    await ctx.log("info", "Diagnostic trace logging activated")
    return "Logging evaluated"


async def _dynamic_tool() -> str:
    """A tool that comes and goes"""
    return "dynamic"


@app.tool()
async def test_trigger_tool_change() -> str:
    """Adds or removes a tool, so that list-changed notifications flow"""
    if "test_dynamic_tool" in app.tools:
        app.remove_tool("test_dynamic_tool")
    else:
        app.tool("test_dynamic_tool")(_dynamic_tool)
    return "Mutation triggered"


def _dynamic_prompt() -> str:
    """A prompt that comes and goes"""
    return "dynamic prompt"


@app.tool()
async def test_trigger_prompt_change() -> str:
    """Adds or removes a prompt, so that list-changed notifications flow"""
    if "test_dynamic_prompt" in app.prompts:
        app.remove_prompt("test_dynamic_prompt")
    else:
        app.prompt("test_dynamic_prompt")(_dynamic_prompt)
    return "Mutation triggered"


# -- 2026-07-28: the tasks extension ------------------------------------------


@app.tool()
async def greet(name: str) -> str:
    """Greets by name, at once (never a task)"""
    return f"Hello, {name}!"


@app.tool(task="optional")
async def slow_compute(seconds: int, label: str = "") -> str:
    """Works for the given seconds; a task for a client that declares tasks"""
    await asyncio.sleep(seconds)
    return f"Computed {label} in {seconds}s"


@app.tool(task="required")
async def failing_job() -> str:
    """Runs only as a task, then fails as a tool (isError)"""
    await asyncio.sleep(1)
    raise ToolError("job failed")


@app.tool(task="optional")
async def protocol_error_job() -> str:
    """Runs as a task, then fails with a JSON-RPC error"""
    await asyncio.sleep(0.5)
    raise InternalError("the job hit an internal error")


@app.tool(task="optional", task_after_ms=0)
async def confirm_delete(filename: str, ctx: Context) -> str:
    """A task at once, that asks the user to confirm a deletion"""
    answers = await ctx.ask(
        {"confirm": _form(f"Delete {filename}?", {"confirm": {"type": "boolean"}}, ["confirm"])}
    )
    answer = answers["confirm"]
    confirmed = answer.get("action") == "accept" and (answer.get("content") or {}).get("confirm")
    return f"Deleted {filename}" if confirmed else f"Kept {filename}"


@app.tool(task="optional", task_after_ms=0)
async def multi_input(ctx: Context) -> str:
    """A task at once, that asks two questions together"""
    schema = {"name": {"type": "string"}, "confirm": {"type": "boolean"}}
    answers = await ctx.ask(
        {"first": _form("First?", schema, ["name"]), "second": _form("Second?", schema, ["name"])}
    )
    return f"first={_elicit_text(answers['first'], 'name')}, " + (
        f"second={_elicit_text(answers['second'], 'name')}"
    )


@app.tool(task="required")
async def test_tool_with_task(ctx: Context) -> str:
    """Asks a name by MRTR, then works as a task"""
    answers = await ctx.ask(
        {"user_name": _form("What is your name?", {"name": {"type": "string"}}, ["name"])}
    )
    await asyncio.sleep(1)
    return f"Hello, {_elicit_text(answers['user_name'], 'name')}!"


# -- resources --------------------------------------------------------------


@app.resource(
    "test://static-text",
    name="static-text",
    title="Static Text Resource",
    description="A static text resource for testing",
    mime_type="text/plain",
)
async def static_text() -> str:
    return "This is the content of the static text resource."


@app.resource(
    "test://static-binary",
    name="static-binary",
    title="Static Binary Resource",
    description="A static binary resource (image) for testing",
    mime_type="image/png",
)
async def static_binary() -> dict[str, Any]:
    return {"mimeType": "image/png", "blob": IMAGE_PNG}


@app.resource(
    "test://template/{id}/data",
    name="template",
    title="Resource Template",
    description="A resource template with parameter substitution",
    mime_type="application/json",
)
async def template(id: str) -> str:
    return _json({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


watched = {"content": "Watched resource content"}


@app.resource(
    "test://watched-resource",
    name="watched-resource",
    title="Watched Resource",
    description="A resource that changes when touched",
    mime_type="text/plain",
)
async def watched_resource() -> str:
    return watched["content"]


@app.tool()
async def test_touch_watched_resource(value: str = "changed") -> str:
    """Changes test://watched-resource and notifies its subscribers"""
    watched["content"] = value
    app.resource_updated("test://watched-resource")
    return "updated"


# -- prompts ----------------------------------------------------------------


@app.prompt(title="Simple Test Prompt", description="A simple prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@app.prompt(title="Prompt With Arguments", description="A prompt with required arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@app.prompt(
    title="Prompt With Embedded Resource", description="A prompt that includes an embedded resource"
)
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],  # noqa: N803
) -> list[dict[str, Any]]:
    return [
        content.embedded_resource(
            content.text_resource(resourceUri, "Embedded resource content for testing.")
        ),
        content.text("Please process the embedded resource above."),
    ]


@app.prompt(title="Prompt With Image", description="A prompt that includes image content")
def test_prompt_with_image() -> list[dict[str, Any]]:
    return [content.image(IMAGE_PNG, "image/png"), content.text("Please analyze the image above.")]


@app.prompt(description="MRTR: prompt that requires elicitation input")
async def test_input_required_result_prompt(ctx: Context) -> str:
    (answer,) = await ctx.ask(
        [_form("What context should the prompt use?", {"context": {"type": "string"}}, ["context"])]
    )
    return f"Prompt with context: {_elicit_text(answer, 'context')}"


# -- completion ---------------------------------------------------------------

SUGGESTIONS = {"arg1": ["paris", "park", "party"], "arg2": ["blue", "green", "red"]}


@app.completion()
def complete(ref: dict[str, Any], argument: dict[str, Any], context: dict[str, Any]) -> list[str]:
    prefix = str(argument.get("value", ""))
    options = SUGGESTIONS.get(str(argument.get("name")), [])
    return [option for option in options if option.startswith(prefix)]

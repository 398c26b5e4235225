"""The MCP operations on an app, shared by both protocol generations.

Each function takes a ``Server``, the request params and a ``Context``, runs
the user's handler and returns the result body that both eras share. The era's
own fields (``resultType``, cache hints) are added by the era's dispatcher.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from mcpfleet.auth.principal import missing_scopes
from mcpfleet.errors import (
    InputRequired,
    InvalidParams,
    McpfleetError,
    MissingClientCapability,
    ResourceNotFound,
    ToolError,
)
from mcpfleet.observe.metrics import METRICS
from mcpfleet.protocol.jsonrpc import UNENCODABLE
from mcpfleet.protocol.tasks import declares_tasks, tasks_not_declared
from mcpfleet.server.app import Server
from mcpfleet.server.content import ToolResult, as_content_list, blob_resource, text
from mcpfleet.server.context import Context
from mcpfleet.server.registry import Handler, Tool
from mcpfleet.server.signature import Signature
from mcpfleet.server.threads import TOOL_THREADS

log = logging.getLogger("mcpfleet.server")
# One ``tool_call`` line per call, off unless LOG_CALLS is set (it costs on every call).
calls_log = logging.getLogger("mcpfleet.calls")


def _log_call(tool: str, duration_ms: float, failed: bool, ctx: Context, waited: float) -> None:
    traceparent = ctx.meta.get("traceparent") if isinstance(ctx.meta, dict) else None
    trace_id = (
        traceparent.split("-")[1]
        if isinstance(traceparent, str) and traceparent.count("-") == 3
        else None
    )
    calls_log.info(
        "tool call",
        extra={
            "event": "tool_call",
            "tool": tool,
            "durationMs": round(duration_ms, 3),
            "success": not failed,
            "requestId": ctx.request_id,
            "sessionId": ctx.session_id,
            "protocolVersion": ctx.protocol_version,
            "traceId": trace_id,
            "threadWaitMs": round(waited * 1000, 3),
        },
    )


# A handler's Context is made only if the handler asks for one.
ContextSource = Callable[[], Context]


async def invoke(
    func: Handler, signature: Signature, kwargs: dict[str, Any], ctx: ContextSource
) -> Any:
    """Call a handler: async ones on the loop, sync ones on a tool thread."""
    if signature.context_param is not None:
        kwargs[signature.context_param] = ctx()
    if signature.is_async:
        return await func(**kwargs)
    value, _ = await TOOL_THREADS.run(func, kwargs)
    return value


async def run_tool(tool: Tool, kwargs: dict[str, Any], ctx: ContextSource) -> tuple[Any, float]:
    """Run a tool within its concurrency limit; its value, and how long it waited for a
    thread (sync tools) in seconds."""
    signature = tool.signature
    if signature.context_param is not None:
        kwargs[signature.context_param] = ctx()
    if tool.max_concurrency is None:
        if signature.is_async:
            return await tool.func(**kwargs), 0.0
        return await TOOL_THREADS.run(tool.func, kwargs)
    async with tool.slots():
        if signature.is_async:
            return await tool.func(**kwargs), 0.0
        return await TOOL_THREADS.run(tool.func, kwargs)


def _page(items: Sequence[dict[str, Any]], cursor: Any, size: int) -> tuple[list[Any], str | None]:
    start = 0
    if cursor is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(cursor).encode()).decode())
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidParams("Invalid params: unknown cursor") from None
        if not 0 <= start <= len(items):
            raise InvalidParams("Invalid params: unknown cursor")
    end = start + size
    following = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return list(items[start:end]), following


def _listing(
    key: str, items: Sequence[dict[str, Any]], params: dict[str, Any], size: int
) -> dict[str, Any]:
    page, following = _page(items, params.get("cursor"), size)
    result: dict[str, Any] = {key: page}
    if following is not None:
        result["nextCursor"] = following
    return result


def _visible(
    server: Server, items: Sequence[Any], ctx: ContextSource
) -> tuple[list[dict[str, Any]], bool]:
    """The wires of the items a caller may use, and whether the listing depends on the
    caller (some item needs a scope): such a listing must not be cached for others."""
    if not server.filter_lists or not any(item.scopes for item in items):
        return [item.wire for item in items], False
    principal = ctx().principal
    granted = frozenset() if principal is None else principal.scopes
    implied = server.scope_implies
    return [
        item.wire
        for item in items
        if not item.scopes or not missing_scopes(granted, item.scopes, implied)
    ], True


def _filtered_listing(
    key: str, server: Server, items: Sequence[Any], params: dict[str, Any], ctx: ContextSource
) -> dict[str, Any]:
    wires, private = _visible(server, items, ctx)
    result = _listing(key, wires, params, server.page_size)
    if private:
        result["cacheScope"] = "private"
    return result


async def list_tools(server: Server, params: dict[str, Any], ctx: ContextSource) -> dict[str, Any]:
    return _filtered_listing("tools", server, list(server.tools.values()), params, ctx)


async def list_resources(
    server: Server, params: dict[str, Any], ctx: ContextSource
) -> dict[str, Any]:
    return _filtered_listing("resources", server, list(server.resources.values()), params, ctx)


async def list_templates(
    server: Server, params: dict[str, Any], ctx: ContextSource
) -> dict[str, Any]:
    return _filtered_listing("resourceTemplates", server, server.templates, params, ctx)


async def list_prompts(
    server: Server, params: dict[str, Any], ctx: ContextSource
) -> dict[str, Any]:
    return _filtered_listing("prompts", server, list(server.prompts.values()), params, ctx)


def _require_capabilities(required: dict[str, Any], declared: dict[str, Any]) -> None:
    missing = {name: value for name, value in required.items() if name not in declared}
    if missing:
        raise MissingClientCapability(missing)


def _arguments(params: dict[str, Any]) -> dict[str, Any]:
    arguments = params.get("arguments")
    if arguments is None:
        return {}
    if not isinstance(arguments, dict):
        raise InvalidParams("Invalid params: arguments must be an object")
    return arguments


async def call_tool(server: Server, params: dict[str, Any], ctx: ContextSource) -> dict[str, Any]:
    name = params.get("name")
    tool = server.tools.get(name) if isinstance(name, str) else None
    if tool is None:
        raise InvalidParams(f"Unknown tool: {name}")
    arguments = _arguments(params)
    if tool.task == "required" and not declares_tasks(ctx().client_capabilities):
        raise tasks_not_declared()
    if tool.required_capabilities:
        _require_capabilities(tool.required_capabilities, ctx().client_capabilities)
    try:
        kwargs = tool.signature.bind(arguments)
    except InvalidParams as exc:
        return ToolResult([text(exc.message)], is_error=True).to_wire()
    started = time.perf_counter()
    failed = True
    signature = tool.signature
    waited = 0.0
    try:
        if signature.is_async and signature.context_param is None and tool.plain:
            value = await tool.func(**kwargs)  # the common case, without a frame between
        else:
            value, waited = await run_tool(tool, kwargs, ctx)
        failed = False
    except ToolError as exc:
        return ToolResult([text(str(exc) or "Tool failed")], is_error=True).to_wire()
    except InputRequired:
        failed = False  # a round of questions to the client, not a failure
        raise
    except McpfleetError:
        raise
    except Exception:
        log.exception("tool %s failed", tool.name, extra={"event": "tool_error", "tool": tool.name})
        return ToolResult([text(f"Tool '{tool.name}' failed")], is_error=True).to_wire()
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        METRICS.tool_call(tool.name, elapsed, failed)
        if calls_log.isEnabledFor(logging.INFO):
            _log_call(tool.name, elapsed, failed, ctx(), waited)
    if type(value) is str and signature.output_adapter is None:
        return {"content": [{"type": "text", "text": value}]}  # the common case, at once
    return encodable_result(tool, value)


def encodable_result(tool: Tool, value: Any) -> dict[str, Any]:
    """The tool's result body, or a tool error when its value cannot be encoded."""
    try:
        return tool_result(tool.signature, value)
    except (TypeError, ValueError) as exc:  # orjson's and pydantic's refusals to encode
        log.warning(
            "tool %s returned a result that cannot be encoded: %s",
            tool.name,
            type(exc).__name__,
            extra={"event": "tool_error", "tool": tool.name},
        )
        return ToolResult([text(UNENCODABLE)], is_error=True).to_wire()


def tool_result(signature: Signature, value: Any) -> dict[str, Any]:
    """A handler's return value as a CallToolResult body."""
    if isinstance(value, ToolResult):
        return value.to_wire()
    if signature.output_adapter is not None:
        dumped = signature.output_adapter.dump_python(value, mode="json")
        structured = {"result": dumped} if signature.wrap_output else dumped
        return {"content": [text(orjson.dumps(dumped).decode())], "structuredContent": structured}
    if value is None:
        return {"content": []}
    if type(value) is str:
        return {"content": [{"type": "text", "text": value}]}
    content = as_content_list(value)
    if content is None:
        content = [text(orjson.dumps(value, default=str).decode())]
    return {"content": content}


async def read_resource(
    server: Server, params: dict[str, Any], ctx: ContextSource
) -> dict[str, Any]:
    uri = params.get("uri")
    if not isinstance(uri, str):
        raise InvalidParams("Invalid params: uri must be a string")
    resource = server.resources.get(uri)
    if resource is not None:
        value = await invoke(resource.func, resource.signature, {}, ctx)
        return {"contents": resource_contents(uri, value, resource.mime_type)}
    for template in server.templates:
        variables = template.match(uri)
        if variables is None:
            continue
        try:
            kwargs = template.signature.bind(variables)
        except InvalidParams:
            continue
        value = await invoke(template.func, template.signature, kwargs, ctx)
        return {"contents": resource_contents(uri, value, template.mime_type)}
    raise ResourceNotFound(uri)


def resource_contents(uri: str, value: Any, mime_type: str | None) -> list[dict[str, Any]]:
    """A resource handler's return value as a list of contents."""
    if isinstance(value, str):
        contents = {"uri": uri, "text": value}
        if mime_type:
            contents["mimeType"] = mime_type
        return [contents]
    if isinstance(value, bytes):
        return [blob_resource(uri, value, mime_type or "application/octet-stream")]
    if isinstance(value, dict) and ("text" in value or "blob" in value):
        return [{"uri": uri, **value}]
    if isinstance(value, list):
        return value
    return [{"uri": uri, "mimeType": "application/json", "text": orjson.dumps(value).decode()}]


async def get_prompt(server: Server, params: dict[str, Any], ctx: ContextSource) -> dict[str, Any]:
    name = params.get("name")
    prompt = server.prompts.get(name) if isinstance(name, str) else None
    if prompt is None:
        raise InvalidParams(f"Unknown prompt: {name}")
    arguments = params.get("arguments") or {}
    if not isinstance(arguments, dict):
        raise InvalidParams("Invalid params: arguments must be an object")
    kwargs = prompt.signature.bind(arguments)
    value = await invoke(prompt.func, prompt.signature, kwargs, ctx)
    if isinstance(value, dict) and "messages" in value:
        return value
    return {"messages": prompt_messages(value)}


def prompt_messages(value: Any) -> list[dict[str, Any]]:
    """A prompt handler's return: text, one message, or a list of messages or text."""
    items = value if isinstance(value, list) else [value]
    messages = []
    for item in items:
        if isinstance(item, str):
            messages.append({"role": "user", "content": text(item)})
        elif isinstance(item, dict) and "role" in item:
            messages.append(item)
        elif isinstance(item, dict) and "type" in item:
            messages.append({"role": "user", "content": item})
        else:
            raise TypeError("a prompt returns text, content blocks or messages")
    return messages


async def complete(server: Server, params: dict[str, Any], ctx: ContextSource) -> dict[str, Any]:
    ref = params.get("ref")
    argument = params.get("argument")
    if not isinstance(ref, dict) or not isinstance(argument, dict):
        raise InvalidParams("Invalid params: ref and argument are required")
    values: Any = []
    if server.completion_handler is not None:
        context = params.get("context") or {}
        values = server.completion_handler(ref, argument, context)
        if asyncio.iscoroutine(values):
            values = await values
    if isinstance(values, dict):
        return {"completion": values}
    listed = [str(v) for v in values][:100]
    return {"completion": {"values": listed, "total": len(listed), "hasMore": False}}


Operation = Callable[[Server, dict[str, Any], ContextSource], Awaitable[dict[str, Any]]]


# The operations both protocol generations share, by method.
OPERATIONS: dict[str, Operation] = {
    "tools/list": list_tools,
    "tools/call": call_tool,
    "resources/list": list_resources,
    "resources/templates/list": list_templates,
    "resources/read": read_resource,
    "prompts/list": list_prompts,
    "prompts/get": get_prompt,
    "completion/complete": complete,
}

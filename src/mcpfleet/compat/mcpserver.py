"""Calls into an mcp 2.x ``MCPServer``: its public ``call_tool``, ``read_resource`` and
``get_prompt``, each given an SDK ``Context`` built on the mcpfleet request; tools/call
goes through ``compat.tools`` where the SDK's internals were tested."""

from __future__ import annotations

import base64
import logging
from typing import Any

from mcpfleet.compat.sdk import dump, sdk
from mcpfleet.compat.session import SdkRequest
from mcpfleet.compat.tools import DirectTools, direct_tools_tested
from mcpfleet.compat.translate import carried
from mcpfleet.errors import InternalError, ResourceNotFound

log = logging.getLogger("mcpfleet.compat")


class McpServerCalls:
    """What the bridge asks of an ``MCPServer`` (mcp 2.x)."""

    def __init__(self, app: Any, *, direct: bool | None = None) -> None:
        """``direct``: call tools through ``compat.tools`` (by default, when the
        installed SDK's internals were tested); else through the public ``call_tool``."""
        self.app = app
        if direct is None:
            direct = direct_tools_tested(app)
        self.tools = DirectTools(app) if direct else None
        self._errors = sdk("server.mcpserver.exceptions")

    def lifespan(self) -> Any:
        return self.app.settings.lifespan

    def server_info(self) -> dict[str, Any]:
        return dump(self.app._lowlevel_server.server_info)

    def listings(self) -> dict[str, Any]:
        """The server's list results (SDK models), by the key their items travel under."""
        from mcpfleet.compat.bridge import run_now

        app, types = self.app, sdk("types")
        return {
            "tools": types.ListToolsResult(tools=run_now(app.list_tools())),
            "resources": types.ListResourcesResult(resources=run_now(app.list_resources())),
            "resourceTemplates": types.ListResourceTemplatesResult(
                resource_templates=run_now(app.list_resource_templates())
            ),
            "prompts": types.ListPromptsResult(prompts=run_now(app.list_prompts())),
        }

    def has_completion(self) -> bool:
        return self.app._lowlevel_server.get_request_handler("completion/complete") is not None

    def context(self, request: SdkRequest) -> Any:
        """An SDK ``Context`` for one request, answered by mcpfleet's."""
        ctx = request.ctx
        request_context = sdk("server.context").ServerRequestContext(
            session=request.session,
            lifespan_context=request.lifespan,
            protocol_version=ctx.protocol_version,
            method=ctx.method,
            request_id=ctx.request_id,
            meta=ctx.meta or None,
            close_sse_stream=ctx.close_stream,
        )
        return sdk("server.mcpserver").Context(
            request_context=request_context, mcp_server=self.app, subscriptions=request.relay
        )

    async def call_tool(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]:
        errors = self._errors
        tools = self.tools
        tool = None if tools is None else tools.find(name)
        try:
            if tools is None or tool is None:
                result = await self.app.call_tool(name, arguments, self.context(request))
            else:
                result = await tools.call(tool, arguments, lambda: self.context(request))
        except errors.ToolError as exc:  # as the SDK's own tools/call handler answers it
            inner = carried(exc)
            if inner is not None:
                raise inner from None
            if isinstance(exc, errors.UnexpectedToolError):
                log.error("tool %s failed", name, exc_info=exc.__cause__)
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        body: dict[str, Any] = result if isinstance(result, dict) else dump(result)
        if body.get("resultType") == "input_required":
            raise InternalError()  # the SDK's own MRTR: not served (see inventory)
        return body

    async def read_resource(self, uri: str, request: SdkRequest) -> list[dict[str, Any]]:
        errors = sdk("server.mcpserver.exceptions")
        try:
            results = await self.app.read_resource(uri, self.context(request))
        except errors.ResourceNotFoundError:
            raise ResourceNotFound(uri) from None
        if not isinstance(results, list | tuple):
            raise InternalError()  # an InputRequiredResult: the SDK's own MRTR
        return [resource_contents(uri, item) for item in results]

    async def get_prompt(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]:
        result = await self.app.get_prompt(name, arguments, self.context(request))
        body: dict[str, Any] = dump(result)
        if "messages" not in body:
            raise InternalError()  # an InputRequiredResult: the SDK's own MRTR
        return body

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = self.app._lowlevel_server.get_request_handler("completion/complete")
        result = await entry.handler(None, entry.params_type.model_validate(body))
        completion: dict[str, Any] = dump(result)["completion"]
        return completion


def resource_contents(uri: str, item: Any) -> dict[str, Any]:
    """One ``ReadResourceContents`` as the SDK puts it on the wire."""
    if isinstance(item.content, bytes):
        contents = {
            "uri": uri,
            "mimeType": item.mime_type or "application/octet-stream",
            "blob": base64.b64encode(item.content).decode(),
        }
    else:
        contents = {"uri": uri, "mimeType": item.mime_type or "text/plain", "text": item.content}
    if getattr(item, "meta", None):
        contents["_meta"] = item.meta
    return contents

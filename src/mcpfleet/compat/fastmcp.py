"""Calls into an mcp 1.x ``FastMCP``: through its low-level request handlers, so that
validation, result conversion and the app's errors are exactly the SDK's.

A 1.x handler finds its request in a context variable of the SDK's low-level
server (``request_ctx``): it is set, for the length of the call, to a request
context whose session is mcpfleet's (``compat.session.RequestSession``).
"""

from __future__ import annotations

from typing import Any

from mcpfleet.compat.sdk import dump, sdk, sdk_version
from mcpfleet.compat.session import SdkRequest


class FastMcpCalls:
    """What the bridge asks of a ``FastMCP`` (mcp 1.x)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def lifespan(self) -> Any:
        return self.app.settings.lifespan

    def server_info(self) -> dict[str, Any]:
        """As the 1.x ``initialize`` answers: an unversioned server gives the SDK's version."""
        lowlevel = self.app._mcp_server
        implementation = sdk("types").Implementation(
            name=lowlevel.name,
            version=lowlevel.version or sdk_version(),
            websiteUrl=lowlevel.website_url,
            icons=lowlevel.icons,
        )
        return dump(implementation)

    def _handler(self, name: str) -> Any:
        return self.app._mcp_server.request_handlers.get(getattr(sdk("types"), name))

    async def _dispatch(self, name: str, params: dict[str, Any], request: SdkRequest | None) -> Any:
        types = sdk("types")
        message = getattr(types, name).model_validate({"method": _METHODS[name], "params": params})
        variable = sdk("server.lowlevel.server").request_ctx
        token = variable.set(self._request_context(request)) if request is not None else None
        try:
            result = await self._handler(name)(message)
        finally:
            if token is not None:
                variable.reset(token)
        return dump(result.root)

    def _request_context(self, request: SdkRequest) -> Any:
        ctx = request.ctx
        meta = sdk("types").RequestParams.Meta.model_validate(
            {**(ctx.meta or {}), "progressToken": ctx.progress_token}
        )
        return sdk("shared.context").RequestContext(
            request_id=ctx.request_id,
            meta=meta,
            session=request.session,
            lifespan_context=request.lifespan,
            close_sse_stream=ctx.close_stream,
        )

    def listings(self) -> dict[str, Any]:
        from mcpfleet.compat.bridge import run_now

        app, types = self.app, sdk("types")
        return {
            "tools": types.ListToolsResult(tools=run_now(app.list_tools())),
            "resources": types.ListResourcesResult(resources=run_now(app.list_resources())),
            "resourceTemplates": types.ListResourceTemplatesResult(
                resourceTemplates=run_now(app.list_resource_templates())
            ),
            "prompts": types.ListPromptsResult(prompts=run_now(app.list_prompts())),
        }

    def has_completion(self) -> bool:
        return self._handler("CompleteRequest") is not None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]:
        params = {"name": name, "arguments": arguments}
        body: dict[str, Any] = await self._dispatch("CallToolRequest", params, request)
        return body

    async def read_resource(self, uri: str, request: SdkRequest) -> list[dict[str, Any]]:
        body = await self._dispatch("ReadResourceRequest", {"uri": uri}, request)
        contents: list[dict[str, Any]] = body["contents"]
        return contents

    async def get_prompt(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]:
        params = {"name": name, "arguments": arguments}
        body: dict[str, Any] = await self._dispatch("GetPromptRequest", params, request)
        return body

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        result = await self._dispatch("CompleteRequest", body, None)
        completion: dict[str, Any] = result["completion"]
        return completion


_METHODS = {
    "CallToolRequest": "tools/call",
    "ReadResourceRequest": "resources/read",
    "GetPromptRequest": "prompts/get",
    "CompleteRequest": "completion/complete",
}

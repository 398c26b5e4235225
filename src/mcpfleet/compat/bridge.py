"""An mcpfleet ``Server`` that serves an SDK server's registrations in-process.

Each SDK tool, resource, resource template and prompt becomes an mcpfleet
registration whose wire description is the SDK's own listing entry, unchanged
(so ``tools/list`` is byte-for-byte the SDK's), and whose handler calls into the
SDK server (``compat.mcpserver`` for mcp 2.x, ``compat.fastmcp`` for 1.x) with
the SDK's view of the mcpfleet request (``compat.session``). Validation, result
conversion and the app's own errors stay the SDK's; mcpfleet does the protocol,
both generations, sessions and the fleet.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from pydantic import create_model

from mcpfleet.compat.sdk import dump, sdk
from mcpfleet.compat.session import ChangeRelay, Lifespan, RequestSession, SdkRequest
from mcpfleet.compat.translate import protocol_error
from mcpfleet.errors import McpfleetError
from mcpfleet.protocol.headers import param_headers
from mcpfleet.server.app import Server
from mcpfleet.server.content import ToolResult
from mcpfleet.server.context import Context
from mcpfleet.server.registry import Prompt, Resource, ResourceTemplate, Tool
from mcpfleet.server.signature import Signature

_NO_FIELDS = create_model("sdk_arguments")


class SdkCalls(Protocol):
    """How the bridge reaches into one SDK generation's server."""

    def lifespan(self) -> Any: ...

    def server_info(self) -> dict[str, Any]: ...

    def listings(self) -> dict[str, Any]: ...

    def has_completion(self) -> bool: ...

    async def call_tool(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]: ...

    async def read_resource(self, uri: str, request: SdkRequest) -> list[dict[str, Any]]: ...

    async def get_prompt(
        self, name: str, arguments: dict[str, Any], request: SdkRequest
    ) -> dict[str, Any]: ...

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(slots=True)
class ForwardedArguments(Signature):
    """The arguments go to the SDK as they came: it validates them itself."""

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"arguments": dict(arguments)}


def forwarded(input_schema: dict[str, Any], output_schema: dict[str, Any] | None = None) -> Any:
    return ForwardedArguments(
        params_model=_NO_FIELDS,
        context_param="context",
        param_names=(),
        input_schema=input_schema,
        output_schema=output_schema,
        wrap_output=False,
        output_adapter=None,
        is_async=True,
    )


@dataclass(slots=True)
class SdkTemplate(ResourceTemplate):
    """A template matched by the SDK's RFC 6570 rules (all levels, query parts)."""

    parsed: Any = None

    def match(self, uri: str) -> dict[str, str] | None:
        return {"uri": uri} if self.parsed.match(uri) is not None else None


def run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The value of a coroutine that never suspends (the SDK's listings), from sync code."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("an SDK listing suspended; it cannot be read at start")


def sdk_listings(calls: SdkCalls) -> dict[str, list[dict[str, Any]]]:
    """The SDK server's own listings, as its list results carry them."""
    return {key: dump(result)[key] for key, result in calls.listings().items()}


class SdkBridge:
    """Keeps an mcpfleet ``Server``'s registrations equal to an SDK server's, and
    carries each call across."""

    def __init__(self, app: Any, calls: SdkCalls, server: Server) -> None:
        self.calls = calls
        self.server = server
        self.lifespan = Lifespan(calls.lifespan(), app)
        # The lifespan is entered when the transport starts, and left when it closes.
        server.on_startup.append(self.lifespan.value)
        server.on_shutdown.append(self.lifespan.aclose)
        self.relay = ChangeRelay(server, self.sync)
        self._listings: dict[str, list[dict[str, Any]]] = {}

    # -- registrations -------------------------------------------------------

    def sync(self) -> None:
        """Read the SDK server's registrations (again) into the mcpfleet server."""
        listings = sdk_listings(self.calls)
        if listings == self._listings:
            return
        self._listings = listings
        server = self.server
        # In place and without the hub: the change is announced once, by the relay.
        server.tools.clear()
        server.param_headers.clear()
        for wire in listings["tools"]:
            server.tools[wire["name"]] = self._tool(wire)
            headers = param_headers(wire["inputSchema"])
            if headers:
                server.param_headers[wire["name"]] = headers
        server.resources = {wire["uri"]: self._resource(wire) for wire in listings["resources"]}
        server.templates = [self._template(wire) for wire in listings["resourceTemplates"]]
        server.prompts = {wire["name"]: self._prompt(wire) for wire in listings["prompts"]}
        server.completion_handler = self.complete if self.calls.has_completion() else None

    def _tool(self, wire: dict[str, Any]) -> Tool:
        name = wire["name"]
        signature = forwarded(wire["inputSchema"], wire.get("outputSchema"))
        # called as call(arguments=..., context=...): call_tool itself, one frame fewer
        return Tool(name, partial(self.call_tool, name), signature, wire)

    def _resource(self, wire: dict[str, Any]) -> Resource:
        uri = wire["uri"]

        async def read(context: Context) -> list[dict[str, Any]]:
            return await self.read_resource(uri, context)

        return Resource(uri, read, forwarded({}), wire, wire.get("mimeType"))

    def _template(self, wire: dict[str, Any]) -> SdkTemplate:
        template = wire["uriTemplate"]

        async def read(arguments: dict[str, Any], context: Context) -> list[dict[str, Any]]:
            return await self.read_resource(arguments["uri"], context)

        parsed = _uri_template(template)
        pattern = re.compile(re.escape(template))
        return SdkTemplate(
            template, pattern, read, forwarded({}), wire, wire.get("mimeType"), parsed=parsed
        )

    def _prompt(self, wire: dict[str, Any]) -> Prompt:
        name = wire["name"]

        async def get(arguments: dict[str, Any], context: Context) -> dict[str, Any]:
            return await self.get_prompt(name, arguments, context)

        return Prompt(name, get, forwarded({}), wire)

    # -- calls ---------------------------------------------------------------

    async def _request(self, ctx: Context) -> SdkRequest:
        session = RequestSession(ctx, self.relay)
        return SdkRequest(ctx, session, self.relay, await self.lifespan.value())

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context) -> ToolResult:
        request = await self._request(context)
        body = await _across(request, self.calls.call_tool(name, arguments, request))
        return ToolResult(
            body.get("content", []),
            body.get("structuredContent"),
            bool(body.get("isError")),
            body.get("_meta"),
        )

    async def read_resource(self, uri: str, ctx: Context) -> list[dict[str, Any]]:
        request = await self._request(ctx)
        contents: list[dict[str, Any]] = await _across(
            request, self.calls.read_resource(uri, request)
        )
        return contents

    async def get_prompt(
        self, name: str, arguments: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        request = await self._request(ctx)
        body: dict[str, Any] = await _across(
            request, self.calls.get_prompt(name, arguments, request)
        )
        return body

    async def complete(
        self, ref: dict[str, Any], argument: dict[str, Any], context: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"ref": ref, "argument": argument}
        if context:
            body["context"] = context
        try:
            return await self.calls.complete(body)
        except McpfleetError:
            raise
        except Exception as exc:
            raise protocol_error(exc) from None


async def _across(request: SdkRequest, call: Coroutine[Any, Any, Any]) -> Any:
    """Await a call into the SDK; what it raises leaves as mcpfleet's errors, and a
    question to the client that it swallowed is raised again."""
    try:
        value = await call
    except McpfleetError:
        raise
    except Exception as exc:
        interrupted = request.session.interrupted
        if interrupted is not None:
            raise interrupted from None
        raise protocol_error(exc) from None
    if request.session.interrupted is not None:
        raise request.session.interrupted
    return value


def _uri_template(template: str) -> Any:
    """The SDK's parsed template (mcp 2.x), or a level-1 matcher of its own (1.x)."""
    try:
        return sdk("shared.uri_template").UriTemplate.parse(template)
    except ModuleNotFoundError:
        return _LevelOne(template)


class _LevelOne:
    """``{name}`` expressions, each matching one path segment, as mcp 1.x matches them."""

    def __init__(self, template: str) -> None:
        pattern = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
        self._pattern = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern))

    def match(self, uri: str) -> dict[str, str] | None:
        found = self._pattern.fullmatch(uri)
        return None if found is None else found.groupdict()

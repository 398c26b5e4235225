"""What an SDK server holds, sorted into what maps onto mcpfleet and what does not.

Read once, before anything is served: ``inventory(obj)`` lists the tools,
resources, templates, prompts and completion handler that map, the settings that
change nothing a client sees (ignored), and everything else by name with the
reason it cannot be served. ``mcpfleet serve`` refuses an app with any of the
last; ``mcpfleet compat check`` prints all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcpfleet.compat.sdk import sdk

# The methods an MCPServer's own handlers answer, by method: the bound method
# behind each (None when it is the SDK's built-in and not the app's).
STANDARD_HANDLERS = {
    "tools/list": "_handle_list_tools",
    "tools/call": "_handle_call_tool",
    "resources/list": "_handle_list_resources",
    "resources/read": "_handle_read_resource",
    "resources/templates/list": "_handle_list_resource_templates",
    "prompts/list": "_handle_list_prompts",
    "prompts/get": "_handle_get_prompt",
    "ping": None,
    "server/discover": None,
    "subscriptions/listen": None,
    "completion/complete": None,  # the app's @completion(): mapped on its own
}
# The same for a 1.x FastMCP: its low-level handlers are keyed by request class name.
STANDARD_V1_HANDLERS = {
    "ListToolsRequest",
    "CallToolRequest",
    "ListResourcesRequest",
    "ReadResourceRequest",
    "ListResourceTemplatesRequest",
    "ListPromptsRequest",
    "GetPromptRequest",
    "PingRequest",
    "CompleteRequest",
}
DEFAULT_MIDDLEWARE = frozenset({"OpenTelemetryMiddleware", "RequestStateBoundary"})


@dataclass(slots=True)
class Inventory:
    """An SDK server, sorted: what maps, what is ignored, what cannot be served."""

    kind: str
    name: str
    tools: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    completion: bool = False
    lifespan: bool = False
    ignored: list[str] = field(default_factory=list)
    unmappable: list[str] = field(default_factory=list)

    def mapped(self) -> list[str]:
        """One line per thing that maps, as ``compat check`` prints it."""
        lines = [f"tool {name}" for name in self.tools]
        lines += [f"resource {uri}" for uri in self.resources]
        lines += [f"resource template {uri}" for uri in self.templates]
        lines += [f"prompt {name}" for name in self.prompts]
        if self.completion:
            lines.append("completion handler")
        if self.lifespan:
            lines.append("lifespan")
        return lines


def inventory(obj: Any, kind: str) -> Inventory:
    """Sort the SDK server ``obj`` (an ``MCPServer`` or a ``FastMCP``) into an ``Inventory``."""
    found = Inventory(kind=kind, name=obj.name)
    # Private attributes of the tested releases only (see sdk.TESTED).
    found.tools = [tool.name for tool in obj._tool_manager.list_tools()]
    found.resources = [str(r.uri) for r in obj._resource_manager.list_resources()]
    found.templates = [t.uri_template for t in obj._resource_manager.list_templates()]
    found.prompts = [prompt.name for prompt in obj._prompt_manager.list_prompts()]
    found.lifespan = obj.settings.lifespan is not None
    if kind == "MCPServer":
        lowlevel = obj._lowlevel_server
        found.completion = lowlevel.get_request_handler("completion/complete") is not None
        found.unmappable = _unmappable(obj, lowlevel)
    else:
        handlers = {cls.__name__ for cls in obj._mcp_server.request_handlers}
        found.completion = "CompleteRequest" in handlers
        found.unmappable = _v1_unmappable(obj, handlers)
    found.ignored = _ignored(obj)
    return found


def _v1_unmappable(obj: Any, handlers: set[str]) -> list[str]:
    problems = [
        f"custom low-level request handler {name}"
        for name in sorted(handlers - STANDARD_V1_HANDLERS)
    ]
    for cls in obj._mcp_server.notification_handlers:
        problems.append(f"custom low-level notification handler {cls.__name__}")
    return problems + _shared(obj)


def _unmappable(obj: Any, lowlevel: Any) -> list[str]:
    return _handlers(obj, lowlevel) + _features(obj, lowlevel) + _shared(obj)


def _handlers(obj: Any, lowlevel: Any) -> list[str]:
    """Low-level handlers the app registered or replaced, and middleware it added."""
    problems = []
    for method, entry in sorted(lowlevel._request_handlers.items()):
        expected = STANDARD_HANDLERS.get(method, "")
        if expected == "":
            problems.append(f"custom low-level request handler {method!r}")
        elif expected is not None and entry.handler != getattr(obj, expected):
            problems.append(f"low-level request handler {method!r} replaced by the app")
    for method in sorted(lowlevel._notification_handlers):
        problems.append(f"custom low-level notification handler {method!r}")
    for middleware in lowlevel.middleware:
        if type(middleware).__name__ not in DEFAULT_MIDDLEWARE:
            problems.append(f"middleware {type(middleware).__name__}")
    return problems


def _features(obj: Any, lowlevel: Any) -> list[str]:
    """SDK features with no mcpfleet counterpart in this adapter."""
    problems = []
    for extension in obj._extensions:
        problems.append(f"extension {extension.identifier!r}")
    for tool in obj._tool_manager.list_tools():
        if tool.resolved_params:
            names = ", ".join(sorted(tool.resolved_params))
            problems.append(f"tool {tool.name!r}: Resolve(...) parameters ({names})")
    problems += _own_input_required(obj)
    if lowlevel.cache_hints:
        problems.append("cache_hints (set Server list_ttl_ms/read_ttl_ms instead)")
    return problems


def _own_input_required(obj: Any) -> list[str]:
    """Handlers that return the SDK's ``InputRequiredResult`` themselves: mcpfleet runs
    the input-required rounds of questions asked through the Context, not these."""
    returns_input_required = sdk("server.mcpserver.resolve").returns_input_required
    handlers = [("tool", t.name, t.fn) for t in obj._tool_manager.list_tools()]
    handlers += [("prompt", p.name, p.fn) for p in obj._prompt_manager.list_prompts()]
    handlers += [
        ("resource template", t.uri_template, t.fn) for t in obj._resource_manager.list_templates()
    ]
    found = []
    for kind, name, fn in handlers:
        try:
            own = returns_input_required(fn)
        except Exception:  # an annotation that does not resolve: the SDK's problem, not ours
            own = False
        if own:
            found.append(f"{kind} {name!r} returns InputRequiredResult itself")
    return found


def _shared(obj: Any) -> list[str]:
    """What neither generation's adapter serves: the SDK's auth, its own web routes."""
    problems = []
    if obj.settings.auth is not None or obj._token_verifier is not None:
        problems.append("auth settings (configure mcpfleet's own OAuth or authenticate hook)")
    for route in obj._custom_starlette_routes:
        problems.append(f"custom route {getattr(route, 'path', route)!r}")
    return problems


def _ignored(obj: Any) -> list[str]:
    """Settings that change nothing a client sees when mcpfleet serves the app."""
    settings = obj.settings
    ignored = []
    if settings.debug:
        ignored.append("debug (mcpfleet logs with LOG_LEVEL)")
    if settings.dependencies:
        ignored.append("dependencies (used by the SDK's install command only)")
    return ignored

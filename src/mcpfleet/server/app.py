"""``Server``: the app a user writes, with decorators for what it offers.

    app = Server("weather", "1.0.0")

    @app.tool()
    async def forecast(city: str, ctx: Context) -> str:
        '''The forecast for a city.'''
        await ctx.progress(0.5)
        return "sunny"

The server knows nothing of HTTP; ``mcpfleet.transport`` serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from mcpfleet.auth.principal import Principal
from mcpfleet.protocol.headers import ParamHeader, param_headers
from mcpfleet.server.notify import (
    PROMPTS_CHANGED,
    RESOURCE_UPDATED,
    RESOURCES_CHANGED,
    TOOLS_CHANGED,
    NotificationHub,
)
from mcpfleet.server.permissions import AwsPermission
from mcpfleet.server.registry import (
    Prompt,
    Resource,
    ResourceTemplate,
    Tool,
    checked_rate,
    checked_scopes,
    make_prompt,
    make_resource,
    make_tool,
)

log = logging.getLogger("mcpfleet.server")

F = TypeVar("F", bound=Callable[..., Any])
CompletionHandler = Callable[..., Any]
# Names the caller from the request headers: a principal, a name (a principal with no
# scopes), or None for an anonymous caller; raises ``Unauthorized`` to refuse.
Authenticator = Callable[[dict[str, str]], Awaitable["Principal | str | None"]]


class Server:
    """An MCP server: its identity, and the tools, resources and prompts it offers."""

    def __init__(
        self,
        name: str,
        version: str = "0.1.0",
        *,
        instructions: str | None = None,
        title: str | None = None,
        website_url: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        page_size: int = 100,
        list_ttl_ms: int = 60_000,
        read_ttl_ms: int = 0,
        required_scopes: Sequence[str] = (),
        rate_limit: str | None = None,
        scope_implies: dict[str, Sequence[str]] | None = None,
        task_after_ms: int = 500,
    ) -> None:
        self.name = name
        # When a tool that may run as a task becomes one, for a client that declared the
        # tasks extension: once it has run this long without finishing (0: at once).
        self.task_after_ms = _checked_after(task_after_ms, "Server")
        self.task_tools: set[str] = set()  # the tools that may run as tasks
        self.version = version
        self.instructions = instructions
        self.page_size = page_size
        self.list_ttl_ms = list_ttl_ms
        self.read_ttl_ms = read_ttl_ms
        info: dict[str, Any] = {"name": name, "version": version}
        if title:
            info["title"] = title
        if website_url:
            info["websiteUrl"] = website_url
        if icons:
            info["icons"] = icons
        self.server_info = info
        self.tools: dict[str, Tool] = {}
        self.param_headers: dict[str, tuple[ParamHeader, ...]] = {}
        self.resources: dict[str, Resource] = {}
        self.templates: list[ResourceTemplate] = []
        self.prompts: dict[str, Prompt] = {}
        self.completion_handler: CompletionHandler | None = None
        self.notifications = NotificationHub()
        self.subscribable = False
        self.permissions: list[AwsPermission] = []  # what the app itself needs from AWS
        self.secrets: list[str] = []  # environment variables the deployment fills from secrets
        self.authenticator: Authenticator | None = None
        # Awaited when a transport starts serving, and (in reverse) when it closes: what the
        # app holds open for its whole life (a pool, a client, an SDK app's lifespan).
        # False where no stream can stay open (AWS Lambda): then no list-changed or resource
        # subscription is promised, since nothing could deliver it.
        self.holds_streams = True
        self.on_startup: list[Callable[[], Awaitable[object]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[object]]] = []
        # -- who may call: every request needs ``required_scopes``; ``rate_limit`` is each
        # caller's budget for all its requests; a granted scope implies those listed for it
        self.required_scopes = checked_scopes(required_scopes, "Server")
        self.rate = checked_rate(rate_limit, "Server")
        self.filter_lists = True  # listings show a caller only what its scopes allow
        self.scope_implies: dict[str, frozenset[str]] = {
            scope: frozenset(checked_scopes(implied, f"scope_implies[{scope!r}]"))
            for scope, implied in (scope_implies or {}).items()
        }

    # -- registration -------------------------------------------------------

    def tool(
        self,
        name: str | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        annotations: dict[str, Any] | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        structured_output: bool | None = None,
        input_schema: dict[str, Any] | None = None,
        requires: dict[str, Any] | None = None,
        permissions: Sequence[AwsPermission] = (),
        scopes: Sequence[str] = (),
        rate_limit: str | None = None,
        max_concurrency: int | None = None,
        task: str | None = None,
        task_after_ms: int | None = None,
    ) -> Callable[[F], F]:
        """Register a tool. ``requires`` names client capabilities it cannot run without;
        ``input_schema`` replaces the generated schema (arguments are still validated
        against the signature); ``permissions`` declares the AWS actions it needs;
        ``scopes`` the OAuth scopes a caller needs for it; ``rate_limit`` (``"30/minute"``)
        each caller's budget of calls to it; ``max_concurrency`` how many calls of it may
        run at once in one process (the others wait their turn). ``task``: ``"optional"``
        (it may run as a task of the 2026-07-28 tasks extension, for a client that declares
        it) or ``"required"`` (only so: other clients get -32021); it becomes a task once it
        has run ``task_after_ms`` without finishing (default: the server's)."""
        if task not in (None, "optional", "required"):
            raise ValueError(f"task must be 'optional' or 'required', got {task!r}")
        after = None if task_after_ms is None else _checked_after(task_after_ms, "tool")

        def register(func: F) -> F:
            tool = make_tool(
                func,
                name=name,
                title=title,
                description=description,
                annotations=annotations,
                icons=icons,
                meta=meta,
                structured_output=structured_output,
                requires=requires,
                permissions=permissions,
            )
            if input_schema is not None:
                tool.wire["inputSchema"] = input_schema
            tool.scopes = checked_scopes(scopes, f"tool {tool.name}")
            tool.rate = checked_rate(rate_limit, f"tool {tool.name}")
            if max_concurrency is not None and max_concurrency < 1:
                raise ValueError(f"tool {tool.name}: max_concurrency must be at least 1")
            tool.max_concurrency = max_concurrency
            tool.task, tool.task_after_ms = task, after
            self.add_tool(tool)
            return func

        return register

    def add_tool(self, tool: Tool) -> None:
        headers = param_headers(tool.wire["inputSchema"])
        self.tools[tool.name] = tool
        if tool.task is not None:
            self.task_tools.add(tool.name)
        else:
            self.task_tools.discard(tool.name)
        if headers:
            self.param_headers[tool.name] = headers
        else:
            self.param_headers.pop(tool.name, None)
        self.notifications.publish(TOOLS_CHANGED)

    def remove_tool(self, name: str) -> None:
        if self.tools.pop(name, None) is not None:
            self.param_headers.pop(name, None)
            self.task_tools.discard(name)
            self.notifications.publish(TOOLS_CHANGED)

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        annotations: dict[str, Any] | None = None,
        size: int | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        scopes: Sequence[str] = (),
    ) -> Callable[[F], F]:
        """Register a resource, or a template when ``uri`` has ``{name}`` parts;
        ``scopes`` are the OAuth scopes a caller needs to see and read it."""

        def register(func: F) -> F:
            made = make_resource(
                func,
                uri,
                name=name,
                title=title,
                description=description,
                mime_type=mime_type,
                annotations=annotations,
                size=size,
                icons=icons,
                meta=meta,
            )
            made.scopes = checked_scopes(scopes, f"resource {uri}")
            if isinstance(made, Resource):
                self.resources[made.uri] = made
            else:
                self.templates.append(made)
            self.notifications.publish(RESOURCES_CHANGED)
            return func

        return register

    def prompt(
        self,
        name: str | None = None,
        *,
        title: str | None = None,
        description: str | None = None,
        icons: list[dict[str, Any]] | None = None,
        meta: dict[str, Any] | None = None,
        scopes: Sequence[str] = (),
    ) -> Callable[[F], F]:
        """Register a prompt; its parameters are the prompt's arguments; ``scopes`` are
        the OAuth scopes a caller needs to see and get it."""

        def register(func: F) -> F:
            made = make_prompt(
                func, name=name, title=title, description=description, icons=icons, meta=meta
            )
            made.scopes = checked_scopes(scopes, f"prompt {made.name}")
            self.add_prompt(made)
            return func

        return register

    def add_prompt(self, prompt: Prompt) -> None:
        self.prompts[prompt.name] = prompt
        self.notifications.publish(PROMPTS_CHANGED)

    def remove_prompt(self, name: str) -> None:
        if self.prompts.pop(name, None) is not None:
            self.notifications.publish(PROMPTS_CHANGED)

    def completion(self) -> Callable[[F], F]:
        """Register the completion handler: ``(ref, argument, context) -> list[str]``."""

        def register(func: F) -> F:
            self.completion_handler = func
            return func

        return register

    def authenticate(self, func: Authenticator) -> Authenticator:
        """Register the hook that names the caller (the principal) from request headers,
        for schemes other than OAuth bearer tokens (API keys, for example).

        It returns a ``Principal`` (``Principal.named(name, scopes)``), a name, or
        ``None`` for an anonymous caller; raise ``Unauthorized`` to refuse one.
        Sessions, sealed request state and handles are bound to the principal.
        """
        self.authenticator = func
        return func

    @property
    def scoped(self) -> bool:
        """Whether anything the app offers needs a scope beyond the app-wide ones."""
        return any(
            item.scopes
            for group in (
                self.tools.values(),
                self.resources.values(),
                self.templates,
                self.prompts.values(),
            )
            for item in group
        )

    def declared_scopes(self) -> list[str]:
        """Every scope the app names: app-wide, then per tool, resource and prompt."""
        found = dict.fromkeys(self.required_scopes)
        for group in (
            self.tools.values(),
            self.resources.values(),
            self.templates,
            self.prompts.values(),
        ):
            for item in group:
                found.update(dict.fromkeys(item.scopes))
        return list(found)

    def needs(self, *permissions: AwsPermission) -> None:
        """Declare AWS permissions the app needs outside any one tool."""
        self.permissions.extend(permissions)

    def secret(self, *names: str) -> None:
        """Declare environment variables that the deployment fills from Secrets Manager."""
        self.secrets.extend(names)

    def enable_subscriptions(self) -> None:
        """Declare that resources can be subscribed to for update notifications."""
        self.subscribable = True

    def resource_updated(self, uri: str) -> None:
        """Tell subscribers that the resource at ``uri`` changed."""
        self.notifications.publish(RESOURCE_UPDATED, {"uri": uri})

    # -- its life --------------------------------------------------------------

    async def start(self) -> None:
        """Await each ``on_startup`` hook, in order (a failure stops the start)."""
        for hook in self.on_startup:
            await hook()

    async def stop(self) -> None:
        """Await each ``on_shutdown`` hook, the last added first; one that fails is logged
        and the others still run."""
        for hook in reversed(self.on_shutdown):
            try:
                await hook()
            except Exception:  # the process is ending: report, and let the rest clean up
                log.warning("a shutdown hook of %s failed", self.name, exc_info=True)

    # -- what the server declares -------------------------------------------

    def capabilities(self) -> dict[str, Any]:
        streams = self.holds_streams
        caps: dict[str, Any] = {"tools": {"listChanged": streams}}
        if self.resources or self.templates or self.subscribable:
            caps["resources"] = {"listChanged": streams, "subscribe": self.subscribable and streams}
        if self.prompts:
            caps["prompts"] = {"listChanged": streams}
        if self.completion_handler is not None:
            caps["completions"] = {}
        caps["logging"] = {}
        return caps


def _checked_after(value: int, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{where}: task_after_ms must be a whole number of ms, 0 or more")
    return value

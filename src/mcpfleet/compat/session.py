"""The SDK's view of one mcpfleet request: its session, its notifications, its lifespan.

An SDK handler reaches the client through ``ctx.request_context.session`` (and
the SDK ``Context`` methods built on it). ``RequestSession`` answers those calls
with mcpfleet's ``Context``: progress and log lines go on the request's stream,
questions (elicitation, sampling, roots) go through ``Context.ask``, so they
work in both protocol generations (MRTR in 2026-07-28, a request on the SSE
stream in 2025 sessions). List-changed events, from the session or from the SDK
``Context``'s ``notify_*``, are published on the mcpfleet server's hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from mcpfleet.compat.sdk import dump, sdk
from mcpfleet.errors import McpfleetError
from mcpfleet.server.context import (
    Context,
    elicitation_request,
    roots_request,
    sampling_request,
)
from mcpfleet.server.notify import PROMPTS_CHANGED, RESOURCES_CHANGED, TOOLS_CHANGED

# An SDK list-changed event (its class name) -> the mcpfleet notification method.
CHANGED = {
    "ToolsListChanged": TOOLS_CHANGED,
    "ResourcesListChanged": RESOURCES_CHANGED,
    "PromptsListChanged": PROMPTS_CHANGED,
}


class ChangeRelay:
    """What changed in the SDK server reaches mcpfleet: its registrations are read
    again (``refresh``), then the server's hub tells the clients."""

    def __init__(self, server: Any, refresh: Callable[[], None]) -> None:
        self._server = server
        self._refresh = refresh

    def changed(self, method: str) -> None:
        self._refresh()
        self._server.notifications.publish(method)

    # -- the SDK's SubscriptionBus protocol (ctx.notify_*) ------------------

    async def publish(self, event: Any) -> None:
        method = CHANGED.get(type(event).__name__)
        if method is not None:
            self.changed(method)
        elif type(event).__name__ == "ResourceUpdated":
            self._server.resource_updated(event.uri)

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: None  # mcpfleet's own listen streams are the listeners


class RequestSession:
    """The ``ServerSession`` an SDK handler sees, answered by an mcpfleet ``Context``.

    A question to the client can end the request's pass (MRTR) with an mcpfleet
    exception; an SDK layer that turns every exception into an error result would
    hide it, so the session keeps it (``interrupted``) for the bridge to raise.
    """

    def __init__(self, ctx: Context, relay: ChangeRelay) -> None:
        self._ctx = ctx
        self._relay = relay
        self.interrupted: McpfleetError | None = None

    async def _ask(self, request: dict[str, Any]) -> Any:
        try:
            (answer,) = await self._ctx.ask([request])
        except McpfleetError as exc:
            self.interrupted = exc
            raise
        return answer

    @property
    def client_capabilities(self) -> Any:
        return sdk("types").ClientCapabilities.model_validate(self._ctx.client_capabilities)

    @property
    def client_params(self) -> Any:
        if self._ctx.client_info is None:
            return None
        return sdk("types").InitializeRequestParams.model_validate(
            {
                "protocolVersion": self._ctx.protocol_version,
                "capabilities": self._ctx.client_capabilities,
                "clientInfo": self._ctx.client_info,
            }
        )

    @property
    def protocol_version(self) -> str:
        return self._ctx.protocol_version

    @property
    def can_send_request(self) -> bool:
        return True

    def check_client_capability(self, capability: Any) -> bool:
        wanted = dump(capability)
        return all(name in self._ctx.client_capabilities for name in wanted)

    async def report_progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        await self._ctx.progress(progress, total, message)

    async def send_progress_notification(
        self,
        progress_token: str | int,
        progress: float,
        total: float | None = None,
        message: str | None = None,
        related_request_id: Any = None,
    ) -> None:
        await self._ctx.progress(progress, total, message)

    async def send_log_message(
        self, level: str, data: Any, logger: str | None = None, related_request_id: Any = None
    ) -> None:
        await self._ctx.log(level, data, logger)

    async def send_ping(self) -> Any:
        await self._ctx.ping()
        return sdk("types").EmptyResult()

    async def elicit_form(self, message: str, *args: Any, **named: Any) -> Any:
        """Form elicitation; the schema is the second argument (``requested_schema``
        in mcp 2.x, ``requestedSchema`` in 1.x)."""
        schema = args[0] if args else named.get("requested_schema", named.get("requestedSchema"))
        params = {"mode": "form", "message": message, "requestedSchema": schema}
        answer = await self._ask(elicitation_request(params))
        return sdk("types").ElicitResult.model_validate(answer)

    elicit = elicit_form

    async def elicit_url(
        self, message: str, url: str, elicitation_id: str, related_request_id: Any = None
    ) -> Any:
        params = {"mode": "url", "message": message, "url": url, "elicitationId": elicitation_id}
        answer = await self._ask(elicitation_request(params))
        return sdk("types").ElicitResult.model_validate(answer)

    async def create_message(self, messages: list[Any], *, max_tokens: int, **extra: Any) -> Any:
        extra.pop("related_request_id", None)
        params: dict[str, Any] = {"messages": [_wire(m) for m in messages], "maxTokens": max_tokens}
        for key, value in extra.items():
            if value is not None:
                params[_camel(key)] = _wire(value)
        answer = await self._ask(sampling_request(params))
        types = sdk("types")
        with_tools = getattr(types, "CreateMessageResultWithTools", None)
        if with_tools is not None and isinstance(answer.get("content"), list):
            return with_tools.model_validate(answer)
        return types.CreateMessageResult.model_validate(answer)

    async def list_roots(self) -> Any:
        answer = await self._ask(roots_request())
        return sdk("types").ListRootsResult.model_validate(answer)

    async def send_tool_list_changed(self) -> None:
        self._relay.changed(TOOLS_CHANGED)

    async def send_resource_list_changed(self) -> None:
        self._relay.changed(RESOURCES_CHANGED)

    async def send_prompt_list_changed(self) -> None:
        self._relay.changed(PROMPTS_CHANGED)

    async def send_resource_updated(self, uri: Any) -> None:
        self._ctx.server.resource_updated(str(uri))

    async def send_notification(self, notification: Any, related_request_id: Any = None) -> None:
        raise NotImplementedError(
            f"session.send_notification({type(notification).__name__}) is not served by "
            "mcpfleet; use the Context's methods"
        )

    async def send_request(self, request: Any, result_type: Any, **_: Any) -> Any:
        raise NotImplementedError(
            f"session.send_request({type(request).__name__}) is not served by mcpfleet; "
            "use the Context's methods"
        )


def _wire(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return dump(value)
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(slots=True)
class SdkRequest:
    """One mcpfleet request as an SDK call needs it."""

    ctx: Context
    session: RequestSession
    relay: ChangeRelay
    lifespan: Any


LifespanFactory = Callable[[Any], AbstractAsyncContextManager[Any]]


class Lifespan:
    """The SDK app's lifespan, entered once and held open in a task of its own (an
    async context manager must be left in the task that entered it)."""

    def __init__(self, factory: LifespanFactory | None, app: Any) -> None:
        self._factory = factory
        self._app = app
        self._value: Any = {}
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    async def value(self) -> Any:
        """What the lifespan yielded; it is entered on the first call."""
        if self._factory is None:
            return self._value
        if self._ready is None:
            self._ready, self._stop = asyncio.Event(), asyncio.Event()
            holding = self._hold(self._factory, self._ready, self._stop)
            self._task = asyncio.get_running_loop().create_task(holding)
        await self._ready.wait()
        if self._failure is not None:
            raise RuntimeError("the app's lifespan failed to start") from self._failure
        return self._value

    async def _hold(
        self, factory: LifespanFactory, ready: asyncio.Event, stop: asyncio.Event
    ) -> None:
        try:
            async with factory(self._app) as value:
                self._value = value
                ready.set()
                await stop.wait()
        except Exception as exc:  # reported to every request that needs the value
            self._failure = exc
        finally:
            ready.set()

    async def aclose(self) -> None:
        """Leave the lifespan (its cleanup runs), if it was entered."""
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await self._task

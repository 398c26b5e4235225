"""``subscriptions/listen``: long-lived streams of the change notifications a client chose.

The first event acknowledges the filter the server will honour; every event
carries the subscription id (the listen request's JSON-RPC id). Keep-alive
comments flow while nothing happens. On shutdown each stream ends with the
listen request's result, so clients can tell a graceful end from a drop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfleet.errors import InvalidParams
from mcpfleet.protocol.jsonrpc import Request, notification_message, result_message
from mcpfleet.protocol.modern import RequestMeta
from mcpfleet.protocol.sse import KEEPALIVE
from mcpfleet.protocol.versions import META_SUBSCRIPTION_ID
from mcpfleet.server.app import Server
from mcpfleet.server.modern import ModernDispatcher
from mcpfleet.server.notify import (
    PROMPTS_CHANGED,
    RESOURCE_UPDATED,
    RESOURCES_CHANGED,
    TOOLS_CHANGED,
)
from mcpfleet.transport.http import Receive
from mcpfleet.transport.push import KeepAlive, Outbox, until_disconnect
from mcpfleet.transport.streams import ResponseStream

FLAG_FOR = {
    TOOLS_CHANGED: "toolsListChanged",
    PROMPTS_CHANGED: "promptsListChanged",
    RESOURCES_CHANGED: "resourcesListChanged",
}


def honoured_filter(server: Server, requested: Any) -> dict[str, Any]:
    """The part of a client's notification filter this server can deliver."""
    if not isinstance(requested, dict):
        raise InvalidParams("Invalid params: notifications must be an object")
    caps = server.capabilities()
    offered = {
        "toolsListChanged": bool(caps.get("tools", {}).get("listChanged")),
        "promptsListChanged": bool(caps.get("prompts", {}).get("listChanged")),
        "resourcesListChanged": bool(caps.get("resources", {}).get("listChanged")),
    }
    honoured: dict[str, Any] = {
        flag: True for flag, ok in offered.items() if ok and requested.get(flag) is True
    }
    uris = requested.get("resourceSubscriptions")
    if uris is not None:
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
            raise InvalidParams("Invalid params: resourceSubscriptions must be a list of URIs")
        if caps.get("resources", {}).get("subscribe"):
            honoured["resourceSubscriptions"] = list(uris)
    return honoured


def wanted(honoured: dict[str, Any], method: str, params: dict[str, Any]) -> bool:
    flag = FLAG_FOR.get(method)
    if flag is not None:
        return bool(honoured.get(flag))
    if method == RESOURCE_UPDATED:
        return params.get("uri") in honoured.get("resourceSubscriptions", ())
    return False


class ListenStreams:
    """The open listen streams of this process.

    An idle stream holds no task: its request waits for the client to go away,
    notifications are pushed into its ``Outbox`` by the hub's callback, and one
    ``KeepAlive`` task writes comments on quiet streams.
    """

    def __init__(self, server: Server, dispatcher: ModernDispatcher, keepalive: float) -> None:
        self.server = server
        self.dispatcher = dispatcher
        self.keepalives = KeepAlive(keepalive)
        self._open: dict[asyncio.Task[Any], list[bool]] = {}  # task -> [closing]

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def close_all(self) -> None:
        """End every stream gracefully, with the listen result (used when draining)."""
        for task, closing in list(self._open.items()):
            closing[0] = True
            task.cancel()

    async def serve(
        self, request: Request, meta: RequestMeta, stream: ResponseStream, receive: Receive
    ) -> None:
        honoured = honoured_filter(self.server, request.params.get("notifications"))
        tag = {META_SUBSCRIPTION_ID: request.id}
        task = asyncio.current_task()
        assert task is not None
        closing = [False]

        async def write(message: dict[str, Any] | None) -> None:
            if message is None:
                await stream.comment(KEEPALIVE)
            else:
                await stream.event(message)

        outbox = Outbox(write)

        def listener(method: str, params: dict[str, Any]) -> None:
            if wanted(honoured, method, params):
                outbox.push(notification_message(method, {**params, "_meta": tag}))

        unsubscribe = self.server.notifications.subscribe(listener)
        self._open[task] = closing
        try:
            await stream.notify(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            )
            self.keepalives.add(outbox)
            try:
                await until_disconnect(receive)
            except asyncio.CancelledError:
                if not closing[0]:
                    raise
                result = self.dispatcher.finish("subscriptions/listen", {"_meta": tag})
                await stream.finish(result_message(request.id, result))
        finally:
            self.keepalives.remove(outbox)
            outbox.discard()
            unsubscribe()
            self._open.pop(task, None)
            await stream.end()

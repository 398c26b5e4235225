"""``subscriptions/listen``: long-lived streams of the change notifications a client chose.

The first event acknowledges the filter the server will honour; every event
carries the subscription id (the listen request's JSON-RPC id). Keep-alive
comments flow while nothing happens. On shutdown each stream ends with the
listen request's result, so clients can tell a graceful end from a drop.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mcpfleet.errors import InvalidParams
from mcpfleet.protocol.jsonrpc import Request, result_message
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
from mcpfleet.transport.streams import ResponseStream

FLAG_FOR = {
    TOOLS_CHANGED: "toolsListChanged",
    PROMPTS_CHANGED: "promptsListChanged",
    RESOURCES_CHANGED: "resourcesListChanged",
}
_CLOSE = object()


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
    """The open listen streams of this process."""

    def __init__(self, server: Server, dispatcher: ModernDispatcher, keepalive: float) -> None:
        self.server = server
        self.dispatcher = dispatcher
        self.keepalive = keepalive
        self._queues: set[asyncio.Queue[Any]] = set()

    @property
    def open_count(self) -> int:
        return len(self._queues)

    async def close_all(self) -> None:
        """End every stream gracefully (used when the server drains)."""
        for queue in list(self._queues):
            queue.put_nowait(_CLOSE)

    async def serve(
        self, request: Request, meta: RequestMeta, stream: ResponseStream, receive: Receive
    ) -> None:
        honoured = honoured_filter(self.server, request.params.get("notifications"))
        tag = {META_SUBSCRIPTION_ID: request.id}
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)

        def listener(method: str, params: dict[str, Any]) -> None:
            if wanted(honoured, method, params):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait((method, params))

        unsubscribe = self.server.notifications.subscribe(listener)
        self._queues.add(queue)
        watcher = asyncio.get_running_loop().create_task(_wait_disconnect(receive, queue))
        try:
            await stream.notify(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            )
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.keepalive)
                except TimeoutError:
                    await stream.comment(KEEPALIVE)
                    continue
                if item is _CLOSE:
                    result = self.dispatcher.finish("subscriptions/listen", {"_meta": tag})
                    await stream.finish(result_message(request.id, result))
                    return
                if item is None:
                    return
                method, params = item
                await stream.notify(method, {**params, "_meta": tag})
        finally:
            watcher.cancel()
            unsubscribe()
            self._queues.discard(queue)
            await stream.end()


async def _wait_disconnect(receive: Receive, queue: asyncio.Queue[Any]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(None)

"""``subscriptions/listen``: long-lived streams of the change notifications a client chose.

The first event acknowledges the filter the server will honour; every event
carries the subscription id (the listen request's JSON-RPC id). Keep-alive
comments flow while nothing happens. When its lifetime is up or the task drains
(``mcpfleet.transport.lifetimes``), a stream ends with the listen request's result
in an event that carries a retry hint, so clients can tell a graceful end from a
drop, and listen again (through the load balancer, on any task).
"""

from __future__ import annotations

import asyncio
from typing import Any

from mcpfleet.errors import InvalidParams
from mcpfleet.protocol.jsonrpc import Request, notification_message, result_message
from mcpfleet.protocol.modern import RequestMeta
from mcpfleet.protocol.sse import KEEPALIVE
from mcpfleet.protocol.tasks import TASK_OWNER, TASK_STATUS, declares_tasks, tasks_not_declared
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
from mcpfleet.transport.lifetimes import RETRY_MS, StreamLifetimes
from mcpfleet.transport.push import KeepAlive, Outbox, until_disconnect
from mcpfleet.transport.streams import ResponseStream

FLAG_FOR = {
    TOOLS_CHANGED: "toolsListChanged",
    PROMPTS_CHANGED: "promptsListChanged",
    RESOURCES_CHANGED: "resourcesListChanged",
}


def honoured_filter(
    server: Server, requested: Any, client_capabilities: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The part of a client's notification filter this server can deliver. Status
    changes of tasks (``taskIds``) need the tasks extension declared."""
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
    task_ids = requested.get("taskIds")
    if task_ids is not None:
        if not declares_tasks(client_capabilities or {}):
            raise tasks_not_declared()
        if not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
            raise InvalidParams("Invalid params: taskIds must be a list of task ids")
        if server.task_tools and server.holds_streams:
            honoured["taskIds"] = list(task_ids)
    return honoured


def wanted(
    honoured: dict[str, Any], method: str, params: dict[str, Any], principal: str | None = None
) -> bool:
    flag = FLAG_FOR.get(method)
    if flag is not None:
        return bool(honoured.get(flag))
    if method == RESOURCE_UPDATED:
        return params.get("uri") in honoured.get("resourceSubscriptions", ())
    if method == TASK_STATUS:  # only the task's own caller hears of it
        return params.get("taskId") in honoured.get("taskIds", ()) and (
            params.get(TASK_OWNER) == principal
        )
    return False


def outgoing(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A notification's params as sent: without what only the server may know."""
    if method == TASK_STATUS:
        return {key: value for key, value in params.items() if key != TASK_OWNER}
    return params


class OpenListen:
    """One open listen stream, as its lifetime and the drain see it."""

    __slots__ = ("retry_ms", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.retry_ms: int | None = None  # set when the server ends the stream

    def end_with_retry(self, retry_ms: int) -> None:
        if self.retry_ms is None:
            self.retry_ms = retry_ms
            self.task.cancel()


class ListenStreams:
    """The open listen streams of this process.

    An idle stream holds no task: its request waits for the client to go away,
    notifications are pushed into its ``Outbox`` by the hub's callback, and one
    ``KeepAlive`` task writes comments on quiet streams.
    """

    def __init__(
        self,
        server: Server,
        dispatcher: ModernDispatcher,
        keepalive: float,
        lifetimes: StreamLifetimes | None = None,
    ) -> None:
        self.server = server
        self.dispatcher = dispatcher
        self.keepalives = KeepAlive(keepalive)
        self.lifetimes = StreamLifetimes(0) if lifetimes is None else lifetimes
        self._open: set[OpenListen] = set()

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def close_all(self, retry_ms: int = RETRY_MS) -> None:
        """End every stream gracefully, with the listen result and a retry hint."""
        for entry in list(self._open):
            entry.end_with_retry(retry_ms)

    async def serve(
        self,
        request: Request,
        meta: RequestMeta,
        stream: ResponseStream,
        receive: Receive,
        principal: str | None = None,
    ) -> None:
        requested = request.params.get("notifications")
        honoured = honoured_filter(self.server, requested, meta.client_capabilities)
        tag = {META_SUBSCRIPTION_ID: request.id}
        task = asyncio.current_task()
        assert task is not None
        entry = OpenListen(task)

        async def write(message: dict[str, Any] | None) -> None:
            if message is None:
                await stream.comment(KEEPALIVE)
            else:
                await stream.event(message)

        outbox = Outbox(write)

        def listener(method: str, params: dict[str, Any]) -> None:
            if wanted(honoured, method, params, principal):
                sent = outgoing(method, params)
                outbox.push(notification_message(method, {**sent, "_meta": tag}))

        unsubscribe = self.server.notifications.subscribe(listener)
        self._open.add(entry)
        self.lifetimes.track(entry)
        try:
            await stream.notify(
                "notifications/subscriptions/acknowledged",
                {"_meta": tag, "notifications": honoured},
            )
            self.keepalives.add(outbox)
            try:
                await until_disconnect(receive)
            except asyncio.CancelledError:
                if entry.retry_ms is None:
                    raise
                result = self.dispatcher.finish("subscriptions/listen", {"_meta": tag})
                await stream.finish(result_message(request.id, result), retry_ms=entry.retry_ms)
        finally:
            self.lifetimes.forget(entry)
            self.keepalives.remove(outbox)
            outbox.discard()
            unsubscribe()
            self._open.discard(entry)
            await stream.end()

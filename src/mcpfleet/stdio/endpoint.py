"""One stdio connection: messages in, the era's dispatcher, messages out.

Both protocol generations share the one channel, told apart per message:

- ``initialize`` opens the connection's one implicit 2025-era session (a second
  ``initialize`` replaces it). Its requests go to ``LegacyDispatcher``; questions to
  the client (elicitation, sampling, roots, ping) are written as JSON-RPC requests,
  and the client's responses on stdin wake the waiting handler through the
  in-memory fleet state, as a reply POST does over HTTP. Change notifications are
  written as they happen (``resources/updated`` only for subscribed URIs).
- A request whose ``_meta`` names a protocol version is a 2026-07-28 request, as is
  any request before a session exists: ``ModernDispatcher`` runs it (with
  ``server/discover``, and MRTR ``InputRequiredResult`` for questions). Its
  notifications are written as they happen; ``subscriptions/listen`` stays open,
  writing the chosen notifications tagged with its id, until cancelled.

There are no headers on stdio: what HTTP mirrors into them is read from
``_meta`` alone. Every request runs as its own task, so a slow tool never holds
up a ping; ``notifications/cancelled`` cancels a request's task, and nothing more
is written for it. Errors become responses through the transport's one map
(``client_error``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from mcpfleet.config import Config
from mcpfleet.errors import InvalidRequest
from mcpfleet.observe.otel import telemetry_for
from mcpfleet.protocol.jsonrpc import (
    MessageError,
    Notification,
    Request,
    Response,
    decode_message,
    dumps,
    encode_final,
    error_message,
    notification_message,
    result_message,
)
from mcpfleet.protocol.modern import read_request_meta, unsupported_version
from mcpfleet.protocol.tasks import TASK_STATUS
from mcpfleet.protocol.versions import META_PROTOCOL_VERSION, META_SUBSCRIPTION_ID, MODERN_VERSIONS
from mcpfleet.server.app import Server
from mcpfleet.server.legacy import LegacyDispatcher
from mcpfleet.server.modern import ModernDispatcher
from mcpfleet.server.notify import RESOURCE_UPDATED
from mcpfleet.server.tasks.service import TaskSettings
from mcpfleet.state.memory import MemoryFleetState
from mcpfleet.transport.errors import client_error
from mcpfleet.transport.listen import honoured_filter, outgoing, wanted

log = logging.getLogger("mcpfleet.stdio")

# The implicit session lives as long as the process: its idle expiry never comes.
SESSION_FOREVER = 10 * 365 * 24 * 3600

Write = Callable[[bytes], None]
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"


def _key(request_id: Any) -> bytes:
    return orjson.dumps(request_id)  # 1 and "1" stay different


def _meta_version(params: dict[str, Any]) -> object:
    """The protocol version a request's ``_meta`` names, or None (a 2025-era request)."""
    meta = params.get("_meta")
    return meta.get(META_PROTOCOL_VERSION) if isinstance(meta, dict) else None


class _SessionOutput:
    """The legacy ``OutboundStream`` of every request: the one stdout."""

    __slots__ = ("_endpoint",)

    def __init__(self, endpoint: StdioEndpoint) -> None:
        self._endpoint = endpoint

    async def send(self, message: dict[str, Any]) -> None:
        self._endpoint.send(message)

    async def release(self, retry_ms: int) -> None:
        return None  # one channel for everything: there is no connection to let go of


class StdioEndpoint:
    """Serves the messages of one stdio connection, writing replies with ``write``."""

    def __init__(
        self,
        server: Server,
        config: Config,
        write: Write,
        *,
        state: MemoryFleetState | None = None,
    ) -> None:
        self.server = server
        self.config = config
        self.state = state or MemoryFleetState(session_ttl_seconds=SESSION_FOREVER)
        self.modern = ModernDispatcher(
            server,
            config.request_state_keys,
            state_ttl_seconds=config.request_state_ttl_seconds,
            state=self.state,
            task_settings=TaskSettings.from_config(config),
        )
        self.legacy = LegacyDispatcher(server, self.state)
        self._write = write
        self._output = _SessionOutput(self)
        self.session_id: str | None = None
        self.running: dict[bytes, asyncio.Task[None]] = {}
        self._cancelled: set[bytes] = set()
        self._listens: set[bytes] = set()  # open subscriptions/listen requests
        self._background: set[asyncio.Task[None]] = set()
        self._unsubscribe = server.notifications.subscribe(self._changed)
        # A span per request when tracing is on (None: off, and nothing of it is imported).
        self.telemetry = telemetry_for(config.metrics_service or server.name)

    # -- writing -----------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self._write(dumps(message))

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- reading -----------------------------------------------------------------

    def receive_lines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.receive(line)

    def receive(self, line: bytes) -> None:
        """Take one line from the client."""
        if len(line) > self.config.max_body_bytes:
            self.oversize()
            return
        try:
            message = decode_message(line)
        except MessageError as error:
            self.send(error_message(error.request_id, error))
            return
        if isinstance(message, Request):
            self._start(message)
        elif isinstance(message, Notification):
            self._notification(message)
        else:
            self._spawn(self._reply(message))

    def oversize(self) -> None:
        limit = self.config.max_body_bytes
        error = InvalidRequest(f"Invalid request: a message is longer than {limit} bytes")
        self.send(error_message(None, error))

    def _start(self, request: Request) -> None:
        key = _key(request.id)
        if key in self.running:
            error = InvalidRequest("Invalid request: a request with this id is in progress")
            self.send(error_message(request.id, error))
            return
        task = asyncio.get_running_loop().create_task(self._serve(request, key))
        self.running[key] = task

    def _notification(self, message: Notification) -> None:
        if message.method == "notifications/cancelled":
            request_id = message.params.get("requestId")
            if isinstance(request_id, int | str) and not isinstance(request_id, bool):
                key = _key(request_id)
                task = self.running.get(key)
                if task is not None:
                    self._cancelled.add(key)
                    task.cancel()
        elif message.method == "notifications/initialized" and self.session_id is not None:
            self._spawn(self.state.mark_initialized(self.session_id))

    async def _reply(self, message: Response) -> None:
        """A client's answer to one of our requests (2025 era): wake its handler."""
        if self.session_id is None or not isinstance(message.id, str):
            log.info("a response from the client matches no request of ours: ignored")
            return
        raw = dumps(
            {"jsonrpc": "2.0", "id": message.id, "result": message.result}
            if message.error is None
            else {"jsonrpc": "2.0", "id": message.id, "error": message.error}
        )
        if not await self.state.deliver_reply(self.session_id, message.id, raw):
            log.info("a response from the client matches no request of ours: ignored")

    # -- requests ----------------------------------------------------------------

    async def _serve(self, request: Request, key: bytes) -> None:
        if self.telemetry is None:
            await self._answer(request, key)
            return
        message = {"method": request.method, "id": request.id, "params": request.params}
        operation = self.telemetry.begin(message, transport="pipe")
        token = operation.activate()
        answer: dict[str, Any] | None = None
        try:
            answer = await self._answer(request, key)
        except BaseException as error:
            operation.end(type(error).__qualname__)
            raise
        finally:
            operation.deactivate(token)
        operation.finish(answer, session_id=self.session_id)

    async def _answer(self, request: Request, key: bytes) -> dict[str, Any] | None:
        """Dispatch ``request`` and write its answer; the answer (None: cancelled)."""
        try:
            result = await self._dispatch(request)
            if key in self._cancelled:
                return None
            answer = result_message(request.id, result)
            self._write(encode_final(answer))
            return answer
        except asyncio.CancelledError:
            log.info("request %r cancelled", request.id)
            raise
        except Exception as error:
            if key in self._cancelled:
                return None
            failure = error_message(request.id, client_error(error, f"request {request.id!r}"))
            self.send(failure)
            return failure
        finally:
            self.running.pop(key, None)
            self._cancelled.discard(key)

    async def _dispatch(self, request: Request) -> dict[str, Any]:
        if request.method == "initialize":
            return await self._initialize(request)
        legacy = _meta_version(request.params) is None
        if request.method == "ping" and legacy:
            return {}  # a 2025-era client may ping before its initialize
        if self.session_id is not None and legacy:
            record = await self.state.get_session(self.session_id)
            if record is not None:
                return await self.legacy.dispatch(request, record, self._output)
        meta = read_request_meta(request.params)
        if meta.protocol_version not in MODERN_VERSIONS:
            raise unsupported_version(meta.protocol_version)
        self.modern.check_method(request.method)
        if request.method == "subscriptions/listen":
            return await self._listen(request)
        return await self.modern.dispatch(request, meta, self._notify, None)

    async def _notify(self, method: str, params: dict[str, Any]) -> None:
        self.send(notification_message(method, params))

    async def _initialize(self, request: Request) -> dict[str, Any]:
        result, record = await self.legacy.initialize(request, None)
        previous, self.session_id = self.session_id, record.id
        if previous is not None:
            await self.state.delete_session(previous)
        log.info(
            "session opened",
            extra={"event": "session_opened", "protocolVersion": record.protocol_version},
        )
        return result

    async def _listen(self, request: Request) -> dict[str, Any]:
        """``subscriptions/listen``: the chosen notifications, tagged, until cancelled."""
        meta = read_request_meta(request.params)
        requested = request.params.get("notifications")
        honoured = honoured_filter(self.server, requested, meta.client_capabilities)
        tag = {META_SUBSCRIPTION_ID: request.id}

        def listener(method: str, params: dict[str, Any]) -> None:
            if wanted(honoured, method, params):
                sent = outgoing(method, params)
                self.send(notification_message(method, {**sent, "_meta": tag}))

        unsubscribe = self.server.notifications.subscribe(listener)
        key = _key(request.id)
        self._listens.add(key)
        try:
            acknowledged = {"_meta": tag, "notifications": honoured}
            self.send(
                notification_message("notifications/subscriptions/acknowledged", acknowledged)
            )
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            unsubscribe()
            self._listens.discard(key)
        raise AssertionError("unreachable: a listen ends by cancellation")

    # -- change notifications of the 2025-era session ------------------------------

    def _changed(self, method: str, params: dict[str, Any]) -> None:
        if self.session_id is None or method == TASK_STATUS:
            return
        if method == RESOURCE_UPDATED:
            self._spawn(self._resource_updated(self.session_id, params))
        else:
            self.send(notification_message(method, params))

    async def _resource_updated(self, session_id: str, params: dict[str, Any]) -> None:
        record = await self.state.get_session(session_id)
        if record is not None and params.get("uri") in record.subscriptions:
            self.send(notification_message(RESOURCE_UPDATED, params))

    # -- the end -------------------------------------------------------------------

    async def aclose(self, grace: float) -> None:
        """Let running requests finish for up to ``grace`` seconds, then cancel the rest."""
        self._unsubscribe()
        for key in self._listens:  # a listen ends only when cancelled
            listen = self.running.get(key)
            if listen is not None:
                listen.cancel()
        tasks = [task for key, task in self.running.items() if key not in self._listens]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in [*self.running.values(), *self._background]:
            task.cancel()
        remaining = [*self.running.values(), *self._background]
        if remaining:
            await asyncio.wait(remaining, timeout=1.0)
        await self.state.aclose()
        if self.telemetry is not None:  # send what is pending
            await asyncio.to_thread(self.telemetry.shutdown)

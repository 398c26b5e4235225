"""The ASGI application: one MCP endpoint for every protocol generation.

A POST goes: HTTP checks (Origin, Host, content types, size) → JSON-RPC decode
→ era → the era's validation and dispatch → a JSON or SSE response. Every
decision is made by ``mcpfleet.protocol``; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mcpfleet.auth.gate import Gate
from mcpfleet.auth.principal import Principal, principal_id
from mcpfleet.config import Config
from mcpfleet.errors import (
    HttpRejection,
    InvalidRequest,
    ProtocolError,
    StateUnavailable,
)
from mcpfleet.observe.metrics import METRICS
from mcpfleet.protocol.auth import metadata_paths
from mcpfleet.protocol.jsonrpc import (
    MessageError,
    Notification,
    Request,
    Response,
    decode_message,
    result_message,
)
from mcpfleet.protocol.modern import unsupported_version, validate_modern_request
from mcpfleet.protocol.versions import (
    LATEST_MODERN,
    LEGACY_VERSIONS,
    MODERN_VERSIONS,
    Era,
    request_era,
)
from mcpfleet.server.app import Authenticator, Server
from mcpfleet.server.legacy import LegacyDispatcher
from mcpfleet.server.modern import ModernDispatcher
from mcpfleet.server.operations import calls_log
from mcpfleet.server.tasks.service import TaskSettings
from mcpfleet.server.threads import TOOL_THREADS
from mcpfleet.state import RedisSettings, open_state
from mcpfleet.state.base import BROADCAST, FleetState
from mcpfleet.transport.cors import cross_origin, send_preflight
from mcpfleet.transport.errors import client_error
from mcpfleet.transport.get_streams import GetStream
from mcpfleet.transport.handover import SETTLE_SECONDS
from mcpfleet.transport.health import LIVENESS_PATH, READINESS_PATH, Health
from mcpfleet.transport.http import (
    ClientDisconnected,
    Message,
    Receive,
    Scope,
    Send,
    accepts,
    accepts_json_and_sse,
    current_task,
    header_map,
    read_body,
    send_bytes,
    send_empty,
    send_error,
    send_json,
    too_large,
)
from mcpfleet.transport.legacy import LegacyEndpoint
from mcpfleet.transport.lifetimes import RETRY_MS, StreamLifetimes
from mcpfleet.transport.listen import ListenStreams
from mcpfleet.transport.streams import DisconnectWatcher, ResponseStream
from mcpfleet.transport.task_metrics import TaskMetrics

log = logging.getLogger("mcpfleet.transport")
# The drain stops waiting for running tasks this long before its deadline, to fail the
# rest and exit in time.
TASK_DRAIN_MARGIN_SECONDS = 2.0

PROMETHEUS_HEADERS = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]

ACCESS_FROM_ANYWHERE = [(b"access-control-allow-origin", b"*")]


class McpApp:
    """ASGI app serving ``server`` at ``config.path``, plus ``/healthz``."""

    def __init__(
        self,
        server: Server,
        config: Config | None = None,
        *,
        state: FleetState | None = None,
        authenticate: Authenticator | None = None,
    ) -> None:
        self.server = server
        self.config = config or Config()
        self.state = state or open_state(
            self.config.state_url,
            session_ttl_seconds=self.config.session_ttl_seconds,
            connection=RedisSettings.from_config(self.config),
            cache_seconds=self.config.session_cache_seconds,
        )
        # Who may call, and what: None when the app enforces nothing (then it costs nothing).
        self.gate = Gate.for_app(server, self.config, self.state, authenticate)
        server.filter_lists = self.config.auth_filter_lists
        self._metadata_paths = metadata_paths(self.config.path)
        self.modern = ModernDispatcher(
            server,
            self.config.request_state_keys,
            state_ttl_seconds=self.config.request_state_ttl_seconds,
            state=self.state,
            task_settings=TaskSettings.from_config(self.config),
        )
        # Every long-lived stream, timed to STREAM_MAX_SECONDS; a drain ends them all.
        self.lifetimes = StreamLifetimes(self.config.stream_max_seconds)
        self.listen = ListenStreams(
            server, self.modern, self.config.keepalive_seconds, self.lifetimes
        )
        self.disconnects = DisconnectWatcher()
        self._hosts: dict[str | None, bool] = {}  # Host header -> allowed (clients repeat one)
        self.legacy = LegacyEndpoint(
            LegacyDispatcher(
                server,
                self.state,
                max_sessions=self.config.max_sessions,
                max_sessions_per_principal=self.config.max_sessions_per_principal,
            ),
            self.state,
            keepalive=self.config.keepalive_seconds,
            disconnects=self.disconnects,
            lease_seconds=self.config.call_lease_seconds,
        )
        self.legacy.streams.lifetimes = self.lifetimes
        self.legacy.leases.lifetimes = self.lifetimes
        self.health = Health(self.state)
        self.metrics = TaskMetrics(self.state, self.health, lambda: self.open_streams)
        self._started = False
        self._drain_started = time.monotonic()
        self._emitter: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        if not self._started:
            self._started = True
            await self.server.start()
            await self.legacy.start()
            if self.state.shared:
                self._share_notifications()
            TOOL_THREADS.resize(self.config.tool_threads)
            METRICS.namespace = self.config.metrics_namespace
            METRICS.service = self.config.metrics_service or self.server.name
            if self.config.metrics_interval_seconds > 0:
                emitting = self.metrics.emit_every(self.config.metrics_interval_seconds)
                self._emitter = asyncio.get_running_loop().create_task(emitting)

    @property
    def open_streams(self) -> int:
        """The GET and listen streams this task holds open."""
        return self.listen.open_count + self.legacy.get_streams

    def _share_notifications(self) -> None:
        """Change notifications go to every task of the fleet, each delivering to its own
        GET and listen streams."""
        hub = self.server.notifications
        state = self.state
        background: set[asyncio.Task[None]] = set()

        async def relay(method: str, params: dict[str, Any]) -> None:
            try:
                await state.publish(BROADCAST, {"method": method, "params": params})
            except StateUnavailable:
                log.warning("a %s notification was not shared: the state is unreachable", method)

        def schedule(method: str, params: dict[str, Any]) -> None:
            task = asyncio.get_running_loop().create_task(relay(method, params))
            background.add(task)
            task.add_done_callback(background.discard)

        def deliver(message: dict[str, Any]) -> None:
            hub.deliver(message["method"], message.get("params") or {})

        state.subscribe(BROADCAST, deliver)
        hub.relay = schedule

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if self.health.draining:
                send = closing(send)
            path = scope["path"]
            if path == self.config.path or path == self.config.path + "/":
                METRICS.in_flight += 1
                try:
                    if calls_log.isEnabledFor(logging.INFO):
                        await self.logged_endpoint(scope, receive, send)
                    else:
                        held = await self.endpoint(scope, receive, send)
                        if held is not None:  # a GET stream, held open from here
                            await held.hold(receive)
                finally:
                    METRICS.in_flight -= 1
            elif path == LIVENESS_PATH:
                await send_json(send, 200, self.health.liveness())
            elif path == READINESS_PATH:
                status, body = await self.health.readiness()
                await send_json(send, status, body)
            elif path in self._metadata_paths and self.gate is not None and self.gate.oauth:
                headers = header_map(scope)
                if scope["method"] == "OPTIONS":  # a browser client's preflight
                    await send_preflight(send, "*", headers, b"GET")
                    return
                document = self.gate.metadata(headers, scope)
                await send_json(send, 200, document, ACCESS_FROM_ANYWHERE)
            elif path == "/metrics" and self.config.metrics_prometheus:
                text = await self.metrics.prometheus()
                await send_bytes(send, 200, text, PROMETHEUS_HEADERS)
            else:
                await send_json(send, 404, {"error": "not found"})
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.begin_drain()
                await self.close_streams()
                await self.legacy.streams.handovers.settled(SETTLE_SECONDS)
                await self.drain_tasks()
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Release what the app holds: the metrics emitter, the token verifier's key
        refresh, the fleet state's connections."""
        if self._emitter is not None:
            self._emitter.cancel()
        self.disconnects.close()
        await self.server.stop()
        if self.gate is not None:
            await self.gate.aclose()
        try:
            await self.state.aclose()
        except Exception:  # closing is best effort: the process is ending anyway
            log.warning("the fleet state did not close cleanly", exc_info=True)

    @property
    def draining(self) -> bool:
        return self.health.draining

    def begin_drain(self) -> None:
        """Readiness fails from now on; requests are still served."""
        if not self.health.draining:
            self.health.draining = True
            self._drain_started = time.monotonic()
            log.info("drain started", extra={"event": "drain_started"})

    async def drain_tasks(self) -> None:
        """Let the tasks this process runs finish until shortly before the drain's
        deadline; the rest fail with a retryable error (another task of the fleet takes
        the client's next call)."""
        tasks = self.modern.tasks
        if tasks is None or not tasks.runner.running:
            return
        spent = time.monotonic() - self._drain_started
        budget = self.config.drain_deadline_seconds - spent - TASK_DRAIN_MARGIN_SECONDS
        log.info("waiting up to %.1f s for %d running tasks", budget, len(tasks.runner.running))
        await tasks.runner.drain(budget)

    async def close_streams(self, retry_ms: int = RETRY_MS) -> None:
        """End every long-lived stream with a retry hint, so that its client reconnects
        (to another task): what each stream's lifetime does, for all of them at once."""
        self.lifetimes.end_all(retry_ms)

    async def endpoint(self, scope: Scope, receive: Receive, send: Send) -> GetStream | None:
        """Serve one request; a GET stream is returned open instead, for the caller to
        ``hold`` once this call's frames (and the header map) are gone: that is all
        an open stream then holds."""
        headers = header_map(scope)
        try:
            origin = self.check_caller(headers)
            method = scope["method"]
            if origin is not None:  # a browser's request, from an allowed origin
                if method == "OPTIONS":
                    await send_preflight(send, origin, headers)
                    return None
                send = cross_origin(send, origin)
            gate = self.gate
            principal = (
                None
                if gate is None
                else gate.known_caller(headers) or await gate.authenticate(headers, scope)
            )
            if method == "POST":
                await self.post(headers, receive, send, principal, scope)
            elif method in ("GET", "DELETE") and self.is_legacy_stream_request(headers):
                version = headers.get("mcp-protocol-version")
                if version is not None and version.strip() not in LEGACY_VERSIONS:
                    raise unsupported_version(version)
                await self.startup()
                if method == "GET":
                    if not accepts(headers.get("accept"), "text/event-stream"):
                        raise HttpRejection(
                            406, "Not Acceptable: Accept must list text/event-stream"
                        )
                    return await self.legacy.get(headers, receive, send, principal)
                else:
                    await self.legacy.delete(headers, send, principal)
            else:
                raise HttpRejection(405, "Method not allowed", headers={"allow": "POST"})
        except ClientDisconnected:
            log.info("client disconnected before the request body arrived")
        except Exception as error:  # the one map: every error of this request becomes its response
            request_id = error.request_id if isinstance(error, MessageError) else None
            await send_error(send, client_error(error), request_id)
        return None

    async def logged_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint, with one ``request`` log line per request (LOG_CALLS)."""
        started = time.perf_counter()
        status = [0]

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            held = await self.endpoint(scope, receive, watched)
            if held is not None:
                await held.hold(receive)
        finally:
            headers = dict(scope["headers"])
            calls_log.info(
                "request",
                extra={
                    "event": "request",
                    "method": scope["method"],
                    "status": status[0],
                    "durationMs": round((time.perf_counter() - started) * 1000, 3),
                    "sessionId": (headers.get(b"mcp-session-id") or b"").decode() or None,
                    "protocolVersion": (headers.get(b"mcp-protocol-version") or b"").decode()
                    or None,
                },
            )

    @staticmethod
    def is_legacy_stream_request(headers: dict[str, str]) -> bool:
        """GET and DELETE belong to 2025-era sessions; a modern client gets 405."""
        version = headers.get("mcp-protocol-version", "").strip()
        return version not in MODERN_VERSIONS and (
            "mcp-session-id" in headers or version in LEGACY_VERSIONS
        )

    def check_caller(self, headers: dict[str, str]) -> str | None:
        """The DNS rebinding guard: a present Origin and the Host must be allowed; returns
        the Origin."""
        origin = headers.get("origin")
        if origin is not None and not self.config.origin_allowed(origin):
            raise HttpRejection(403, "Forbidden: Origin not allowed")
        host = headers.get("host")
        allowed = self._hosts.get(host)
        if allowed is None:
            allowed = self.config.host_allowed(host)
            if len(self._hosts) < 256:
                self._hosts[host] = allowed
        if not allowed:
            raise HttpRejection(403, "Forbidden: Host not allowed")
        return origin

    async def post(
        self,
        headers: dict[str, str],
        receive: Receive,
        send: Send,
        principal: Principal | None,
        scope: Scope,
    ) -> None:
        content_type = headers.get("content-type", "")
        if content_type != "application/json" and (
            content_type.split(";", 1)[0].strip().lower() != "application/json"
        ):
            raise HttpRejection(
                415, "Unsupported Media Type: Content-Type must be application/json"
            )
        if not accepts_json_and_sse(headers.get("accept")):
            raise HttpRejection(
                406, "Not Acceptable: Accept must list application/json and text/event-stream"
            )
        first = await receive()  # most bodies arrive in one message: skip the general reader
        if first["type"] == "http.request" and not first.get("more_body", False):
            body = first.get("body", b"")
            if len(body) > self.config.max_body_bytes:
                raise too_large()
        else:
            body = await read_body(
                receive, self.config.max_body_bytes, headers.get("content-length"), first
            )
        message = decode_message(body)
        method = None if not isinstance(message, Request | Notification) else message.method
        version = headers.get("mcp-protocol-version")
        if version == LATEST_MODERN:  # the common case first
            era = Era.MODERN
        else:
            era, version = request_era(headers, method)
        if era is Era.UNSUPPORTED:
            raise _with_id(unsupported_version(version), message)
        if era is Era.LEGACY:
            await self.legacy_post(headers, message, receive, send, principal, scope)
            return
        if not isinstance(message, Request):
            if isinstance(message, Notification):
                await send_empty(send, 202)
                return
            raise _with_id(
                InvalidRequest("Invalid request: this protocol version has no client replies"),
                message,
            )
        await self.modern_request(headers, version, message, receive, send, principal, scope)

    async def legacy_post(
        self,
        headers: dict[str, str],
        message: Request | Notification | Response,
        receive: Receive,
        send: Send,
        principal: Principal | None,
        scope: Scope,
    ) -> None:
        try:
            await self.startup()
            gate = self.gate
            if (
                gate is not None
                and isinstance(message, Request)
                and not gate.nothing_to_check(message.method, message.params)
            ):
                await gate.authorize(principal, message.method, message.params, headers, scope)
            await self.legacy.post(headers, message, receive, send, principal)
        except MessageError:
            raise
        except Exception as error:  # before any response: the error answers, with the id
            raise _with_id(client_error(error), message) from None

    async def modern_request(
        self,
        headers: dict[str, str],
        version: str | None,
        request: Request,
        receive: Receive,
        send: Send,
        principal: Principal | None,
        scope: Scope,
    ) -> None:
        stream = ResponseStream(send, request.id)
        try:
            method, params = request.method, request.params
            name = params.get("name") if method == "tools/call" else None
            declared = self.server.param_headers.get(name) if isinstance(name, str) else None
            meta = validate_modern_request(headers, version, method, params, declared)
            self.modern.check_method(method)
            gate = self.gate
            if gate is not None and not gate.nothing_to_check(request.method, request.params):
                await gate.authorize(principal, request.method, request.params, headers, scope)
            if request.method == "subscriptions/listen":
                await self.listen.serve(request, meta, stream, receive, principal_id(principal))
                return
            stream.task = current_task()
            self.disconnects.watch(stream, receive)
            try:
                result = await self.modern.dispatch(request, meta, stream.notify, principal)
            except asyncio.CancelledError:
                if not stream.gone:
                    raise
                log.info("request %r cancelled: the client closed its stream", request.id)
                return
            finally:
                self.disconnects.done(stream)
            await stream.finish(result_message(request.id, result))
        except Exception as error:
            await stream.fail(client_error(error, f"request {request.id!r}"))


def _with_id(error: ProtocolError, message: Any) -> ProtocolError:
    request_id = getattr(message, "id", None)
    return MessageError(error, request_id)


def closing(send: Send) -> Send:
    """``send`` with ``Connection: close`` on the response: while the task drains, every
    connection closes after its next response, cleanly, so that the client (or the load
    balancer) sends its next request elsewhere instead of racing the close at the stop."""

    async def closing_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", ()), (b"connection", b"close")]
            message = {**message, "headers": headers}
        await send(message)

    return closing_send

"""One Lambda instance's app: the ASGI ``McpApp``, its event loop, its fleet state.

The adapter loads the app named by ``MCPFLEET_APP``, reads the configuration from
the environment (``NAME_SECRET_ARN`` variables resolved by ``Config.from_env``),
opens the fleet state, and then serves one HTTP request per invocation on a loop
that lives as long as the instance. Where the response goes is a ``ResponseSink``:
a buffer for a BUFFERED function (``handler``, run by ``awslambdaric``), or the
Runtime API's streamed response (``mcpfleet.aws_lambda.streaming``).

Any invocation may land on another instance, so 2025-era sessions need the fleet
state in Redis; what an instance cannot hold open is refused at once
(``mcpfleet.aws_lambda.refusals``).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import MutableMapping
from typing import Any, Protocol

from mcpfleet.aws_lambda.events import Event, Headers, HttpRequest, buffered_result, decode_event
from mcpfleet.aws_lambda.refusals import refusal
from mcpfleet.config import Config
from mcpfleet.errors import ConfigError, HttpRejection, InternalError, ProtocolError
from mcpfleet.protocol.jsonrpc import dumps, error_message
from mcpfleet.server.app import Server
from mcpfleet.state import RedisSettings, open_state
from mcpfleet.transport.asgi import McpApp

# Time kept back before the invocation's deadline to end the response cleanly.
DEADLINE_MARGIN_SECONDS = 1.0
# The longest a Lambda instance reuses a session record it read from Redis.
LAMBDA_SESSION_CACHE_SECONDS = 1.0
JSON_HEADERS: Headers = [(b"content-type", b"application/json")]


class ResponseSink(Protocol):
    """Where one invocation's response goes, as the app produces it."""

    gone: asyncio.Event  # set when the response can no longer reach the client

    async def start(self, status: int, headers: Headers) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def end(self, error: ProtocolError | None = None) -> None:
        """The response is complete, or (``error``) ends incomplete for that reason."""


class BufferedResponse:
    """A response kept whole, for a result returned at the end of the invocation."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()
        self.status = 500
        self.headers: Headers = []
        self.chunks: list[bytes] = []

    async def start(self, status: int, headers: Headers) -> None:
        self.status, self.headers = status, headers

    async def write(self, data: bytes) -> None:
        self.chunks.append(data)

    async def end(self, error: ProtocolError | None = None) -> None:
        return None

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def load_server(target: str) -> Server:
    """The ``Server`` that ``module:attribute`` names (``app`` when no attribute)."""
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"MCPFLEET_APP={target!r}: cannot import {module_name!r}") from error
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, Server):
        raise ConfigError(f"MCPFLEET_APP={target!r} does not name an mcpfleet Server")
    return app


def scope(request: HttpRequest) -> dict[str, Any]:
    """The ASGI HTTP scope of a request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "https",
        "path": request.path,
        "raw_path": request.path.encode(),
        "root_path": "",
        "query_string": request.query,
        "headers": request.headers,
        "client": (request.client_ip, 0),
        "server": (request.host, 443),
    }


class Adapter:
    """One Lambda instance's app, event loop and fleet state."""

    def __init__(self, server: Server, config: Config) -> None:
        state = open_state(
            config.state_url,
            session_ttl_seconds=config.session_ttl_seconds,
            connection=RedisSettings.from_config(config),
            # The event loop (and with it the eviction listener) sleeps between
            # invocations, so evictions published meanwhile are read late: records are
            # reused for a second at most.
            cache_seconds=min(config.session_cache_seconds, LAMBDA_SESSION_CACHE_SECONDS),
        )
        server.holds_streams = False  # listen and GET streams are refused here
        self.app = McpApp(server, config, state=state)
        self.stateless = config.state_url is None or config.state_url.startswith("memory:")
        self.path = config.path
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.app.startup())

    @classmethod
    def from_env(cls) -> Adapter:
        """The adapter for ``MCPFLEET_APP`` and the configuration in the environment."""
        target = os.environ.get("MCPFLEET_APP", "").strip()
        if not target:
            raise ConfigError("MCPFLEET_APP: expected MODULE:APP naming the app to serve")
        config = Config.from_env(host="0.0.0.0")
        return cls(load_server(target), config)

    def close(self) -> None:
        """Let go of the state and the loop (Lambda itself just freezes the instance)."""
        self.loop.run_until_complete(self.app.close_streams())
        self.loop.run_until_complete(self.app.aclose())
        self.loop.close()

    def __call__(self, event: Event, context: object = None) -> Event:
        """Serve one event and return the whole response (BUFFERED)."""
        request = decode_event(event)
        response = BufferedResponse()
        self.loop.run_until_complete(self.serve(request, response, deadline_of(context)))
        return buffered_result(request.source, response.status, response.headers, response.body)

    async def serve(
        self, request: HttpRequest, sink: ResponseSink, deadline: float | None = None
    ) -> None:
        """Serve ``request`` into ``sink``: refused at once, or through the app."""
        refused = refusal(request, self.path, stateless=self.stateless)
        if refused is not None:
            status, headers, body = refused.response()
            await sink.start(status, headers)
            await sink.write(body)
            await sink.end()
            return
        await ServedRequest(request, sink, deadline).run(self.app)


class ServedRequest:
    """One request through the ASGI app: the body in, the response out to the sink.

    The app hears ``http.disconnect`` once the response is complete, the sink's
    client is gone, or the invocation's deadline is near (the app then cancels the
    request); a response the app left unfinished is ended with the reason.
    """

    def __init__(self, request: HttpRequest, sink: ResponseSink, deadline: float | None) -> None:
        self.request = request
        self.sink = sink
        self.deadline = deadline
        self.started = False
        self.finished = asyncio.Event()
        self.pending = [{"type": "http.request", "body": request.body, "more_body": False}]

    async def run(self, app: McpApp) -> None:
        try:
            await app(scope(self.request), self.receive, self.send)
        finally:
            late = self.deadline is not None and time.time() >= self.deadline
            if not self.finished.is_set():
                self.finished.set()
                await self.end_unfinished(late)

    async def end_unfinished(self, late: bool) -> None:
        error: ProtocolError = (
            HttpRejection(504, "Gateway Timeout: the function's time ran out")
            if late
            else InternalError()
        )
        if self.started:
            await self.sink.end(error)
        else:
            body = dumps(error_message(None, error))
            await self.sink.start(error.http_status, JSON_HEADERS)
            await self.sink.write(body)
            await self.sink.end()

    async def receive(self) -> MutableMapping[str, Any]:
        if self.pending:
            return self.pending.pop()
        waits = [
            asyncio.ensure_future(self.finished.wait()),
            asyncio.ensure_future(self.sink.gone.wait()),
        ]
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if self.finished.is_set():
            return
        if message["type"] == "http.response.start":
            self.started = True
            await self.sink.start(message["status"], list(message.get("headers", [])))
        elif message["type"] == "http.response.body":
            data = message.get("body", b"")
            if data:
                await self.sink.write(data)
            if not message.get("more_body", False):
                self.finished.set()
                await self.sink.end()


def deadline_of(context: object) -> float | None:
    """When to stop serving (epoch seconds), from a Lambda context's remaining time."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.time() + int(remaining()) / 1000 - DEADLINE_MARGIN_SECONDS


_adapter: Adapter | None = None


def use(adapter: Adapter) -> None:
    """Serve ``handler``'s events with ``adapter``, started at the instance's init."""
    global _adapter
    _adapter = adapter


def handler(event: Event, context: object = None) -> Event:
    """The BUFFERED entry point, ``mcpfleet.aws_lambda.handler``: every event is served
    by the app the entry point started at init (or, without it, by the first event)."""
    global _adapter
    if _adapter is None:
        _adapter = Adapter.from_env()
    return _adapter(event, context)

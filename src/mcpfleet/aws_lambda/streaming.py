"""The RESPONSE_STREAM runtime: the Runtime API loop, with SSE written as it is produced.

Each event's response goes out as it comes from the app: a Function URL (or a REST
API with the STREAM transfer mode) reads a JSON prelude with the status and
headers, eight NUL bytes, then the body. An HTTP API cannot read a stream, so its
events are answered whole, as a BUFFERED function would. An event that is no HTTP
request fails its invocation.

The loop runs on the adapter's own event loop for the life of the instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Coroutine
from typing import Any

from mcpfleet.aws_lambda.adapter import (
    DEADLINE_MARGIN_SECONDS,
    Adapter,
    BufferedResponse,
)
from mcpfleet.aws_lambda.events import (
    HTTP_INTEGRATION_CONTENT_TYPE,
    Headers,
    HttpRequest,
    Source,
    UnsupportedEvent,
    buffered_result,
    decode_event,
    stream_prelude,
)
from mcpfleet.aws_lambda.runtime_api import Invocation, RuntimeApi, RuntimeApiFailed, StreamedBody
from mcpfleet.errors import InternalError, ProtocolError

log = logging.getLogger("mcpfleet.aws_lambda")


class StreamedResponse:
    """A ``ResponseSink`` that streams to the Runtime API: prelude, then each chunk."""

    def __init__(self, api: RuntimeApi, request_id: str, source: Source) -> None:
        self.body = StreamedBody(api, request_id, HTTP_INTEGRATION_CONTENT_TYPE)
        self.source = source
        self.gone = asyncio.Event()
        self.ended = False

    async def start(self, status: int, headers: Headers) -> None:
        await self._guarded(self._open(status, headers))

    async def _open(self, status: int, headers: Headers) -> None:
        await self.body.open()
        await self.body.write(stream_prelude(self.source, status, headers))

    async def write(self, data: bytes) -> None:
        await self._guarded(self.body.write(data))

    async def end(self, error: ProtocolError | None = None) -> None:
        if self.ended or not self.body.opened:
            return
        self.ended = True
        if error is None:
            await self._guarded(self.body.close())
        else:
            kind = "Function.ResponseIncomplete"
            await self._guarded(self.body.close(kind, error.message))

    async def _guarded(self, step: Coroutine[Any, Any, None]) -> None:
        """Run a write; once the Runtime API has gone, the client has too."""
        if self.gone.is_set():
            step.close()
            return
        try:
            await step
        except RuntimeApiFailed:
            log.warning("the streamed response could not be written: the client is gone")
            self.gone.set()
            self.body.exchange.close()


class StreamingRuntime:
    """The Runtime API loop of one instance."""

    def __init__(self, api: RuntimeApi, adapter: Adapter) -> None:
        self.api = api
        self.adapter = adapter

    async def serve_forever(self) -> None:
        """Take events until the instance ends (Lambda freezes it between them)."""
        while True:
            invocation = await self.api.next_invocation()
            await self.serve(invocation)

    async def serve(self, invocation: Invocation) -> None:
        """Serve one event; a failure before any response fails the invocation."""
        if invocation.trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = invocation.trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            request = decode_event(json.loads(invocation.body))
        except (UnsupportedEvent, ValueError) as error:
            message = str(error) if isinstance(error, UnsupportedEvent) else "event is not JSON"
            await self.api.fail(invocation.request_id, "Runtime.UnsupportedEvent", message)
            return
        deadline = None
        if invocation.deadline_ms is not None:
            deadline = invocation.deadline_ms / 1000 - DEADLINE_MARGIN_SECONDS
        if request.source.streams:
            await self.stream(invocation, request, deadline)
        else:
            await self.buffer(invocation, request, deadline)

    async def stream(
        self, invocation: Invocation, request: HttpRequest, deadline: float | None
    ) -> None:
        sink = StreamedResponse(self.api, invocation.request_id, request.source)
        try:
            await self.adapter.serve(request, sink, deadline)
        except Exception as error:  # the app's own fault: logged, reported, never shown
            log.error("invocation %s failed", invocation.request_id, exc_info=error)
            if not sink.body.opened:
                await self.api.fail(
                    invocation.request_id, "Runtime.HandlerFailed", "internal error"
                )
                return
            await sink.end(InternalError())

    async def buffer(
        self, invocation: Invocation, request: HttpRequest, deadline: float | None
    ) -> None:
        response = BufferedResponse()
        try:
            await self.adapter.serve(request, response, deadline)
        except Exception as error:  # the app's own fault: logged, reported, never shown
            log.error("invocation %s failed", invocation.request_id, exc_info=error)
            await self.api.fail(invocation.request_id, "Runtime.HandlerFailed", "internal error")
            return
        result = buffered_result(request.source, response.status, response.headers, response.body)
        await self.api.respond(invocation.request_id, json.dumps(result).encode())


def run(api: RuntimeApi, adapter: Adapter) -> int:
    """Serve events until the Runtime API fails; the exit status."""
    try:
        adapter.loop.run_until_complete(StreamingRuntime(api, adapter).serve_forever())
    except RuntimeApiFailed as error:
        log.error("the runtime stops: %s", error)
        return 1
    return 0

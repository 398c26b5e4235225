"""A client of the Lambda Runtime API (version 2018-06-01), for a streaming runtime.

The Python runtime interface client cannot stream a response, so a function whose
URL invokes it in RESPONSE_STREAM mode talks to the Runtime API itself:

- ``GET  /runtime/invocation/next`` waits for the next event; its headers carry the
  request id (``Lambda-Runtime-Aws-Request-Id``), the deadline in epoch
  milliseconds (``Lambda-Runtime-Deadline-Ms``) and the trace id;
- ``POST /runtime/invocation/{id}/response`` answers it: whole, or streamed
  (``Lambda-Runtime-Function-Response-Mode: streaming``, chunked, and the two
  ``Lambda-Runtime-Function-Error-*`` trailers declared up front so that an error
  met mid-stream can still be reported, its body base64-encoded);
- ``POST /runtime/invocation/{id}/error`` fails an invocation before any response;
- ``POST /runtime/init/error`` reports an instance that could not start.

h11 frames the HTTP/1.1 messages (no I/O of its own); this module drives it over
asyncio streams, one connection per call. Connection and framing failures become
``RuntimeApiFailed``, here where they enter.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h11

from mcpfleet.errors import CommandError

API = "/2018-06-01/runtime"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"
READ_SIZE = 65536

RawHeaders = list[tuple[bytes, bytes]]


class RuntimeApiFailed(CommandError):
    """The Runtime API could not be reached or answered out of protocol: the runtime
    command stops, and Lambda starts a new instance."""


@dataclass(frozen=True, slots=True)
class Invocation:
    """One event from ``/runtime/invocation/next``."""

    request_id: str
    deadline_ms: int | None
    trace_id: str | None
    body: bytes


def error_document(error_type: str, message: str) -> bytes:
    """The error body the Runtime API reads: type and message, no stack trace."""
    document = {"errorType": error_type, "errorMessage": message, "stackTrace": []}
    return json.dumps(document).encode()


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Connection and HTTP framing failures as ``RuntimeApiFailed``."""
    try:
        yield
    except (OSError, h11.ProtocolError, asyncio.IncompleteReadError) as error:
        raise RuntimeApiFailed(f"Runtime API {what}: {type(error).__name__}") from error


class Exchange:
    """One HTTP/1.1 request and its response on a connection of its own."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.h11 = h11.Connection(h11.CLIENT)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, method: str, target: str, headers: RawHeaders) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        host = f"{self.host}:{self.port}".encode()
        request = h11.Request(method=method, target=target, headers=[(b"host", host), *headers])
        await self.put(request)

    async def put(self, event: h11.Data | h11.Request | h11.EndOfMessage) -> None:
        assert self.writer is not None
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def response(self) -> tuple[int, RawHeaders, bytes]:
        """Status, headers and body of the response; then the connection closes."""
        assert self.reader is not None
        status, headers, chunks = 0, [], []
        try:
            while True:
                event = self.h11.next_event()
                if event is h11.NEED_DATA:
                    self.h11.receive_data(await self.reader.read(READ_SIZE))
                elif isinstance(event, h11.Response):
                    status, headers = event.status_code, list(event.headers)
                elif isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return status, headers, b"".join(chunks)
        finally:
            self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class RuntimeApi:
    """The Runtime API at ``AWS_LAMBDA_RUNTIME_API`` (``host:port``)."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeApiFailed(f"AWS_LAMBDA_RUNTIME_API: expected HOST:PORT, got {address!r}")
        self.host, self.port = host.strip("[]"), int(port)

    def exchange(self) -> Exchange:
        return Exchange(self.host, self.port)

    async def call(
        self, method: str, path: str, headers: RawHeaders, body: bytes = b""
    ) -> tuple[int, RawHeaders, bytes]:
        with translated(path):
            exchange = self.exchange()
            try:
                length = [(b"content-length", str(len(body)).encode())]
                await exchange.open(method, API + path, headers + length)
                if body:
                    await exchange.put(h11.Data(data=body))
                await exchange.put(h11.EndOfMessage())
                return await exchange.response()
            finally:
                exchange.close()

    async def next_invocation(self) -> Invocation:
        """Wait for the next event (as long as it takes: Lambda freezes the instance)."""
        status, headers, body = await self.call("GET", "/invocation/next", [])
        found = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in headers}
        request_id = found.get("lambda-runtime-aws-request-id")
        if status != 200 or not request_id:
            raise RuntimeApiFailed(f"Runtime API /invocation/next answered {status}")
        deadline = found.get("lambda-runtime-deadline-ms", "")
        return Invocation(
            request_id=request_id,
            deadline_ms=int(deadline) if deadline.isdigit() else None,
            trace_id=found.get("lambda-runtime-trace-id"),
            body=body,
        )

    async def respond(self, request_id: str, body: bytes) -> None:
        """A whole (buffered) response."""
        headers = [(b"content-type", b"application/json")]
        await self._accepted(f"/invocation/{request_id}/response", headers, body)

    async def fail(self, request_id: str, error_type: str, message: str) -> None:
        """Fail an invocation that has sent no response."""
        await self._error(f"/invocation/{request_id}/error", error_type, message)

    async def init_failed(self, error_type: str, message: str) -> None:
        """Report an instance that could not start."""
        await self._error("/init/error", error_type, message)

    async def _error(self, path: str, error_type: str, message: str) -> None:
        headers = [
            (b"content-type", ERROR_CONTENT_TYPE.encode()),
            (ERROR_TYPE.encode(), error_type.encode("latin-1", "replace")),
        ]
        await self._accepted(path, headers, error_document(error_type, message))

    async def _accepted(self, path: str, headers: RawHeaders, body: bytes) -> None:
        status, _, _ = await self.call("POST", path, headers, body)
        if status != 202:
            raise RuntimeApiFailed(f"Runtime API {path} answered {status}")


class StreamedBody:
    """A response streamed to ``/runtime/invocation/{id}/response``, chunk by chunk."""

    def __init__(self, api: RuntimeApi, request_id: str, content_type: str) -> None:
        self.path = f"/invocation/{request_id}/response"
        self.content_type = content_type
        self.exchange = api.exchange()
        self.opened = False

    async def open(self) -> None:
        headers = [
            (b"content-type", self.content_type.encode()),
            (b"lambda-runtime-function-response-mode", b"streaming"),
            (b"transfer-encoding", b"chunked"),
            (b"trailer", f"{ERROR_TYPE}, {ERROR_BODY}".encode()),
        ]
        with translated(self.path):
            await self.exchange.open("POST", API + self.path, headers)
        self.opened = True

    async def write(self, data: bytes) -> None:
        with translated(self.path):
            await self.exchange.put(h11.Data(data=data))

    async def close(self, error_type: str | None = None, message: str = "") -> None:
        """End the body (with the error trailers when ``error_type``) and read the answer."""
        trailers: RawHeaders = []
        if error_type is not None:
            encoded = base64.b64encode(error_document(error_type, message))
            trailers = [(ERROR_TYPE.encode(), error_type.encode()), (ERROR_BODY.encode(), encoded)]
        with translated(self.path):
            try:
                await self.exchange.put(h11.EndOfMessage(headers=trailers))
                status, _, _ = await self.exchange.response()
            finally:
                self.exchange.close()
        if status != 202:
            raise RuntimeApiFailed(f"Runtime API {self.path} answered {status}")

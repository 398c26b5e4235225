"""The floor: a raw ASGI app that parses the JSON-RPC body with orjson and answers it.

No MCP validation, no routing beyond the path, no headers checked: the least a
Python server on uvicorn can do to answer the echo call. Its CPU per call is
what the protocol handling of a real server is measured against.

With ``BENCH_WORKLOADS=1`` (``workload_app``) it answers the workloads of
``bench.workloads`` that do not block as cheaply, doing the same work:
``resources/read`` of the payload (the 1 MiB text, serialized into the answer each
time), ``length`` (the 256 KiB argument decoded, its length answered) and ``wait``
(``asyncio.sleep``, then the text); any other call is answered as ``echo``.

``GET /mcp`` opens an SSE response with one event and holds it open until the
client goes away: no session, nothing sent after that. ``python -m bench.memory``
measures its RSS per connection, the least a held-open stream costs on uvicorn.

    python -m bench.apps.floor --host 127.0.0.1 --port 3000
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from bench import workloads
from bench.apps import _serve

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _hold_stream(receive: Receive, send: Send) -> None:
    """An SSE response with one (empty) event, open until the client disconnects."""
    await send({"type": "http.response.start", "status": 200, "headers": _SSE})
    await send({"type": "http.response.body", "body": b"id: 0\ndata: \n\n", "more_body": True})
    while (await receive())["type"] != "http.disconnect":
        pass


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _respond(send, 200, b'{"status":"ok"}')
        return
    if scope["method"] == "GET":
        await _hold_stream(receive, send)
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    request = orjson.loads(body)
    text = request["params"]["arguments"]["text"]
    result = {"content": [{"type": "text", "text": text}], "resultType": "complete"}
    answer = {"jsonrpc": "2.0", "id": request["id"], "result": result}
    await _respond(send, 200, orjson.dumps(answer))


async def workload_app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """``app``, answering the workloads too (``BENCH_WORKLOADS=1``; ``app``'s echo path
    stays as it is for the other scenarios)."""
    if scope["type"] != "http" or scope["path"] == "/healthz" or scope["method"] == "GET":
        await app(scope, receive, send)
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    request = orjson.loads(b"".join(chunks))
    answer = {"jsonrpc": "2.0", "id": request["id"], "result": await _result(request)}
    await _respond(send, 200, orjson.dumps(answer))


async def _result(request: dict[str, Any]) -> dict[str, Any]:
    params = request["params"]
    if request["method"] == "resources/read":
        contents = {"uri": params["uri"], "mimeType": "text/plain", "text": workloads.PAYLOAD}
        return {"contents": [contents], "resultType": "complete"}
    name, arguments = params["name"], params["arguments"]
    if name == "length":
        text = str(len(arguments["data"]))
    else:
        if name == "wait":
            await asyncio.sleep(workloads.TOOL_SECONDS)
        text = arguments["text"]
    return {"content": [{"type": "text", "text": text}], "resultType": "complete"}


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    return workload_app if workloads.enabled() else app


def main(argv: Sequence[str] | None = None) -> None:
    args = _serve.parse(_serve.parser("raw ASGI + orjson answering the echo call"), argv)
    # As `mcpfleet serve` runs it: without uvicorn's proxy-headers middleware (X-Forwarded-*),
    # which the floor has no use for either.
    _serve.run_uvicorn(asgi_app(argv), args.host, args.port, proxy_headers=False)


if __name__ == "__main__":
    main()

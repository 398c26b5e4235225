"""The floor: a raw ASGI app that parses the JSON-RPC body with orjson and answers it.

No MCP validation, no routing beyond the path, no headers checked: the least a
Python server on uvicorn can do to answer the echo call. Its CPU per call is
what the protocol handling of a real server is measured against.

    python -m bench.apps.floor --host 127.0.0.1 --port 3000
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from bench.apps import _serve

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")


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


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    if scope["path"] == "/healthz":
        await _respond(send, 200, b'{"status":"ok"}')
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


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = _serve.parse(_serve.parser("raw ASGI + orjson answering the echo call"), argv)
    _serve.run_uvicorn(app, args.host, args.port)


if __name__ == "__main__":
    main()

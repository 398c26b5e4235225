"""An existing app written for the official SDK (mcp 2.3.0): an ``MCPServer`` with one
``async def echo`` tool, nothing else. The same object is served three ways:

    mcpfleet serve bench.apps.sdk_server:mcp               # by mcpfleet, in-process
    mcpfleet serve --stdio bench.apps.sdk_server:mcp       # the same over stdio
    python -m bench.apps.sdk_server --port 3000            # by the SDK's own streamable HTTP
    python -m bench.apps.sdk_server --stdio                # by the SDK's own stdio server

The SDK's HTTP app runs in its fastest configuration for this call by default:
``json_response=True, stateless_http=True`` (``--no-json-response``, ``--no-stateless``
for the others), under uvicorn as every Python peer (``bench.apps._serve``). Its
``/healthz`` route is added to the SDK's web app, not to ``mcp``: mcpfleet refuses an SDK
app with custom web routes, and answers its own ``/healthz``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import MCPServer

from bench.apps import _serve

mcp = MCPServer("echo-app", version="1.0.0")


@mcp.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


TARGET = "bench.apps.sdk_server:mcp"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _serve.parser("an MCPServer app served by the SDK itself (HTTP or stdio)")
    _serve.mode_flags(parser, "streamable_http_app", json_default=True, stateless_default=True)
    parser.add_argument("--stdio", action="store_true", help="serve on stdin and stdout")
    return _serve.parse(parser, argv)


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    """The SDK's streamable HTTP app for ``mcp``, with a ``/healthz`` route (added to the
    web app, not to ``mcp``, which then stays servable by mcpfleet in the same process)."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    args = _arguments(argv)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # `host` keeps the SDK's DNS-rebinding protection for loopback on, as in sdk_echo.
    app = mcp.streamable_http_app(
        json_response=args.json_response, stateless_http=args.stateless, host=args.host
    )
    app.router.routes.append(Route("/healthz", healthz, methods=["GET"]))
    return app


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    if args.stdio:
        mcp.run("stdio")
        return
    _serve.run_uvicorn(asgi_app(argv), args.host, args.port)


if __name__ == "__main__":
    main()

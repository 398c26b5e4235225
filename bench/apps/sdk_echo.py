"""The official MCP Python SDK (mcp 2.3.0) ``MCPServer`` serving the same ``echo`` and
``progress`` tools.

    python -m bench.apps.sdk_echo --port 3000 [--no-json-response] [--stateless] [--tool sync]

``--json-response`` (the default here) answers with one JSON body instead of an
SSE stream; ``--stateless`` passes ``stateless_http=True``; ``--tool sync`` registers
a plain ``def`` (which the SDK runs in a worker thread) instead of ``async def``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import Context  # resolved by name when the tool is registered

from bench.apps import _serve


def build(*, json_response: bool, stateless: bool, tool: str, host: str) -> Any:
    from mcp.server.mcpserver import MCPServer
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    mcp = MCPServer("echo-bench", version="1.0.0")

    if tool == "sync":

        @mcp.tool()
        def echo(text: str) -> str:
            """Return the text unchanged."""
            return text

    else:

        @mcp.tool()
        async def echo(text: str) -> str:  # the same name: one of the two is registered
            """Return the text unchanged."""
            return text

    @mcp.tool()
    async def progress(steps: int, ctx: Context) -> str:
        """Report ``steps`` progress notifications (1..steps of steps), then return "done"."""
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps)
        return "done"

    @mcp.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # `host` keeps the SDK's default DNS-rebinding protection for loopback on:
    # the load generator sends `Host: 127.0.0.1:PORT`, which it allows.
    return mcp.streamable_http_app(json_response=json_response, stateless_http=stateless, host=host)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _serve.parser("mcp 2.3.0 MCPServer serving the echo tool")
    _serve.mode_flags(parser, "streamable_http_app", json_default=True)
    parser.add_argument("--tool", choices=("async", "sync"), default="sync")
    return _serve.parse(parser, argv)


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    args = _arguments(argv)
    return build(
        json_response=args.json_response, stateless=args.stateless, tool=args.tool, host=args.host
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    _serve.run_uvicorn(asgi_app(argv), args.host, args.port)


if __name__ == "__main__":
    main()

"""FastMCP 4.x serving the same ``echo`` and ``progress`` tools, from its own venv.

    .bench-peers/fastmcp/bin/python -m bench.apps.fastmcp_echo --port 3000 [--json-response]

Run from the repository root (so that ``bench`` imports); ``python -m bench.setup_peers
--peers fastmcp`` makes the venv. The app is ``FastMCP.http_app()`` (Streamable HTTP at
``/mcp``; stateful, SSE responses by default) served by uvicorn as the other peers are.
``--json-response`` passes ``json_response=True`` (then it drops progress notifications);
``--stateless`` passes ``stateless_http=True``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from fastmcp import Context  # resolved by name when the tool is registered

from bench.apps import _serve


def build(*, json_response: bool, stateless: bool) -> Any:
    from fastmcp import FastMCP
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    mcp = FastMCP("echo-bench", version="1.0.0")

    @mcp.tool()
    async def echo(text: str) -> str:
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

    return mcp.http_app(path="/mcp", json_response=json_response, stateless_http=stateless)


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _serve.parser("FastMCP 4.x serving the echo and progress tools")
    _serve.mode_flags(parser, "http_app", json_default=False)
    return _serve.parse(parser, argv)


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    args = _arguments(argv)
    return build(json_response=args.json_response, stateless=args.stateless)


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    _serve.run_uvicorn(asgi_app(argv), args.host, args.port)


if __name__ == "__main__":
    main()

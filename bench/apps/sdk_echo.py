"""The official MCP Python SDK (mcp 2.3.0) ``MCPServer`` serving the same ``echo`` and
``progress`` tools.

    python -m bench.apps.sdk_echo --port 3000 [--no-json-response] [--stateless] [--tool sync]

``--json-response`` (the default here) answers with one JSON body instead of an
SSE stream; ``--stateless`` passes ``stateless_http=True``; ``--tool sync`` registers
a plain ``def`` (which the SDK runs in a worker thread) instead of ``async def``.

With ``BENCH_WORKLOADS=1`` it also serves the workloads of ``bench.workloads`` (the
same in every configuration: ``block`` is a ``def``, ``wait`` an ``async def``), and a
``get_document`` making the document server's boto3 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context  # resolved by name when the tool is registered

from bench import workloads
from bench.apps import _serve


@dataclass
class Document:
    """The document server's result: ``content`` holds at most MAX_DOCUMENT_BYTES of it."""

    key: str
    content: str
    size: int
    truncated: bool


_client: Any = None
_client_lock = threading.Lock()


def _s3() -> Any:
    """One boto3 S3 client for the process, its pool as large as the SDK's 40 threads."""
    global _client
    with _client_lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            _client = boto3.client("s3", config=Config(max_pool_connections=40))
        return _client


def get_document(key: str) -> Document:
    """Read the document stored under a key (at most MAX_DOCUMENT_BYTES of it)."""
    limit = int(os.environ.get("MAX_DOCUMENT_BYTES", "") or 1024 * 1024)
    response = _s3().get_object(Bucket=os.environ["DOCUMENTS_BUCKET"], Key=key)
    body = response["Body"]
    try:
        data = body.read(limit)
    finally:
        body.close()
    size = int(response.get("ContentLength", len(data)))
    return Document(key, data.decode("utf-8", "replace"), size, size > len(data))


def add_workloads(mcp: Any) -> None:
    """The tools and the resource of ``bench.workloads`` on ``mcp``."""

    @mcp.tool()
    def block(text: str) -> str:
        """Block this thread for 50 ms (as a blocking client call does), then return the text."""
        time.sleep(workloads.TOOL_SECONDS)
        return text

    @mcp.tool()
    async def wait(text: str) -> str:
        """Wait 50 ms without blocking, then return the text."""
        await asyncio.sleep(workloads.TOOL_SECONDS)
        return text

    @mcp.tool()
    async def length(data: str) -> str:
        """The number of characters of the data."""
        return str(len(data))

    @mcp.resource(workloads.PAYLOAD_URI, name="payload", mime_type="text/plain")
    async def payload() -> str:
        """1 MiB of text."""
        return workloads.PAYLOAD

    mcp.tool()(get_document)


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

    if workloads.enabled():
        add_workloads(mcp)

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

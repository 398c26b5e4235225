"""mcpfleet serving ``echo`` and ``progress``, started through the real ``mcpfleet serve`` command.

python -m bench.apps.mcpfleet_echo --host 127.0.0.1 --port 3000

With ``BENCH_WORKLOADS=1`` (the harness sets it for those scenarios only, so that the
others list the same two tools as before) it also serves the workloads of
``bench.workloads``: ``block``, ``wait``, ``length``, the 1 MiB resource, and the
document server's own ``get_document`` (``examples/docs_server``: boto3, its settings
from the environment the harness gives).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

from bench import workloads
from bench.apps import _serve
from mcpfleet import Config, Context, McpApp, Server

app = Server("bench", "1.0.0")


@app.tool()
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@app.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Report ``steps`` progress notifications (1..steps of steps), then return "done"."""
    for step in range(1, steps + 1):
        await ctx.progress(step, steps)
    return "done"


def block(text: str) -> str:
    """Block this thread for 50 ms (as a blocking client call does), then return the text."""
    time.sleep(workloads.TOOL_SECONDS)
    return text


async def wait(text: str) -> str:
    """Wait 50 ms without blocking, then return the text."""
    await asyncio.sleep(workloads.TOOL_SECONDS)
    return text


async def length(data: str) -> str:
    """The number of characters of the data."""
    return str(len(data))


async def payload() -> str:
    """1 MiB of text."""
    return workloads.PAYLOAD


if workloads.enabled():
    from examples.docs_server.server import get_document

    for tool in (block, wait, length):
        app.tool()(tool)
    app.resource(workloads.PAYLOAD_URI, name="payload", mime_type="text/plain")(payload)
    app.tool(annotations={"readOnlyHint": True, "openWorldHint": False})(get_document)

TARGET = "bench.apps.mcpfleet_echo:app"


def _arguments(argv: Sequence[str] | None) -> Any:
    return _serve.parse(_serve.parser("mcpfleet serving the echo tool"), argv)


def asgi_app(argv: Sequence[str] | None = None) -> Any:
    """The ASGI app ``mcpfleet serve`` would serve (for in-process profiling), with its
    settings read from the environment as ``mcpfleet serve`` reads them."""
    args = _arguments(argv)
    return McpApp(app, Config.from_env(host=args.host, port=args.port))


def main(argv: Sequence[str] | None = None) -> None:
    args = _arguments(argv)
    from mcpfleet.cli import main as cli

    # `mcpfleet serve` imports TARGET from the working directory: run from the repo root.
    # One process, as every peer is measured (WORKERS in the environment may ask for more).
    workers = os.environ.get("WORKERS", "1")
    cli(
        ["serve", TARGET, "--host", args.host, "--port", str(args.port), "--workers", workers],
        prog_name="mcpfleet",
        standalone_mode=True,
    )


if __name__ == "__main__":
    main()

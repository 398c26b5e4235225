"""mcpfleet serving ``echo`` and ``progress``, started through the real ``mcpfleet serve`` command.

python -m bench.apps.mcpfleet_echo --host 127.0.0.1 --port 3000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    cli(
        ["serve", TARGET, "--host", args.host, "--port", str(args.port)],
        prog_name="mcpfleet",
        standalone_mode=True,
    )


if __name__ == "__main__":
    main()

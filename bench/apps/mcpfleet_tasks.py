"""mcpfleet serving one echo tool three ways, for the tasks extension's costs
(``bench.tasks_bench``), started through the real ``mcpfleet serve`` command.

python -m bench.apps.mcpfleet_tasks --host 127.0.0.1 --port 3000

``echo`` has no task support; ``echo_optional`` is ``task="optional"`` with the default
500 ms before a call becomes a task (an echo answers long before: always in the request);
``echo_task`` is ``task="optional", task_after_ms=0``: a task at once for a client that
declares the extension, an ordinary call for any other. The three share one body, so the
configurations of a measurement differ only in how the tool is registered.

The caller is whatever the ``X-Bench-Caller`` header says (a stand-in for real
authentication: ``bench.task_cycle`` gives each connection its own), anonymous without it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.apps import _serve
from mcpfleet import Server

app = Server("bench-tasks", "1.0.0")


@app.authenticate
async def caller(headers: dict[str, str]) -> str | None:
    """The principal named by the X-Bench-Caller header; anonymous without one."""
    return headers.get("x-bench-caller")


async def _echo(text: str) -> str:
    """Return the text unchanged."""
    return text


app.tool(name="echo")(_echo)
app.tool(name="echo_optional", task="optional")(_echo)
app.tool(name="echo_task", task="optional", task_after_ms=0)(_echo)

TARGET = "bench.apps.mcpfleet_tasks:app"


def main(argv: Sequence[str] | None = None) -> None:
    args = _serve.parse(_serve.parser("mcpfleet serving echo with and without tasks"), argv)
    from mcpfleet.cli import main as cli

    # `mcpfleet serve` imports TARGET from the working directory: run from the repo root.
    workers = os.environ.get("WORKERS", "1")
    cli(
        ["serve", TARGET, "--host", args.host, "--port", str(args.port), "--workers", workers],
        prog_name="mcpfleet",
        standalone_mode=True,
    )


if __name__ == "__main__":
    main()

"""Running an app on stdin and stdout, as a client launches it.

The process reads messages until stdin closes, lets the requests still running
finish (for ``EOF_GRACE_SECONDS`` at most, as a client that closed its end may still
read the answers), and exits with status 0. SIGTERM or SIGINT stop it at once, also
with 0: the client asked for the stop. Logs go to stderr, in the same JSON lines as
``mcpfleet serve``; stdout carries protocol messages and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from mcpfleet.config import Config
from mcpfleet.observe.logs import logging_config
from mcpfleet.server.app import Server
from mcpfleet.server.threads import TOOL_THREADS
from mcpfleet.stdio.channel import LineReader, ProtocolOutput, claim_stdout
from mcpfleet.stdio.endpoint import StdioEndpoint

log = logging.getLogger("mcpfleet.stdio")

EOF_GRACE_SECONDS = 5.0


def stderr_logging(level: str) -> None:
    """``mcpfleet serve``'s logging, every handler writing to stderr."""
    config = logging_config(level)
    for handler in config["handlers"].values():
        handler["stream"] = sys.stderr
    logging.config.dictConfig(config)


class _Stop:
    """Why and how the server stops: at end of input (with a grace), or at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.grace = 0.0
        self.now = asyncio.Event()

    def end_of_input(self) -> None:
        if not self.event.is_set():
            log.info("stdin closed: stopping")
            self.grace = EOF_GRACE_SECONDS
            self.event.set()

    def at_once(self) -> None:
        self.event.set()
        self.now.set()


async def serve_stdio(
    server: Server, config: Config, *, input_fd: int = 0, output_fd: int = 1
) -> None:
    """Serve ``server`` on the two descriptors until the input ends or a signal comes."""
    stop = _Stop()
    output = ProtocolOutput(output_fd, stop.at_once)
    endpoint = StdioEndpoint(server, config, output.write)
    reader = LineReader(
        input_fd,
        config.max_body_bytes,
        endpoint.receive_lines,
        endpoint.oversize,
        stop.end_of_input,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; not main thread
            loop.add_signal_handler(sig, stop.at_once)
    await server.start()
    reader.start()
    log.info("serving %s on stdio", server.name, extra={"event": "stdio_started"})
    await stop.event.wait()
    closing = loop.create_task(endpoint.aclose(stop.grace))
    interrupt = loop.create_task(stop.now.wait())
    await asyncio.wait([closing, interrupt], return_when=asyncio.FIRST_COMPLETED)
    if not closing.done():  # a signal during the grace: no more waiting
        closing.cancel()
        await endpoint.aclose(0)
    interrupt.cancel()
    await server.stop()
    output.close()


def stdio_config() -> Config:
    """The configuration from the environment, less the fleet state: a stdio server has
    one client, and keeps what it remembers in memory."""
    return Config.from_env({**os.environ, "REDIS_URL": ""})


def run(server: Server, config: Config | None = None) -> None:
    """Serve ``server`` over stdio: what ``mcpfleet serve --stdio`` and scripts call.

    Returns when stdin closes (or on SIGTERM/SIGINT); the process may then exit 0.
    """
    output_fd = claim_stdout()
    settings = config or stdio_config()
    stderr_logging(settings.log_level)
    TOOL_THREADS.resize(settings.tool_threads)
    _run_loop(lambda: serve_stdio(server, settings, output_fd=output_fd))


def _run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if sys.platform != "win32":
        with contextlib.suppress(ImportError):
            import uvloop

            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())

"""``mcpfleet dev``: the app on a laptop, reloaded as its files change.

uvicorn's reloader watches the app's package (and any ``--reload-dir``) with
watchfiles and restarts the worker process on a change; the command itself keeps
running, on the same port. Each worker builds the app afresh through
``dev_app`` (a uvicorn factory), reading the target from the environment. There
is no drain: ``DRAIN_DELAY_SECONDS`` is 0 and open streams get one second to end, so
Ctrl-C stops at once. The request-state key is made once, by the command, so an
MRTR retry still verifies after a reload (2025-era sessions live in the worker's
memory and end with it: their clients start a new one). Logs are short coloured
lines for a person, not JSON.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpfleet.config import Config
from mcpfleet.observe.otel import wrap
from mcpfleet.transport.asgi import McpApp

if TYPE_CHECKING:
    from mcpfleet.observe.otel_asgi import TracingApp

TARGET_ENV = "MCPFLEET_DEV_TARGET"
INSPECTOR = "npx @modelcontextprotocol/inspector"

COLOURS = {
    "DEBUG": "\x1b[2m",
    "INFO": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
RESET = "\x1b[0m"
# Fields call sites pass in ``extra`` that a person wants to see, shown as key=value.
SHOWN_FIELDS = ("sessionId", "requestId", "tool", "protocolVersion", "durationMs", "status")


class DevFormatter(logging.Formatter):
    """``12:01:02 INFO  mcpfleet.transport  session opened  protocolVersion=...``,
    the level coloured when stderr is a terminal (and NO_COLOR is unset)."""

    def __init__(self, colour: bool | None = None) -> None:
        super().__init__()
        if colour is None:
            colour = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"{COLOURS.get(record.levelname, '')}{level}{RESET}"
        fields = " ".join(
            f"{name}={record.__dict__[name]}"
            for name in SHOWN_FIELDS
            if record.__dict__.get(name) is not None
        )
        name = "uvicorn" if record.name == "uvicorn.error" else record.name
        line = f"{clock} {level} {name}  {record.getMessage()}"
        if fields:
            line += f"  {fields}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def dev_logging_config(level: str) -> dict[str, Any]:
    """Every logger of ours and uvicorn's, in ``DevFormatter`` lines on stderr."""
    level = {"notice": "INFO", "trace": "DEBUG"}.get(level, level.upper())
    handler = {"class": "logging.StreamHandler", "formatter": "dev", "stream": "ext://sys.stderr"}
    logger = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"dev": {"()": DevFormatter}},
        "handlers": {"stderr": handler},
        "loggers": {
            "mcpfleet": logger,
            "mcpfleet.calls": logger,
            "uvicorn": logger,
            "uvicorn.error": logger,
            # mcpfleet.calls logs each request and tool call: uvicorn's access log would repeat it
            "uvicorn.access": {**logger, "level": "WARNING"},
        },
    }


def dev_app() -> McpApp | TracingApp:
    """The app of one worker: uvicorn calls this factory after each reload."""
    from mcpfleet.cli import load_app

    server = load_app(os.environ[TARGET_ENV])
    config = Config.from_env(drain_delay_seconds=0.0)
    return wrap(McpApp(server, config), config)


def watched_dirs(target: str, extra: tuple[str, ...]) -> list[str]:
    """What to watch: the target's top-level package (or its module's folder), and
    ``extra``. Found without importing the app (a broken app still reloads once fixed)."""
    top = target.partition(":")[0].split(".")[0]
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: list[str] = []
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        found.extend(spec.submodule_search_locations)
    elif spec is not None and spec.origin:
        found.append(str(Path(spec.origin).parent))
    else:
        found.append(os.getcwd())
    return list(dict.fromkeys(str(Path(path).resolve()) for path in [*found, *extra]))


def inspector_command(url: str) -> str:
    """The one command that opens the MCP Inspector's web UI connected to ``url``."""
    return f"{INSPECTOR} --transport http --server-url {url}"


def banner(config: Config) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    url = f"http://{host}:{config.port}{config.path}"
    return (
        f"MCP endpoint:  {url}\n"
        f"Inspector:     {inspector_command(url)}\n"
        "Reloading on changes; Ctrl-C to stop."
    )


def prepare_environment(target: str, config: Config) -> None:
    """What every worker reads: the target, no drain, and one request-state key."""
    os.environ[TARGET_ENV] = target
    os.environ["DRAIN_DELAY_SECONDS"] = "0"
    os.environ["HOST"], os.environ["PORT"] = config.host, str(config.port)
    if not os.environ.get("REQUEST_STATE_KEYS"):
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        os.environ["REQUEST_STATE_KEYS"] = f"dev:{secret}"


def run_dev(target: str, config: Config, reload_dirs: tuple[str, ...] = ()) -> None:
    """Serve ``target`` with reload until Ctrl-C."""
    import uvicorn

    prepare_environment(target, config)
    print(banner(config), flush=True)
    uvicorn.run(
        "mcpfleet.dev:dev_app",
        factory=True,
        host=config.host,
        port=config.port,
        reload=True,
        reload_dirs=watched_dirs(target, reload_dirs),
        reload_delay=0.1,
        log_config=dev_logging_config(config.log_level),
        lifespan="on",
        timeout_graceful_shutdown=1,
    )

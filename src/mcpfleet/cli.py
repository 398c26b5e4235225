"""The ``mcpfleet`` command: thin, it parses arguments and calls the packages."""

from __future__ import annotations

import gc
import importlib
import os
import sys

import click

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError
from mcpfleet.server.app import Server


def load_app(target: str) -> Server:
    """Import ``module:attribute`` from the current directory, as uvicorn does."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise click.BadParameter("expected MODULE:APP, for example examples.hello:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name}: {exc}") from None
    app = getattr(module, attribute, None)
    if not isinstance(app, Server):
        raise click.BadParameter(f"{target} is not an mcpfleet Server")
    return app


def tune_garbage_collector() -> None:
    """Keep the collector off the request path: what is loaded by now lives for the whole
    process, so it is frozen out of collections, and young collections run less often
    (requests allocate many short-lived objects, almost none of them cyclic)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@click.group()
@click.version_option(package_name="mcpfleet")
def main() -> None:
    """Serve MCP servers, from a laptop to a fleet."""


@main.command()
@click.argument("target")
@click.option("--host", default=None, help="Address to bind (env HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env PORT, default 3000).")
@click.option(
    "--state",
    "state_url",
    default=None,
    help="Fleet state: redis://... or rediss://... (env REDIS_URL; default: in memory).",
)
def serve(target: str, host: str | None, port: int | None, state_url: str | None) -> None:
    """Serve TARGET (MODULE:APP) over Streamable HTTP."""
    from mcpfleet.transport.asgi import McpApp

    try:
        config = Config.from_env(host=host, port=port, state_url=state_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from mcpfleet.runner import run

    app = McpApp(load_app(target), config)
    tune_garbage_collector()
    run(app)


def _register_subcommands() -> None:
    from mcpfleet.deploy.cli import deploy
    from mcpfleet.probe.cli import probe

    main.add_command(deploy)
    main.add_command(probe)


_register_subcommands()

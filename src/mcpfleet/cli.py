"""The ``mcpfleet`` command: thin, it parses arguments and calls the packages."""

from __future__ import annotations

import errno
import gc
import importlib
import os
import socket
import sys
from typing import Any

import click

from mcpfleet.config import Config
from mcpfleet.errors import ConfigError
from mcpfleet.server.app import Server


def load_app(target: str) -> Server:
    """Import ``module:attribute`` from the current directory, as uvicorn does; an
    official SDK server there (``MCPServer``) is served through ``mcpfleet.compat``."""
    module_name, module, app = import_target(target)
    if isinstance(app, Server):
        return app
    from mcpfleet.compat.sdk import sdk_kind

    if sdk_kind(app) is not None:
        from mcpfleet.compat import serve_sdk

        try:
            return serve_sdk(app)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
    attribute = target.partition(":")[2]
    servers = sorted(name for name, value in vars(module).items() if isinstance(value, Server))
    found = f"its Servers: {', '.join(servers)}" if servers else "it has no mcpfleet Server"
    if not hasattr(module, attribute):
        message = f"module {module_name!r} has no attribute {attribute!r}"
    else:
        message = f"{target} is a {type(app).__name__}, not an mcpfleet Server"
    raise click.ClickException(f"{message}; {found}")


def import_target(target: str) -> tuple[str, Any, Any]:
    """The module named by ``module:attribute``, and the attribute (``None`` if absent)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise click.BadParameter("expected MODULE:APP, for example examples.hello:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise click.ClickException(f"no module named {module_name!r}") from None
        raise click.ClickException(f"cannot import {module_name}: {exc}") from None
    except ImportError as exc:
        raise click.ClickException(f"cannot import {module_name}: {exc}") from None
    return module_name, module, getattr(module, attribute, None)


def check_listen_address(host: str, port: int) -> None:
    """Fail the start in one line naming HOST:PORT when it cannot be listened on (a port in
    use, an address not on this machine), before the app starts: uvicorn's own failure
    there comes after the app's startup, and its shutdown then logs a drain."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return  # a name that does not resolve: uvicorn says so
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            # As asyncio's create_server binds: a port left in TIME_WAIT is not in use.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise click.ClickException(
                        f"HOST:PORT {where}: the port is in use (another process listens "
                        "there); stop it or choose another PORT"
                    ) from None
                raise click.ClickException(
                    f"HOST:PORT {where}: cannot listen there: {exc.strerror or exc}"
                ) from None


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
    help="Fleet state: redis://... or rediss://... (env REDIS_URL; needs REQUEST_STATE_KEYS; "
    "default: in memory).",
)
@click.option(
    "--stdio",
    is_flag=True,
    help="Serve over stdin/stdout instead, for a client that launches the server.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes serving the port (env WORKERS; default: one per CPU this process may "
    "use with Redis state, one with state in memory, which allows no more).",
)
def serve(
    target: str,
    host: str | None,
    port: int | None,
    state_url: str | None,
    stdio: bool,
    workers: int | None,
) -> None:
    """Serve TARGET (MODULE:APP) over Streamable HTTP (or stdio)."""
    if stdio:
        serve_stdio(target, state_url)
        return
    from mcpfleet.transport.asgi import McpApp

    try:
        config = Config.from_env(host=host, port=port, state_url=state_url, workers=workers)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from mcpfleet.observe.otel import check_tracing
    from mcpfleet.runner import run, run_workers, worker_count

    try:
        count = worker_count(config)
        check_tracing()  # tracing asked for without the otel extra: said once, at start
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    server = load_app(target)
    check_listen_address(config.host, config.port)
    if count > 1:
        tune_garbage_collector()  # before the fork: the workers share what is frozen
        sys.exit(run_workers(server, config, count))
    app = McpApp(server, config)
    tune_garbage_collector()
    run(app)


def serve_stdio(target: str, state_url: str | None) -> None:
    """``serve --stdio``: stdout is the protocol's from the start, before the app is
    imported (an import that prints must not corrupt it)."""
    from mcpfleet.stdio.channel import claim_stdout
    from mcpfleet.stdio.serve import run, stdio_config

    if state_url is not None:
        raise click.BadParameter("a stdio server keeps its state in memory", param_hint="--state")
    claim_stdout()
    try:
        config = stdio_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    run(load_app(target), config)


@main.command()
@click.argument("target")
@click.option("--host", default=None, help="Address to bind (env HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env PORT, default 3000).")
@click.option(
    "--reload-dir",
    "reload_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Also watch this folder (default: the app's package, or its module's folder).",
)
def dev(target: str, host: str | None, port: int | None, reload_dirs: tuple[str, ...]) -> None:
    """Serve TARGET (MODULE:APP) for development: reload on changes, no drain wait."""
    from mcpfleet.dev import run_dev

    try:
        config = Config.from_env(host=host, port=port, drain_delay_seconds=0.0)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    check_listen_address(config.host, config.port)
    run_dev(target, config, reload_dirs)


def _register_subcommands() -> None:
    from mcpfleet.compat.cli import compat
    from mcpfleet.deploy.cli import deploy
    from mcpfleet.monitor.cli import monitor
    from mcpfleet.probe.cli import probe

    main.add_command(compat)
    main.add_command(deploy)
    main.add_command(monitor)
    main.add_command(probe)


_register_subcommands()

"""``mcpfleet monitor``: run the monitor, check its config, export the status page."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import click
import uvicorn

from mcpfleet.errors import ConfigError
from mcpfleet.monitor.config import MonitorConfig, load_config
from mcpfleet.monitor.scheduler import Monitor, run_once
from mcpfleet.monitor.sqlstore import HistoryError
from mcpfleet.monitor.store import open_store
from mcpfleet.monitor.web import StatusApp, export_static

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default="monitor.yaml",
    show_default=True,
    help="The monitor's YAML file.",
)


def _load(path: str) -> MonitorConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("monitor")
def monitor() -> None:
    """Probe MCP endpoints on a schedule, keep history, alert, and serve a status page."""


@monitor.command("check-config")
@CONFIG_OPTION
def check_config(config_path: str) -> None:
    """Read the config and its environment variables; name the line and key of a mistake."""
    config = _load(config_path)
    click.echo(
        f"{config_path}: {len(config.endpoints)} endpoints, {len(config.channels)} channels, "
        f"history in {config.storage.url.split('://', 1)[0]}"
    )


@monitor.command("run")
@CONFIG_OPTION
@click.option("--once", is_flag=True, help="Probe every endpoint once, send what is due, exit.")
def run(config_path: str, once: bool) -> None:
    """Run the monitor (and its status server, when serve.port is set) until stopped."""
    config = _load(config_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe request
    page_url = None if config.port is None else f"http://{config.host}:{config.port}/"
    try:
        if once:
            for result in asyncio.run(run_once(config, page_url=page_url)):
                click.echo(f"{result.endpoint}: {result.state}")
        else:
            asyncio.run(_run(config, page_url))
    except (ConfigError, HistoryError) as exc:
        raise click.ClickException(str(exc)) from None


async def _run(config: MonitorConfig, page_url: str | None) -> None:
    monitor_ = Monitor(config, open_store(config.storage.url), page_url=page_url)
    try:
        await monitor_.start()
        stop = asyncio.Event()
        server = None if config.port is None else _status_server(config, monitor_)
        _stop_on_signals(stop, server)
        async with asyncio.TaskGroup() as group:
            group.create_task(monitor_.run(stop))
            if server is not None:
                await server.serve()  # until SIGINT or SIGTERM
                stop.set()
    finally:
        await monitor_.aclose()


def _status_server(config: MonitorConfig, monitor_: Monitor) -> uvicorn.Server:
    app = StatusApp(config, monitor_.store, time.time)
    settings = uvicorn.Config(
        app, host=config.host, port=config.port or 0, log_level="warning", lifespan="on"
    )
    return uvicorn.Server(settings)


def _stop_on_signals(stop: asyncio.Event, server: uvicorn.Server | None) -> None:
    """SIGINT and SIGTERM stop the loop (and the status server). While it serves, uvicorn
    holds the signals itself, and hands them back here when it returns."""
    loop = asyncio.get_running_loop()

    def handle(_signum: int, _frame: object) -> None:
        loop.call_soon_threadsafe(stop.set)
        if server is not None:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handle)


@monitor.command("export")
@CONFIG_OPTION
@click.option("--out", "out", type=click.Path(file_okay=False), required=True)
def export(config_path: str, out: str) -> None:
    """Write the status page, its JSON and the badges as static files under OUT."""
    config = _load(config_path)

    async def work() -> list[Path]:
        store = open_store(config.storage.url)
        try:
            await store.migrate()
            return await export_static(config, store, time.time(), Path(out))
        finally:
            await store.aclose()

    try:
        written = asyncio.run(work())
    except HistoryError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(str(path))

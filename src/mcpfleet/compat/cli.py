"""``mcpfleet compat``: the command group; what it runs is imported when it runs."""

from __future__ import annotations

import click

from mcpfleet.errors import ConfigError


@click.group()
def compat() -> None:
    """Serve apps written for the official SDK (MCPServer)."""


@compat.command("check")
@click.argument("target")
def check(target: str) -> None:
    """Print what of TARGET (MODULE:OBJ, an SDK server) maps onto mcpfleet, what does
    not, and the tools/list hash of both servers; exit 1 if it cannot be served as is."""
    from mcpfleet.cli import import_target
    from mcpfleet.compat.check import report

    _, _, obj = import_target(target)
    try:
        lines, ok = report(obj)
    except ConfigError as exc:
        raise click.ClickException(f"{target}: {exc}") from None
    for line in lines:
        click.echo(line)
    if not ok:
        raise click.exceptions.Exit(1)

"""``mcpfleet probe``: check an MCP endpoint from outside, phase by phase.

Exit code 0 healthy, 1 degraded, 2 down (for ``--targets``, the worst of all).
Secrets come from the environment, so they stay out of the process list:
``MCP_PROBE_TOKEN`` (or ``--token``), ``MCP_PROBE_CLIENT_ID`` and ``MCP_PROBE_CLIENT_SECRET``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console

from mcpfleet.probe.model import ClientCredentials, Options
from mcpfleet.probe.render import print_report, print_summary, to_json, worst
from mcpfleet.probe.runner import probe as run_probe
from mcpfleet.probe.runner import probe_many, read_targets


def _headers(token: str | None, pairs: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected K:V, got {pair!r}", param_hint="--header")
        headers[name.strip().lower()] = value.strip()
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return headers


def _client_credentials(
    wanted: bool, scope: str | None, auth_server: str | None, headers: dict[str, str]
) -> ClientCredentials | None:
    if not wanted:
        if scope is not None or auth_server is not None:
            raise click.UsageError("--scope and --auth-server need --client-credentials")
        return None
    if "authorization" in headers:
        raise click.UsageError(
            "--client-credentials gets its own token: drop --token, MCP_PROBE_TOKEN "
            "and any Authorization --header"
        )
    client_id = os.environ.get("MCP_PROBE_CLIENT_ID", "")
    client_secret = os.environ.get("MCP_PROBE_CLIENT_SECRET", "")
    if not client_id or not client_secret:
        raise click.UsageError(
            "--client-credentials needs MCP_PROBE_CLIENT_ID and MCP_PROBE_CLIENT_SECRET set"
        )
    return ClientCredentials(client_id, client_secret, scope or None, auth_server)


def _arguments(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise click.BadParameter("not valid JSON", param_hint="--args") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    return value


@click.command("probe")
@click.argument("url", required=False)
@click.option(
    "--token",
    envvar="MCP_PROBE_TOKEN",
    show_envvar=True,
    help="Bearer token sent as Authorization on every phase (the variable keeps it out of ps).",
)
@click.option(
    "--client-credentials",
    is_flag=True,
    help="Get a token by the OAuth client-credentials grant, the token endpoint discovered "
    "from the 401; the client from $MCP_PROBE_CLIENT_ID and $MCP_PROBE_CLIENT_SECRET.",
)
@click.option(
    "--scope",
    help="Scopes to ask for with --client-credentials (default: the challenge's "
    "scope, else the metadata's scopes_supported).",
)
@click.option(
    "--auth-server",
    metavar="URL",
    help="Authorization server (issuer) to use instead of the metadata's first.",
)
@click.option("--header", "header_pairs", multiple=True, metavar="K:V", help="Extra header.")
@click.option("--call", "call", metavar="TOOL", help="Call this tool (read-only ones only).")
@click.option("--args", "raw_args", metavar="JSON", help="Arguments of --call, a JSON object.")
@click.option("--force", is_flag=True, help="Allow --call of a tool not annotated read-only.")
@click.option("--era", type=click.Choice(["auto", "modern", "legacy"]), default="auto")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with every phase.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds for the whole probe of one endpoint.",
)
@click.option(
    "--slow-ms",
    type=click.FloatRange(min=1),
    default=2000.0,
    show_default=True,
    help="A phase slower than this makes the endpoint degraded.",
)
@click.option(
    "--cert-warn-days",
    type=float,
    default=14.0,
    show_default=True,
    help="A certificate expiring sooner makes the endpoint degraded.",
)
@click.option("--expect-hash", help="Previous tool-list hash; a different one is drift.")
@click.option(
    "--cafile",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust these CA certificates instead of the system's.",
)
@click.option(
    "--targets",
    "targets_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Probe every URL in this file (one a line), concurrently.",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=32, show_default=True)
def probe(
    url: str | None,
    token: str | None,
    client_credentials: bool,
    scope: str | None,
    auth_server: str | None,
    header_pairs: tuple[str, ...],
    call: str | None,
    raw_args: str | None,
    force: bool,
    era: str,
    as_json: bool,
    timeout: float,
    slow_ms: float,
    cert_warn_days: float,
    expect_hash: str | None,
    cafile: str | None,
    targets_file: str | None,
    concurrency: int,
) -> None:
    """Probe the MCP endpoint at URL (or every URL of --targets) and report its health."""
    if (url is None) == (targets_file is None):
        raise click.UsageError("give exactly one of URL and --targets")
    headers = _headers(token, header_pairs)
    options = Options(
        headers=headers,
        client_credentials=_client_credentials(client_credentials, scope, auth_server, headers),
        call=call,
        args=_arguments(raw_args),
        force=force,
        era=era,
        timeout=timeout,
        slow_ms=slow_ms,
        cert_warn_days=cert_warn_days,
        expect_hash=expect_hash,
        cafile=cafile,
    )
    if url is not None:
        reports = [asyncio.run(run_probe(url, options))]
    else:
        urls = read_targets(Path(targets_file or ""))
        reports = asyncio.run(probe_many(urls, options, concurrency))
    if as_json:
        click.echo(to_json(reports, single=url is not None))
    else:
        console = Console(width=140)
        if url is not None:
            print_report(console, reports[0])
        else:
            print_summary(console, reports)
    raise SystemExit(worst(reports).exit_code)

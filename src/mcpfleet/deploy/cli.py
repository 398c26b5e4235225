"""``mcpfleet deploy``: render the AWS deployment from the app, and run it as a stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from mcpfleet.deploy.declarations import DeclarationError
from mcpfleet.deploy.settings import ARCHS, AUTHS, TARGETS, Settings, SettingsError
from mcpfleet.errors import ConfigError

if TYPE_CHECKING:
    from mcpfleet.deploy.render import Rendered

INT = click.IntRange(min=1)
MONITOR = "monitor"  # --target monitor: the monitor's stacks (deploy/monitor_stack.py)


@click.group()
def deploy() -> None:
    """Render, check and run the AWS deployment of an app."""


def _settings(target: str, app: str, options: dict[str, Any]) -> Settings:
    from mcpfleet.cli import load_app
    from mcpfleet.deploy.render import service_name

    server = load_app(app)
    name = options.pop("name") or service_name(server)
    options["audience"] = tuple(
        part.strip() for given in options["audience"] for part in given.split(",") if part.strip()
    )
    values = {k: v for k, v in options.items() if v is not None}
    return Settings(target=cast(Any, target), app=app, name=name, **values)


@deploy.command()
@click.option(
    "--target", type=click.Choice((*TARGETS, MONITOR)), default="ecs-fargate", show_default=True
)
@click.option("--app", "app", default=None, help="MODULE:APP, as for mcpfleet serve.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--regions", default=None, help="--target monitor: the regions, comma-separated (a stack each)."
)
@click.option(
    "--config",
    "monitor_config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="--target monitor: the monitor's YAML (checked now, kept in SSM).",
)
@click.option(
    "--schedule", type=INT, default=None, help="--target monitor: minutes between rounds (1)."
)
@click.option(
    "--state",
    type=click.Choice(["memory", "redis"]),
    default="redis",
    show_default=True,
    help="Fleet state: memory turns ALB stickiness on.",
)
@click.option("--name", default=None, help="Service name (metrics dimension); default: app's.")
@click.option("--port", type=INT, default=None, help="Container port (default 3000).")
@click.option("--cpu", type=INT, default=None, help="CPU units (default 512).")
@click.option("--memory", type=INT, default=None, help="Memory MiB (default 1024).")
@click.option("--keepalive-seconds", type=INT, default=None, help="SSE keep-alive (15).")
@click.option(
    "--deregistration-delay",
    type=click.IntRange(min=0),
    default=None,
    help="Target group deregistration delay, waited out before SIGTERM (75).",
)
@click.option(
    "--stream-max-seconds",
    "stream_max",
    type=INT,
    default=None,
    help="Lifetime of a long-lived stream (default: below the deregistration delay).",
)
@click.option(
    "--drain-delay-seconds",
    "drain_delay",
    type=click.IntRange(min=0),
    default=None,
    help="Wait after SIGTERM (0 on ECS, which deregisters first).",
)
@click.option("--drain-deadline-seconds", type=INT, default=None, help="Drain deadline (40).")
@click.option("--stop-timeout-seconds", type=INT, default=None, help="ECS stopTimeout (60).")
@click.option("--idle-timeout-seconds", type=INT, default=None, help="ALB idle timeout (120).")
@click.option(
    "--http-keepalive-seconds",
    "http_keepalive",
    type=INT,
    default=None,
    help="Server keep-alive for idle connections (default: ALB idle timeout + 5).",
)
@click.option(
    "--arch",
    type=click.Choice(ARCHS),
    default=None,
    help="CPU architecture of the image (default arm64, Graviton; x86_64 where only that runs).",
)
@click.option(
    "--exec",
    "ecs_exec",
    is_flag=True,
    default=False,
    help="Allow ECS Exec into the tasks (the root filesystem then stays writable).",
)
@click.option(
    "--redis-auth",
    type=click.Choice(["token", "iam"]),
    default=None,
    help="ElastiCache authentication: an AUTH token in Secrets Manager, or IAM (token).",
)
@click.option(
    "--redis-cluster", is_flag=True, default=False, help="ElastiCache in cluster mode (shards)."
)
@click.option("--redis-shards", type=INT, default=None, help="Shards with --redis-cluster (3).")
@click.option("--domain", default=None, help="DNS name for the endpoint (a Route 53 alias).")
@click.option("--hosted-zone-id", default=None, help="Route 53 hosted zone of --domain.")
@click.option(
    "--invoke-mode",
    type=click.Choice(["RESPONSE_STREAM", "BUFFERED"]),
    default=None,
    help="Lambda Function URL: stream responses (default) or return them whole.",
)
@click.option(
    "--scale-on",
    type=click.Choice(["requests", "sessions"]),
    default=None,
    help="Autoscaling metric: ALBRequestCountPerTarget or ActiveSessions.",
)
@click.option(
    "--auth",
    type=click.Choice(AUTHS),
    default=None,
    help="OAuth for the endpoint: cognito (a new user pool) or jwt (your provider).",
)
@click.option("--issuer", default=None, help="--auth jwt: the token issuer URL.")
@click.option(
    "--audience",
    multiple=True,
    help="--auth jwt: an accepted audience (repeatable, or comma-separated).",
)
@click.option("--jwks-url", default=None, help="--auth jwt: the issuer's keys, if not discovered.")
@click.option(
    "--public-url",
    default=None,
    help="The endpoint's public base URL (default: a PublicUrl parameter).",
)
@click.option(
    "--public",
    is_flag=True,
    default=False,
    help="Expose an app that authenticates no one to the internet, on purpose.",
)
@click.option(
    "--waf",
    is_flag=True,
    default=False,
    help="Put an AWS WAF web ACL (rate limit per IP, AWS managed rules) in front.",
)
@click.option(
    "--otel",
    is_flag=True,
    default=False,
    help="Traces to X-Ray: an OpenTelemetry collector beside the app (ecs-fargate).",
)
def render(target: str, app: str | None, out: Path, **options: Any) -> None:
    """Write the CloudFormation template (and for ECS the task definition and policy);
    with --target monitor, the monitor's template for each of --regions."""
    from mcpfleet.cli import load_app
    from mcpfleet.deploy.render import render as render_app

    monitor = {key: options.pop(key) for key in ("regions", "monitor_config", "schedule")}
    rendered: Rendered
    try:
        if target == MONITOR:
            rendered = _render_monitor(app, monitor, options)
        elif app is None:
            raise click.UsageError(f"--target {target} needs --app MODULE:APP")
        elif any(value is not None for value in monitor.values()):
            raise click.UsageError("--regions, --config and --schedule are for --target monitor")
        else:
            settings = _settings(target, app, options)
            rendered = render_app(load_app(app), settings)
    except (DeclarationError, SettingsError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    for path in rendered.write(out):
        click.echo(f"wrote {path}")
    for note in rendered.notes:
        click.echo(f"note: {note}")


def _render_monitor(app: str | None, given: dict[str, Any], options: dict[str, Any]) -> Rendered:
    """The monitor's stacks (``deploy.monitor_stack``) from --regions, --config, --schedule."""
    from mcpfleet.deploy.monitor_stack import MonitorStack, render_monitor

    if app is not None:
        raise click.UsageError("--target monitor renders the monitor, not an app: drop --app")
    if not given["regions"] or given["monitor_config"] is None:
        raise click.UsageError("--target monitor needs --regions and --config")
    path: Path = given["monitor_config"]
    stack = MonitorStack(
        regions=tuple(r.strip() for r in given["regions"].split(",") if r.strip()),
        config_text=path.read_text(encoding="utf-8"),
        config_source=str(path),
        schedule_minutes=given["schedule"] or 1,
        arch=options["arch"] or "arm64",
        memory=options["memory"] or 512,
    )
    return render_monitor(stack)


def _client(region: str | None, service: str = "cloudformation") -> Any:
    """An AWS client; without boto3 (the ``deploy`` extra), one line saying so.

    Called before a command's ``try``: its ``except`` clause imports botocore."""
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise click.ClickException(
            "this command needs boto3, which comes with the deploy extra: "
            "pip install 'mcpfleet[deploy]'"
        ) from None
    return boto3.client(service, region_name=region)


def _refused(error: Exception) -> click.ClickException:
    """CloudFormation's refusal (or ours) as a one-line message."""
    return click.ClickException(str(error))


def _parameters(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected Key=Value, got {pair!r}", param_hint="--param")
        out[key] = value
    return out


STACK = click.option("--stack", required=True, help="CloudFormation stack name.")
REGION = click.option("--region", default=None, help="AWS region (default: the SDK's).")
TEMPLATE = click.option(
    "--template",
    "template",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A template written by deploy render.",
)
PARAM = click.option("--param", "params", multiple=True, help="Key=Value (repeatable).")
IMAGE_TAG = click.option(
    "--image-tag",
    default="latest",
    show_default=True,
    help="Tag whose current digest fills ImageDigest (unless --param ImageDigest=...).",
)
POLL = click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="How often to ask CloudFormation.",
)


@deploy.command()
@STACK
@TEMPLATE
@PARAM
@IMAGE_TAG
@REGION
@POLL
def up(
    stack: str,
    template: Path,
    params: tuple[str, ...],
    image_tag: str,
    region: str | None,
    poll_seconds: float,
) -> None:
    """Create or update the stack through a change set, showing progress."""
    from mcpfleet.deploy import stack as ops

    client = _client(region)
    text = template.read_text()
    try:
        given = ops.pin_image(
            _client(region, "ecr"), text, _parameters(params), image_tag, click.echo
        )
        status = ops.up(client, stack, text, given, click.echo, ops.Poll(poll_seconds))
    except (ops.StackError, ops.client_errors()) as error:
        raise _refused(error) from None
    click.echo(f"{stack}: {status}")


@deploy.command()
@STACK
@TEMPLATE
@PARAM
@IMAGE_TAG
@REGION
@POLL
def diff(
    stack: str,
    template: Path,
    params: tuple[str, ...],
    image_tag: str,
    region: str | None,
    poll_seconds: float,
) -> None:
    """Show what up would change, without changing anything."""
    from mcpfleet.deploy import stack as ops

    client = _client(region)
    text = template.read_text()
    try:
        given = ops.pin_image(
            _client(region, "ecr"), text, _parameters(params), image_tag, click.echo
        )
        ops.diff(client, stack, text, given, click.echo, ops.Poll(poll_seconds))
    except (ops.StackError, ops.client_errors()) as error:
        raise _refused(error) from None


@deploy.command()
@STACK
@REGION
@POLL
def down(stack: str, region: str | None, poll_seconds: float) -> None:
    """Delete the stack and wait until it is gone."""
    from mcpfleet.deploy import stack as ops

    client = _client(region)
    try:
        ops.down(client, stack, click.echo, ops.Poll(poll_seconds))
    except (ops.StackError, ops.client_errors()) as error:
        raise _refused(error) from None

"""The monitor on AWS Lambda: each invocation is one monitoring round, then it returns.

A round is ``mcpfleet.monitor.scheduler.run_once``, as ``mcpfleet monitor run --once``
runs it: migrate the history, rebuild the alert books from it, probe every endpoint once,
keep the results, open or resolve incidents (claimed in the shared history, so one region
sends each notice) and send them. Between invocations nothing is kept: the history in
PostgreSQL is the memory.

What the function is given (``mcpfleet deploy render --target monitor`` sets it up):

    MONITOR_CONFIG_PARAMETER   the SSM parameter holding the monitor's YAML
    DATABASE_URL_SECRET_ARN    the secret holding the shared PostgreSQL's URL (read by
                               ``mcpfleet.secrets``, as every ``NAME_SECRET_ARN`` is)
    MONITOR_TOPIC_ARN          the SNS topic alerts go to (a channel added to the config)
    MONITOR_ROUND_SECONDS      the schedule's period: old history is pruned once an hour
    AWS_REGION                 set by Lambda: the location each result is tagged with

The image runs ``python -m awslambdaric mcpfleet.monitor.aws_entry.handler``;
``python -m mcpfleet.monitor.aws_entry`` runs one round with the same environment
outside Lambda and prints what the handler would return. boto3 (the ``monitor``
extra) is imported only when a round starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from mcpfleet.errors import ConfigError
from mcpfleet.monitor.config import Channel, MonitorConfig, parse_config
from mcpfleet.monitor.scheduler import run_once
from mcpfleet.monitor.sqlstore import HistoryError
from mcpfleet.secrets import resolve_secrets

HANDLER = "mcpfleet.monitor.aws_entry.handler"
CONFIG_PARAMETER = "MONITOR_CONFIG_PARAMETER"
TOPIC_ARN = "MONITOR_TOPIC_ARN"
ROUND_SECONDS = "MONITOR_ROUND_SECONDS"
TOPIC_CHANNEL = "sns"  # the name of the channel MONITOR_TOPIC_ARN adds
SHARED_HISTORY = ("postgresql://", "postgres://")


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda handler: one round; the event (the schedule's) carries nothing we need."""
    return asyncio.run(run_round(os.environ))


async def run_round(
    environ: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Read the config and secrets, probe every endpoint once, alert; a summary of the
    round (location, and each endpoint's state) as the handler returns it."""
    config = lambda_config(environ)
    results = await run_once(config, now=now, period=round_seconds(environ))
    return {
        "location": config.location,
        "results": [{"endpoint": r.endpoint, "state": r.state} for r in results],
    }


def lambda_config(environ: Mapping[str, str]) -> MonitorConfig:
    """The monitor's config as one region runs it: the YAML from SSM, ``DATABASE_URL``
    from Secrets Manager, the location from ``AWS_REGION``, the SNS topic as a channel."""
    env = dict(environ)
    env.update(resolve_secrets(env))
    region = env.get("AWS_REGION", "").strip()
    if not region:
        raise ConfigError("AWS_REGION is not set: it names the location of every result")
    name = env.get(CONFIG_PARAMETER, "").strip()
    if not name:
        raise ConfigError(f"{CONFIG_PARAMETER} is not set: it names the monitor's SSM parameter")
    config = parse_config(read_parameter(name, region, env), f"ssm:{name}", env)
    if not config.storage.url.startswith(SHARED_HISTORY):
        raise ConfigError(
            "DATABASE_URL is not a postgresql:// URL: the regions share one history in "
            "PostgreSQL (set DATABASE_URL_SECRET_ARN to the secret holding its URL)"
        )
    return replace(config, location=region, channels=_with_topic(config.channels, env))


def _with_topic(channels: tuple[Channel, ...], env: Mapping[str, str]) -> tuple[Channel, ...]:
    arn = env.get(TOPIC_ARN, "").strip()
    if not arn or any(c.kind == "sns" and c.topic_arn == arn for c in channels):
        return channels
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise ConfigError(f"{TOPIC_ARN}: expected an SNS topic ARN, got {arn!r}")
    return (*channels, Channel(kind="sns", name=TOPIC_CHANNEL, topic_arn=arn, region=parts[3]))


def read_parameter(name: str, region: str, env: Mapping[str, str]) -> str:
    """The value of the SSM parameter ``name`` in ``region``; a ``ConfigError`` naming the
    parameter and AWS's reason when it cannot be read."""
    try:
        import boto3  # type: ignore[import-untyped]  # no stubs
        from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]
        from botocore.exceptions import (  # type: ignore[import-untyped]  # no stubs
            BotoCoreError,
            ClientError,
        )
    except ImportError:
        raise ConfigError(
            f"{CONFIG_PARAMETER}: reading the config from SSM needs boto3; "
            "install mcpfleet with the 'monitor' extra (pip install 'mcpfleet[monitor]')"
        ) from None
    client = boto3.session.Session().client(
        "ssm",
        region_name=region,
        endpoint_url=env.get("AWS_ENDPOINT_URL_SSM") or env.get("AWS_ENDPOINT_URL") or None,
        config=BotoConfig(
            connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
        ),
    )
    try:
        reply = client.get_parameter(Name=name, WithDecryption=True)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}"[:300]
        raise ConfigError(f"{CONFIG_PARAMETER}: cannot read parameter {name}: {reason}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"{CONFIG_PARAMETER}: cannot read parameter {name}: {exc}") from None
    value = reply.get("Parameter", {}).get("Value")
    if not isinstance(value, str):
        raise ConfigError(f"{CONFIG_PARAMETER}: parameter {name} holds no value")
    return value


def round_seconds(environ: Mapping[str, str]) -> float:
    """The schedule's period (``MONITOR_ROUND_SECONDS``, 60 s when unset or unreadable):
    the round ending in the first period of an hour prunes old history."""
    try:
        return max(1.0, float(environ.get(ROUND_SECONDS, "60")))
    except ValueError:
        return 60.0


def main() -> int:
    """One round with this process's environment, outside Lambda; prints the summary."""
    try:
        summary = asyncio.run(run_round(os.environ))
    except (ConfigError, HistoryError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Secrets read at start: every ``NAME_SECRET_ARN`` variable fills ``NAME``.

On ECS the task definition injects secrets as plain variables; App Runner and
Lambda cannot, so the deployment hands the app ``NAME_SECRET_ARN`` instead and the
app fetches the value from Secrets Manager itself, before the rest of the
configuration is read. boto3 (the ``deploy`` extra) is imported only when such a
variable exists. A secret that cannot be read stops the start with a
``ConfigError`` naming the variable and the reason, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcpfleet.errors import ConfigError

SUFFIX = "_SECRET_ARN"


def secret_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The ``NAME_SECRET_ARN`` variables whose ``NAME`` is still to fill: NAME -> ARN.

    A ``NAME`` that is already set is left as it is (a local override, or a value
    resolved by an earlier call), so no secret is fetched for it.
    """
    wanted = {}
    for variable, arn in env.items():
        name = variable.removesuffix(SUFFIX)
        if variable.endswith(SUFFIX) and name and arn.strip() and not env.get(name):
            wanted[name] = arn.strip()
    return dict(sorted(wanted.items()))


def resolve_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Fetch every secret ``env`` points at; returns NAME -> value (empty if none)."""
    wanted = secret_variables(env)
    if not wanted:
        return {}
    client = _Client(env, next(iter(wanted)) + SUFFIX)
    return {name: client.read(name + SUFFIX, arn) for name, arn in wanted.items()}


def _region(arn: str) -> str | None:
    """The region of a secret's ARN (a secret is read in its own region), else None."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[3]:
        return parts[3]
    return None


def _reason(error: Mapping[str, Any]) -> str:
    """AWS's error code and message on one short line (a body botocore could not parse
    arrives as markup in the message: its tags are dropped)."""
    message = " ".join(re.sub(r"<[^>]*>", " ", str(error.get("Message", ""))).split())
    reason = f"{error.get('Code', 'error')}: {message}".rstrip(": ")
    return reason if len(reason) <= 300 else reason[:297] + "..."


class _Client:
    """One Secrets Manager client per region, made on first use."""

    def __init__(self, env: Mapping[str, str], first: str) -> None:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]
        except ImportError:
            raise ConfigError(
                f"{first}: reading secrets from Secrets Manager needs boto3; "
                "install mcpfleet with the 'deploy' extra (pip install 'mcpfleet[deploy]')"
            ) from None
        # A session of our own: it reads the credentials from the environment now, and
        # leaves boto3's default session to the app.
        self._session = boto3.session.Session()
        # Bounded: a start that cannot reach Secrets Manager fails in seconds, not minutes.
        self._config = BotoConfig(
            connect_timeout=5, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
        )
        self._endpoint = (
            env.get("AWS_ENDPOINT_URL_SECRETSMANAGER") or env.get("AWS_ENDPOINT_URL") or None
        )
        self._clients: dict[str | None, Any] = {}

    def _client(self, region: str | None) -> Any:
        if region not in self._clients:
            self._clients[region] = self._session.client(
                "secretsmanager",
                region_name=region,
                endpoint_url=self._endpoint,
                config=self._config,
            )
        return self._clients[region]

    def read(self, variable: str, arn: str) -> str:
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
        )

        try:
            response = self._client(_region(arn)).get_secret_value(SecretId=arn)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ConfigError(f"{variable}: cannot read secret {arn}: {_reason(error)}") from None
        except BotoCoreError as exc:
            raise ConfigError(f"{variable}: cannot read secret {arn}: {exc}") from None
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise ConfigError(f"{variable}: secret {arn} holds binary data, not a string")
        return value

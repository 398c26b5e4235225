"""Render every (app, target, state, variant) once per session; the tests read the results.

A variant is how the endpoint is protected. ``public`` (``--public``) renders exactly what
``deploy render`` rendered before authentication was required, and its golden folders keep
their old names (``docs-ecs-fargate-redis``); the other variants add ``-<variant>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads

from mcpfleet.deploy.render import Rendered, render
from mcpfleet.deploy.settings import Settings
from mcpfleet.server.app import Server
from tests.deploy import apps

APPS: dict[str, Server] = {"docs": apps.docs, "bare": apps.bare, "notes": apps.notes}
ISSUER = "https://login.example.com/realms/mcp"
VARIANTS: dict[str, dict[str, Any]] = {
    "public": {"public": True},
    "cognito": {"auth": "cognito"},
    "cognito-waf": {"auth": "cognito", "waf": True},
    # IAM authentication to the cache, and the options a production ALB stack adds
    "iam-cluster": {
        "public": True,
        "redis_auth": "iam",
        "redis_cluster": True,
        "domain": "mcp.example.com",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
        "ecs_exec": True,
        "arch": "x86_64",
    },
    "iam": {"public": True, "redis_auth": "iam"},
    "iam-buffered": {"public": True, "redis_auth": "iam", "invoke_mode": "BUFFERED"},
    "otel": {"public": True, "otel": True},
    "jwt": {
        "auth": "jwt",
        "issuer": ISSUER,
        "audience": ("notes-api", "notes-cli"),
        "jwks_url": f"{ISSUER}/keys",
        "public_url": "https://notes.example.com",
    },
}
# apprunner and ecs-express refuse in-memory state (no stickiness): see test_render_refusals.
CASES = [
    ("ecs-fargate", "memory"),
    ("ecs-fargate", "redis"),
    ("ecs-express", "redis"),
    ("apprunner", "redis"),
    ("lambda", "memory"),
    ("lambda", "redis"),
]
# Cognito on every target, with AWS WAF wherever it attaches (not a Lambda Function URL),
# and an existing identity provider (jwt) on an ALB and on a Function URL.
AUTH_COMBOS = [
    ("notes", "ecs-fargate", "redis", "cognito-waf"),
    ("notes", "ecs-express", "redis", "cognito-waf"),
    ("notes", "apprunner", "redis", "cognito-waf"),
    ("notes", "lambda", "redis", "cognito"),
    ("notes", "ecs-fargate", "memory", "jwt"),
    ("notes", "lambda", "memory", "jwt"),
]
COMBOS = [(app, target, state, "public") for app in ("docs", "bare") for target, state in CASES]
COMBOS += AUTH_COMBOS
# Cache authentication by IAM, cluster mode, a DNS name, ECS Exec, x86_64, BUFFERED Lambda.
COMBOS += [
    ("docs", "ecs-fargate", "redis", "iam-cluster"),
    ("docs", "ecs-express", "redis", "iam"),
    ("docs", "lambda", "redis", "iam-buffered"),
]
# Traces to X-Ray through the collector sidecar.
COMBOS += [("docs", "ecs-fargate", "redis", "otel")]


@dataclass
class Case:
    rendered: Rendered
    template: dict[str, Any]  # the template as CloudFormation reads it

    def resource(self, name: str) -> dict[str, Any]:
        props: dict[str, Any] = self.template["Resources"][name]["Properties"]
        return props


_cache: dict[tuple[str, str, str, str], Case] = {}


def settings_for(app: str, target: str, state: str, variant: str = "public") -> Settings:
    options: dict[str, Any] = {"target": target, "state": state, **VARIANTS[variant]}
    return Settings(name=app, app=f"tests.deploy.apps:{app}", **options)


def rendered_case(app: str, target: str, state: str, variant: str = "public") -> Case:
    key = (app, target, state, variant)
    if key not in _cache:
        result = render(APPS[app], settings_for(*key))
        _cache[key] = Case(result, loads(result.files["template.yaml"]))
    return _cache[key]


def golden_name(combo: tuple[str, str, str, str]) -> str:
    """``docs-ecs-fargate-redis`` for the public variant, else ``...-<variant>``."""
    return "-".join(combo[:3] if combo[3] == "public" else combo)


@pytest.fixture(params=COMBOS, ids=[golden_name(c) for c in COMBOS])
def case(request: pytest.FixtureRequest) -> tuple[str, str, str, str]:
    combo: tuple[str, str, str, str] = request.param
    return combo

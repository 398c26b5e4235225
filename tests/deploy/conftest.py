"""Render every (app, target, state) once per session; the tests read the results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads

from mcpfleet.deploy.render import Rendered, render
from mcpfleet.deploy.settings import Settings
from mcpfleet.server.app import Server
from tests.deploy import apps

APPS: dict[str, Server] = {"docs": apps.docs, "bare": apps.bare}
# apprunner and ecs-express refuse in-memory state (no stickiness): see test_render_refusals.
CASES = [
    ("ecs-fargate", "memory"), ("ecs-fargate", "redis"), ("ecs-express", "redis"),
    ("apprunner", "redis"), ("lambda", "memory"), ("lambda", "redis"),
]
COMBOS = [(app, target, state) for app in APPS for target, state in CASES]


@dataclass
class Case:
    rendered: Rendered
    template: dict[str, Any]  # the template as CloudFormation reads it

    def resource(self, name: str) -> dict[str, Any]:
        props: dict[str, Any] = self.template["Resources"][name]["Properties"]
        return props


_cache: dict[tuple[str, str, str], Case] = {}


def rendered_case(app: str, target: str, state: str) -> Case:
    key = (app, target, state)
    if key not in _cache:
        settings = Settings(target=target, state=state, name=app,  # type: ignore[arg-type]
                            app=f"tests.deploy.apps:{app}")
        result = render(APPS[app], settings)
        _cache[key] = Case(result, loads(result.files["template.yaml"]))
    return _cache[key]


@pytest.fixture(params=COMBOS, ids=["-".join(c) for c in COMBOS])
def case(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    combo: tuple[str, str, str] = request.param
    return combo

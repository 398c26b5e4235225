"""The timing and health relations hold in what is rendered, and bad settings are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet.deploy.cli import deploy
from mcpfleet.deploy.render import Rendered
from mcpfleet.deploy.settings import MAX_STOP_TIMEOUT
from mcpfleet.transport.health import LIVENESS_PATH, READINESS_PATH
from tests.deploy.conftest import Case, rendered_case

FARGATE = [
    ("docs", "ecs-fargate", "memory"),
    ("docs", "ecs-fargate", "redis"),
    ("bare", "ecs-fargate", "redis"),
]


def container(case: Case) -> dict[str, Any]:
    [definition] = case.resource("TaskDefinition")["ContainerDefinitions"]
    return dict(definition)


def environment(case: Case) -> dict[str, str]:
    return {e["Name"]: e["Value"] for e in container(case)["Environment"]}


def attributes(items: list[dict[str, str]]) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in items}


@pytest.mark.parametrize("combo", FARGATE)
def test_drain_fits_inside_stop_timeout(combo: tuple[str, str, str]) -> None:
    """deregistration delay + drain deadline < stopTimeout <= 120, as rendered."""
    case = rendered_case(*combo)
    tg = attributes(case.resource("TargetGroup")["TargetGroupAttributes"])
    delay = int(tg["deregistration_delay.timeout_seconds"])
    deadline = int(environment(case)["DRAIN_DEADLINE_SECONDS"])
    assert delay + deadline < container(case)["StopTimeout"] <= MAX_STOP_TIMEOUT
    assert environment(case)["DRAIN_DELAY_SECONDS"] == str(delay)


@pytest.mark.parametrize("combo", FARGATE)
def test_idle_timeout_exceeds_keepalive(combo: tuple[str, str, str]) -> None:
    """The ALB idle timeout is above the SSE keep-alive interval the app is given."""
    case = rendered_case(*combo)
    alb = attributes(case.resource("LoadBalancer")["LoadBalancerAttributes"])
    keepalive = int(environment(case)["KEEPALIVE_SECONDS"])
    assert int(alb["idle_timeout.timeout_seconds"]) > keepalive


@pytest.mark.parametrize("combo", FARGATE)
def test_health_checks_use_the_apps_paths(combo: tuple[str, str, str]) -> None:
    """The container checks liveness, the target group checks readiness, on the app's port."""
    case = rendered_case(*combo)
    check = container(case)["HealthCheck"]["Command"]
    assert f"http://127.0.0.1:3000{LIVENESS_PATH}" in check[-1]
    assert case.resource("TargetGroup")["HealthCheckPath"] == READINESS_PATH
    assert (
        case.resource("TargetGroup")["Port"]
        == container(case)["PortMappings"][0]["ContainerPort"]
        == int(environment(case)["PORT"])
    )
    assert environment(case)["HOST"] == "0.0.0.0"


def test_other_targets_use_the_apps_health_paths() -> None:
    """ECS Express routes on readiness; App Runner (which replaces instances) checks liveness."""
    express = rendered_case("docs", "ecs-express", "redis").resource("Service")
    apprunner = rendered_case("docs", "apprunner", "redis").resource("Service")
    assert express["HealthCheckPath"] == READINESS_PATH
    assert apprunner["HealthCheckConfiguration"]["Path"] == LIVENESS_PATH


def test_stickiness_only_with_memory_state() -> None:
    """In-memory state turns lb_cookie stickiness on for an hour; Redis state turns it off."""
    memory = attributes(
        rendered_case("docs", "ecs-fargate", "memory").resource("TargetGroup")[
            "TargetGroupAttributes"
        ]
    )
    redis = attributes(
        rendered_case("docs", "ecs-fargate", "redis").resource("TargetGroup")[
            "TargetGroupAttributes"
        ]
    )
    assert (memory["stickiness.enabled"], memory["stickiness.type"]) == ("true", "lb_cookie")
    assert memory["stickiness.lb_cookie.duration_seconds"] == "3600"
    assert redis == {"deregistration_delay.timeout_seconds": "15", "stickiness.enabled": "false"}


def test_redis_is_encrypted_and_open_only_to_the_tasks() -> None:
    """ElastiCache encrypts in transit and at rest, admits only the task group, and the app
    gets a rediss:// URL."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    group = case.resource("Redis")
    assert group["TransitEncryptionEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    [rule] = case.resource("RedisSecurityGroup")["SecurityGroupIngress"]
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    assert "CidrIp" not in rule
    assert environment(case)["REDIS_URL"]["Fn::Sub"].startswith("rediss://")
    assert "REDIS_URL" not in environment(rendered_case("docs", "ecs-fargate", "memory"))


def test_autoscaling_cooldowns_and_alarms() -> None:
    """Scale out after 60 s, in after 300 s; alarms cover errors, 5xx, unhealthy hosts, memory."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    config = case.resource("ScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"]) == (60, 300)
    alarms = {
        name
        for name, res in case.template["Resources"].items()
        if res["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert alarms == {
        "ToolErrorRateAlarm",
        "Target5xxAlarm",
        "LoadBalancer5xxAlarm",
        "UnhealthyHostsAlarm",
        "MemoryAlarm",
    }
    memory = case.resource("MemoryAlarm")
    assert (memory["MetricName"], memory["Threshold"]) == ("MemoryUtilization", 80)
    assert case.resource("LogGroup")["RetentionInDays"] == 30


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--stop-timeout-seconds", "121", "--drain-deadline-seconds", "100"], "at most 120"),
        (["--drain-delay-seconds", "20"], "must exceed deregistration delay 20 s"),
        (["--idle-timeout-seconds", "15"], "idle timeout 15 s must exceed the SSE keep-alive"),
        (["--cpu", "256", "--memory", "4096"], "no task size"),
    ],
)
def test_render_refuses_broken_relations(tmp_path: Path, options: list[str], message: str) -> None:
    """Settings that break a relation are refused with the numbers and the reason."""
    result = CliRunner().invoke(
        deploy,
        ["render", "--app", "tests.deploy.apps:docs", "--out", str(tmp_path / "out"), *options],
    )
    assert result.exit_code == 1
    assert message in result.output


def test_settings_flow_into_the_template(tmp_path: Path) -> None:
    """A longer keep-alive and drain are written consistently into env, ALB and stopTimeout."""
    result = CliRunner().invoke(
        deploy,
        [
            "render",
            "--app",
            "tests.deploy.apps:docs",
            "--out",
            str(tmp_path),
            "--state",
            "memory",
            "--keepalive-seconds",
            "30",
            "--drain-delay-seconds",
            "20",
            "--drain-deadline-seconds",
            "60",
            "--stop-timeout-seconds",
            "90",
            "--public",
        ],
    )
    assert result.exit_code == 0, result.output
    case = Case(Rendered(), loads((tmp_path / "template.yaml").read_text()))
    env = environment(case)
    assert (
        env["KEEPALIVE_SECONDS"],
        env["DRAIN_DELAY_SECONDS"],
        env["DRAIN_DEADLINE_SECONDS"],
    ) == ("30", "20", "60")
    assert container(case)["StopTimeout"] == 90
    tg = attributes(case.resource("TargetGroup")["TargetGroupAttributes"])
    assert tg["deregistration_delay.timeout_seconds"] == "20"
    assert {p.name for p in tmp_path.iterdir()} == {
        "template.yaml",
        "task-definition.json",
        "task-role-policy.json",
    }


def test_declared_parameters_reach_the_app() -> None:
    """A resource parameter in a declaration is also passed to the container, in upper snake
    case, so the app works on the very bucket the policy grants."""
    from mcpfleet.deploy.common import parameter_variables
    from mcpfleet.deploy.declarations import collect
    from tests.deploy.apps import docs

    variables = parameter_variables(collect(docs))
    assert variables == {"DOCUMENTS_BUCKET": {"Ref": "DocumentsBucket"}}

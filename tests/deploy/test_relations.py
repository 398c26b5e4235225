"""The ECS drain contract, keep-alive and health relations hold in what is rendered, and
settings that break one are refused with the numbers and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet.deploy.cli import deploy
from mcpfleet.deploy.render import Rendered, render
from mcpfleet.deploy.settings import (
    APPRUNNER_REQUEST_LIMIT,
    MAX_STOP_TIMEOUT,
    Settings,
    SettingsError,
)
from mcpfleet.transport.health import LIVENESS_PATH, READINESS_PATH
from tests.deploy import apps
from tests.deploy.conftest import Case, rendered_case

FARGATE = [
    ("docs", "ecs-fargate", "memory"),
    ("docs", "ecs-fargate", "redis"),
    ("bare", "ecs-fargate", "redis"),
]


def container(case: Case) -> dict[str, Any]:
    [definition] = case.resource("TaskDefinition")["ContainerDefinitions"]
    return dict(definition)


def environment(case: Case) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container(case)["Environment"]}


def attributes(items: list[dict[str, str]]) -> dict[str, str]:
    return {a["Key"]: a["Value"] for a in items}


def timings(case: Case) -> dict[str, int]:
    """Every number of the drain contract, as the rendered template has it."""
    env = environment(case)
    tg = attributes(case.resource("TargetGroup")["TargetGroupAttributes"])
    alb = attributes(case.resource("LoadBalancer")["LoadBalancerAttributes"])
    return {
        "dereg": int(tg["deregistration_delay.timeout_seconds"]),
        "stream": int(env["STREAM_MAX_SECONDS"]),
        "drain_delay": int(env["DRAIN_DELAY_SECONDS"]),
        "deadline": int(env["DRAIN_DEADLINE_SECONDS"]),
        "stop": container(case)["StopTimeout"],
        "idle": int(alb["idle_timeout.timeout_seconds"]),
        "sse": int(env["KEEPALIVE_SECONDS"]),
        "http": int(env["HTTP_KEEPALIVE_SECONDS"]),
    }


def render_cli(tmp_path: Path, *options: str) -> Case:
    result = CliRunner().invoke(
        deploy,
        ["render", "--app", "tests.deploy.apps:docs", "--out", str(tmp_path), "--public", *options],
    )
    assert result.exit_code == 0, result.output
    return Case(Rendered(), loads((tmp_path / "template.yaml").read_text()))


# -- the relations, as rendered ------------------------------------------------------------


@pytest.mark.parametrize("combo", FARGATE)
def test_streams_end_before_the_deregistration_delay_runs_out(combo: tuple[str, str, str]) -> None:
    """stream max < deregistration delay, and the delay is at least 60 s by default."""
    numbers = timings(rendered_case(*combo))
    assert numbers["stream"] < numbers["dereg"]
    assert numbers["dereg"] >= 60


@pytest.mark.parametrize("combo", FARGATE)
def test_nothing_waits_after_sigterm_on_ecs(combo: tuple[str, str, str]) -> None:
    """DRAIN_DELAY_SECONDS is 0: ECS sends SIGTERM only after the deregistration delay."""
    assert timings(rendered_case(*combo))["drain_delay"] == 0


@pytest.mark.parametrize("combo", FARGATE)
def test_drain_deadline_fits_inside_stop_timeout(combo: tuple[str, str, str]) -> None:
    """drain deadline < stopTimeout <= 120, as rendered."""
    numbers = timings(rendered_case(*combo))
    assert numbers["deadline"] < numbers["stop"] <= MAX_STOP_TIMEOUT


@pytest.mark.parametrize("combo", FARGATE)
def test_keepalives_bracket_the_idle_timeout(combo: tuple[str, str, str]) -> None:
    """SSE keep-alive < ALB idle timeout < the server's HTTP keep-alive."""
    numbers = timings(rendered_case(*combo))
    assert numbers["sse"] < numbers["idle"] < numbers["http"]


def test_the_relations_are_explained_beside_the_settings() -> None:
    """The deregistration delay, stopTimeout and idle timeout each carry their reason."""
    text = rendered_case("docs", "ecs-fargate", "redis").rendered.files["template.yaml"]
    assert "# ECS waits this out before SIGTERM. Streams end themselves" in text
    assert "STREAM_MAX_SECONDS=60 s" in text
    assert "DRAIN_DELAY_SECONDS is 0" in text
    assert "HTTP_KEEPALIVE_SECONDS=125 s" in text


def test_apprunner_streams_end_under_its_request_limit() -> None:
    """App Runner cuts a request at 120 s: its streams are told to end before that."""
    service = rendered_case("docs", "apprunner", "redis").resource("Service")
    variables = service["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
    env = {v["Name"]: v["Value"] for v in variables["RuntimeEnvironmentVariables"]}
    assert int(env["STREAM_MAX_SECONDS"]) < APPRUNNER_REQUEST_LIMIT


def test_derived_stream_max_follows_the_deregistration_delay(tmp_path: Path) -> None:
    """A longer deregistration delay gives longer streams, still below it with a margin."""
    numbers = timings(render_cli(tmp_path, "--deregistration-delay", "300"))
    assert (numbers["dereg"], numbers["stream"]) == (300, 240)


def test_settings_flow_into_the_template(tmp_path: Path) -> None:
    """Given numbers are written consistently into env, target group, ALB and stopTimeout."""
    case = render_cli(
        tmp_path,
        "--state",
        "memory",
        "--keepalive-seconds",
        "30",
        "--deregistration-delay",
        "90",
        "--stream-max-seconds",
        "80",
        "--drain-deadline-seconds",
        "60",
        "--stop-timeout-seconds",
        "90",
        "--idle-timeout-seconds",
        "200",
        "--http-keepalive-seconds",
        "210",
    )
    assert timings(case) == {
        "dereg": 90,
        "stream": 80,
        "drain_delay": 0,
        "deadline": 60,
        "stop": 90,
        "idle": 200,
        "sse": 30,
        "http": 210,
    }
    assert {p.name for p in tmp_path.iterdir()} == {
        "template.yaml",
        "task-definition.json",
        "task-role-policy.json",
    }


# -- each relation, broken ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"deregistration_delay": 60, "stream_max": 60},
            "stream max 60 s must be below the deregistration delay 60 s",
        ),
        ({"drain_delay": 15}, "drain delay 15 s: ECS takes the task out of the load balancer"),
        (
            {"drain_deadline_seconds": 60, "stop_timeout_seconds": 60},
            "stopTimeout 60 s must exceed the drain deadline 60 s",
        ),
        ({"stop_timeout_seconds": 121, "drain_deadline_seconds": 100}, "at most 120 s"),
        ({"idle_timeout_seconds": 15}, "idle timeout 15 s must exceed the SSE keep-alive"),
        (
            {"http_keepalive": 120},
            "HTTP keep-alive 120 s must exceed the ALB idle timeout 120 s",
        ),
        ({"idle_timeout_seconds": 5000}, "the ALB takes 1 to 4000 s"),
        ({"deregistration_delay": 3601}, "the ALB takes 0 to 3600 s"),
        ({"deregistration_delay": 5}, "leaves no time for a stream"),
        ({"cpu": 256, "memory": 4096}, "no task size"),
    ],
)
def test_fargate_refuses_broken_relations(options: dict[str, Any], message: str) -> None:
    """Settings that break a relation are refused with the numbers and the reason."""
    with pytest.raises(SettingsError) as refused:
        Settings(**options).check()
    assert message in str(refused.value)


def test_express_refuses_a_wait_after_sigterm() -> None:
    """ECS Express is ECS too: a drain delay after SIGTERM is refused there as well."""
    with pytest.raises(SettingsError, match="drain delay 10 s"):
        Settings(target="ecs-express", drain_delay=10).check()


def test_apprunner_refuses_streams_past_its_request_limit() -> None:
    """App Runner: a stream lifetime at or past 120 s is refused."""
    with pytest.raises(SettingsError, match="below App Runner's 120 s request limit"):
        Settings(target="apprunner", stream_max=120).check()


def test_cli_refuses_a_broken_relation(tmp_path: Path) -> None:
    """deploy render prints the refusal as one line and exits 1."""
    result = CliRunner().invoke(
        deploy,
        [
            "render",
            "--app",
            "tests.deploy.apps:docs",
            "--out",
            str(tmp_path),
            "--deregistration-delay",
            "30",
            "--stream-max-seconds",
            "45",
        ],
    )
    assert result.exit_code == 1
    assert "stream max 45 s must be below the deregistration delay 30 s" in result.output


# -- health -------------------------------------------------------------------------------


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


def test_readiness_is_explained_as_surviving_a_redis_outage() -> None:
    """The target group's comment says readiness stays 200 while Redis is down."""
    text = rendered_case("docs", "ecs-fargate", "redis").rendered.files["template.yaml"]
    assert "It stays 200 while Redis is down" in text
    assert "cannot reach the fleet state" not in text


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
    assert redis == {"deregistration_delay.timeout_seconds": "75", "stickiness.enabled": "false"}


def test_declared_parameters_reach_the_app() -> None:
    """A resource parameter in a declaration is also passed to the container, in upper snake
    case, so the app works on the very bucket the policy grants."""
    from mcpfleet.deploy.common import parameter_variables
    from mcpfleet.deploy.declarations import collect

    variables = parameter_variables(collect(apps.docs))
    assert variables == {"DOCUMENTS_BUCKET": {"Ref": "DocumentsBucket"}}


def test_metrics_service_is_the_rendered_name() -> None:
    """METRICS_SERVICE is --name on every target, the Service the alarms watch."""
    settings = Settings(name="orders-api", public=True)
    template = render(apps.docs, settings).template
    [definition] = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in definition["Environment"]}
    assert env["METRICS_SERVICE"] == "orders-api"
    for name in ("lambda", "apprunner", "ecs-express"):
        other = render(apps.docs, Settings(target=name, name="orders-api", public=True))  # type: ignore[arg-type]
        text = str(other.template)
        assert (
            "{'Name': 'METRICS_SERVICE', 'Value': 'orders-api'}" in text
            or "'METRICS_SERVICE': 'orders-api'" in text
        ), name


@pytest.mark.parametrize(
    ("state", "cpu", "memory", "workers"),
    [
        ("redis", 512, 1024, 1),
        ("redis", 1024, 2048, 1),
        ("redis", 2048, 4096, 2),
        ("redis", 4096, 8192, 4),
        ("memory", 4096, 8192, 1),
    ],
)
def test_workers_follow_the_task_vcpus_with_redis_state(
    state: Any, cpu: int, memory: int, workers: int
) -> None:
    """The rendered WORKERS is one per whole vCPU with Redis state, and one with state in
    memory (workers of one task would not share their sessions)."""
    settings = Settings(state=state, cpu=cpu, memory=memory)
    assert settings.environment()["WORKERS"] == str(workers)

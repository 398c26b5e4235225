"""``deploy render --otel``: the collector sidecar, the app's tracing settings, the X-Ray
permissions, and the targets that refuse it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet.deploy import otel
from mcpfleet.deploy.cli import deploy
from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import FARGATE_SIZES, Settings, SettingsError
from tests.deploy import apps
from tests.deploy.conftest import rendered_case

TRACED = ("docs", "ecs-fargate", "redis", "otel")
UNTRACED = ("docs", "ecs-fargate", "redis", "public")


def _containers(combo: tuple[str, str, str, str]) -> dict[str, dict[str, Any]]:
    task = rendered_case(*combo).resource("TaskDefinition")
    return {c["Name"]: c for c in task["ContainerDefinitions"]}


def _task_role_actions(combo: tuple[str, str, str, str]) -> set[str]:
    role = rendered_case(*combo).resource("TaskRole")
    return {
        action
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }


def test_xray_permissions_come_only_with_otel() -> None:
    """The task role may send spans to X-Ray with --otel, and has no X-Ray action without it."""
    assert set(otel.XRAY_ACTIONS) <= _task_role_actions(TRACED)
    assert not {a for a in _task_role_actions(UNTRACED) if a.startswith("xray:")}


def test_app_exports_to_the_collector_after_it_starts() -> None:
    """The app's OTLP endpoint is the collector in its own task, its service name is the
    rendered name, and it starts once the collector has started."""
    app = _containers(TRACED)["app"]
    env = {e["Name"]: e["Value"] for e in app["Environment"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    assert env["OTEL_SERVICE_NAME"] == "docs"
    assert app["DependsOn"] == [{"ContainerName": otel.COLLECTOR, "Condition": "START"}]


def test_without_otel_there_is_no_collector_and_no_tracing() -> None:
    """Without --otel the task has the app alone, and nothing turns tracing on."""
    containers = _containers(UNTRACED)
    assert list(containers) == ["app"]
    assert not [e for e in containers["app"]["Environment"] if e["Name"].startswith("OTEL_")]
    assert "DependsOn" not in containers["app"]


def test_collector_is_a_pinned_non_essential_sidecar_with_its_own_logs() -> None:
    """The collector runs a fixed release with the X-Ray config, does not stop the task when
    it stops, and logs to the stack's log group under its own prefix."""
    collector = _containers(TRACED)[otel.COLLECTOR]
    image, _, tag = collector["Image"].rpartition(":")
    assert image == "public.ecr.aws/aws-observability/aws-otel-collector"
    assert tag.startswith("v")
    assert tag != "latest"
    assert collector["Command"] == ["--config=/etc/ecs/ecs-default-config.yaml"]
    assert collector["Essential"] is False
    options = collector["LogConfiguration"]["Options"]
    assert options["awslogs-group"] == {"Ref": "LogGroup"}
    assert options["awslogs-stream-prefix"] == "otel"


@pytest.mark.parametrize("cpu", sorted(FARGATE_SIZES))
def test_collector_reservation_leaves_the_app_most_of_the_task(cpu: int) -> None:
    """On every Fargate size, the collector reserves at most a quarter of the task's CPU and
    memory, so the app keeps the rest."""
    memory = FARGATE_SIZES[cpu][0]
    settings = Settings(name="docs", cpu=cpu, memory=memory, public=True, otel=True)
    template = loads(render(apps.docs, settings).files["template.yaml"])
    task = template["Resources"]["TaskDefinition"]["Properties"]
    (collector,) = [c for c in task["ContainerDefinitions"] if c["Name"] == otel.COLLECTOR]
    assert collector["Cpu"] * 4 <= int(task["Cpu"])
    assert collector["MemoryReservation"] * 4 <= int(task["Memory"])


def test_render_says_the_app_needs_the_otel_extra() -> None:
    """The render's notes say that spans flow only with the otel extra in the image."""
    notes = rendered_case(*TRACED).rendered.notes
    assert any("mcpfleet[otel]" in note for note in notes)
    assert not any("mcpfleet[otel]" in n for n in rendered_case(*UNTRACED).rendered.notes)


@pytest.mark.parametrize("target", ["ecs-express", "apprunner", "lambda"])
def test_targets_without_a_task_definition_refuse_otel(target: Any) -> None:
    """Targets that run one container per instance refuse --otel and name the one that can."""
    with pytest.raises(SettingsError, match=r"--otel: .*render --target ecs-fargate"):
        Settings(target=target, public=True, otel=True).check()


def test_cli_renders_the_collector(tmp_path: Path) -> None:
    """deploy render --otel writes the collector into the task definition and prints the note."""
    result = CliRunner().invoke(
        deploy,
        ["render", "--app", "tests.deploy.apps:docs", "--out", str(tmp_path), "--public", "--otel"],
    )
    assert result.exit_code == 0, result.output
    assert otel.COLLECTOR_IMAGE in (tmp_path / "task-definition.json").read_text()
    assert "note: --otel: spans flow only if" in result.output

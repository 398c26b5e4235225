"""``deploy render --target monitor``: a template per region that cfn-lint and checkov pass,
with roles that reach exactly this stack's resources, and a config checked at render time."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.decode.cfn_yaml import loads
from click.testing import CliRunner

from mcpfleet.cli import main
from mcpfleet.deploy.monitor_stack import MonitorStack, render_monitor
from mcpfleet.deploy.render import Rendered
from mcpfleet.deploy.settings import SettingsError
from mcpfleet.monitor.source import MonitorConfigError
from tests.deploy.test_checkov import CHECKOV, REVIEWED_SKIPS

GOLDEN = Path(__file__).parent / "golden" / "monitor-2-regions"
UPDATE = os.environ.get("MCPFLEET_UPDATE_GOLDEN") == "1"  # rewrite golden files on purpose
REGIONS = ("us-east-1", "eu-west-1")
CONFIG = textwrap.dedent(
    """\
    defaults:
      timeout: 10s
      conditions: {status: up, latency_ms: {total: 3000}}
    endpoints:
      - name: docs
        url: https://docs.example.com/mcp
        token_env: DOCS_TOKEN
        call: {tool: lookup, arguments: {key: health}}
    alerts:
      failures: 2
      window: 3
      quorum: 2
    channels:
      - {type: webhook, url: https://hooks.example.com/mcp, secret_env: HOOK_SECRET}
    """
)
SECRET_PARAMETERS = ["DatabaseUrlSecretArn", "DocsTokenSecretArn", "HookSecretSecretArn"]


def stack(config: str = CONFIG, **options: Any) -> MonitorStack:
    return MonitorStack(regions=REGIONS, config_text=config, **options)


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render_monitor(stack())


def template(rendered: Rendered, region: str) -> dict[str, Any]:
    data: dict[str, Any] = loads(rendered.files[f"monitor-{region}.yaml"])
    return data


def statements(data: dict[str, Any], role: str) -> list[dict[str, Any]]:
    (policy,) = data["Resources"][role]["Properties"]["Policies"]
    found: list[dict[str, Any]] = policy["PolicyDocument"]["Statement"]
    return found


def test_each_region_gets_a_template_that_refuses_other_regions(rendered: Rendered) -> None:
    """One file per region, each with a rule that asserts the region it is deployed in."""
    assert sorted(rendered.files) == ["monitor-eu-west-1.yaml", "monitor-us-east-1.yaml"]
    for region in REGIONS:
        rule = template(rendered, region)["Rules"]["InItsRegion"]["Assertions"][0]["Assert"]
        assert rule == {"Fn::Equals": [{"Ref": "AWS::Region"}, region]}


@pytest.mark.parametrize("region", REGIONS)
def test_cfn_lint_passes(rendered: Rendered, region: str) -> None:
    """cfn-lint reports nothing, informational findings included, in the template's region."""
    text = rendered.files[f"monitor-{region}.yaml"]
    matches = lint(text, config=ManualArgs(regions=[region], include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_checkov_finds_nothing_and_each_skip_says_why(rendered: Rendered, tmp_path: Path) -> None:
    """checkov fails no check on either template; a skip is a reviewed one, with its reason."""
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: run scripts/install-tools.sh")
    rendered.write(tmp_path)
    done = subprocess.run(
        [str(CHECKOV), "-d", str(tmp_path), "--framework", "cloudformation", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr[-2000:]
    results = json.loads(done.stdout)["results"]
    assert results.get("parsing_errors", []) == []
    failed = [f"{c['check_id']} {c['resource']}" for c in results.get("failed_checks", [])]
    assert failed == []
    assert len(results["passed_checks"]) > 20
    for check in results.get("skipped_checks", []):
        assert check["check_id"] in REVIEWED_SKIPS, check["check_id"]
        assert len(check["check_result"].get("suppress_comment", "")) > 40


def test_output_matches_golden_files(rendered: Rendered) -> None:
    """Each rendered file is byte-for-byte its reviewed golden file (set the env to update)."""
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        rendered.write(GOLDEN)
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(rendered.files)
    for name, text in rendered.files.items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == text, name


def test_function_role_reaches_exactly_this_stacks_resources(rendered: Rendered) -> None:
    """The function may read its parameter and the given secrets, publish to the alert
    topic, write its log group and use the stack key: each on that resource alone."""
    data = template(rendered, "eu-west-1")
    parameter_arn = (
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameter}"
    )
    topic = {"Fn::If": ["CreateTopic", {"Ref": "AlertTopic"}, {"Ref": "AlertTopicArn"}]}
    assert statements(data, "FunctionRole") == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": ["LogGroup", "Arn"]},
        },
        {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": {"Fn::Sub": parameter_arn}},
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [{"Ref": name} for name in SECRET_PARAMETERS],
        },
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": topic},
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": {"Fn::GetAtt": ["StackKey", "Arn"]},
        },
    ]
    role = data["Resources"]["FunctionRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert role["ManagedPolicyArns"]["Fn::If"][0] == "InVpc"  # ENI rights only in a VPC
    environment = data["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert environment["MONITOR_TOPIC_ARN"] == topic
    assert environment["MONITOR_CONFIG_PARAMETER"] == {"Ref": "ConfigParameter"}
    assert environment["DATABASE_URL_SECRET_ARN"] == {"Ref": "DatabaseUrlSecretArn"}
    assert environment["DOCS_TOKEN_SECRET_ARN"] == {"Ref": "DocsTokenSecretArn"}
    assert environment["HOOK_SECRET_SECRET_ARN"] == {"Ref": "HookSecretSecretArn"}


def test_schedule_role_only_invokes_the_function(rendered: Rendered) -> None:
    """The scheduler's role invokes this function (and decrypts with the stack key), for
    this account only."""
    data = template(rendered, "us-east-1")
    assert statements(data, "ScheduleRole") == [
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": {"Fn::GetAtt": ["Function", "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": ["kms:Decrypt"],
            "Resource": {"Fn::GetAtt": ["StackKey", "Arn"]},
        },
    ]
    (trust,) = data["Resources"]["ScheduleRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize(("minutes", "expression"), [(1, "rate(1 minute)"), (5, "rate(5 minutes)")])
def test_schedule_invokes_every_n_minutes(minutes: int, expression: str) -> None:
    """The schedule runs a round every ``--schedule`` minutes, the function's timeout is one
    period, and the function learns the period (for its hourly pruning)."""
    data = template(render_monitor(stack(schedule_minutes=minutes)), "us-east-1")
    schedule = data["Resources"]["Schedule"]["Properties"]
    assert schedule["ScheduleExpression"] == expression
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["Function", "Arn"]}
    function = data["Resources"]["Function"]["Properties"]
    assert function["Timeout"] == minutes * 60
    assert function["Environment"]["Variables"]["MONITOR_ROUND_SECONDS"] == str(minutes * 60)


def test_config_parameter_holds_the_config_and_the_log_group_is_kept(rendered: Rendered) -> None:
    """The SSM parameter's value is the config as given; the log group is encrypted and
    retained."""
    resources = template(rendered, "us-east-1")["Resources"]
    assert resources["ConfigParameter"]["Properties"]["Value"] == CONFIG
    assert resources["ConfigParameter"]["Properties"]["Tier"] == "Standard"
    log_group = resources["LogGroup"]
    assert log_group["DeletionPolicy"] == "Retain"
    assert log_group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StackKey", "Arn"]}
    assert resources["AlertTopic"]["Condition"] == "CreateTopic"


ALERTS = "alerts: {quorum: 2}\n"
BAD_CONFIGS = [
    # (the config after the endpoint, the line and key the error names)
    ("alerts:\n  failures: 2\n  quorum: 3\n", 6, "alerts.quorum"),
    ("alerts:\n  quorum: 0\n", 5, "alerts.quorum"),
    ("alerts:\n  quorm: 2\n", 5, "alerts.quorm"),
    ("location: eu\n" + ALERTS, 4, "location"),
    ("storage:\n  url: sqlite:///h.db\n" + ALERTS, 5, "storage.url"),
    ("alerts:\n  quorum: 2\n  quorum_within: 30s\n", 6, "alerts.quorum_within"),
    ("channels:\n  - {type: sns, topic_arn: arn:aws:sns:us-east-1:1:t}\n", 5, "channels[0]"),
]


@pytest.mark.parametrize(("tail", "line", "key"), BAD_CONFIGS)
def test_bad_config_fails_the_render_naming_line_and_key(tail: str, line: int, key: str) -> None:
    """A config the monitor would refuse, or that cannot work across these regions, stops
    the render with its line and dotted key."""
    text = "endpoints:\n  - name: docs\n    url: https://docs.example.com/mcp\n" + tail
    with pytest.raises(MonitorConfigError) as caught:
        render_monitor(stack(text, config_source="monitor.yaml", schedule_minutes=2))
    assert (caught.value.line, caught.value.key) == (line, key)
    assert str(caught.value).startswith(f"monitor.yaml:{line}: {key}: ")


@pytest.mark.parametrize(
    "regions", [(), ("us-east-1", "us-east-1"), ("useast1",), ("us-east-1", "EU-WEST-1")]
)
def test_regions_must_be_distinct_region_names(regions: tuple[str, ...]) -> None:
    """No region, a repeated one or a malformed name is refused."""
    with pytest.raises(SettingsError, match="--regions"):
        render_monitor(MonitorStack(regions=regions, config_text=CONFIG))


@pytest.mark.parametrize("minutes", [0, 61])
def test_schedule_is_one_to_sixty_minutes(minutes: int) -> None:
    """A schedule EventBridge Scheduler cannot run, or too slow to alarm on, is refused."""
    with pytest.raises(SettingsError, match="--schedule"):
        render_monitor(stack(schedule_minutes=minutes))


def test_failing_rounds_reach_the_alert_topic(rendered: Rendered) -> None:
    """Three failed rounds in a row raise an alarm on the function's errors, sent to the
    alert topic, which CloudWatch may use under the stack key."""
    resources = template(rendered, "us-east-1")["Resources"]
    alarm = resources["RoundsFailingAlarm"]["Properties"]
    topic = {"Fn::If": ["CreateTopic", {"Ref": "AlertTopic"}, {"Ref": "AlertTopicArn"}]}
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Function"}}]
    assert alarm["AlarmActions"] == [topic]
    key_policy = resources["StackKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert {"Service": "cloudwatch.amazonaws.com"} in [s["Principal"] for s in key_policy]


def test_cli_writes_one_template_per_region(tmp_path: Path) -> None:
    """``deploy render --target monitor --regions A,B --config FILE`` writes both files."""
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["deploy", "render", "--target", "monitor", "--regions", "us-east-1, eu-west-1",
         "--config", str(config), "--schedule", "2", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(render_monitor(stack()).files)
    data = loads((out / "monitor-eu-west-1.yaml").read_text(encoding="utf-8"))
    assert data["Resources"]["Schedule"]["Properties"]["ScheduleExpression"] == "rate(2 minutes)"


def test_cli_names_the_line_and_key_of_a_bad_config(tmp_path: Path) -> None:
    """A bad config fails the command with the file, line and key, and writes nothing."""
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG.replace("quorum: 2", "quorum: 3"), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["deploy", "render", "--target", "monitor", "--regions", "us-east-1,eu-west-1",
         "--config", str(config), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"{config}:12: alerts.quorum: 3 locations must agree" in result.output
    assert not out.exists()


def test_cli_keeps_monitor_options_to_the_monitor_target(tmp_path: Path) -> None:
    """--regions without --target monitor, and --app with it, are usage errors."""
    runner = CliRunner()
    app_target = runner.invoke(
        main,
        ["deploy", "render", "--app", "tests.deploy.apps:docs", "--regions", "us-east-1",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert app_target.exit_code == 2
    assert "--target monitor" in app_target.output
    with_app = runner.invoke(
        main,
        ["deploy", "render", "--target", "monitor", "--app", "tests.deploy.apps:docs",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert with_app.exit_code == 2
    assert "drop --app" in with_app.output


def test_image_runs_the_monitor_handler(rendered: Rendered) -> None:
    """The function's command is the handler the runtime interface client can import."""
    from mcpfleet.monitor import aws_entry

    config = template(rendered, "us-east-1")["Resources"]["Function"]["Properties"]
    assert config["ImageConfig"] == {
        "EntryPoint": ["python", "-m", "awslambdaric"],
        "Command": [aws_entry.HANDLER],
    }
    module, _, name = aws_entry.HANDLER.rpartition(".")
    assert getattr(importlib.import_module(module), name) is aws_entry.handler

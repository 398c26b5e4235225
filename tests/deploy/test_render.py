"""Every target renders a template that cfn-lint passes, and the output matches its golden files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import Settings, SettingsError
from mcpfleet.deploy.yaml_out import to_yaml
from tests.deploy import apps
from tests.deploy.conftest import golden_name, rendered_case

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MCPFLEET_UPDATE_GOLDEN") == "1"  # rewrite golden files on purpose


def test_cfn_lint_passes(case: tuple[str, str, str, str]) -> None:
    """cfn-lint (1.58+) reports no error, no warning and no informational finding (such as
    a hard-coded partition) for the rendered template."""
    text = rendered_case(*case).rendered.files["template.yaml"]
    matches = lint(text, config=ManualArgs(regions=["us-east-1"], include_checks=["I"]))
    assert [str(m) for m in matches] == []


def test_output_matches_golden_files(case: tuple[str, str, str, str]) -> None:
    """Each rendered file is byte-for-byte its reviewed golden file (set the env to update)."""
    folder = GOLDEN / golden_name(case)
    files = rendered_case(*case).rendered.files
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{folder.name}/{name}"


def test_yaml_reads_back_as_the_model(case: tuple[str, str, str, str]) -> None:
    """The YAML text parses (as CloudFormation reads it) to exactly the data that was built."""
    result = rendered_case(*case)
    assert result.template == result.rendered.template


@pytest.mark.parametrize(
    "value",
    [
        "yes",
        "No",
        "on",
        "null",
        "~",
        "123",
        "1.5",
        "0.0.0.0",
        "a: b",
        "#x",
        "x #y",
        "-c",
        "",
        "s3:GetObject",
        "AWS::IAM::Role",
        "ends:",
        "it's",
        'say "hi"',
        "tab\there",
        "caf\u00e9",
        True,
        0,
        2.5,
        None,
    ],
)
def test_yaml_scalars_keep_their_type(value: object) -> None:
    """Strings that YAML would read as something else are quoted; other scalars stay typed."""
    assert yaml.safe_load(to_yaml({"key": value, "list": [value]})) == {
        "key": value,
        "list": [value],
    }


def test_reasons_are_written_as_comments() -> None:
    """The settings that need a reason carry it as a comment right above them."""
    text = rendered_case("docs", "ecs-fargate", "memory").rendered.files["template.yaml"]
    lines = text.splitlines()
    for setting in (
        "StopTimeout: 60",
        "HealthCheckPath: /readyz",
        "ScaleInCooldown: 300",
        "ReadonlyRootFilesystem: true",
        "- Key: deregistration_delay.timeout_seconds",
        "- Key: idle_timeout.timeout_seconds",
    ):
        index = next(i for i, line in enumerate(lines) if line.strip() == setting)
        assert lines[index - 1].strip().startswith("#"), setting
    assert "# State is in each task's memory" in text


@pytest.mark.parametrize("target", ["apprunner", "ecs-express"])
def test_render_refuses_memory_state_without_stickiness(target: str) -> None:
    """Targets that cannot pin a session to an instance refuse in-memory state and say why."""
    settings = Settings(target=target, state="memory")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match=r"stickiness.*--state redis"):
        render(apps.docs, settings)


def test_lambda_memory_state_says_sessions_are_refused() -> None:
    """Lambda with in-memory state renders, and tells the user 2025-era sessions are refused."""
    notes = rendered_case("docs", "lambda", "memory").rendered.notes
    assert any("2025-era sessions are refused" in note for note in notes)


def test_cfn_lint_is_the_required_version() -> None:
    """The linter the templates are checked with is cfn-lint 1.58 or newer."""
    from importlib.metadata import version

    major, minor = (int(x) for x in version("cfn-lint").split(".")[:2])
    assert (major, minor) >= (1, 58)

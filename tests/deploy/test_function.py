"""The Lambda render follows the contract with the runtime (mcpfleet.aws_lambda): its entry
point, its environment, response streaming, both permissions a Function URL needs."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import Settings, SettingsError
from tests.deploy import apps
from tests.deploy.conftest import rendered_case


def function(**options: Any) -> dict[str, Any]:
    settings = Settings(target="lambda", app="tests.deploy.apps:docs", public=True, **options)
    template: dict[str, Any] = render(apps.docs, settings).template
    return template


def test_image_starts_the_runtime_client() -> None:
    """The entry point is python -m mcpfleet.aws_lambda with no command, and MCPFLEET_APP
    names the app."""
    props = rendered_case("docs", "lambda", "redis").resource("Function")
    assert props["ImageConfig"] == {
        "EntryPoint": ["python", "-m", "mcpfleet.aws_lambda"],
        "Command": [],
    }
    env = props["Environment"]["Variables"]
    assert env["MCPFLEET_APP"] == "tests.deploy.apps:docs"
    assert env["LAMBDA_INVOKE_MODE"] == "RESPONSE_STREAM"
    assert "mcpfleet.deploy.lambda_adapter" not in str(props)


@pytest.mark.parametrize("mode", ["RESPONSE_STREAM", "BUFFERED"])
def test_invoke_mode_reaches_the_url_and_the_app(mode: str) -> None:
    """--invoke-mode sets the Function URL's InvokeMode and LAMBDA_INVOKE_MODE alike."""
    template = function(invoke_mode=mode)
    assert template["Resources"]["FunctionUrl"]["Properties"]["InvokeMode"] == mode
    variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["LAMBDA_INVOKE_MODE"] == mode


def test_function_url_has_both_permissions() -> None:
    """lambda:InvokeFunctionUrl, and lambda:InvokeFunction limited to calls via the URL."""
    case = rendered_case("docs", "lambda", "memory")
    url = case.resource("FunctionUrlPermission")
    invoke = case.resource("FunctionInvokePermission")
    assert (url["Action"], url["FunctionUrlAuthType"]) == ("lambda:InvokeFunctionUrl", "NONE")
    assert (invoke["Action"], invoke["InvokedViaFunctionUrl"]) == ("lambda:InvokeFunction", True)


def test_reserved_concurrency_is_a_parameter() -> None:
    """ReservedConcurrency (-1: none) caps the function when given."""
    case = rendered_case("docs", "lambda", "memory")
    assert case.template["Parameters"]["ReservedConcurrency"]["Default"] == -1
    assert case.resource("Function")["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "HasReservedConcurrency",
            {"Ref": "ReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }


@pytest.mark.parametrize(("arch", "expected"), [(None, "arm64"), ("x86_64", "x86_64")])
def test_architecture_follows_arch(arch: str | None, expected: str) -> None:
    """Architectures is --arch, Graviton (arm64) by default."""
    props = function(arch=arch)["Resources"]["Function"]["Properties"]
    assert props["Architectures"] == [expected]


def test_environment_is_encrypted_with_the_stack_key() -> None:
    """The function's environment uses the stack's key, which its role may decrypt with."""
    case = rendered_case("docs", "lambda", "memory")
    key = {"Fn::GetAtt": ["StackKey", "Arn"]}
    assert case.resource("Function")["KmsKeyArn"] == key
    statements = [
        s
        for p in case.resource("FunctionRole")["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]
    assert {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key} in statements


def test_invoke_mode_is_only_for_lambda() -> None:
    """--invoke-mode on another target is refused."""
    with pytest.raises(SettingsError, match="--invoke-mode: only for --target lambda"):
        Settings(invoke_mode="BUFFERED").check()

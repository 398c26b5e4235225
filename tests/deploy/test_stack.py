"""deploy up, diff and down against an AWS API (moto's server, on loopback, run by the tests)."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from mcpfleet.deploy.cli import deploy

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:docs/{}-AbCdEf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def aws_api() -> Iterator[str]:
    """A moto server on 127.0.0.1, up for this module's tests and stopped after."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):  # bounded: ten seconds at most
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def params(aws_api: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Point the SDK at the moto server, and make the VPC, subnets and certificate to use."""
    for key, value in {
        "AWS_ENDPOINT_URL": aws_api,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    cert = boto3.client("acm").request_certificate(DomainName="mcp.example.com")
    values = {
        "VpcId": vpc,
        "PublicSubnetIds": ",".join(subnets),
        "PrivateSubnetIds": ",".join(subnets),
        "CertificateArn": cert["CertificateArn"],
        "ImageRepository": "docs",
        "DocumentsBucket": "docs-bucket",
        "DatabaseUrlSecretArn": ARN.format("db"),
        "RequestStateKeysSecretArn": ARN.format("keys"),
    }
    return [arg for k, v in values.items() for arg in ("--param", f"{k}={v}")]


# An existing identity provider: the stack then needs nothing beyond what moto runs.
AUTH = [
    "--auth",
    "jwt",
    "--issuer",
    "https://login.example.com",
    "--audience",
    "docs",
    "--public-url",
    "https://docs.example.com",
]


def render(out: Path, *options: str) -> Path:
    result = CliRunner().invoke(
        deploy,
        [
            "render",
            "--app",
            "tests.deploy.apps:docs",
            "--out",
            str(out),
            "--state",
            "memory",
            *AUTH,
            *options,
        ],
    )
    assert result.exit_code == 0, result.output
    return out / "template.yaml"


def run(command: str, stack: str, *args: str) -> Result:
    return CliRunner().invoke(deploy, [command, "--stack", stack, "--poll-seconds", "0.1", *args])


def physical(stack: str, logical: str) -> str:
    res = boto3.client("cloudformation").describe_stack_resource(
        StackName=stack, LogicalResourceId=logical
    )
    value: str = res["StackResourceDetail"]["PhysicalResourceId"]
    return value


def task_memory(stack: str) -> str:
    ecs = boto3.client("ecs")
    memory: str = ecs.describe_task_definition(taskDefinition=physical(stack, "TaskDefinition"))[
        "taskDefinition"
    ]["memory"]
    return memory


def test_up_creates_the_stack(tmp_path: Path, params: list[str]) -> None:
    """up creates the stack through a change set, shows progress, and the roles are real."""
    result = run("up", "create", "--template", str(render(tmp_path)), *params)
    assert result.exit_code == 0, result.output
    assert "Add      TaskRole AWS::IAM::Role" in result.output
    assert "CREATE_COMPLETE" in result.output.splitlines()[-1]
    assert task_memory("create") == "1024"
    policy = boto3.client("iam").get_role_policy(
        RoleName=physical("create", "TaskRole"), PolicyName="declared-permissions"
    )
    document = policy["PolicyDocument"]
    if isinstance(document, str):  # moto hands back the dict's repr, not JSON
        document = ast.literal_eval(document)
    resources = {r for s in document["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::docs-bucket/docs/*", "arn:aws:s3:::docs-bucket"}


def test_up_updates_the_stack(tmp_path: Path, params: list[str]) -> None:
    """A second up with more task memory updates the stack, and the new size is registered."""
    assert run("up", "update", "--template", str(render(tmp_path / "a")), *params).exit_code == 0
    bigger = render(tmp_path / "b", "--memory", "2048")
    result = run("up", "update", "--template", str(bigger), *params)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "update: UPDATE_COMPLETE"
    assert task_memory("update") == "2048"


def test_diff_shows_changes_and_changes_nothing(tmp_path: Path, params: list[str]) -> None:
    """diff lists what up would add, and leaves no stack behind."""
    result = run("diff", "preview", "--template", str(render(tmp_path)), *params)
    assert result.exit_code == 0, result.output
    assert "Add      Service AWS::ECS::Service" in result.output
    stacks: list[dict[str, Any]] = boto3.client("cloudformation").list_stacks()["StackSummaries"]
    assert [
        s for s in stacks if s["StackName"] == "preview" and s["StackStatus"] != "DELETE_COMPLETE"
    ] == []


def test_down_deletes_the_stack(tmp_path: Path, params: list[str]) -> None:
    """down deletes the stack and waits until it is gone; a second down has nothing to do."""
    assert run("up", "gone", "--template", str(render(tmp_path)), *params).exit_code == 0
    result = run("down", "gone")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "deleted gone"
    with pytest.raises(boto3.client("cloudformation").exceptions.ClientError):
        boto3.client("cloudformation").describe_stacks(StackName="gone")
    assert run("down", "gone").output.strip() == "no stack gone"


def test_up_reports_what_cloudformation_refuses(tmp_path: Path, params: list[str]) -> None:
    """A missing parameter is CloudFormation's refusal, shown as one line, not a traceback."""
    result = run("up", "refused", "--template", str(render(tmp_path)), *params[:-2])
    assert result.exit_code == 1
    assert "RequestStateKeysSecretArn" in result.output

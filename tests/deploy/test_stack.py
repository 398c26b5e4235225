"""deploy up, diff and down against an AWS API (moto's server, on loopback, run by the tests)."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from mcpfleet.deploy.cli import deploy
from tests.moto_support import moto_server

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:docs/{}-AbCdEf"


@pytest.fixture(scope="module")
def aws_api() -> Iterator[str]:
    """A moto server on 127.0.0.1, up for this module's tests and stopped after."""
    with moto_server() as url:
        yield url


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
    ecr = boto3.client("ecr")
    if not ecr.describe_repositories()["repositories"]:  # once per moto server
        ecr.create_repository(repositoryName="docs")
        push_image("docs", "latest", "first")
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


def push_image(repository: str, tag: str, layer: str) -> str:
    """Put an image manifest into ECR under ``tag`` (as docker push does); return its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": "sha256:" + "c" * 64,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654,
                "digest": "sha256:" + layer.encode().hex().ljust(64, "0"),
            }
        ],
    }
    image = boto3.client("ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )["image"]
    digest: str = image["imageId"]["imageDigest"]
    return digest


def stack_parameter(stack: str, name: str) -> str:
    [found] = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in found["Parameters"]}
    return values[name]


def task_image(stack: str) -> str:
    ecs = boto3.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=physical(stack, "TaskDefinition"))
    image: str = definition["taskDefinition"]["containerDefinitions"][0]["image"]
    return image


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


def test_up_deploys_the_image_the_tag_names_now(tmp_path: Path, params: list[str]) -> None:
    """up pins the tag's current digest; after a push under the same tag, up deploys it."""
    template = str(render(tmp_path))
    first = push_image("docs", "release", "one")
    result = run("up", "pinned", "--template", template, "--image-tag", "release", *params)
    assert result.exit_code == 0, result.output
    assert f"image docs:release is {first}" in result.output
    assert task_image("pinned").endswith(f"/docs@{first}")
    second = push_image("docs", "release", "two")
    result = run("up", "pinned", "--template", template, "--image-tag", "release", *params)
    assert result.exit_code == 0, result.output
    assert f"image docs:release is {second}" in result.output
    assert result.output.splitlines()[-1] == "pinned: UPDATE_COMPLETE"
    # The stack now deploys the new digest (moto applies a parameter-only update to the
    # stack, not to its resources; CloudFormation registers a new task definition).
    assert stack_parameter("pinned", "ImageDigest") == second


def test_up_refuses_a_tag_ecr_does_not_have(tmp_path: Path, params: list[str]) -> None:
    """A tag that names no image stops up before any change set, naming the image."""
    result = run(
        "up", "untagged", "--template", str(render(tmp_path)), "--image-tag", "nope", *params
    )
    assert result.exit_code == 1
    assert "image docs:nope: ECR" in result.output


def test_an_explicit_digest_is_deployed_as_given(tmp_path: Path, params: list[str]) -> None:
    """--param ImageDigest=... wins over the tag: ECR is not asked."""
    digest = "sha256:" + "e" * 64
    args = ["--template", str(render(tmp_path)), "--param", f"ImageDigest={digest}", *params]
    result = run("up", "explicit", *args)
    assert result.exit_code == 0, result.output
    assert "image docs:" not in result.output
    assert task_image("explicit").endswith(f"/docs@{digest}")


def test_up_needs_the_image_repository(tmp_path: Path, params: list[str]) -> None:
    """Without ImageRepository, up cannot find the image's digest and says which parameter."""
    pairs = zip(params[::2], params[1::2], strict=True)
    given = [arg for pair in pairs if not pair[1].startswith("ImageRepository=") for arg in pair]
    result = run("up", "norepo", "--template", str(render(tmp_path)), *given)
    assert result.exit_code == 1
    assert "give --param ImageRepository=NAME" in result.output

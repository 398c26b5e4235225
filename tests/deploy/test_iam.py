"""The task role grants exactly what the app declares; bad declarations are refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from mcpfleet import Server, aws
from mcpfleet.deploy.cli import deploy
from mcpfleet.deploy.declarations import DeclarationError
from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import Settings
from tests.deploy import apps
from tests.deploy.conftest import rendered_case

ROLE = {
    "ecs-fargate": "TaskRole",
    "ecs-express": "TaskRole",
    "apprunner": "InstanceRole",
    "lambda": "FunctionRole",
}


def declared_pairs(server: Server) -> set[tuple[str, str]]:
    """(action, resource) for every declaration of the app and its tools."""
    perms = [p for tool in server.tools.values() for p in tool.permissions]
    perms += server.permissions
    return {(a, r) for p in perms for a in p.actions for r in p.resources}


def _resource_text(resource: Any) -> str:
    """The ARN as declared: the template writes the partition as the stack's own."""
    text = str(resource["Fn::Sub"]) if isinstance(resource, dict) else str(resource)
    return text.replace("arn:${AWS::Partition}:", "arn:aws:")


def granted_pairs(policy: dict[str, Any]) -> set[tuple[str, str]]:
    pairs = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                pairs.add((action, _resource_text(resource)))
    return pairs


def declared_policy(role: dict[str, Any]) -> dict[str, Any]:
    [policy] = [
        p["PolicyDocument"]
        for p in role.get("Policies", [])
        if p["PolicyName"] == "declared-permissions"
    ]
    return dict(policy)


def test_task_role_is_exactly_the_declarations() -> None:
    """The S3 document server's task role: exactly the declared actions on the declared ARNs."""
    role = rendered_case("docs", "ecs-fargate", "redis").resource("TaskRole")
    assert [p["PolicyName"] for p in role["Policies"]] == ["declared-permissions"]
    assert "ManagedPolicyArns" not in role
    granted = granted_pairs(declared_policy(role))
    assert granted == declared_pairs(apps.docs)
    assert all(action != "*" and not action.endswith(":*") for action, _ in granted)
    assert all(resource != "*" for _, resource in granted)


@pytest.mark.parametrize(
    ("target", "state"), [("ecs-express", "redis"), ("apprunner", "redis"), ("lambda", "memory")]
)
def test_every_target_grants_the_app_only_its_declarations(target: str, state: str) -> None:
    """The role the app's code runs as carries the same declared policy on every target."""
    role = rendered_case("docs", target, state).resource(ROLE[target])
    assert granted_pairs(declared_policy(role)) == declared_pairs(apps.docs)


def test_standalone_policy_json_is_the_same_policy() -> None:
    """task-role-policy.json grants the same pairs, with ${Name} left for the deployer."""
    files = rendered_case("docs", "ecs-fargate", "memory").rendered.files
    policy = json.loads(files["task-role-policy.json"])
    assert granted_pairs(policy) == declared_pairs(apps.docs)


def test_policy_follows_a_growing_declaration() -> None:
    """A tool that declares one more action gets it, and nothing else changes."""
    app = Server("grow", "1.0.0")
    app.needs(
        aws(
            "dynamodb:GetItem",
            "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${OrdersTable}",
        )
    )

    @app.tool(permissions=[aws("s3:GetObject", apps.DOCS_BUCKET_OBJECTS)])
    async def read(key: str) -> str:
        """Read."""
        return key

    before = render(app, Settings(state="memory", public=True)).template
    app.tools["read"].permissions += (aws("s3:PutObject", apps.DOCS_BUCKET_OBJECTS),)
    after = render(app, Settings(state="memory", public=True)).template
    grown = granted_pairs(declared_policy(after["Resources"]["TaskRole"]["Properties"]))
    assert grown == declared_pairs(app)
    assert grown - granted_pairs(
        declared_policy(before["Resources"]["TaskRole"]["Properties"])
    ) == {("s3:PutObject", apps.DOCS_BUCKET_OBJECTS)}
    assert set(after["Parameters"]) >= {"OrdersTable", "DocumentsBucket"}


def test_execution_role_reads_only_declared_secrets() -> None:
    """ECS's execution role may read the declared secrets, the state keys and the cache's
    AUTH token, no others."""
    role = rendered_case("docs", "ecs-fargate", "redis").resource("ExecutionRole")
    [secrets] = [
        s
        for s in role["Policies"][0]["PolicyDocument"]["Statement"]
        if s["Action"] == ["secretsmanager:GetSecretValue"]
    ]
    assert secrets["Resource"] == [
        {"Ref": "DatabaseUrlSecretArn"},
        {"Ref": "RequestStateKeysSecretArn"},
        {"Ref": "RedisAuthToken"},
    ]


def test_app_without_declarations_gets_a_role_without_permissions() -> None:
    """No declarations: the task role has no policy at all, and the render says so."""
    case = rendered_case("bare", "ecs-fargate", "redis")
    role = case.resource("TaskRole")
    assert set(role) == {"AssumeRolePolicyDocument"}
    assert "TaskRole: no permissions (the app declares none)" in case.rendered.notes
    assert json.loads(case.rendered.files["task-role-policy.json"])["Statement"] == []


def test_cli_says_the_task_role_has_no_permissions(tmp_path: Any) -> None:
    """deploy render prints that the task role of an app without declarations grants nothing."""
    result = CliRunner().invoke(
        deploy, ["render", "--app", "tests.deploy.apps:bare", "--out", str(tmp_path), "--public"]
    )
    assert result.exit_code == 0, result.output
    assert "note: TaskRole: no permissions (the app declares none)" in result.output


BAD_ACTIONS = ["*", "s3:*", "s3", "S3:GetObject", "s3:Get Object", ""]
BAD_ARNS = [
    "arn:aws:s3::bucket",
    "s3:::bucket/*",
    "arn:aws:s3:::",
    "arn:aws:s3:::${bucket-name}",
    "arn:aws:s3:::${Bucket",
    "arn:awz:s3:::bucket",
    "arn:aws:s3:us-east:123:x",
    "arn:aws:dynamodb:us-east-1:12345:table/t",
]


def _app_with(action: str, resource: str) -> Server:
    app = Server("bad", "1.0.0")

    @app.tool(permissions=[aws(action, resource)])
    async def fetch_report(key: str) -> str:
        """Fetch."""
        return key

    return app


@pytest.mark.parametrize("action", BAD_ACTIONS)
def test_malformed_action_is_refused_with_the_tool_name(action: str) -> None:
    """A malformed or service-wide action is refused at render time, naming the tool."""
    with pytest.raises(DeclarationError, match="tool 'fetch_report'"):
        render(_app_with(action, "arn:aws:s3:::bucket/*"), Settings())


@pytest.mark.parametrize("arn", BAD_ARNS)
def test_malformed_arn_is_refused_with_the_tool_name(arn: str) -> None:
    """A malformed ARN is refused at render time, naming the tool and the ARN."""
    with pytest.raises(DeclarationError, match="tool 'fetch_report': malformed ARN"):
        render(_app_with("s3:GetObject", arn), Settings())


def test_cli_refuses_a_malformed_declaration(tmp_path: Any, monkeypatch: Any) -> None:
    """deploy render exits non-zero with the tool's name and writes nothing."""
    module = tmp_path / "badapp.py"
    module.write_text(
        "from mcpfleet import Server, aws\napp = Server('bad')\n"
        "@app.tool(permissions=[aws('s3:GetObject', 'arn:aws:s3::b')])\n"
        "async def fetch_report(key: str) -> str:\n    return key\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(deploy, ["render", "--app", "badapp:app", "--out", "out"])
    assert result.exit_code == 1
    assert "tool 'fetch_report': malformed ARN 'arn:aws:s3::b'" in result.output
    assert not (tmp_path / "out").exists()


def test_declared_parameter_may_not_shadow_a_deployment_parameter() -> None:
    """A ${VpcId} in a declaration would silently mean the VPC: it is refused, naming the tool."""
    with pytest.raises(DeclarationError, match=r"tool 'fetch_report'.*VpcId"):
        render(_app_with("s3:GetObject", "arn:aws:s3:::${VpcId}/*"), Settings())


def test_template_policy_names_the_stacks_partition() -> None:
    """A declared arn:aws:... resource is written with ${AWS::Partition}, so the role holds in
    every partition; the standalone JSON keeps the declaration as written."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    resources = [
        r for s in declared_policy(case.resource("TaskRole"))["Statement"] for r in s["Resource"]
    ]
    assert all(r["Fn::Sub"].startswith("arn:${AWS::Partition}:s3:::") for r in resources)
    standalone = json.loads(case.rendered.files["task-role-policy.json"])
    assert {r for s in standalone["Statement"] for r in s["Resource"]} == {
        apps.DOCS_BUCKET_OBJECTS,
        apps.DOCS_BUCKET,
    }

"""ElastiCache is reached over TLS, authenticated (an AUTH token or IAM), pinned, not
burstable, Multi-AZ with failover, and in cluster mode when asked."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import Settings, SettingsError
from tests.deploy import apps
from tests.deploy.conftest import rendered_case


def fargate(**options: Any) -> dict[str, Any]:
    template: dict[str, Any] = render(apps.docs, Settings(public=True, **options)).template
    return template


def task(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The container's environment and its ECS-injected secrets."""
    [app] = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in app["Environment"]}
    return env, {s["Name"]: s["ValueFrom"] for s in app["Secrets"]}


def test_cache_is_encrypted_pinned_and_fails_over() -> None:
    """TLS and at-rest encryption, a pinned engine, a non-burstable node, Multi-AZ failover."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    group = case.resource("Redis")
    assert group["TransitEncryptionEnabled"] is True
    assert group["AtRestEncryptionEnabled"] is True
    assert (group["Engine"], group["EngineVersion"]) == ("redis", "7.1")
    assert group["AutomaticFailoverEnabled"] is True
    assert group["MultiAZEnabled"] is True
    node_type = case.template["Parameters"]["RedisNodeType"]["Default"]
    assert node_type == "cache.m7g.large"
    assert ".t" not in node_type
    [rule] = case.resource("RedisSecurityGroup")["SecurityGroupIngress"]
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": ["TaskSecurityGroup", "GroupId"]}
    assert "CidrIp" not in rule


def test_token_auth_is_a_generated_secret_ecs_injects() -> None:
    """Default: the AUTH token is generated in Secrets Manager, set on the cache, and ECS
    injects it as REDIS_AUTH_TOKEN; the URL is rediss:// without a password."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    assert "GenerateSecretString" in case.resource("RedisAuthToken")
    assert case.resource("Redis")["AuthToken"] == {
        "Fn::Sub": "{{resolve:secretsmanager:${RedisAuthToken}}}"
    }
    env, secrets = task(case.template)
    assert secrets["REDIS_AUTH_TOKEN"] == {"Ref": "RedisAuthToken"}
    assert env["REDIS_URL"]["Fn::Sub"].startswith("rediss://${Redis.PrimaryEndPoint.Address}")
    assert "@" not in env["REDIS_URL"]["Fn::Sub"]
    assert "REDIS_URL" not in task(rendered_case("docs", "ecs-fargate", "memory").template)[0]


@pytest.mark.parametrize("target", ["apprunner", "lambda"])
def test_managed_targets_read_the_token_at_start(target: str) -> None:
    """Where nothing injects secrets, the app gets the token's ARN and may read exactly it."""
    template = render(apps.docs, Settings(target=target, public=True)).template  # type: ignore[arg-type]
    text = str(template)
    assert "'REDIS_AUTH_TOKEN_SECRET_ARN'" in text
    role = "InstanceRole" if target == "apprunner" else "FunctionRole"
    [runtime] = [
        p
        for p in template["Resources"][role]["Properties"]["Policies"]
        if p["PolicyName"] == "runtime"
    ]
    reads = [
        s
        for s in runtime["PolicyDocument"]["Statement"]
        if s["Resource"] == {"Ref": "RedisAuthToken"}
    ]
    assert reads
    assert reads[0]["Action"] == ["secretsmanager:GetSecretValue"]


def test_iam_auth_connects_as_one_user_to_one_cache() -> None:
    """--redis-auth iam: an IAM user in a user group, REDIS_USERNAME and REDIS_IAM_CACHE, and
    elasticache:Connect on exactly that replication group and that user."""
    template = fargate(redis_auth="iam")
    resources = template["Resources"]
    assert resources["CacheUser"]["Properties"]["AuthenticationMode"] == {"Type": "iam"}
    assert resources["CacheUser"]["Properties"]["UserName"] == {"Ref": "CacheUserName"}
    assert resources["Redis"]["Properties"]["UserGroupIds"] == [{"Ref": "CacheUserGroup"}]
    assert "AuthToken" not in resources["Redis"]["Properties"]
    env, secrets = task(template)
    assert env["REDIS_USERNAME"] == {"Ref": "CacheUserName"}
    assert env["REDIS_IAM_CACHE"] == {"Ref": "Redis"}
    assert "REDIS_AUTH_TOKEN" not in secrets
    assert "RedisAuthToken" not in resources
    [runtime] = [
        p for p in resources["TaskRole"]["Properties"]["Policies"] if p["PolicyName"] == "runtime"
    ]
    [connect] = runtime["PolicyDocument"]["Statement"]
    assert connect["Action"] == ["elasticache:Connect"]
    assert connect["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:"
            "replicationgroup:${Redis}"
        },
        {"Fn::GetAtt": ["CacheUser", "Arn"]},
    ]
    skips = resources["Redis"]["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skips] == ["CKV_AWS_31"]


def test_cluster_mode_shards_the_cache() -> None:
    """--redis-cluster: shards with a replica each, the cluster parameter group, the
    configuration endpoint and REDIS_CLUSTER=1."""
    template = fargate(redis_cluster=True, redis_shards=3)
    group = template["Resources"]["Redis"]["Properties"]
    assert (group["NumNodeGroups"], group["ReplicasPerNodeGroup"]) == (3, 1)
    assert group["CacheParameterGroupName"] == "default.redis7.cluster.on"
    assert group["ClusterMode"] == "enabled"
    assert "NumCacheClusters" not in group
    env, _ = task(template)
    assert env["REDIS_CLUSTER"] == "1"
    assert env["REDIS_URL"]["Fn::Sub"].startswith("rediss://${Redis.ConfigurationEndPoint.Address}")
    assert "REDIS_CLUSTER" not in task(fargate())[0]


def test_cache_options_need_redis_state() -> None:
    """--redis-cluster or --redis-auth iam with in-memory state is refused."""
    with pytest.raises(SettingsError, match="only with --state redis"):
        Settings(state="memory", redis_cluster=True).check()


def test_shards_without_cluster_mode_are_refused() -> None:
    """--redis-shards alone would be silently ignored, so it is refused."""
    with pytest.raises(SettingsError, match="--redis-shards: only with --redis-cluster"):
        Settings(redis_shards=2).check()


@pytest.mark.parametrize("name", ["docs", "Orders_API", "9lives", "x" * 40, "---"])
def test_default_cache_user_is_a_valid_user_id(name: str) -> None:
    """Whatever the service name, the default cache user id is one ElastiCache accepts
    (lowercase, from a letter, at most 31 characters)."""
    import re

    from mcpfleet.deploy.cache import cache_user

    assert re.fullmatch(r"[a-z][a-z0-9-]{0,30}", cache_user(name))

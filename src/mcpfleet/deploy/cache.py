"""ElastiCache for Redis as the fleet state: TLS, authentication, failover, cluster mode.

What the app is told (its environment):

- ``REDIS_URL``: ``rediss://`` to the primary endpoint, or to the configuration endpoint
  in cluster mode (with ``REDIS_CLUSTER=1``); the server verifies the certificate;
- ``--redis-auth token`` (the default): an AUTH token generated into Secrets Manager and
  set on the replication group; ECS injects it as ``REDIS_AUTH_TOKEN``, App Runner and
  Lambda read it at start from ``REDIS_AUTH_TOKEN_SECRET_ARN``;
- ``--redis-auth iam``: an ElastiCache user that authenticates with IAM, in a user group
  of its own; the app signs short-lived tokens as ``REDIS_USERNAME`` for the cache
  ``REDIS_IAM_CACHE``, and its role may ``elasticache:Connect`` to exactly that
  replication group as exactly that user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mcpfleet.deploy.model import Json, Note, Parameter, Template, arn, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

REDIS_PORT = 6379
ENGINE_VERSION = "7.1"  # pinned: an engine upgrade is a decision, not a side effect
DEFAULT_NODE_TYPE = "cache.m7g.large"  # not burstable: no CPU credits to run out of
SNAPSHOT = {"DeletionPolicy": "Snapshot", "UpdateReplacePolicy": "Snapshot"}


@dataclass(slots=True)
class Cache:
    """What the app needs to reach the cache: its environment, and how it gets the secret."""

    env: dict[str, Json] = field(default_factory=dict)
    secrets: dict[str, Json] = field(default_factory=dict)  # NAME -> secret ARN (ECS injects)
    statements: list[Json] = field(default_factory=list)  # for the app's own role


def cache_user(name: str) -> str:
    """A default ElastiCache user id from the service name: lowercase, from a letter."""
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    base = base if base[:1].isalpha() else f"mcp-{base}".rstrip("-")
    return f"{base[:26].rstrip('-')}-app"


def node_ids(settings: Settings) -> list[Json]:
    """The cache cluster id of every node, as CloudWatch names them in its dimension."""
    if settings.redis_cluster:
        return [
            sub(f"${{Redis}}-{shard:04d}-{node:03d}")
            for shard in range(1, settings.shards + 1)
            for node in (1, 2)
        ]
    return [sub("${Redis}-001"), sub("${Redis}-002")]


def _network(t: Template, client_group: Json) -> None:
    t.add(
        "RedisSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Redis: reachable only from the app",
            "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": REDIS_PORT,
                    "ToPort": REDIS_PORT,
                    "SourceSecurityGroupId": client_group,
                    "Description": "the app's tasks",
                }
            ],
        },
        "Open only to the app's security group.",
    )
    t.add(
        "RedisSubnetGroup",
        "AWS::ElastiCache::SubnetGroup",
        {
            "Description": "Private subnets for the fleet state",
            "SubnetIds": ref("PrivateSubnetIds"),
        },
    )


def _token(t: Template, settings: Settings, props: dict[str, Json], cache: Cache) -> None:
    t.add(
        "RedisAuthToken",
        "AWS::SecretsManager::Secret",
        {
            "Description": sub("AUTH token of the fleet-state cache of ${AWS::StackName}"),
            "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
        },
        "Generated, never written anywhere: ElastiCache reads it here, and so does the app. "
        "It is useless without the cache, so it goes with the stack.",
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    t.skip_check(
        "RedisAuthToken",
        "CKV_AWS_149",
        "Encrypted with Secrets Manager's AWS managed key; who may read it is decided by "
        "the IAM roles named in this template, and a customer key would add a grant to "
        "every reader without narrowing who they are.",
    )
    props["AuthToken"] = sub("{{resolve:secretsmanager:${RedisAuthToken}}}")
    if settings.target in ("ecs-fargate", "ecs-express"):
        cache.secrets["REDIS_AUTH_TOKEN"] = ref("RedisAuthToken")
    else:
        cache.env["REDIS_AUTH_TOKEN_SECRET_ARN"] = ref("RedisAuthToken")
        cache.statements.append(
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": ref("RedisAuthToken"),
            }
        )


def _iam(t: Template, settings: Settings, props: dict[str, Json], cache: Cache) -> None:
    user = t.parameter(
        "CacheUserName",
        Parameter(
            "String",
            "ElastiCache user the app connects as (lowercase; unique in the region).",
            default=cache_user(settings.name),
            allowed_pattern=r"^[a-z][a-z0-9-]{0,30}$",
            constraint="lowercase letters, digits and hyphens, starting with a letter",
        ),
    )
    t.add(
        "CacheUser",
        "AWS::ElastiCache::User",
        {
            "UserId": user,
            "UserName": Note(user, "IAM authentication needs the user name to equal its id."),
            "Engine": "redis",
            "AuthenticationMode": {"Type": "iam"},
            "AccessString": "on ~* &* +@all",
        },
        "The app's own user: authenticates with short-lived SigV4 tokens, no password.",
    )
    t.add(
        "CacheDefaultUser",
        "AWS::ElastiCache::User",
        {
            "UserId": sub("${CacheUserName}-off"),
            "UserName": "default",
            "Engine": "redis",
            "AuthenticationMode": {"Type": "no-password-required"},
            "AccessString": "off -@all",
        },
        "A user group must hold a user named default; this one is switched off.",
    )
    t.add(
        "CacheUserGroup",
        "AWS::ElastiCache::UserGroup",
        {
            "UserGroupId": sub("${CacheUserName}-group"),
            "Engine": "redis",
            "UserIds": [ref("CacheDefaultUser"), ref("CacheUser")],
        },
    )
    props["UserGroupIds"] = [ref("CacheUserGroup")]
    cache.env["REDIS_USERNAME"] = user
    cache.env["REDIS_IAM_CACHE"] = ref("Redis")
    cache.statements.append(
        Note(
            {
                "Effect": "Allow",
                "Action": ["elasticache:Connect"],
                "Resource": [
                    arn("elasticache", "replicationgroup:${Redis}"),
                    get_att("CacheUser", "Arn"),
                ],
            },
            "Connect to exactly this cache, as exactly this user.",
        )
    )


def _shape(settings: Settings, props: dict[str, Json]) -> Json:
    """Cluster mode spreads the keys over shards; otherwise one primary and one replica."""
    if settings.redis_cluster:
        props.update(
            {
                "ClusterMode": "enabled",
                "NumNodeGroups": settings.shards,
                "ReplicasPerNodeGroup": 1,
                "CacheParameterGroupName": "default.redis7.cluster.on",
            }
        )
        return sub(
            "rediss://${Redis.ConfigurationEndPoint.Address}:${Redis.ConfigurationEndPoint.Port}"
        )
    props.update({"NumCacheClusters": 2, "CacheParameterGroupName": "default.redis7"})
    return sub("rediss://${Redis.PrimaryEndPoint.Address}:${Redis.PrimaryEndPoint.Port}/0")


def redis(t: Template, settings: Settings, client_group: Json) -> Cache:
    """An encrypted, authenticated Redis replication group reachable only from
    ``client_group``; returns what the app needs to use it."""
    _network(t, client_group)
    t.parameter(
        "RedisNodeType",
        Parameter(
            "String", "ElastiCache node type for the fleet state.", default=DEFAULT_NODE_TYPE
        ),
    )
    props: dict[str, Json] = {
        "ReplicationGroupDescription": "mcpfleet fleet state",
        "Engine": "redis",
        "EngineVersion": ENGINE_VERSION,
        "CacheNodeType": ref("RedisNodeType"),
        "AutomaticFailoverEnabled": Note(True, "A replica takes over when the primary fails."),
        "MultiAZEnabled": True,
        "TransitEncryptionEnabled": Note(True, "The app connects with rediss:// (TLS)."),
        "AtRestEncryptionEnabled": True,
        "CacheSubnetGroupName": ref("RedisSubnetGroup"),
        "SecurityGroupIds": [get_att("RedisSecurityGroup", "GroupId")],
        "SnapshotRetentionLimit": 1,
    }
    cache = Cache()
    url = _shape(settings, props)
    if settings.redis_auth == "iam":
        _iam(t, settings, props, cache)
    else:
        _token(t, settings, props, cache)
    t.add(
        "Redis",
        "AWS::ElastiCache::ReplicationGroup",
        props,
        "Shared fleet state: sessions, streams and notifications outlive any one task. "
        "Deleting or replacing it leaves a snapshot.",
        **SNAPSHOT,
    )
    if settings.redis_auth == "iam":
        t.skip_check(
            "Redis",
            "CKV_AWS_31",
            "Authenticated by IAM (a user group whose user takes SigV4 tokens), not by a "
            "static AUTH token; transit encryption is on.",
        )
    cache.env["REDIS_URL"] = url
    if settings.redis_cluster:
        cache.env["REDIS_CLUSTER"] = "1"
    return cache

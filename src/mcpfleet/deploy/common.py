"""Pieces every target shares: parameters, roles, the log group, ElastiCache Redis."""

from __future__ import annotations

import re

from mcpfleet.deploy.declarations import (
    DeclarationError,
    Declarations,
    policy_document,
    secret_parameter,
)
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

SECRET_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
REDIS_PORT = 6379


def declared_parameters(t: Template, decls: Declarations) -> None:
    """One String parameter per ``${Name}`` in a declared resource."""
    for name, owners in decls.parameters.items():
        if name in t.parameters:
            raise DeclarationError(
                f"{', '.join(owners)}: parameter ${{{name}}} clashes with one "
                "the deployment defines; rename it"
            )
        t.parameter(
            name, Parameter("String", f"Used in AWS permissions declared by {', '.join(owners)}.")
        )


def parameter_variables(decls: Declarations) -> dict[str, Json]:
    """Every declared ``${Name}`` also reaches the app as an environment variable, in upper
    snake case (``DocumentsBucket`` gives ``DOCUMENTS_BUCKET``), so that the code works on
    exactly the resource the policy grants."""
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper(): ref(name) for name in decls.parameters}


def secret_arns(t: Template, decls: Declarations) -> dict[str, Json]:
    """One parameter per declared secret: the full ARN of its Secrets Manager secret."""
    out: dict[str, Json] = {}
    for secret in decls.secrets:
        out[secret] = t.parameter(
            secret_parameter(secret),
            Parameter(
                "String",
                f"Full ARN (with its 6-character suffix) of the Secrets Manager secret "
                f"that fills {secret}.",
                allowed_pattern=SECRET_ARN_PATTERN,
                constraint="a full Secrets Manager secret ARN",
            ),
        )
    return out


def image(t: Template) -> Json:
    """The image URI, from an ECR repository of this account and region, and a tag."""
    t.parameter(
        "ImageRepository",
        Parameter("String", "ECR repository (in this account and region) holding the app's image."),
    )
    t.parameter("ImageTag", Parameter("String", "Image tag to deploy.", default="latest"))
    return sub(
        "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${ImageRepository}:${ImageTag}"
    )


REPOSITORY_ARN = sub(
    "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${ImageRepository}"
)


def ecr_pull_statements() -> list[Json]:
    return [
        Note(
            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            "ECR issues registry tokens only on resource *.",
        ),
        {
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": REPOSITORY_ARN,
        },
    ]


def assume(service: str) -> dict[str, Json]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def app_role(
    t: Template, name: str, service: str, decls: Declarations, extra: list[Json] | None = None
) -> Json:
    """The role the app's own code runs as: the declared permissions, nothing more."""
    props: dict[str, Json] = {"AssumeRolePolicyDocument": assume(service)}
    policies: list[Json] = []
    if decls.grants:
        policies.append(
            {
                "PolicyName": "declared-permissions",
                "PolicyDocument": policy_document(decls.grants, template=True),
            }
        )
        why = "Grants exactly the AWS permissions the app's tools declare."
    else:
        why = "No permissions: the app declares no AWS permissions."
        t.notes.append(f"{name}: no permissions (the app declares none)")
    if extra:
        policies.append(
            {
                "PolicyName": "runtime",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": extra},
            }
        )
    if policies:
        props["Policies"] = policies
    t.add(name, "AWS::IAM::Role", props, why)
    return get_att(name, "Arn")


def read_secrets_statement(arns: dict[str, Json]) -> Json:
    return Note(
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": list(arns.values()),
        },
        "Only the secrets the app declares (and the requestState keys).",
    )


def log_group(t: Template, settings: Settings, prefix: str) -> Json:
    t.add(
        "LogGroup",
        "AWS::Logs::LogGroup",
        {
            "LogGroupName": sub(f"{prefix}/${{AWS::StackName}}"),
            "RetentionInDays": settings.log_retention_days,
        },
        "The app's logs and its EMF metrics; kept for a bounded time.",
    )
    return ref("LogGroup")


def network_parameters(t: Template) -> None:
    t.parameter("VpcId", Parameter("AWS::EC2::VPC::Id", "VPC to run in."))
    t.parameter(
        "PrivateSubnetIds",
        Parameter(
            "List<AWS::EC2::Subnet::Id>",
            "Private subnets (with a NAT route) for the app and Redis.",
        ),
    )


def redis(t: Template, client_group: Json) -> Json:
    """An encrypted Redis replication group reachable only from ``client_group``."""
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
    t.parameter(
        "RedisNodeType",
        Parameter(
            "String", "ElastiCache node type for the fleet state.", default="cache.t4g.small"
        ),
    )
    t.add(
        "Redis",
        "AWS::ElastiCache::ReplicationGroup",
        {
            "ReplicationGroupDescription": "mcpfleet fleet state",
            "Engine": "redis",
            "CacheNodeType": ref("RedisNodeType"),
            "NumCacheClusters": 2,
            "AutomaticFailoverEnabled": True,
            "MultiAZEnabled": True,
            "TransitEncryptionEnabled": Note(True, "The app connects with rediss:// (TLS)."),
            "AtRestEncryptionEnabled": True,
            "CacheSubnetGroupName": ref("RedisSubnetGroup"),
            "SecurityGroupIds": [get_att("RedisSecurityGroup", "GroupId")],
        },
        "Shared fleet state: sessions, streams and notifications outlive any one task.",
    )
    return sub("rediss://${Redis.PrimaryEndPoint.Address}:${Redis.PrimaryEndPoint.Port}/0")

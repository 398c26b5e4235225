"""Pieces every target shares: parameters, the image, roles, the stack's key, the log group."""

from __future__ import annotations

import re

from mcpfleet.deploy.declarations import (
    DeclarationError,
    Declarations,
    policy_document,
    secret_parameter,
)
from mcpfleet.deploy.model import Json, Note, Parameter, Template, arn, get_att, ref, sub

SECRET_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
DIGEST_PATTERN = r"^sha256:[a-f0-9]{64}$"
APP_LOGS = "The app's logs and its EMF metrics"


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
    """The image URI: an ECR repository of this account and region, and an image digest.

    A digest, not a tag: the same tag pushed again is a new image, and a template that
    names only the tag would not change, so CloudFormation would deploy nothing."""
    t.parameter(
        "ImageRepository",
        Parameter("String", "ECR repository (in this account and region) holding the app's image."),
    )
    t.parameter(
        "ImageDigest",
        Parameter(
            "String",
            "Digest (sha256:...) of the image to deploy.",
            allowed_pattern=DIGEST_PATTERN,
            constraint="an image digest, sha256: and 64 hex digits",
            why="mcpfleet deploy up fills it in: it asks ECR for the digest of --image-tag "
            "(default latest), so pushing a new image and running deploy up deploys it.",
        ),
    )
    return sub(
        "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${ImageRepository}@${ImageDigest}"
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


def stack_key(t: Template) -> Json:
    """The stack's own KMS key (created once): logs, alarm notifications and the Lambda
    environment are encrypted with it. Services that use it are added by ``allow_key``."""
    if "StackKey" not in t.resources:
        t.add(
            "StackKey",
            "AWS::KMS::Key",
            {
                "Description": sub(
                    "Encrypts the logs, alarm messages and Lambda environment of ${AWS::StackName}"
                ),
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        Note(
                            {
                                "Sid": "AccountAdministersTheKey",
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
                                },
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            "The account's IAM policies decide who else may use the key.",
                        )
                    ],
                },
            },
            "A customer managed key: AWS managed keys cannot be granted to CloudWatch Logs, "
            "and CloudWatch alarms cannot publish to a topic under alias/aws/sns.",
            **RETAIN,
        )
    return get_att("StackKey", "Arn")


def allow_key(t: Template, sid: str, service: Json, actions: list[str], **condition: Json) -> None:
    """Let an AWS service use the stack's key (once per ``sid``)."""
    stack_key(t)
    statements = t.properties("StackKey")["KeyPolicy"]["Statement"]
    if any(getattr(s, "value", s).get("Sid") == sid for s in statements):
        return
    statement: dict[str, Json] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": actions,
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    statements.append(statement)


def log_group(t: Template, retention_days: int, holds: str) -> Json:
    """The stack's log group, encrypted with the stack's key, kept ``retention_days`` and
    kept when the stack goes; ``holds`` (what is logged there) opens its comment."""
    key = stack_key(t)
    allow_key(
        t,
        "CloudWatchLogsEncrypts",
        sub("logs.${AWS::Region}.amazonaws.com"),
        ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        ArnLike={"kms:EncryptionContext:aws:logs:arn": arn("logs", "log-group:*")},
    )
    t.add(
        "LogGroup",
        "AWS::Logs::LogGroup",
        {
            "RetentionInDays": retention_days,
            "KmsKeyId": key,
        },
        f"{holds}; kept for a bounded time, and kept when the stack is deleted "
        "(CloudFormation names it, so a new stack of the same name does not collide with "
        "the old logs).",
        **RETAIN,
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

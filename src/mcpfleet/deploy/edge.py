"""The Fargate service's edge: the Application Load Balancer, its listeners, its access
logs and an optional DNS name.

The ALB's access logs go to an S3 bucket of the stack's own, which Elastic Load
Balancing writes as its log delivery service principal
(``logdelivery.elasticloadbalancing.amazonaws.com``); the older form of the policy named
an AWS account of Elastic Load Balancing's per region. The bucket is encrypted with
S3-managed keys, the only encryption ELB log delivery supports.
"""

from __future__ import annotations

from mcpfleet.deploy.model import (
    Json,
    Note,
    Parameter,
    Template,
    get_att,
    if_,
    ref,
    sub,
)
from mcpfleet.deploy.settings import Settings

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
LOG_PREFIX = "alb"
ACCESS_LOG_DAYS = 90
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
DOMAIN_PATTERN = r"^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


def security_groups(t: Template, settings: Settings) -> None:
    def ingress(port: int, why: str) -> Json:
        return {
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "CidrIp": "0.0.0.0/0",
            "Description": why,
        }

    t.add(
        "LoadBalancerSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "ALB: HTTPS from clients, HTTP only to redirect",
            "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [
                ingress(443, "MCP clients"),
                ingress(80, "redirected to HTTPS"),
            ],
        },
    )
    t.skip_check(
        "LoadBalancerSecurityGroup",
        "CKV_AWS_260",
        "Port 80 only answers a redirect to HTTPS; nothing is served over plain HTTP.",
    )
    t.add(
        "TaskSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Tasks: app port, from the ALB only",
            "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": settings.port,
                    "ToPort": settings.port,
                    "SourceSecurityGroupId": get_att("LoadBalancerSecurityGroup", "GroupId"),
                    "Description": "the load balancer",
                }
            ],
        },
    )


def access_logs(t: Template) -> None:
    t.add(
        "AccessLogBucket",
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Note(
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}},
                        "S3-managed keys: the only encryption ELB log delivery supports.",
                    )
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "expire-access-logs",
                        "Status": "Enabled",
                        "ExpirationInDays": ACCESS_LOG_DAYS,
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    }
                ]
            },
        },
        f"The ALB's access logs, kept {ACCESS_LOG_DAYS} days; kept when the stack is deleted.",
        **RETAIN,
    )
    t.skip_check(
        "AccessLogBucket",
        "CKV_AWS_18",
        "This bucket holds access logs itself; logging access to it would need another bucket.",
    )
    t.add(
        "AccessLogBucketPolicy",
        "AWS::S3::BucketPolicy",
        {
            "Bucket": ref("AccessLogBucket"),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    Note(
                        {
                            "Sid": "LoadBalancerWritesLogs",
                            "Effect": "Allow",
                            "Principal": {"Service": LOG_DELIVERY_SERVICE},
                            "Action": "s3:PutObject",
                            "Resource": sub(
                                f"${{AccessLogBucket.Arn}}/{LOG_PREFIX}/AWSLogs/${{AWS::AccountId}}/*"
                            ),
                        },
                        "Elastic Load Balancing writes as its log delivery service (the "
                        "per-region ELB account of older policies is the legacy form), and "
                        "only under this account's prefix.",
                    ),
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [
                            get_att("AccessLogBucket", "Arn"),
                            sub("${AccessLogBucket.Arn}/*"),
                        ],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    )


def target_group_attributes(settings: Settings) -> list[Json]:
    attrs: list[Json] = [
        Note(
            {
                "Key": "deregistration_delay.timeout_seconds",
                "Value": str(settings.deregistration_delay_seconds),
            },
            f"ECS waits this out before SIGTERM. Streams end themselves (with a retry hint) "
            f"after STREAM_MAX_SECONDS={settings.stream_max_seconds} s, below it, so the "
            "load balancer never cuts one; in-flight calls finish meanwhile.",
        )
    ]
    if settings.state == "memory":
        attrs += [
            Note(
                {"Key": "stickiness.enabled", "Value": "true"},
                "State is in each task's memory: a session must keep reaching its task.",
            ),
            {"Key": "stickiness.type", "Value": "lb_cookie"},
            {
                "Key": "stickiness.lb_cookie.duration_seconds",
                "Value": str(settings.stickiness_seconds),
            },
        ]
    else:
        attrs.append(
            Note(
                {"Key": "stickiness.enabled", "Value": "false"},
                "State is in Redis: any task serves any request, so load spreads.",
            )
        )
    return attrs


def _balancer_attributes(settings: Settings) -> list[Json]:
    return [
        Note(
            {"Key": "idle_timeout.timeout_seconds", "Value": str(settings.idle_timeout_seconds)},
            f"Above the SSE keep-alive interval ({settings.keepalive_seconds} s), so idle "
            f"streams stay open; below the server's HTTP keep-alive "
            f"(HTTP_KEEPALIVE_SECONDS={settings.http_keepalive_seconds} s), so the ALB closes "
            "idle connections first and never reuses one the server closed.",
        ),
        {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
        {"Key": "access_logs.s3.enabled", "Value": "true"},
        {"Key": "access_logs.s3.bucket", "Value": ref("AccessLogBucket")},
        {"Key": "access_logs.s3.prefix", "Value": LOG_PREFIX},
    ]


def load_balancer(t: Template, settings: Settings) -> None:
    access_logs(t)
    t.add(
        "LoadBalancer",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Type": "application",
            "Scheme": "internet-facing",
            "Subnets": ref("PublicSubnetIds"),
            "SecurityGroups": [get_att("LoadBalancerSecurityGroup", "GroupId")],
            "LoadBalancerAttributes": _balancer_attributes(settings),
        },
        None,
        DependsOn=["AccessLogBucketPolicy"],
    )
    t.add(
        "TargetGroup",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "TargetType": "ip",
            "Protocol": "HTTP",
            "Port": settings.port,
            "VpcId": ref("VpcId"),
            "HealthCheckPath": Note(
                settings.readiness_path,
                "Readiness: 503 only while the task drains. It stays 200 while Redis is "
                "down (requests that need Redis answer 503 with Retry-After), so an outage "
                "of the fleet state does not make ECS replace every task at once.",
            ),
            "HealthCheckIntervalSeconds": 15,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200"},
            "TargetGroupAttributes": target_group_attributes(settings),
        },
    )
    listeners(t)


def listeners(t: Template) -> None:
    t.add(
        "HttpsListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "LoadBalancerArn": ref("LoadBalancer"),
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": TLS_POLICY,
            "Certificates": [{"CertificateArn": ref("CertificateArn")}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}],
        },
    )
    t.add(
        "HttpListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "LoadBalancerArn": ref("LoadBalancer"),
            "Port": 80,
            "Protocol": "HTTP",
            "DefaultActions": [
                {
                    "Type": "redirect",
                    "RedirectConfig": {
                        "Protocol": "HTTPS",
                        "Port": "443",
                        "StatusCode": "HTTP_301",
                    },
                }
            ],
        },
        "Plain HTTP gets a redirect to HTTPS, nothing else.",
    )


def dns(t: Template, settings: Settings) -> Json:
    """An optional Route 53 alias for the ALB; returns the endpoint URL (the alias's name
    when given, which is the name the certificate covers, else the ALB's own)."""
    t.parameter(
        "DomainName",
        Parameter(
            "String",
            "DNS name for the endpoint, covered by the certificate (empty: none).",
            default=settings.domain or "",
            allowed_pattern=DOMAIN_PATTERN,
            constraint="a lowercase DNS name, or empty",
        ),
    )
    t.parameter(
        "HostedZoneId",
        Parameter(
            "String",
            "Route 53 hosted zone of DomainName (empty: no DNS record).",
            default=settings.hosted_zone_id or "",
        ),
    )
    has = t.condition(
        "HasDomain",
        {
            "Fn::And": [
                {"Fn::Not": [{"Fn::Equals": [ref("DomainName"), ""]}]},
                {"Fn::Not": [{"Fn::Equals": [ref("HostedZoneId"), ""]}]},
            ]
        },
    )
    t.add(
        "DnsRecord",
        "AWS::Route53::RecordSet",
        {
            "HostedZoneId": ref("HostedZoneId"),
            "Name": ref("DomainName"),
            "Type": "A",
            "AliasTarget": {
                "DNSName": get_att("LoadBalancer", "DNSName"),
                "HostedZoneId": get_att("LoadBalancer", "CanonicalHostedZoneID"),
                "EvaluateTargetHealth": False,
            },
        },
        "The name clients use, the one on the certificate, points at the ALB.",
        Condition=has,
    )
    return if_(
        has,
        sub(f"https://${{DomainName}}{settings.path}"),
        sub(f"https://${{LoadBalancer.DNSName}}{settings.path}"),
    )

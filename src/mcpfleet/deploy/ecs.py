"""ECS Fargate behind an Application Load Balancer, as the AWS guide lays it out."""

from __future__ import annotations

from mcpfleet.deploy import access, common, ecs_ops
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

CONTAINER = "app"


def health_command(settings: Settings) -> list[str]:
    """Liveness from inside the container, with the Python the image already has."""
    url = f"http://127.0.0.1:{settings.port}{settings.liveness_path}"
    return [
        "CMD",
        "python3",
        "-c",
        f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)",
    ]


def container(
    settings: Settings, image: Json, env: dict[str, Json], secrets: dict[str, Json]
) -> dict[str, Json]:
    """The app's container definition (CloudFormation's spelling)."""
    return {
        "Name": CONTAINER,
        "Image": image,
        "Essential": True,
        "PortMappings": [{"ContainerPort": settings.port, "Protocol": "tcp"}],
        "Environment": [{"Name": k, "Value": v} for k, v in sorted(env.items())],
        "Secrets": Note(
            [{"Name": k, "ValueFrom": v} for k, v in secrets.items()],
            "Injected by ECS at start from Secrets Manager; never in the task "
            "definition or the console.",
        ),
        "HealthCheck": Note(
            {
                "Command": health_command(settings),
                "Interval": 15,
                "Timeout": 5,
                "Retries": 3,
                "StartPeriod": 20,
            },
            f"Liveness ({settings.liveness_path}): restart only a process that stopped "
            "answering; a fleet-state outage is readiness's business.",
        ),
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": ref("LogGroup"),
                "awslogs-region": ref("AWS::Region"),
                "awslogs-stream-prefix": "ecs",
            },
        },
        "StopTimeout": Note(
            settings.stop_timeout_seconds,
            (
                f"SIGTERM to SIGKILL: above deregistration delay "
                f"{settings.deregistration_delay_seconds} s + drain deadline "
                f"{settings.drain_deadline_seconds} s, so a draining task finishes its requests."
            ),
        ),
    }


def task_definition(
    settings: Settings, image: Json, env: dict[str, Json], secrets: dict[str, Json]
) -> dict[str, Json]:
    return {
        "Family": sub("${AWS::StackName}"),
        "NetworkMode": "awsvpc",
        "RequiresCompatibilities": ["FARGATE"],
        "Cpu": str(settings.cpu),
        "Memory": str(settings.memory),
        "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
        "TaskRoleArn": get_att("TaskRole", "Arn"),
        "ContainerDefinitions": [container(settings, image, env, secrets)],
    }


def execution_role(t: Template, secrets: dict[str, Json]) -> None:
    statements = [
        *common.ecr_pull_statements(),
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att("LogGroup", "Arn"),
        },
        common.read_secrets_statement(secrets),
    ]
    t.add(
        "ExecutionRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": common.assume("ecs-tasks.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "start-task",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
        "Used by ECS, not the app: pull the image, write logs, read the declared secrets.",
    )


def security_groups(t: Template, settings: Settings) -> None:
    t.add(
        "LoadBalancerSecurityGroup",
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "ALB: HTTPS from clients",
            "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 443,
                    "ToPort": 443,
                    "CidrIp": "0.0.0.0/0",
                    "Description": "MCP clients",
                }
            ],
        },
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


def target_group_attributes(settings: Settings) -> list[Json]:
    attrs: list[Json] = [
        Note(
            {
                "Key": "deregistration_delay.timeout_seconds",
                "Value": str(settings.deregistration_delay_seconds),
            },
            "Equal to the app's DRAIN_DELAY_SECONDS: "
            "the app keeps serving while the ALB drains it.",
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


def load_balancer(t: Template, settings: Settings) -> None:
    t.add(
        "LoadBalancer",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        {
            "Type": "application",
            "Scheme": "internet-facing",
            "Subnets": ref("PublicSubnetIds"),
            "SecurityGroups": [get_att("LoadBalancerSecurityGroup", "GroupId")],
            "LoadBalancerAttributes": [
                Note(
                    {
                        "Key": "idle_timeout.timeout_seconds",
                        "Value": str(settings.idle_timeout_seconds),
                    },
                    f"Above the SSE keep-alive interval ({settings.keepalive_seconds} s), so "
                    "idle streams stay open.",
                ),
                {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
            ],
        },
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
                ("Readiness: 503 while the task drains or cannot reach the fleet state."),
            ),
            "HealthCheckIntervalSeconds": 15,
            "HealthyThresholdCount": 2,
            "UnhealthyThresholdCount": 3,
            "Matcher": {"HttpCode": "200"},
            "TargetGroupAttributes": target_group_attributes(settings),
        },
    )
    t.add(
        "HttpsListener",
        "AWS::ElasticLoadBalancingV2::Listener",
        {
            "LoadBalancerArn": ref("LoadBalancer"),
            "Port": 443,
            "Protocol": "HTTPS",
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "Certificates": [{"CertificateArn": ref("CertificateArn")}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}],
        },
    )


def service(t: Template, settings: Settings) -> None:
    t.add(
        "Cluster",
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )
    t.add(
        "Service",
        "AWS::ECS::Service",
        {
            "Cluster": ref("Cluster"),
            "LaunchType": "FARGATE",
            "TaskDefinition": ref("TaskDefinition"),
            "DesiredCount": ref("MinTasks"),
            "HealthCheckGracePeriodSeconds": 30,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 100,
                "MaximumPercent": 200,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "AssignPublicIp": "DISABLED",
                    "Subnets": ref("PrivateSubnetIds"),
                    "SecurityGroups": [get_att("TaskSecurityGroup", "GroupId")],
                }
            },
            "LoadBalancers": [
                {
                    "ContainerName": CONTAINER,
                    "ContainerPort": settings.port,
                    "TargetGroupArn": ref("TargetGroup"),
                }
            ],
        },
        None,
        DependsOn=["HttpsListener"],
    )


def parameters(t: Template) -> None:
    common.network_parameters(t)
    t.parameter(
        "PublicSubnetIds",
        Parameter("List<AWS::EC2::Subnet::Id>", "Public subnets for the load balancer."),
    )
    t.parameter(
        "CertificateArn",
        Parameter(
            "String",
            "ACM certificate for the HTTPS listener.",
            allowed_pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$",
            constraint="an ACM certificate ARN",
        ),
    )
    t.parameter("MinTasks", Parameter("Number", "Fewest tasks.", default=2))
    t.parameter("MaxTasks", Parameter("Number", "Most tasks.", default=10))


def render(t: Template, settings: Settings, decls: Declarations) -> dict[str, Json]:
    """Add the Fargate deployment to ``t``; return the task definition's properties."""
    parameters(t)
    image = common.image(t)
    secrets = common.secret_arns(t, decls)
    common.log_group(t, settings, "/ecs")
    execution_role(t, secrets)
    common.app_role(t, "TaskRole", "ecs-tasks.amazonaws.com", decls)
    security_groups(t, settings)
    env: dict[str, Json] = {
        **settings.environment(),
        **common.parameter_variables(decls),
        **access.environment(t, settings, decls),
    }
    if settings.state == "redis":
        env["REDIS_URL"] = common.redis(t, get_att("TaskSecurityGroup", "GroupId"))
    props = task_definition(settings, image, env, secrets)
    t.add("TaskDefinition", "AWS::ECS::TaskDefinition", props)
    load_balancer(t, settings)
    service(t, settings)
    ecs_ops.autoscaling(t, settings)
    ecs_ops.alarms(t, settings)
    t.output(
        "Endpoint",
        sub(f"https://${{LoadBalancer.DNSName}}{settings.path}"),
        "The MCP endpoint (point a DNS name for the certificate at the ALB).",
    )
    return props

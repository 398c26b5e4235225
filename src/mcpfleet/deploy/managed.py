"""Targets where AWS runs the load balancer: ECS Express and App Runner.

Neither lets the deployment turn on cookie stickiness, so a session's next request
may reach any instance: both need the fleet state in Redis, and refuse memory.
"""

from __future__ import annotations

from mcpfleet.deploy import access, cache, common, ecs
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import APPRUNNER_REQUEST_LIMIT, Settings, SettingsError

EXPRESS_INFRA_POLICY = sub(
    "arn:${AWS::Partition}:iam::aws:policy/service-role/"
    "AmazonECSInfrastructureRoleforExpressGatewayServices"
)
APPRUNNER_CLOSED = (
    "apprunner: App Runner has been closed to new customers since 2026-04-30 (accounts "
    "that used it before keep it); for a new deployment render --target ecs-express, "
    "which also manages the load balancer and scaling for you"
)


def require_redis(settings: Settings, why: str) -> None:
    if settings.state != "redis":
        raise SettingsError(
            f"{settings.target} cannot keep a session on one instance ({why}), so in-memory "
            "state would lose sessions between requests: render with --state redis"
        )


def client_group(t: Template, name: str, description: str) -> Json:
    """A security group for the app's side of its connections (to Redis)."""
    t.add(name, "AWS::EC2::SecurityGroup", {"GroupDescription": description, "VpcId": ref("VpcId")})
    return get_att(name, "GroupId")


def render_express(t: Template, settings: Settings, decls: Declarations) -> None:
    require_redis(settings, "its managed load balancer has no stickiness setting")
    common.network_parameters(t)
    t.parameter(
        "PublicSubnetIds",
        Parameter(
            "List<AWS::EC2::Subnet::Id>",
            "Public subnets: ECS Express puts its internet-facing load balancer there.",
        ),
    )
    t.parameter("MinTasks", Parameter("Number", "Fewest tasks.", default=2))
    t.parameter("MaxTasks", Parameter("Number", "Most tasks.", default=10))
    t.parameter(
        "ScalingTargetValue",
        Parameter("Number", "Requests per task per minute that scaling aims at.", default=1000),
    )
    image = common.image(t)
    secrets = common.secret_arns(t, decls)
    common.log_group(t, settings.log_retention_days, common.APP_LOGS)
    t.add(
        "InfrastructureRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": common.assume("ecs.amazonaws.com"),
            "ManagedPolicyArns": [EXPRESS_INFRA_POLICY],
        },
        "Lets ECS create and run the service's load balancer, target group and scaling.",
    )
    group = client_group(t, "TaskSecurityGroup", "Tasks: reach Redis")
    fleet = cache.redis(t, settings, group)
    secrets.update(fleet.secrets)
    ecs.execution_role(t, secrets)
    common.app_role(t, "TaskRole", "ecs-tasks.amazonaws.com", decls, fleet.statements)
    env: dict[str, Json] = {
        **settings.environment(),
        **common.parameter_variables(decls),
        **access.environment(t, settings, decls),
        **fleet.env,
    }
    t.add(
        "Cluster",
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
        "Container Insights: per-service task, CPU and memory metrics.",
    )
    t.add(
        "Service",
        "AWS::ECS::ExpressGatewayService",
        {
            "Cluster": ref("Cluster"),
            "Cpu": str(settings.cpu),
            "Memory": str(settings.memory),
            "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
            "TaskRoleArn": get_att("TaskRole", "Arn"),
            "InfrastructureRoleArn": get_att("InfrastructureRole", "Arn"),
            "HealthCheckPath": Note(
                settings.readiness_path,
                "Readiness: 503 only while a task drains; 200 through a Redis outage, so "
                "the outage does not replace every task.",
            ),
            "PrimaryContainer": {
                "Image": image,
                "ContainerPort": settings.port,
                "Environment": [{"Name": k, "Value": v} for k, v in sorted(env.items())],
                "Secrets": [{"Name": k, "ValueFrom": v} for k, v in secrets.items()],
                "AwsLogsConfiguration": {"LogGroup": ref("LogGroup"), "LogStreamPrefix": "ecs"},
            },
            "ScalingTarget": {
                "AutoScalingMetric": "REQUEST_COUNT_PER_TARGET",
                "AutoScalingTargetValue": Note(
                    ref("ScalingTargetValue"),
                    "Set, not left to the default, which is not a request rate.",
                ),
                "MinTaskCount": ref("MinTasks"),
                "MaxTaskCount": ref("MaxTasks"),
            },
            "NetworkConfiguration": Note(
                {"Subnets": ref("PublicSubnetIds"), "SecurityGroups": [group]},
                "Public subnets: in private ones ECS Express makes an internal load balancer "
                "that clients on the internet cannot reach. Redis stays in the private ones.",
            ),
        },
        "ECS creates the ALB, listener, target group and autoscaling for this service.",
    )
    t.output("Endpoint", sub(f"https://${{Service.Endpoint}}{settings.path}"), "The MCP endpoint.")
    t.notes.append(
        f"ecs-express: ECS manages the load balancer, so its idle timeout and deregistration "
        f"delay are ECS's; streams end themselves after {settings.stream_max_seconds} s "
        f"(STREAM_MAX_SECONDS), which must stay below that deregistration delay"
    )


def secret_variables(secrets: dict[str, Json]) -> dict[str, Json]:
    """``NAME_SECRET_ARN`` variables: the app reads these secrets itself at start."""
    return {f"{name}_SECRET_ARN": arn for name, arn in secrets.items()}


APPRUNNER_CPU = {256: "0.25 vCPU", 512: "0.5 vCPU", 1024: "1 vCPU", 2048: "2 vCPU", 4096: "4 vCPU"}


def _apprunner_size(settings: Settings) -> dict[str, str]:
    cpu = APPRUNNER_CPU.get(settings.cpu)
    if cpu is None or settings.memory % 1024:
        raise SettingsError(
            f"App Runner has no instance size cpu={settings.cpu} memory={settings.memory}"
        )
    return {"Cpu": cpu, "Memory": f"{settings.memory // 1024} GB"}


def render_apprunner(t: Template, settings: Settings, decls: Declarations) -> None:
    require_redis(settings, "App Runner has no session stickiness")
    size = _apprunner_size(settings)
    t.notes.append(APPRUNNER_CLOSED)
    t.notes.append(
        f"apprunner: App Runner ends any request after {APPRUNNER_REQUEST_LIMIT} s, so "
        f"streams end themselves (with a retry hint) after {settings.stream_max_seconds} s"
    )
    common.network_parameters(t)
    image = common.image(t)
    secrets = common.secret_arns(t, decls)
    t.add(
        "AccessRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": common.assume("build.apprunner.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "pull-image",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": common.ecr_pull_statements(),
                    },
                }
            ],
        },
        "Used by App Runner, not the app: pull the image.",
    )
    group = client_group(t, "ConnectorSecurityGroup", "App Runner VPC connector: reach Redis")
    fleet = cache.redis(t, settings, group)
    common.app_role(
        t,
        "InstanceRole",
        "tasks.apprunner.amazonaws.com",
        decls,
        [common.read_secrets_statement(secrets), *fleet.statements],
    )
    t.add(
        "VpcConnector",
        "AWS::AppRunner::VpcConnector",
        {
            "Subnets": ref("PrivateSubnetIds"),
            "SecurityGroups": [group],
        },
        "App Runner reaches nothing in the VPC without a connector; Redis lives there.",
    )
    env: dict[str, Json] = {
        **settings.environment(),
        **secret_variables(secrets),
        **common.parameter_variables(decls),
        **access.environment(t, settings, decls),
        **fleet.env,
    }
    t.add(
        "Service",
        "AWS::AppRunner::Service",
        {
            "SourceConfiguration": {
                "AuthenticationConfiguration": {"AccessRoleArn": get_att("AccessRole", "Arn")},
                "AutoDeploymentsEnabled": False,
                "ImageRepository": {
                    "ImageIdentifier": image,
                    "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {
                        "Port": str(settings.port),
                        "RuntimeEnvironmentVariables": [
                            {"Name": k, "Value": v} for k, v in sorted(env.items())
                        ],
                    },
                },
            },
            "InstanceConfiguration": {**size, "InstanceRoleArn": get_att("InstanceRole", "Arn")},
            "HealthCheckConfiguration": Note(
                {
                    "Protocol": "HTTP",
                    "Path": settings.liveness_path,
                    "Interval": 10,
                    "Timeout": 5,
                    "HealthyThreshold": 1,
                    "UnhealthyThreshold": 3,
                },
                "Liveness: App Runner replaces instances that fail this check, so a Redis "
                "outage must not fail it.",
            ),
            "NetworkConfiguration": {
                "EgressConfiguration": {
                    "EgressType": "VPC",
                    "VpcConnectorArn": get_att("VpcConnector", "VpcConnectorArn"),
                }
            },
        },
    )
    t.output(
        "Endpoint", sub(f"https://${{Service.ServiceUrl}}{settings.path}"), "The MCP endpoint."
    )

"""ECS Fargate behind an Application Load Balancer: the task, the service, and how they fit.

See ``settings`` for the drain contract the numbers here follow, and ``edge`` for the
load balancer, ``ecs_ops`` for scaling, ``alarms`` and ``dashboard`` for watching it.
"""

from __future__ import annotations

from mcpfleet.deploy import access, alarms, cache, common, dashboard, ecs_ops, edge, otel
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

CONTAINER = "app"
TMP_VOLUME = "tmp"
LOG_BUFFER = "25m"  # awslogs non-blocking: lines held while CloudWatch Logs is slow
CPU_ARCHITECTURE = {"arm64": "ARM64", "x86_64": "X86_64"}
EXEC_ACTIONS = [
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
]


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
    readonly = not settings.ecs_exec
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
        "ReadonlyRootFilesystem": Note(
            readonly,
            "The image cannot be changed at run time; /tmp is the only writable place."
            if readonly
            else "Writable: ECS Exec's agent writes into the container (--exec).",
        ),
        "MountPoints": [{"SourceVolume": TMP_VOLUME, "ContainerPath": "/tmp"}],
        "HealthCheck": Note(
            {
                "Command": health_command(settings),
                "Interval": 15,
                "Timeout": 5,
                "Retries": 3,
                "StartPeriod": 20,
            },
            f"Liveness ({settings.liveness_path}): restart only a process that stopped "
            "answering; a fleet-state outage must not restart anything.",
        ),
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": Note(
                {
                    "awslogs-group": ref("LogGroup"),
                    "awslogs-region": ref("AWS::Region"),
                    "awslogs-stream-prefix": "ecs",
                    "mode": "non-blocking",
                    "max-buffer-size": LOG_BUFFER,
                },
                "Non-blocking: a slow CloudWatch Logs never stalls the app's writes to "
                "stdout; lines beyond the buffer are dropped instead.",
            ),
        },
        "StopTimeout": Note(
            settings.stop_timeout_seconds,
            f"SIGTERM to SIGKILL, above the drain deadline "
            f"{settings.drain_deadline_seconds} s. ECS sends SIGTERM only after the "
            f"deregistration delay ({settings.deregistration_delay_seconds} s), when the "
            "load balancer has stopped sending requests: DRAIN_DELAY_SECONDS is 0.",
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
        "RuntimePlatform": Note(
            {
                "CpuArchitecture": CPU_ARCHITECTURE[settings.architecture],
                "OperatingSystemFamily": "LINUX",
            },
            "The image must be built for this architecture (--arch; Graviton by default).",
        ),
        "ExecutionRoleArn": get_att("ExecutionRole", "Arn"),
        "TaskRoleArn": get_att("TaskRole", "Arn"),
        "Volumes": [{"Name": TMP_VOLUME}],
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


def service(t: Template, settings: Settings) -> None:
    t.add(
        "Cluster",
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
        "Container Insights: RunningTaskCount, which sessions-per-task scaling divides by.",
    )
    t.add(
        "Service",
        "AWS::ECS::Service",
        {
            "Cluster": ref("Cluster"),
            "LaunchType": "FARGATE",
            "TaskDefinition": ref("TaskDefinition"),
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
            "EnableExecuteCommand": settings.ecs_exec,
        },
        "No DesiredCount: autoscaling owns the task count, and an update must not reset it.",
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
    common.log_group(t, settings.log_retention_days, common.APP_LOGS)
    edge.security_groups(t, settings)
    env: dict[str, Json] = {
        **settings.environment(),
        **common.parameter_variables(decls),
        **access.environment(t, settings, decls),
    }
    runtime: list[Json] = []
    if settings.state == "redis":
        fleet = cache.redis(t, settings, get_att("TaskSecurityGroup", "GroupId"))
        env.update(fleet.env)
        secrets.update(fleet.secrets)
        runtime += fleet.statements
    if settings.ecs_exec:
        runtime.append(
            Note(
                {"Effect": "Allow", "Action": EXEC_ACTIONS, "Resource": "*"},
                "ECS Exec: the session channels exist only once opened, so resource *.",
            )
        )
    if settings.otel:
        env.update(otel.environment(settings))
        runtime.append(otel.xray_statement())
    execution_role(t, secrets)
    common.app_role(t, "TaskRole", "ecs-tasks.amazonaws.com", decls, runtime)
    props = task_definition(settings, image, env, secrets)
    if settings.otel:
        otel.attach(t, settings, props)
    t.add("TaskDefinition", "AWS::ECS::TaskDefinition", props)
    edge.load_balancer(t, settings)
    service(t, settings)
    ecs_ops.autoscaling(t, settings)
    alarms.topic(t)
    alarms.service_alarms(t, settings)
    if settings.state == "redis":
        alarms.state_alarms(t, settings)
    dashboard.dashboard(t, settings)
    t.output("Endpoint", edge.dns(t, settings), "The MCP endpoint.")
    return props

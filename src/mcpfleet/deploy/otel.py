"""Traces to X-Ray (``--otel``): the AWS Distro for OpenTelemetry collector beside the app.

The app exports spans over OTLP/HTTP to a collector in its own task (127.0.0.1, no network
hop); the collector batches them and sends them to X-Ray with the task role. Only
ecs-fargate renders it: a sidecar needs a task definition of our own, which ECS Express
(one primary container), App Runner and a Lambda Function URL do not give.
"""

from __future__ import annotations

from mcpfleet.deploy.model import Json, Note, Template, ref
from mcpfleet.deploy.settings import OTEL_COLLECTOR_CPU, OTEL_COLLECTOR_MEMORY, Settings

COLLECTOR = "otel-collector"
# A fixed release, so that a redeploy never picks up a collector nobody has run with the app.
COLLECTOR_IMAGE = "public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0"
COLLECTOR_CONFIG = "/etc/ecs/ecs-default-config.yaml"  # in the image: OTLP in, X-Ray out
OTLP_HTTP_ENDPOINT = "http://127.0.0.1:4318"
XRAY_ACTIONS = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
]
INSTALL_NOTE = (
    "--otel: spans flow only if the image installs the app with the otel extra "
    "(pip install 'mcpfleet[otel]'); without it the app serves as before and sends nothing"
)


def environment(settings: Settings) -> dict[str, Json]:
    """What turns tracing on in the app, pointed at the collector in the same task."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_HTTP_ENDPOINT,
        "OTEL_SERVICE_NAME": settings.name,
        "OTEL_METRICS_EXPORTER": Note(
            "none",
            "Spans only: the app's metrics reach CloudWatch already (EMF in its log lines), "
            "and the collector's default pipeline would write them again to a log group "
            "outside this stack.",
        ),
    }


def xray_statement() -> Json:
    """The task role's right to send spans and read sampling rules."""
    return Note(
        {"Effect": "Allow", "Action": XRAY_ACTIONS, "Resource": "*"},
        "X-Ray accepts these actions only on resource *: they name no trace or group.",
    )


def collector(settings: Settings) -> dict[str, Json]:
    """The collector's container definition (CloudFormation's spelling)."""
    return {
        "Name": COLLECTOR,
        "Image": COLLECTOR_IMAGE,
        "Command": [f"--config={COLLECTOR_CONFIG}"],
        "Essential": Note(
            False,
            "Not essential: if the collector stops, spans are lost but the app keeps "
            "serving; ECS does not stop the task over it.",
        ),
        "Cpu": Note(
            OTEL_COLLECTOR_CPU,
            f"Reserved out of the task's {settings.cpu} units; the app has the rest.",
        ),
        "MemoryReservation": Note(
            OTEL_COLLECTOR_MEMORY,
            f"MiB reserved out of the task's {settings.memory}; a soft limit, so a burst "
            "of spans is not killed at it.",
        ),
        "ReadonlyRootFilesystem": True,
        "HealthCheck": Note(
            {
                "Command": ["CMD", "/healthcheck"],
                "Interval": 15,
                "Timeout": 5,
                "Retries": 3,
                "StartPeriod": 10,
            },
            "The image's own probe of the collector's health extension; shown in the "
            "console, and it stops nothing (the container is not essential).",
        ),
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": ref("LogGroup"),
                "awslogs-region": ref("AWS::Region"),
                "awslogs-stream-prefix": "otel",
                "mode": "non-blocking",
            },
        },
    }


def attach(t: Template, settings: Settings, task: dict[str, Json]) -> None:
    """Add the collector to the task definition's properties; the app starts after it."""
    containers: list[dict[str, Json]] = task["ContainerDefinitions"]
    app = containers[0]
    app["DependsOn"] = Note(
        [{"ContainerName": COLLECTOR, "Condition": "START"}],
        "Started, not healthy: the app must not wait on tracing, and the exporter retries "
        "until the collector listens.",
    )
    containers.append(collector(settings))
    t.notes.append(INSTALL_NOTE)

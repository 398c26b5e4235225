"""A CloudWatch dashboard for the Fargate service: traffic, latency, tasks, sessions, state.

The body is JSON inside ``Fn::Sub``, so the load balancer's, cluster's and cache's names
are filled in by CloudFormation.
"""

from __future__ import annotations

import json

from mcpfleet.deploy import cache
from mcpfleet.deploy.model import Json, Note, Template
from mcpfleet.deploy.settings import Settings

WIDTH = 12
HEIGHT = 6

ALB = ["LoadBalancer", "${LoadBalancer.LoadBalancerFullName}"]
ECS = ["ClusterName", "${Cluster}", "ServiceName", "${Service.Name}"]


def _widget(title: str, metrics: list[list[Json]], index: int, stat: str = "Sum") -> Json:
    return {
        "type": "metric",
        "x": (index % 2) * WIDTH,
        "y": (index // 2) * HEIGHT,
        "width": WIDTH,
        "height": HEIGHT,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "stat": stat,
            "period": 60,
            "view": "timeSeries",
            "metrics": metrics,
        },
    }


def body(settings: Settings) -> str:
    app = [settings.metrics_namespace]
    service = ["Service", settings.name]
    panels: list[tuple[str, list[list[Json]], str]] = [
        (
            "Requests and 5xx",
            [
                ["AWS/ApplicationELB", "RequestCount", *ALB],
                ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *ALB],
                ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", *ALB],
            ],
            "Sum",
        ),
        (
            "Response time (to first byte)",
            [
                ["AWS/ApplicationELB", "TargetResponseTime", *ALB, {"stat": "p50"}],
                ["AWS/ApplicationELB", "TargetResponseTime", *ALB, {"stat": "p99"}],
            ],
            "p99",
        ),
        (
            "Running tasks",
            [["ECS/ContainerInsights", "RunningTaskCount", *ECS]],
            "Average",
        ),
        (
            "CPU and memory (%)",
            [["AWS/ECS", "CPUUtilization", *ECS], ["AWS/ECS", "MemoryUtilization", *ECS]],
            "Average",
        ),
        (
            "Sessions (fleet) and open streams (all tasks)",
            [
                [*app, "ActiveSessions", *service, {"stat": "Maximum"}],
                [*app, "OpenStreams", *service, {"stat": "Sum"}],
                [*app, "InFlightRequests", *service, {"stat": "Sum"}],
            ],
            "Sum",
        ),
        (
            "Tool calls and errors",
            [[*app, "ToolCalls", *service], [*app, "ToolErrors", *service]],
            "Sum",
        ),
    ]
    if settings.state == "redis":
        nodes = [node["Fn::Sub"] for node in cache.node_ids(settings)]
        panels += [
            (
                "Fleet state unreachable (any task)",
                [[*app, "StateUnreachable", *service]],
                "Maximum",
            ),
            (
                "Redis engine CPU and memory (%)",
                [
                    ["AWS/ElastiCache", metric, "CacheClusterId", node]
                    for node in nodes
                    for metric in ("EngineCPUUtilization", "DatabaseMemoryUsagePercentage")
                ],
                "Maximum",
            ),
        ]
    widgets = [_widget(title, m, i, stat) for i, (title, m, stat) in enumerate(panels)]
    return json.dumps({"widgets": widgets}, separators=(",", ":"))


def dashboard(t: Template, settings: Settings) -> None:
    t.add(
        "Dashboard",
        "AWS::CloudWatch::Dashboard",
        {
            "DashboardName": Note(
                {"Fn::Sub": "${AWS::StackName}-${AWS::Region}"},
                "Dashboard names are global to the account: the region keeps two stacks of "
                "one name apart.",
            ),
            "DashboardBody": {"Fn::Sub": body(settings)},
        },
        "One page for the service: traffic, latency, tasks, sessions, the fleet state.",
    )

"""Running the Fargate service: target-tracking autoscaling.

The service has no ``DesiredCount``: with autoscaling in charge, CloudFormation would set
the count back to that number on every update, undoing what scaling had decided. Left
out, ECS starts at the scalable target's minimum and autoscaling owns the count.
"""

from __future__ import annotations

from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

SCALE_OUT_COOLDOWN = 60  # add tasks quickly when load rises
SCALE_IN_COOLDOWN = 300  # remove them slowly: each removal drains its streams


def _stat(ident: str, namespace: str, name: str, dims: list[Json], stat: str) -> Json:
    return {
        "Id": ident,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dims},
            "Stat": stat,
        },
    }


def _sessions(settings: Settings) -> Json:
    """Sessions per task: the fleet's ``ActiveSessions`` over the running task count."""
    service = [{"Name": "Service", "Value": settings.name}]
    tasks = [
        {"Name": "ClusterName", "Value": ref("Cluster")},
        {"Name": "ServiceName", "Value": get_att("Service", "Name")},
    ]
    return Note(
        {
            "Metrics": [
                Note(
                    _stat(
                        "sessions", settings.metrics_namespace, "ActiveSessions", service, "Maximum"
                    ),
                    "Every task reports the fleet-wide count (the sessions live in Redis), so "
                    "the figure is taken once (Maximum), not summed.",
                ),
                _stat("tasks", "ECS/ContainerInsights", "RunningTaskCount", tasks, "Average"),
                {
                    "Id": "per_task",
                    "Label": "sessions per running task",
                    "Expression": "sessions / tasks",
                    "ReturnData": True,
                },
            ]
        },
        "Scale on sessions per task; the fleet-wide count alone would never fall as tasks "
        "are added, and scaling would run to MaxTasks.",
    )


def _metric(settings: Settings) -> dict[str, Json]:
    if settings.scale_on == "sessions":
        return {"CustomizedMetricSpecification": _sessions(settings)}
    return {
        "PredefinedMetricSpecification": Note(
            {
                "PredefinedMetricType": "ALBRequestCountPerTarget",
                "ResourceLabel": sub(
                    "${LoadBalancer.LoadBalancerFullName}/${TargetGroup.TargetGroupFullName}"
                ),
            },
            "Requests per task: counts stateless 2026-07-28 traffic and sessions alike.",
        )
    }


def autoscaling(t: Template, settings: Settings) -> None:
    t.parameter(
        "ScalingTargetValue",
        Parameter(
            "Number",
            "Target per task of the scaling metric (requests per minute, or sessions).",
            default=1000 if settings.scale_on == "requests" else 200,
        ),
    )
    t.add(
        "ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "ServiceNamespace": "ecs",
            "ScalableDimension": "ecs:service:DesiredCount",
            "ResourceId": sub("service/${Cluster}/${Service.Name}"),
            "MinCapacity": ref("MinTasks"),
            "MaxCapacity": ref("MaxTasks"),
        },
        "Autoscaling owns the task count (the service sets none).",
    )
    t.add(
        "ScalingPolicy",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyName": sub("${AWS::StackName}-target-tracking"),
            "PolicyType": "TargetTrackingScaling",
            "ScalingTargetId": ref("ScalableTarget"),
            "TargetTrackingScalingPolicyConfiguration": {
                **_metric(settings),
                "TargetValue": ref("ScalingTargetValue"),
                "ScaleOutCooldown": Note(SCALE_OUT_COOLDOWN, "Scale out fast."),
                "ScaleInCooldown": Note(
                    SCALE_IN_COOLDOWN,
                    "Scale in slowly: every removed task drains, and clients reconnect.",
                ),
            },
        },
    )

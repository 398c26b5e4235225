"""Running the Fargate service: autoscaling and the alarms that say it is unwell."""

from __future__ import annotations

from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

SCALE_OUT_COOLDOWN = 60  # add tasks quickly when load rises
SCALE_IN_COOLDOWN = 300  # remove them slowly: each removal drains its streams


def _metric(settings: Settings) -> Json:
    if settings.scale_on == "sessions":
        return {
            "CustomizedMetricSpecification": Note(
                {
                    "Namespace": settings.metrics_namespace,
                    "MetricName": "ActiveSessions",
                    "Dimensions": [{"Name": "Service", "Value": settings.name}],
                    "Statistic": "Average",
                },
                "The app's own EMF metric: open sessions per task, what a task runs out of.",
            )
        }
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
                    ("Scale in slowly: every removed task drains, and clients reconnect."),
                ),
            },
        },
    )


def _alarm(t: Template, name: str, why: str, props: dict[str, Json]) -> None:
    base: dict[str, Json] = {
        "AlarmDescription": why,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "EvaluationPeriods": 3,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [ref("AlarmTopic")],
    }
    t.add(name, "AWS::CloudWatch::Alarm", {**base, **props})


def _alb(name: str, dimensions: list[str]) -> dict[str, Json]:
    dims: list[Json] = []
    if "LoadBalancer" in dimensions:
        dims.append(
            {"Name": "LoadBalancer", "Value": get_att("LoadBalancer", "LoadBalancerFullName")}
        )
    if "TargetGroup" in dimensions:
        dims.append({"Name": "TargetGroup", "Value": get_att("TargetGroup", "TargetGroupFullName")})
    return {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims, "Period": 60}


def _error_rate(settings: Settings) -> dict[str, Json]:
    def metric(ident: str, name: str) -> Json:
        return {
            "Id": ident,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": settings.metrics_namespace,
                    "MetricName": name,
                    "Dimensions": [{"Name": "Service", "Value": settings.name}],
                },
                "Period": 300,
                "Stat": "Sum",
            },
        }

    return {
        "Threshold": 5,
        "Metrics": [
            metric("errors", "ToolErrors"),
            metric("calls", "ToolCalls"),
            {
                "Id": "rate",
                "Label": "tool error rate (%)",
                "ReturnData": True,
                "Expression": "IF(calls > 0, 100 * errors / calls, 0)",
            },
        ],
    }


def alarms(t: Template, settings: Settings) -> None:
    t.add(
        "AlarmTopic",
        "AWS::SNS::Topic",
        {"TopicName": sub("${AWS::StackName}-alarms")},
        "Subscribe to this topic to hear about the alarms below.",
    )
    _alarm(
        t,
        "ToolErrorRateAlarm",
        "More than 5% of tool calls fail (app EMF metrics).",
        _error_rate(settings),
    )
    _alarm(
        t,
        "Target5xxAlarm",
        "The tasks answer 5xx.",
        {
            **_alb("HTTPCode_Target_5XX_Count", ["LoadBalancer"]),
            "Statistic": "Sum",
            "Threshold": 10,
        },
    )
    _alarm(
        t,
        "LoadBalancer5xxAlarm",
        "The ALB answers 5xx itself (no healthy task, timeouts).",
        {**_alb("HTTPCode_ELB_5XX_Count", ["LoadBalancer"]), "Statistic": "Sum", "Threshold": 10},
    )
    _alarm(
        t,
        "UnhealthyHostsAlarm",
        "A task fails its readiness check.",
        {
            **_alb("UnHealthyHostCount", ["LoadBalancer", "TargetGroup"]),
            "Statistic": "Maximum",
            "Threshold": 1,
        },
    )
    _alarm(
        t,
        "MemoryAlarm",
        "Memory above 80%: sessions may not be cleaned up.",
        {
            "Namespace": "AWS/ECS",
            "MetricName": "MemoryUtilization",
            "Period": 60,
            "Statistic": "Average",
            "Threshold": 80,
            "ComparisonOperator": "GreaterThanThreshold",
            "Dimensions": [
                {"Name": "ClusterName", "Value": ref("Cluster")},
                {"Name": "ServiceName", "Value": get_att("Service", "Name")},
            ],
        },
    )

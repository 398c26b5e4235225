"""The alarms that say the Fargate service is unwell, and the topic that carries them.

Each alarm chooses what missing data means, so that a silent fleet alarms rather than
looking healthy:

- ``breaching`` where the metric is published every minute while things run (ECS CPU and
  memory, the ALB's unhealthy host count, ElastiCache, the app's own per-task metrics): no
  data means nothing is running, or the tasks report under another name;
- ``notBreaching`` where AWS publishes only when there is something to count (the ALB's
  5xx counts) or nothing happened (no requests: no latency, no tool calls); the fleet's
  silence is then the business of ``MetricsSilentAlarm``.

The app's metrics carry the dimension ``Service`` = ``--name``; the render sets
``METRICS_SERVICE`` to the same name, so the two cannot drift apart.
"""

from __future__ import annotations

from mcpfleet.deploy import cache, common
from mcpfleet.deploy.model import Json, Note, Parameter, Template, get_att, ref, sub
from mcpfleet.deploy.settings import Settings

BREACHING = "breaching"
NOT_BREACHING = "notBreaching"
GE = "GreaterThanOrEqualToThreshold"
GT = "GreaterThanThreshold"


def _alarm(
    t: Template, name: str, why: str, missing: str, missing_why: str, props: dict[str, Json]
) -> None:
    base: dict[str, Json] = {
        "AlarmDescription": why,
        "ComparisonOperator": GE,
        "EvaluationPeriods": 3,
        "TreatMissingData": Note(missing, missing_why),
        "AlarmActions": [ref("AlarmTopic")],
    }
    t.add(name, "AWS::CloudWatch::Alarm", {**base, **props})


def _ecs_dims() -> list[Json]:
    return [
        {"Name": "ClusterName", "Value": ref("Cluster")},
        {"Name": "ServiceName", "Value": get_att("Service", "Name")},
    ]


def _alb(name: str, *dimensions: str) -> dict[str, Json]:
    dims: list[Json] = []
    if "LoadBalancer" in dimensions:
        dims.append(
            {"Name": "LoadBalancer", "Value": get_att("LoadBalancer", "LoadBalancerFullName")}
        )
    if "TargetGroup" in dimensions:
        dims.append({"Name": "TargetGroup", "Value": get_att("TargetGroup", "TargetGroupFullName")})
    return {"Namespace": "AWS/ApplicationELB", "MetricName": name, "Dimensions": dims, "Period": 60}


def _app(settings: Settings, name: str) -> dict[str, Json]:
    return {
        "Namespace": settings.metrics_namespace,
        "MetricName": name,
        "Dimensions": [{"Name": "Service", "Value": settings.name}],
    }


def _error_rate(settings: Settings) -> dict[str, Json]:
    def metric(ident: str, name: str) -> Json:
        return {
            "Id": ident,
            "ReturnData": False,
            "MetricStat": {"Metric": _app(settings, name), "Period": 300, "Stat": "Sum"},
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


def topic(t: Template) -> None:
    """The alarm topic, encrypted with the stack's key, and an optional email subscription."""
    key = common.stack_key(t)
    common.allow_key(
        t,
        "CloudWatchAlarmsPublish",
        "cloudwatch.amazonaws.com",
        ["kms:Decrypt", "kms:GenerateDataKey*"],
    )
    t.add(
        "AlarmTopic",
        "AWS::SNS::Topic",
        {"TopicName": sub("${AWS::StackName}-alarms"), "KmsMasterKeyId": key},
        "Subscribe to this topic to hear about the alarms below. Encrypted with the stack's "
        "key, which lets CloudWatch alarms publish (alias/aws/sns would not).",
    )
    t.parameter(
        "AlarmEmail",
        Parameter(
            "String",
            "Email address subscribed to the alarm topic (empty: none).",
            default="",
            allowed_pattern=r"^$|^[^@\s]+@[^@\s]+$",
            constraint="an email address, or empty",
        ),
    )
    has = t.condition("HasAlarmEmail", {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]})
    t.add(
        "AlarmEmailSubscription",
        "AWS::SNS::Subscription",
        {"TopicArn": ref("AlarmTopic"), "Protocol": "email", "Endpoint": ref("AlarmEmail")},
        "AWS mails a confirmation link first; alarms arrive once it is followed.",
        Condition=has,
    )


def service_alarms(t: Template, settings: Settings) -> None:
    _alarm(
        t,
        "ToolErrorRateAlarm",
        "More than 5% of tool calls fail (app EMF metrics).",
        NOT_BREACHING,
        "No calls, no failures; a silent fleet is MetricsSilentAlarm's.",
        _error_rate(settings),
    )
    for name, metric, why in (
        ("Target5xxAlarm", "HTTPCode_Target_5XX_Count", "The tasks answer 5xx."),
        (
            "LoadBalancer5xxAlarm",
            "HTTPCode_ELB_5XX_Count",
            "The ALB answers 5xx itself (no healthy task, timeouts).",
        ),
    ):
        _alarm(
            t,
            name,
            why,
            NOT_BREACHING,
            "The ALB publishes 5xx counts only when there are some.",
            {**_alb(metric, "LoadBalancer"), "Statistic": "Sum", "Threshold": 10},
        )
    _alarm(
        t,
        "UnhealthyHostsAlarm",
        "A task fails its readiness check.",
        BREACHING,
        "Published every minute for a target group in use; none means no load balancer.",
        {
            **_alb("UnHealthyHostCount", "LoadBalancer", "TargetGroup"),
            "Statistic": "Maximum",
            "Threshold": 1,
        },
    )
    t.parameter(
        "LatencyP99Seconds",
        Parameter("Number", "Alarm when the p99 time to first response byte exceeds this.", 2),
    )
    _alarm(
        t,
        "LatencyP99Alarm",
        "p99 of the tasks' response time (to the first byte, so open SSE streams count only "
        "until their headers) is too high.",
        NOT_BREACHING,
        "No requests, no latency; a silent fleet is MetricsSilentAlarm's.",
        {
            **_alb("TargetResponseTime", "LoadBalancer", "TargetGroup"),
            "ExtendedStatistic": "p99",
            "Threshold": ref("LatencyP99Seconds"),
            "ComparisonOperator": GT,
        },
    )
    for name, metric, why in (
        ("CpuAlarm", "CPUUtilization", "CPU above 80%: scaling is not keeping up."),
        ("MemoryAlarm", "MemoryUtilization", "Memory above 80%: sessions may not be cleaned up."),
    ):
        _alarm(
            t,
            name,
            why,
            BREACHING,
            "ECS publishes it every minute while the service runs.",
            {
                "Namespace": "AWS/ECS",
                "MetricName": metric,
                "Period": 60,
                "Statistic": "Average",
                "Threshold": 80,
                "ComparisonOperator": GT,
                "Dimensions": _ecs_dims(),
            },
        )
    _alarm(
        t,
        "MetricsSilentAlarm",
        f"No task reports metrics as Service={settings.name}: none is running, or they report "
        "under another name.",
        BREACHING,
        "Silence is exactly what this alarm is for.",
        {
            **_app(settings, "InFlightRequests"),
            "Period": 60,
            "Statistic": "SampleCount",
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
        },
    )


def _nodes(settings: Settings, metric: str, stat: str, combine: str) -> dict[str, Json]:
    """One metric over every cache node, combined (``MAX`` or ``SUM``) by metric math."""
    ids = [f"n{i}" for i in range(len(cache.node_ids(settings)))]
    metrics: list[Json] = [
        {
            "Id": ident,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/ElastiCache",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "CacheClusterId", "Value": node}],
                },
                "Period": 60,
                "Stat": stat,
            },
        }
        for ident, node in zip(ids, cache.node_ids(settings), strict=True)
    ]
    metrics.append(
        {
            "Id": "fleet",
            "Label": f"{metric} ({combine.lower()} over nodes)",
            "ReturnData": True,
            "Expression": f"{combine}([{', '.join(ids)}])",
        }
    )
    return {"Metrics": metrics}


def state_alarms(t: Template, settings: Settings) -> None:
    """The fleet state: the tasks' own view (StateUnreachable) and the cache's health."""
    _alarm(
        t,
        "StateUnreachableAlarm",
        "A task cannot reach Redis: requests that need the fleet state get 503 (the tasks "
        "stay in the load balancer, so this alarm is how an outage shows).",
        BREACHING,
        "Every task reports it each minute; no report means no running task.",
        {
            **_app(settings, "StateUnreachable"),
            "Period": 60,
            "Statistic": "Maximum",
            "Threshold": 1,
            "EvaluationPeriods": 2,
        },
    )
    t.parameter(
        "RedisConnectionsThreshold",
        Parameter("Number", "Alarm when a cache node holds more client connections.", 5000),
    )
    cache_missing = "ElastiCache publishes it every minute; none means the cache is gone."
    for name, metric, stat, combine, threshold, why, missing in (
        (
            "RedisCpuAlarm",
            "EngineCPUUtilization",
            "Average",
            "MAX",
            80,
            "Redis's engine thread is above 80% on a node.",
            BREACHING,
        ),
        (
            "RedisMemoryAlarm",
            "DatabaseMemoryUsagePercentage",
            "Maximum",
            "MAX",
            80,
            "A node's memory is above 80%: evictions come next.",
            BREACHING,
        ),
        (
            "RedisEvictionsAlarm",
            "Evictions",
            "Sum",
            "SUM",
            1,
            "Redis evicted keys: sessions or stream events were lost.",
            BREACHING,
        ),
        (
            "RedisConnectionsAlarm",
            "CurrConnections",
            "Maximum",
            "MAX",
            ref("RedisConnectionsThreshold"),
            "Too many client connections on a node.",
            BREACHING,
        ),
        (
            "RedisReplicationLagAlarm",
            "ReplicationLag",
            "Maximum",
            "MAX",
            5,
            "A replica lags its primary by 5 s or more: a failover would lose recent writes.",
            "ignore",
        ),
    ):
        _alarm(
            t,
            name,
            why,
            missing,
            cache_missing
            if missing == BREACHING
            else "Only replicas report it and nodes "
            "swap roles at a failover: a gap keeps the alarm as it was.",
            {**_nodes(settings, metric, stat, combine), "Threshold": threshold},
        )

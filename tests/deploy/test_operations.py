"""The Fargate stack runs in production: scaling that keeps its count, alarms that fire on a
silent fleet, access logs, HTTPS only, a DNS name, pinned images, kept logs."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.deploy.render import render
from mcpfleet.deploy.settings import Settings, SettingsError
from tests.deploy import apps
from tests.deploy.conftest import Case, rendered_case


def resources_of(case: Case, kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in case.template["Resources"].items() if res["Type"] == kind}


def container(template: dict[str, Any]) -> dict[str, Any]:
    [definition] = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return dict(definition)


def fargate(**options: Any) -> dict[str, Any]:
    template: dict[str, Any] = render(apps.docs, Settings(public=True, **options)).template
    return template


# -- scaling --------------------------------------------------------------------------------


def test_service_sets_no_desired_count() -> None:
    """The service has no DesiredCount, so an update never resets what autoscaling chose."""
    service = rendered_case("docs", "ecs-fargate", "redis").resource("Service")
    assert "DesiredCount" not in service
    target = rendered_case("docs", "ecs-fargate", "redis").resource("ScalableTarget")
    assert target["MinCapacity"] == {"Ref": "MinTasks"}


def test_session_scaling_divides_the_fleet_count_by_the_tasks() -> None:
    """Scaling on sessions tracks ActiveSessions (fleet-wide) over RunningTaskCount."""
    policy = fargate(scale_on="sessions")["Resources"]["ScalingPolicy"]["Properties"]
    spec = policy["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    queries = {q["Id"]: q for q in spec["Metrics"]}
    assert queries["per_task"] == {
        "Id": "per_task",
        "Label": "sessions per running task",
        "Expression": "sessions / tasks",
        "ReturnData": True,
    }
    sessions = queries["sessions"]["MetricStat"]
    assert sessions["Metric"]["MetricName"] == "ActiveSessions"
    assert sessions["Metric"]["Dimensions"] == [{"Name": "Service", "Value": "mcp"}]
    tasks = queries["tasks"]["MetricStat"]["Metric"]
    assert (tasks["Namespace"], tasks["MetricName"]) == (
        "ECS/ContainerInsights",
        "RunningTaskCount",
    )
    assert not queries["sessions"]["ReturnData"]
    assert not queries["tasks"]["ReturnData"]


def test_scaling_cooldowns() -> None:
    """Scale out after 60 s, in after 300 s."""
    config = rendered_case("docs", "ecs-fargate", "redis").resource("ScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"
    ]
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"]) == (60, 300)


# -- alarms ---------------------------------------------------------------------------------

REDIS_ALARMS = {
    "StateUnreachableAlarm",
    "RedisCpuAlarm",
    "RedisMemoryAlarm",
    "RedisEvictionsAlarm",
    "RedisConnectionsAlarm",
    "RedisReplicationLagAlarm",
}
SERVICE_ALARMS = {
    "ToolErrorRateAlarm",
    "Target5xxAlarm",
    "LoadBalancer5xxAlarm",
    "UnhealthyHostsAlarm",
    "LatencyP99Alarm",
    "CpuAlarm",
    "MemoryAlarm",
    "MetricsSilentAlarm",
}


def test_alarms_cover_latency_cpu_memory_redis_and_state() -> None:
    """Redis state adds the cache and state-outage alarms to the service's own."""
    redis = set(
        resources_of(rendered_case("docs", "ecs-fargate", "redis"), "AWS::CloudWatch::Alarm")
    )
    memory = set(
        resources_of(rendered_case("docs", "ecs-fargate", "memory"), "AWS::CloudWatch::Alarm")
    )
    assert memory == SERVICE_ALARMS
    assert redis == SERVICE_ALARMS | REDIS_ALARMS


def test_a_silent_fleet_alarms() -> None:
    """Metrics published every minute treat missing data as breaching; only counts AWS
    publishes when non-zero (5xx) or that need traffic do not."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    missing = {
        name: res["Properties"]["TreatMissingData"]
        for name, res in resources_of(case, "AWS::CloudWatch::Alarm").items()
    }
    quiet = {"ToolErrorRateAlarm", "Target5xxAlarm", "LoadBalancer5xxAlarm", "LatencyP99Alarm"}
    assert {n for n, m in missing.items() if m == "notBreaching"} == quiet
    assert missing["RedisReplicationLagAlarm"] == "ignore"
    assert {n for n, m in missing.items() if m == "breaching"} == (
        SERVICE_ALARMS | REDIS_ALARMS
    ) - quiet - {"RedisReplicationLagAlarm"}
    silent = case.resource("MetricsSilentAlarm")
    assert (silent["Statistic"], silent["ComparisonOperator"]) == (
        "SampleCount",
        "LessThanThreshold",
    )


def test_state_unreachable_alarm_reads_the_tasks_metric() -> None:
    """StateUnreachable: the app's namespace, Service = --name, Maximum >= 1."""
    alarm = fargate(name="orders")["Resources"]["StateUnreachableAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("MCPFleet", "StateUnreachable")
    assert alarm["Dimensions"] == [{"Name": "Service", "Value": "orders"}]
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Maximum", 1)
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_app_metric_alarms_watch_the_name_the_tasks_report() -> None:
    """Every alarm on the app's own metrics uses Service = --name = METRICS_SERVICE."""
    template = fargate(name="orders")
    env = {e["Name"]: e["Value"] for e in container(template)["Environment"]}
    dims = []
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        metrics = [props] + [
            m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        dims += [m["Dimensions"] for m in metrics if m.get("Namespace") == "MCPFleet"]
    assert dims
    assert all(d == [{"Name": "Service", "Value": env["METRICS_SERVICE"]}] for d in dims)
    assert env["METRICS_SERVICE"] == "orders"


def test_cache_alarms_watch_every_node() -> None:
    """Each cache alarm reads every node (both of a pair; all of them in cluster mode)."""
    pair = fargate()["Resources"]["RedisCpuAlarm"]["Properties"]["Metrics"]
    shards = fargate(redis_cluster=True, redis_shards=4)["Resources"]["RedisCpuAlarm"]
    nodes = [
        m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::Sub"]
        for m in shards["Properties"]["Metrics"]
        if "MetricStat" in m
    ]
    assert len([m for m in pair if "MetricStat" in m]) == 2
    assert nodes[:2] == ["${Redis}-0001-001", "${Redis}-0001-002"]
    assert len(nodes) == 8
    assert shards["Properties"]["Metrics"][-1]["Expression"].startswith("MAX([n0, n1")


def test_too_many_cache_nodes_for_one_alarm_are_refused() -> None:
    """More shards than an alarm can watch (10 metrics) is refused with the reason."""
    with pytest.raises(SettingsError, match="--redis-shards 6: 1 to 5"):
        Settings(redis_cluster=True, redis_shards=6).check()


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use() -> None:
    """The topic uses the stack's key, whose policy lets CloudWatch alarms publish."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    assert case.resource("AlarmTopic")["KmsMasterKeyId"] == {"Fn::GetAtt": ["StackKey", "Arn"]}
    statements = case.resource("StackKey")["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch
    assert cloudwatch[0]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert case.resource("StackKey")["EnableKeyRotation"] is True


def test_alarm_email_is_an_optional_subscription() -> None:
    """An AlarmEmail parameter subscribes by email only when given (a condition)."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    assert case.template["Parameters"]["AlarmEmail"]["Default"] == ""
    subscription = case.template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"


def test_dashboard_shows_the_service() -> None:
    """A dashboard charts the ALB, the tasks, the sessions and, with Redis, the cache."""
    body = rendered_case("docs", "ecs-fargate", "redis").resource("Dashboard")["DashboardBody"]
    text = body["Fn::Sub"]
    for name in ("TargetResponseTime", "RunningTaskCount", "ActiveSessions", "OpenStreams"):
        assert name in text
    assert "StateUnreachable" in text
    assert "EngineCPUUtilization" in text


# -- the edge -------------------------------------------------------------------------------


def test_alb_logs_to_an_encrypted_bucket_it_may_write() -> None:
    """Access logs are on, to an SSE-S3 bucket whose policy lets ELB's log delivery write
    under this account's prefix only."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    alb = {a["Key"]: a["Value"] for a in case.resource("LoadBalancer")["LoadBalancerAttributes"]}
    assert alb["access_logs.s3.enabled"] == "true"
    assert alb["access_logs.s3.bucket"] == {"Ref": "AccessLogBucket"}
    [rule] = case.resource("AccessLogBucket")["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    write = case.resource("AccessLogBucketPolicy")["PolicyDocument"]["Statement"][0]
    assert write["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert write["Resource"] == {
        "Fn::Sub": "${AccessLogBucket.Arn}/alb/AWSLogs/${AWS::AccountId}/*"
    }
    assert case.template["Resources"]["LoadBalancer"]["DependsOn"] == ["AccessLogBucketPolicy"]


def test_plain_http_only_redirects() -> None:
    """Port 80 answers with a permanent redirect to HTTPS and forwards nothing."""
    [action] = rendered_case("docs", "ecs-fargate", "redis").resource("HttpListener")[
        "DefaultActions"
    ]
    assert action["Type"] == "redirect"
    assert action["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "StatusCode": "HTTP_301",
    }


def test_a_domain_gets_an_alias_and_the_endpoint_uses_it() -> None:
    """--domain and --hosted-zone-id: a Route 53 alias, and the output URL is that name."""
    template = fargate(domain="mcp.example.com", hosted_zone_id="Z123")
    assert template["Parameters"]["DomainName"]["Default"] == "mcp.example.com"
    record = template["Resources"]["DnsRecord"]
    assert record["Condition"] == "HasDomain"
    assert record["Properties"]["AliasTarget"]["DNSName"] == {
        "Fn::GetAtt": ["LoadBalancer", "DNSName"]
    }
    _condition, named, own = template["Outputs"]["Endpoint"]["Value"]["Fn::If"]
    assert named == {"Fn::Sub": "https://${DomainName}/mcp"}
    assert own == {"Fn::Sub": "https://${LoadBalancer.DNSName}/mcp"}


def test_domain_without_its_zone_is_refused() -> None:
    """--domain alone cannot make a DNS record."""
    with pytest.raises(SettingsError, match="--domain and --hosted-zone-id go together"):
        Settings(domain="mcp.example.com").check()


# -- the task -------------------------------------------------------------------------------


def test_image_is_addressed_by_digest() -> None:
    """The image URI ends in @${ImageDigest}, a parameter that takes only a digest."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    image = case.resource("TaskDefinition")["ContainerDefinitions"][0]["Image"]["Fn::Sub"]
    assert image.endswith("/${ImageRepository}@${ImageDigest}")
    assert case.template["Parameters"]["ImageDigest"]["AllowedPattern"] == r"^sha256:[a-f0-9]{64}$"


def test_logs_are_kept_encrypted_and_the_cache_snapshotted() -> None:
    """The log group is KMS-encrypted and retained; the cache leaves a snapshot."""
    resources = rendered_case("docs", "ecs-fargate", "redis").template["Resources"]
    assert resources["LogGroup"]["DeletionPolicy"] == "Retain"
    assert resources["LogGroup"]["UpdateReplacePolicy"] == "Retain"
    assert resources["LogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["StackKey", "Arn"]}
    assert (
        resources["Redis"]["DeletionPolicy"]
        == resources["Redis"]["UpdateReplacePolicy"]
        == "Snapshot"
    )


def test_root_filesystem_is_read_only_with_a_writable_tmp() -> None:
    """The container cannot write its image; /tmp is a task volume."""
    case = rendered_case("docs", "ecs-fargate", "redis")
    app = case.resource("TaskDefinition")["ContainerDefinitions"][0]
    assert app["ReadonlyRootFilesystem"] is True
    assert app["MountPoints"] == [{"SourceVolume": "tmp", "ContainerPath": "/tmp"}]
    assert case.resource("TaskDefinition")["Volumes"] == [{"Name": "tmp"}]


def test_logs_never_block_the_app() -> None:
    """awslogs runs in non-blocking mode with a bounded buffer."""
    app = rendered_case("docs", "ecs-fargate", "redis").resource("TaskDefinition")[
        "ContainerDefinitions"
    ][0]
    options = app["LogConfiguration"]["Options"]
    assert (options["mode"], options["max-buffer-size"]) == ("non-blocking", "25m")


@pytest.mark.parametrize(
    ("arch", "cpu"), [(None, "ARM64"), ("arm64", "ARM64"), ("x86_64", "X86_64")]
)
def test_architecture_is_graviton_unless_asked(arch: str | None, cpu: str) -> None:
    """--arch sets the task's CPU architecture; Graviton (ARM64) by default."""
    platform = fargate(arch=arch)["Resources"]["TaskDefinition"]["Properties"]["RuntimePlatform"]
    assert platform == {"CpuArchitecture": cpu, "OperatingSystemFamily": "LINUX"}


@pytest.mark.parametrize("target", ["apprunner", "ecs-express"])
def test_arm64_is_refused_where_it_cannot_be_chosen(target: str) -> None:
    """App Runner and ECS Express take no architecture: --arch arm64 is refused there."""
    with pytest.raises(SettingsError, match="runs x86_64 images"):
        Settings(target=target, arch="arm64").check()  # type: ignore[arg-type]


def test_ecs_exec_opens_the_channels_and_a_writable_root() -> None:
    """--exec turns ECS Exec on, grants the SSM channels, and leaves the root writable."""
    template = fargate(ecs_exec=True)
    assert template["Resources"]["Service"]["Properties"]["EnableExecuteCommand"] is True
    assert container(template)["ReadonlyRootFilesystem"] is False
    role = template["Resources"]["TaskRole"]["Properties"]
    [runtime] = [p for p in role["Policies"] if p["PolicyName"] == "runtime"]
    actions = {a for s in runtime["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert "ssmmessages:OpenDataChannel" in actions
    assert fargate()["Resources"]["Service"]["Properties"]["EnableExecuteCommand"] is False


# -- the managed targets --------------------------------------------------------------------


def test_apprunner_render_says_it_is_closed_to_new_customers() -> None:
    """App Runner renders with a note that it is closed to new customers, naming ecs-express."""
    notes = rendered_case("docs", "apprunner", "redis").rendered.notes
    assert any(
        "closed to new customers since 2026-04-30" in n and "ecs-express" in n for n in notes
    )


def test_express_sets_its_scaling_target_and_public_subnets() -> None:
    """ECS Express: the scaling target value is a parameter; the service uses public subnets."""
    service = rendered_case("docs", "ecs-express", "redis").resource("Service")
    assert service["ScalingTarget"]["AutoScalingTargetValue"] == {"Ref": "ScalingTargetValue"}
    assert service["NetworkConfiguration"]["Subnets"] == {"Ref": "PublicSubnetIds"}


def test_domain_is_the_public_url_under_auth() -> None:
    """With --auth and --domain, the app names itself by the domain (PUBLIC_URL)."""
    settings = Settings(
        auth="jwt",
        issuer="https://login.example.com",
        audience=("mcp",),
        domain="mcp.example.com",
        hosted_zone_id="Z123",
    )
    env = {
        e["Name"]: e["Value"]
        for e in container(render(apps.docs, settings).template)["Environment"]
    }
    assert env["PUBLIC_URL"] == "https://mcp.example.com"


def test_public_url_must_be_the_domain() -> None:
    """A --public-url other than --domain's URL is refused."""
    with pytest.raises(SettingsError, match=r"is not --domain's https://mcp\.example\.com"):
        Settings(
            domain="mcp.example.com", hosted_zone_id="Z1", public_url="https://other.example.com"
        ).check()

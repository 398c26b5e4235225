"""The monitor on AWS: in each region, a Lambda function that runs one monitoring round
(``mcpfleet.monitor.aws_entry``) every few minutes, all regions writing one history.

One template per region (``monitor-<region>.yaml``), each refusing to be deployed in
another region (a ``Rules`` assertion): the function tags its results with the region it
runs in, and an incident opens only when ``alerts.quorum`` regions agree. Each stack holds:

    ConfigParameter   the monitor's YAML (checked here, at render) in SSM Parameter Store
    Function          the image, run by the Lambda runtime interface client
    Schedule          EventBridge Scheduler invoking it every N minutes, with ScheduleRole
    FunctionRole      GetParameter on that parameter, GetSecretValue on exactly the given
                      secrets (DATABASE_URL's, and one per variable the YAML names),
                      Publish on the alert topic, its log group's streams, the stack key
    AlertTopic        SNS, encrypted; or an existing topic (AlertTopicArn)
    LogGroup          encrypted with the stack's key, retained
    RoundsFailingAlarm  three failed rounds in a row, to the alert topic

The config is read by the monitor's own loader with every variable it names taken as set
(their values come from Secrets Manager at run time), so a mistake fails the render with
its line and key. What only a deployment makes wrong is refused here too: a ``location``
(the region is the location), a ``storage.url`` (the history is ``DATABASE_URL``'s), an
SNS channel of the file's own (the function may publish to the stack's topic only), and
a quorum that the regions given cannot reach or whose window misses the schedule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mcpfleet.deploy import common
from mcpfleet.deploy.declarations import Declarations
from mcpfleet.deploy.function import VPC_ACCESS_POLICY
from mcpfleet.deploy.model import NO_VALUE, Json, Note, Parameter, Template, get_att, if_, ref, sub
from mcpfleet.deploy.render import Rendered
from mcpfleet.deploy.settings import Arch, SettingsError
from mcpfleet.deploy.yaml_out import to_yaml
from mcpfleet.monitor.config import MonitorConfig, parse_config
from mcpfleet.monitor.source import MonitorConfigError, Section, load_yaml

HANDLER = "mcpfleet.monitor.aws_entry.handler"  # named, never imported: see aws_entry
ENTRY_POINT = ["python", "-m", "awslambdaric"]
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STANDARD_TIER_BYTES = 4096  # SSM: a Standard parameter's value; Advanced takes 8 KB
ADVANCED_TIER_BYTES = 8192
MAX_TIMEOUT = 900  # Lambda's ceiling, in seconds
MAX_SCHEDULE_MINUTES = 60
MONITOR_LOGS = (
    "The monitor's logs: each round's failed probes and deliveries, what was pruned, and "
    "Lambda's report of each invocation"
)
PARAMETER_ARN = sub(
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameter}"
)
TOPIC = if_("CreateTopic", ref("AlertTopic"), ref("AlertTopicArn"))


@dataclass(frozen=True, slots=True)
class MonitorStack:
    """What the monitor's stacks are rendered from."""

    regions: tuple[str, ...]
    config_text: str
    config_source: str = "monitor.yaml"  # named in errors, as the file was given
    schedule_minutes: int = 1
    arch: Arch = "arm64"
    memory: int = 512
    log_retention_days: int = 30

    @property
    def period(self) -> int:
        return self.schedule_minutes * 60


@dataclass(slots=True)
class _RenderEnviron(Mapping[str, str]):
    """Every variable the config names reads as set, and is remembered: at run time it
    comes from Secrets Manager (``NAME_SECRET_ARN``)."""

    asked: set[str] = field(default_factory=set)

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return "postgresql://checked-at-render/" if name == "DATABASE_URL" else "set-at-run-time"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def check_config(stack: MonitorStack) -> tuple[MonitorConfig, tuple[str, ...]]:
    """The config as the monitor reads it, and the variables it names (besides
    ``DATABASE_URL``); ``MonitorConfigError`` names the line and key of a mistake."""
    source, text = stack.config_source, stack.config_text
    environ = _RenderEnviron()
    config = parse_config(text, source, environ, Path(source).parent)
    root = Section(load_yaml(text, source), "", source)
    if root.has("location"):
        raise root.fail("location", "each region is its own location (AWS_REGION): drop it")
    storage = root.section("storage")
    if storage.has("url"):
        raise storage.fail("url", "the regions share DATABASE_URL's PostgreSQL: drop it")
    for (key, line, _item), channel in zip(root.items("channels"), config.channels, strict=True):
        if channel.kind == "sns":
            raise MonitorConfigError(
                source, line, key, "the function publishes to the stack's topic "
                "(AlertTopicArn, or the one it makes) only: drop this channel",
            )  # fmt: skip
    _check_quorum(root.section("alerts"), config, stack)
    variables = tuple(sorted(environ.asked - {"DATABASE_URL"}))
    for name in variables:
        if not VARIABLE.match(name):
            raise SettingsError(f"{source}: variable {name!r}: use letters, digits and '_'")
    return config, variables


def _check_quorum(alerts: Section, config: MonitorConfig, stack: MonitorStack) -> None:
    rule, count = config.alerts, len(stack.regions)
    if rule.quorum > count:
        raise alerts.fail(
            "quorum", f"{rule.quorum} locations must agree, but only {count} regions are given"
        )
    if rule.quorum > 1 and rule.quorum_within < stack.period:
        raise alerts.fail(
            "quorum_within",
            f"{rule.quorum_within:g} s is shorter than the schedule's {stack.period} s: the "
            "other regions' results would always be too old to count",
        )


def render_monitor(stack: MonitorStack) -> Rendered:
    """One template per region; ``MonitorConfigError`` or ``SettingsError`` if refused."""
    _check_stack(stack)
    config, variables = check_config(stack)
    rendered = Rendered(notes=_notes(stack, config))
    for region in stack.regions:
        t = Template(
            f"mcpfleet monitor in {region}, one of {', '.join(stack.regions)} (quorum "
            f"{config.alerts.quorum}); rendered by mcpfleet deploy render"
        )
        _build(t, stack, variables)
        data = _in_region(t.data(), region)
        rendered.files[f"monitor-{region}.yaml"] = to_yaml(data)
    return rendered


def _check_stack(stack: MonitorStack) -> None:
    if not stack.regions:
        raise SettingsError("--regions: give at least one region, e.g. us-east-1,eu-west-1")
    for region in stack.regions:
        if not REGION.match(region):
            raise SettingsError(f"--regions: {region!r} is not an AWS region name")
    if len(set(stack.regions)) != len(stack.regions):
        raise SettingsError("--regions: a region is given twice")
    if not 1 <= stack.schedule_minutes <= MAX_SCHEDULE_MINUTES:
        raise SettingsError(
            f"--schedule: 1 to {MAX_SCHEDULE_MINUTES} minutes (EventBridge Scheduler runs at "
            "most once a minute; the alarm on failing rounds looks at three periods)"
        )
    if len(stack.config_text.encode()) > ADVANCED_TIER_BYTES:
        raise SettingsError(
            f"{stack.config_source}: over {ADVANCED_TIER_BYTES} bytes, more than an SSM "
            "parameter holds"
        )


def _notes(stack: MonitorStack, config: MonitorConfig) -> list[str]:
    notes = []
    if config.alerts.quorum == 1 and len(stack.regions) > 1:
        notes.append(
            "alerts.quorum is 1: any one region opens an incident; quorum: 2 keeps one "
            "region's network trouble from paging"
        )
    if any(endpoint.interval != stack.period for endpoint in config.endpoints):
        notes.append(
            f"every endpoint is probed once a round, every {stack.period} s (--schedule); "
            "the endpoints' interval is not used"
        )
    if config.port is not None:
        notes.append("serve: no status page on Lambda (mcpfleet monitor export writes one)")
    if len(stack.config_text.encode()) > STANDARD_TIER_BYTES:
        notes.append("the config is over 4 KB: its SSM parameter is Advanced tier (charged)")
    return notes


def _in_region(data: dict[str, Json], region: str) -> dict[str, Json]:
    """The template, with a rule that refuses a deployment anywhere but ``region``."""
    rules = {
        "InItsRegion": {
            "Assertions": [
                {
                    "Assert": {"Fn::Equals": [ref("AWS::Region"), region]},
                    "AssertDescription": f"This is the monitor of {region}: deploy it there.",
                }
            ]
        },
        "SecurityGroupsWithSubnets": {
            "RuleCondition": {"Fn::Not": [{"Fn::Equals": [_joined("SubnetIds"), ""]}]},
            "Assertions": [
                {
                    "Assert": {"Fn::Not": [{"Fn::Equals": [_joined("SecurityGroupIds"), ""]}]},
                    "AssertDescription": "SubnetIds need SecurityGroupIds.",
                }
            ],
        },
    }
    out: dict[str, Json] = {}
    for key, value in data.items():
        if key == "Resources":
            out["Rules"] = rules
        out[key] = value
    return out


def _joined(name: str) -> Json:
    return {"Fn::Join": [",", ref(name)]}


def _build(t: Template, stack: MonitorStack, variables: tuple[str, ...]) -> None:
    image = common.image(t)
    secrets = common.secret_arns(t, Declarations((), {}, ("DATABASE_URL", *variables)))
    _parameters(t)
    common.log_group(t, stack.log_retention_days, MONITOR_LOGS)
    key = common.stack_key(t)
    _config_parameter(t, stack)
    _topic(t, key)
    _function_role(t, secrets, key)
    _function(t, stack, image, secrets, key)
    _schedule(t, stack, key)
    _rounds_alarm(t, stack)
    t.output("FunctionName", ref("Function"), "The function that runs a round.")
    t.output("AlertTopicArn", TOPIC, "Where alerts are published: subscribe to it.")
    t.output("ConfigParameterName", ref("ConfigParameter"), "The monitor's YAML, in SSM.")


def _parameters(t: Template) -> None:
    t.parameter(
        "AlertTopicArn",
        Parameter(
            "String",
            "An existing SNS topic for alerts, in this region (empty: the stack makes one). "
            "A topic encrypted with a key other than the stack's needs that key granted too.",
            default="",
            allowed_pattern=r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$",
            constraint="an SNS topic ARN, or empty",
        ),
    )
    t.condition("CreateTopic", {"Fn::Equals": [ref("AlertTopicArn"), ""]})
    for name, what in (
        ("SubnetIds", "Private subnets for the function, when the PostgreSQL is private; "
         "they need a NAT route to probe endpoints and call SSM, Secrets Manager and SNS"),
        ("SecurityGroupIds", "Security groups of the function, with SubnetIds"),
    ):  # fmt: skip
        t.parameter(
            name, Parameter("CommaDelimitedList", f"{what} (empty: outside a VPC).", default="")
        )
    t.condition("InVpc", {"Fn::Not": [{"Fn::Equals": [_joined("SubnetIds"), ""]}]})
    t.parameter(
        "ReservedConcurrency",
        Parameter(
            "Number",
            "Concurrent executions reserved for (and capping) the function; -1: none.",
            default=-1,
            min_value=-1,
            why="1 keeps a slow round from overlapping the next. Reserving takes from the "
            "account's pool, which must keep 100 unreserved, so it is off (-1) until you "
            "choose.",
        ),
    )
    t.condition(
        "HasReservedConcurrency", {"Fn::Not": [{"Fn::Equals": [ref("ReservedConcurrency"), -1]}]}
    )


def _config_parameter(t: Template, stack: MonitorStack) -> None:
    large = len(stack.config_text.encode()) > STANDARD_TIER_BYTES
    t.add(
        "ConfigParameter",
        "AWS::SSM::Parameter",
        {
            "Name": sub("/${AWS::StackName}/monitor.yaml"),
            "Description": f"The monitor's config, from {Path(stack.config_source).name}",
            "Type": Note("String", "It names variables for its secrets and holds none."),
            "Tier": "Advanced" if large else "Standard",
            "Value": stack.config_text,
        },
        "Checked by the monitor's own loader at render time; the function reads it each round.",
    )


def _topic(t: Template, key: Json) -> None:
    t.add(
        "AlertTopic",
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": key},
        "Alerts: incidents opened, escalated, reminded and resolved, and tool-list drift.",
        Condition="CreateTopic",
    )


def _function_role(t: Template, secrets: dict[str, Json], key: Json) -> None:
    statements: list[Json] = [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att("LogGroup", "Arn"),
        },
        Note(
            {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": PARAMETER_ARN},
            "The config: this stack's parameter only.",
        ),
        Note(
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": list(secrets.values()),
            },
            "DATABASE_URL's secret, and one per variable the config names.",
        ),
        {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": TOPIC},
        Note(
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key,
            },
            "Its environment and the topic are encrypted with the stack's key.",
        ),
    ]
    t.add(
        "FunctionRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": common.assume("lambda.amazonaws.com"),
            "ManagedPolicyArns": if_("InVpc", [VPC_ACCESS_POLICY], NO_VALUE),
            "Policies": [
                {
                    "PolicyName": "monitor",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
        "What one round needs, on exactly this stack's resources (and network interfaces in "
        "a VPC).",
    )


def _environment(stack: MonitorStack, secrets: dict[str, Json]) -> dict[str, Json]:
    env: dict[str, Json] = {
        "MONITOR_CONFIG_PARAMETER": ref("ConfigParameter"),
        "MONITOR_TOPIC_ARN": TOPIC,
        "MONITOR_ROUND_SECONDS": str(stack.period),
        **{f"{name}_SECRET_ARN": arn for name, arn in secrets.items()},
    }
    return dict(sorted(env.items()))


def _function(
    t: Template, stack: MonitorStack, image: Json, secrets: dict[str, Json], key: Json
) -> None:
    t.add(
        "Function",
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "Code": {"ImageUri": image},
            "ImageConfig": Note(
                {"EntryPoint": ENTRY_POINT, "Command": [HANDLER]},
                "The runtime interface client with the monitor's handler: one round per "
                "invocation.",
            ),
            "Architectures": [stack.arch],
            "Role": get_att("FunctionRole", "Arn"),
            "MemorySize": stack.memory,
            "Timeout": Note(
                min(stack.period, MAX_TIMEOUT), "A round ends before the next one starts."
            ),
            "ReservedConcurrentExecutions": if_(
                "HasReservedConcurrency", ref("ReservedConcurrency"), NO_VALUE
            ),
            "KmsKeyArn": key,
            "Environment": {"Variables": _environment(stack, secrets)},
            "LoggingConfig": {"LogGroup": ref("LogGroup")},
            "VpcConfig": if_(
                "InVpc",
                {"SubnetIds": ref("SubnetIds"), "SecurityGroupIds": ref("SecurityGroupIds")},
                NO_VALUE,
            ),
        },
    )
    t.skip_check(
        "Function",
        "CKV_AWS_116",
        "A failed round is followed by the next one within minutes, and shows in the "
        "function's errors and logs; a dead-letter queue of stale schedule events helps no one.",
    )


def _schedule(t: Template, stack: MonitorStack, key: Json) -> None:
    minutes = stack.schedule_minutes
    function = get_att("Function", "Arn")
    invoke: list[Json] = [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": function},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key},
    ]
    assume = common.assume("scheduler.amazonaws.com")
    assume["Statement"][0]["Condition"] = {
        "StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}
    }
    t.add(
        "ScheduleRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assume,
            "Policies": [
                {
                    "PolicyName": "invoke",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": invoke},
                }
            ],
        },
        "EventBridge Scheduler invokes the function, and nothing else, as this role.",
    )
    t.add(
        "Schedule",
        "AWS::Scheduler::Schedule",
        {
            "Description": sub(f"A monitoring round of ${{AWS::StackName}} every {minutes} min"),
            "ScheduleExpression": f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED",
            "KmsKeyArn": key,
            "Target": {
                "Arn": function,
                "RoleArn": get_att("ScheduleRole", "Arn"),
                "RetryPolicy": Note(
                    {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
                    "A late round is no use: the next one is due.",
                ),
            },
        },
    )


def _rounds_alarm(t: Template, stack: MonitorStack) -> None:
    common.allow_key(
        t, "CloudWatchAlarmsPublish", "cloudwatch.amazonaws.com",
        ["kms:Decrypt", "kms:GenerateDataKey*"],
    )  # fmt: skip
    t.add(
        "RoundsFailingAlarm",
        "AWS::CloudWatch::Alarm",
        {
            "AlarmDescription": "Monitoring rounds in this region fail (the config, the "
            "history or a timeout): the endpoints are not watched from here.",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": ref("Function")}],
            "Statistic": "Sum",
            "Period": stack.period,
            "EvaluationPeriods": 3,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": Note("notBreaching", "No error reported is no error."),
            "AlarmActions": [TOPIC],
            "OKActions": [TOPIC],
        },
        "The monitor itself watched: three failed rounds in a row reach the alert topic (as "
        "CloudWatch's message, without the monitor's event attribute).",
    )

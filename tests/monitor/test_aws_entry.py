"""The monitor's Lambda handler against moto's server: the config from SSM, DATABASE_URL from
Secrets Manager (a PostgreSQL the tests start), alerts through SNS, one round per invocation,
the location taken from AWS_REGION."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from mcpfleet.errors import ConfigError
from mcpfleet.monitor.alerts import Incident
from mcpfleet.monitor.aws_entry import handler, run_round
from mcpfleet.monitor.results import Result
from mcpfleet.monitor.source import MonitorConfigError
from mcpfleet.monitor.store import open_store
from tests.conftest import free_port
from tests.monitor.postgres_support import fresh_database
from tests.monitor.support import mcp_target, served_on
from tests.moto_support import FAKE_AWS, moto_server

REGIONS = ("us-east-1", "eu-west-1")
PARAMETER = "/mcp-monitor/monitor.yaml"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(FAKE_AWS) as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """This process talks to the moto server, and nothing is set that the secrets fill."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return moto_url


def client(service: str, region: str, url: str) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=url)


def alert_queue(url: str, region: str) -> tuple[str, str]:
    """A topic in ``region`` and a queue subscribed to it: (topic ARN, queue URL)."""
    sns, sqs = client("sns", region, url), client("sqs", region, url)
    topic = sns.create_topic(Name="mcp-monitor-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"alerts-{region}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])
    return topic, queue


def received(url: str, region: str, queue: str) -> list[dict[str, Any]]:
    reply = client("sqs", region, url).receive_message(
        QueueUrl=queue, WaitTimeSeconds=1, MaxNumberOfMessages=10
    )
    return [json.loads(message["Body"]) for message in reply.get("Messages", [])]


def history(database_url: str) -> tuple[dict[str, list[Result]], list[Incident]]:
    """Every endpoint's results, and every incident, in the shared history."""

    async def read() -> tuple[dict[str, list[Result]], list[Incident]]:
        store = open_store(database_url)
        try:
            results = {name: await store.results(name, 0) for name in ("api", "gone")}
            return results, await store.incidents(None, 0)
        finally:
            await store.aclose()

    return asyncio.run(read())


def test_two_regions_share_one_history_and_page_only_when_both_see_the_failure(
    aws: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation in each region tags its results with that region in the shared
    PostgreSQL history; under a quorum of 2 the endpoint that fails from the first region
    opens nothing, and opens one incident, published to that region's topic, once the second
    region sees it fail too. The endpoint that answers opens nothing."""
    database_url = fresh_database(postgres_url)
    secret = client("secretsmanager", "us-east-1", aws).create_secret(
        Name="mcp-monitor/database-url", SecretString=database_url
    )["ARN"]
    port = free_port()
    config = f"""
alerts: {{failures: 1, window: 1, successes: 1, quorum: 2, quorum_within: 5m}}
endpoints:
  - {{name: api, url: "http://127.0.0.1:{port}/mcp", timeout: 3s}}
  - {{name: gone, url: "http://127.0.0.1:{free_port()}/mcp", timeout: 2s}}
"""
    queues = {}
    for region in REGIONS:
        client("ssm", region, aws).put_parameter(Name=PARAMETER, Value=config, Type="String")
        queues[region] = alert_queue(aws, region)
    monkeypatch.setenv("MONITOR_CONFIG_PARAMETER", PARAMETER)
    monkeypatch.setenv("DATABASE_URL_SECRET_ARN", secret)
    summaries, incidents_after = [], []
    with served_on(mcp_target(), port):
        for region in REGIONS:
            monkeypatch.setenv("AWS_REGION", region)
            monkeypatch.setenv("MONITOR_TOPIC_ARN", queues[region][0])
            summaries.append(handler({}, None))
            incidents_after.append(history(database_url)[1])
    assert summaries == [
        {"location": region, "results": [
            {"endpoint": "api", "state": "up"}, {"endpoint": "gone", "state": "down"}]}
        for region in REGIONS
    ]  # fmt: skip
    results, _ = history(database_url)
    assert [(r.location, r.state) for r in results["api"]] == [(r, "up") for r in REGIONS]
    assert [(r.location, r.state) for r in results["gone"]] == [(r, "down") for r in REGIONS]
    assert incidents_after[0] == []
    assert [(i.endpoint, i.kind, i.is_open) for i in incidents_after[1]] == [("gone", "down", True)]
    assert received(aws, "us-east-1", queues["us-east-1"][1]) == []
    (envelope,) = received(aws, "eu-west-1", queues["eu-west-1"][1])
    document = json.loads(envelope["Message"])
    assert (document["event"], document["endpoint"], document["location"]) == (
        "down",
        "gone",
        "eu-west-1",
    )
    assert document["incident"]["dedupKey"] == incidents_after[1][0].dedup_key


def test_a_parameter_that_cannot_be_read_is_named(aws: str) -> None:
    """A missing parameter fails the round with the variable, the name and AWS's reason."""
    environ = {"AWS_REGION": "us-east-1", "MONITOR_CONFIG_PARAMETER": "/nowhere/monitor.yaml",
               "DATABASE_URL": "postgresql://127.0.0.1:1/none"}  # fmt: skip
    with pytest.raises(ConfigError, match=r"MONITOR_CONFIG_PARAMETER: cannot read parameter "
                       r"/nowhere/monitor.yaml: ParameterNotFound"):  # fmt: skip
        asyncio.run(run_round(environ))


def test_a_config_mistake_in_ssm_names_its_line_and_key(aws: str) -> None:
    """A bad setting in the parameter's YAML is named by parameter, line and key."""
    name = "/bad-monitor/monitor.yaml"
    text = "endpoints:\n  - {name: api, url: ftp://example.com}\n"
    client("ssm", "eu-west-1", aws).put_parameter(Name=name, Value=text, Type="String")
    environ = {"AWS_REGION": "eu-west-1", "MONITOR_CONFIG_PARAMETER": name,
               "DATABASE_URL": "postgresql://127.0.0.1:1/none"}  # fmt: skip
    with pytest.raises(MonitorConfigError) as caught:
        asyncio.run(run_round(environ))
    assert str(caught.value).startswith(f"ssm:{name}:2: endpoints[0].url: ")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MONITOR_CONFIG_PARAMETER": PARAMETER}, "AWS_REGION"),
        ({"AWS_REGION": "us-east-1"}, "MONITOR_CONFIG_PARAMETER"),
    ],
)
def test_a_missing_variable_is_named(environ: dict[str, str], named: str) -> None:
    """Without its region or its parameter's name, the round refuses to start, saying which."""
    with pytest.raises(ConfigError, match=f"^{named} is not set"):
        asyncio.run(run_round(environ))

"""The SNS channel against moto's server: the notice arrives on a subscribed queue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import boto3
import pytest

from tests.conftest import free_port
from tests.monitor.support import ManualClock, start_monitor, write_config
from tests.moto_support import FAKE_AWS, moto_server


def test_sns_channel_publishes_down_with_subject_and_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incident published to an SNS topic reaches a subscribed SQS queue with a short
    subject, the JSON document and the event as a message attribute."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    with moto_server() as url:
        sns = boto3.client("sns", endpoint_url=url, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1")
        topic = sns.create_topic(Name="mcp-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "false"},
        )  # fmt: skip
        path = write_config(
            tmp_path,
            f"""
            storage: {{url: "sqlite:///{tmp_path}/h.db"}}
            alerts: {{failures: 1, window: 1, successes: 1}}
            endpoints:
              - {{name: api, url: "http://127.0.0.1:{free_port()}/mcp", timeout: 2s}}
            channels:
              - {{type: sns, topic_arn: "{topic}", region: us-east-1, url: "{url}"}}
            """,
        )

        async def scenario() -> list[bool]:
            monitor = await start_monitor(path, ManualClock())
            try:
                await monitor.round()
                await monitor.drain()
                return [d.ok for d in await monitor.store.deliveries()]
            finally:
                await monitor.aclose()

        assert asyncio.run(scenario()) == [True]
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"].startswith("api is DOWN: tcp")
    document = json.loads(envelope["Message"])
    assert document["event"] == "down"
    assert document["endpoint"] == "api"
    assert envelope["MessageAttributes"]["event"]["Value"] == "down"

"""What each channel is sent, checked field by field, and the monitor's import rule."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mcpfleet.monitor.alerts import Incident, Notice
from mcpfleet.monitor.payloads import (
    pagerduty_body,
    slack_body,
    sns_message,
    verify_signature,
    webhook_request,
)
from tests.monitor.support import START

MONITOR = Path(__file__).resolve().parents[2] / "src" / "mcpfleet" / "monitor"
URL = "https://docs.example.com/mcp"


def notice(event: str, *, reminder: bool = False, cause: str = "tcp: refused") -> Notice:
    incident = Incident("docs", "health", "down", "mcpfleet:docs:health:1", START, cause)
    if event == "recovered":
        incident.resolved_at = START + 600
    return Notice(event, incident, START + 600, reminder=reminder)


def test_webhook_signature_verifies_and_refuses_tampering() -> None:
    """The signed body verifies with the secret; a changed body, another secret or an old
    timestamp does not."""
    body, headers = webhook_request(notice("down"), URL, "eu", "key", START)
    assert verify_signature("key", headers, body, START + 10)
    assert not verify_signature("key", headers, body.replace(b"docs", b"dogs"), START)
    assert not verify_signature("other", headers, body, START)
    assert not verify_signature("key", headers, body, START + 301)
    document = json.loads(body)
    assert document["incident"]["dedupKey"] == "mcpfleet:docs:health:1"
    assert document["at"] == "2026-11-30T01:03:20Z"


@pytest.mark.parametrize("event", ["down", "degraded", "auth_broken", "cert_expiring", "drift"])
def test_pagerduty_trigger_has_the_required_fields(event: str) -> None:
    """A trigger carries routing key, dedup key, and a payload with summary (at most 1024
    characters), source and a known severity."""
    document = json.loads(pagerduty_body(notice(event, cause="x" * 2000), URL, "eu", "k" * 32))
    assert document["event_action"] == "trigger"
    assert document["dedup_key"] == "mcpfleet:docs:health:1"
    payload = document["payload"]
    assert len(payload["summary"]) == 1024
    assert payload["source"] == URL
    assert payload["severity"] in ("critical", "error", "warning", "info")


def test_pagerduty_resolve_names_only_the_key() -> None:
    """A recovery is a resolve with the incident's dedup key and no payload."""
    document = json.loads(pagerduty_body(notice("recovered"), URL, "eu", "k" * 32))
    assert document == {
        "routing_key": "k" * 32,
        "event_action": "resolve",
        "dedup_key": "mcpfleet:docs:health:1",
    }


def test_slack_and_sns_stay_within_their_limits() -> None:
    """Slack gets a text and one mrkdwn section under 3000 characters; an SNS subject is
    printable ASCII under 100 characters; reminders say so."""
    long = notice("down", reminder=True, cause="line\n" * 2000)
    slack = json.loads(slack_body(long, URL, "https://status.example.com/"))
    assert slack["text"].startswith(":red_circle: Reminder: docs is DOWN")
    assert len(slack["blocks"][0]["text"]["text"]) <= 3000
    subject = sns_message(long, URL, "eu")["Subject"]
    assert len(subject) < 100
    assert subject.isascii()
    assert subject.isprintable()


def test_monitor_never_imports_server_or_transport() -> None:
    """No module of the monitor imports mcpfleet.server or mcpfleet.transport."""
    found = []
    for path in MONITOR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                (path.name, n)
                for n in names
                if n.startswith(("mcpfleet.server", "mcpfleet.transport"))
            ]
    assert found == []

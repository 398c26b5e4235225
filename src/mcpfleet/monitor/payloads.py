"""What each channel is sent for a notice: pure functions, bytes and headers out.

The generic webhook is signed. The body is JSON; the request carries

    X-Mcpfleet-Timestamp: <unix seconds when it was sent>
    X-Mcpfleet-Signature: v1=<hex HMAC-SHA256 over "<timestamp>.<body>", keyed by the secret>

A receiver recomputes the HMAC over the timestamp header, a dot and the raw body,
compares in constant time (``verify_signature``), and refuses a timestamp older than a
few minutes, so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import orjson

from mcpfleet.monitor.alerts import Notice

SIGNATURE_HEADER = "x-mcpfleet-signature"
TIMESTAMP_HEADER = "x-mcpfleet-timestamp"
SIGNATURE_VERSION = "v1"
TITLES = {
    "down": "is DOWN",
    "degraded": "is DEGRADED",
    "auth_broken": "has broken authentication",
    "cert_expiring": "has a certificate expiring soon",
    "recovered": "has RECOVERED",
    "drift": "changed its tool list",
}
PAGERDUTY_SEVERITY = {"down": "critical", "auth_broken": "critical", "degraded": "warning",
                      "cert_expiring": "warning", "drift": "info"}  # fmt: skip
SLACK_EMOJI = {"down": ":red_circle:", "auth_broken": ":lock:", "degraded": ":large_orange_circle:",
               "cert_expiring": ":hourglass:", "recovered": ":large_green_circle:",
               "drift": ":twisted_rightwards_arrows:"}  # fmt: skip


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def summary(notice: Notice) -> str:
    prefix = "Reminder: " if notice.reminder else ""
    text = f"{prefix}{notice.incident.endpoint} {TITLES[notice.event]}"
    cause = notice.incident.cause
    return f"{text}: {cause}" if cause and notice.event != "recovered" else text


def event_document(notice: Notice, url: str, location: str) -> dict[str, Any]:
    """The generic webhook's JSON body (and the SNS message)."""
    incident = notice.incident
    return {
        "event": notice.event,
        "reminder": notice.reminder,
        "escalated": notice.escalated,
        "summary": summary(notice),
        "endpoint": incident.endpoint,
        "url": url,
        "location": location,
        "at": iso(notice.at),
        "incident": {
            "dedupKey": incident.dedup_key,
            "kind": incident.kind,
            "lane": incident.lane,
            "cause": incident.cause,
            "openedAt": iso(incident.opened_at),
            "resolvedAt": None if incident.resolved_at is None else iso(incident.resolved_at),
        },
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify_signature(
    secret: str, headers: dict[str, str], body: bytes, now: float, tolerance: float = 300.0
) -> bool:
    """A receiver's check: a fresh timestamp and a matching signature (lower-case names)."""
    try:
        timestamp = int(headers.get(TIMESTAMP_HEADER, ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, headers.get(SIGNATURE_HEADER, ""))


def webhook_request(
    notice: Notice, url: str, location: str, secret: str, now: float
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(event_document(notice, url, location))
    timestamp = int(now)
    headers = {
        "content-type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    return body, headers


def slack_body(notice: Notice, url: str, page_url: str | None) -> bytes:
    """An incoming-webhook message: ``text`` (the fallback) and one mrkdwn section."""
    text = f"{SLACK_EMOJI[notice.event]} {summary(notice)}"
    lines = [f"*{text}*", f"<{url}|{url}>", f"incident `{notice.incident.dedup_key}`"]
    if page_url:
        lines.append(f"<{page_url}|status page>")
    block = {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}}
    return orjson.dumps({"text": text[:3000], "blocks": [block]})


def pagerduty_body(notice: Notice, url: str, location: str, routing_key: str) -> bytes:
    """Events API v2: ``trigger`` for every problem notice, ``resolve`` on recovery,
    both with the incident's dedup key, so one incident is one PagerDuty alert."""
    incident = notice.incident
    if notice.event == "recovered":
        return orjson.dumps(
            {"routing_key": routing_key, "event_action": "resolve", "dedup_key": incident.dedup_key}
        )
    payload = {
        "summary": summary(notice)[:1024],
        "source": url,
        "severity": PAGERDUTY_SEVERITY[notice.event],
        "timestamp": iso(notice.at),
        "component": incident.endpoint,
        "group": location,
        "class": notice.event,
        "custom_details": {"cause": incident.cause, "openedAt": iso(incident.opened_at)},
    }
    return orjson.dumps(
        {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": incident.dedup_key,
            "payload": payload,
        }
    )


def sns_message(notice: Notice, url: str, location: str) -> dict[str, Any]:
    """``Publish`` arguments, less the topic: a short subject, the JSON document, attributes."""
    return {
        # SNS subjects: printable ASCII, no line breaks, under 100 characters.
        "Subject": "".join(c if " " <= c <= "~" else " " for c in summary(notice))[:99],
        "Message": orjson.dumps(event_document(notice, url, location)).decode(),
        "MessageAttributes": {
            "event": {"DataType": "String", "StringValue": notice.event},
            "endpoint": {"DataType": "String", "StringValue": notice.incident.endpoint},
        },
    }
